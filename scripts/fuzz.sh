#!/usr/bin/env bash
# Builds the libFuzzer targets (Fuzz/, -sanitize=fuzzer,address, linked with lld: gold trips over the sanitizer's
# debug info) and runs each for FUZZ_SECONDS (default 60) from the seed corpus in Fuzz/inputs/<target>.
# New interesting inputs go to .build-fuzz/corpus/<target> (not committed). A violated property or a crash stops
# that target with the input saved as .build-fuzz/crash-<target>-*; save it as Fuzz/inputs/<target>/crash-WHAT and
# FuzzRegressionTests replays it in every `make test`. Exit 1 if any target found something.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
# FUZZ_SMOKE=1 (CI): an empty corpus, a fixed seed and deterministic hashing, so the run explores the same inputs
# in the same order every time and a CI run only ever sees a prefix of what a longer local smoke has checked
# (`FUZZ_SMOKE=1 FUZZ_SECONDS=600 make fuzz`). Without it, exploration goes on from the saved corpus.
smoke="${FUZZ_SMOKE:-}"
targets=(${FUZZ_TARGETS:-message query zonefile config})
(cd Fuzz && swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld \
    --scratch-path ../.build-fuzz 2>&1 | grep -v "ld.gold: warning" | tail -3) || exit 1
bin=.build-fuzz/x86_64-unknown-linux-gnu/release
failed=()
for t in "${targets[@]}"; do
    case "$t" in
        message) exe=FuzzMessage ;; query) exe=FuzzQuery ;; zonefile) exe=FuzzZoneFile ;; config) exe=FuzzConfig ;;
        *) echo "unknown fuzz target $t" >&2; exit 2 ;;
    esac
    corpus=".build-fuzz/corpus/$t"
    extra=()
    if [ -n "$smoke" ]; then
        corpus=".build-fuzz/smoke-corpus/$t"
        rm -rf "$corpus"
        extra=(-seed=1)
    fi
    mkdir -p "$corpus"
    echo "fuzz $t: ${seconds}s${smoke:+ (smoke: seed 1, empty corpus)}"
    # The Swift runtime's own crash handler would fight ASan's; libFuzzer reports the crash.
    if ! SWIFT_BACKTRACE=enable=no SWIFT_DETERMINISTIC_HASHING=${smoke:+1} "$bin/$exe" -max_total_time="$seconds" \
        -timeout=10 -rss_limit_mb=4096 "${extra[@]}" -artifact_prefix=".build-fuzz/crash-$t-" -print_final_stats=1 \
        "$corpus" "Fuzz/inputs/$t" > ".build-fuzz/fuzz-$t.log" 2>&1; then
        failed+=("$t")
        grep -E "Fatal error|ERROR|SUMMARY|Test unit written" ".build-fuzz/fuzz-$t.log" | head -5
    fi
    grep -E "stat::number_of_executed_units|cov:" ".build-fuzz/fuzz-$t.log" | tail -2
done
if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz: findings in ${failed[*]} (inputs in .build-fuzz/crash-*; logs in .build-fuzz/fuzz-*.log)" >&2
    exit 1
fi
echo "fuzz: ${targets[*]} ran ${seconds}s each without a finding"
