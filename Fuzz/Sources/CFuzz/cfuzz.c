// Declarations only (cfuzz.h); libFuzzer itself comes with -sanitize=fuzzer.
