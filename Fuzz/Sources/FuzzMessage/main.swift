// FuzzMessage: libFuzzer over FuzzChecks.message (built by `make fuzz` with -sanitize=fuzzer,address). A violated
// property stops the run with the input saved as crash-*; replay it with `FuzzMessage crash-FILE`.

import CFuzz
import Foundation
import FuzzChecks

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(
    LLVMFuzzerRunDriver(&argc, &argv) { start, count in
        let bytes = count > 0 && start != nil ? Array(UnsafeBufferPointer(start: start, count: count)) : []
        if let violation = FuzzChecks.message(bytes) { fatalError("FuzzChecks.message: \(violation)") }
        return 0
    })
