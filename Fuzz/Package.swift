// swift-tools-version: 6.2
// libFuzzer targets for UplinkDNS: separate from the main package so that its normal build needs no fuzzer.
// Built by `make fuzz` with `-sanitize=fuzzer,address` (see the Makefile and docs/security.md). Each executable
// keeps its own main and hands over to libFuzzer's driver (LLVMFuzzerRunDriver).
import PackageDescription

let targets = ["FuzzMessage", "FuzzQuery", "FuzzZoneFile", "FuzzConfig"]

let package = Package(
    name: "UplinkDNSFuzz",
    dependencies: [.package(name: "UplinkDNS", path: "..")],
    targets: [.target(name: "CFuzz")]
        + targets.map {
            .executableTarget(
                name: $0, dependencies: ["CFuzz", .product(name: "FuzzChecks", package: "UplinkDNS")],
                path: "Sources/\($0)")
        }
)
