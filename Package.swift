// swift-tools-version: 6.2
// UplinkDNS: an authoritative DNS server for sites that reach the internet over several ISP lines.
import PackageDescription

/// Every first-party target is built with warnings as errors (STYLE.md: keep the build clean).
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "UplinkDNS",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "uplinkdns", targets: ["uplinkdns"]),
        // For the libFuzzer package in Fuzz/ (and the regression tests): the properties the fuzzers check.
        .library(name: "FuzzChecks", targets: ["FuzzChecks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // libldns, found through pkg-config; only the Zones target imports it.
        .systemLibrary(
            name: "CLDNS",
            pkgConfig: "ldns",
            providers: [.apt(["libldns-dev"])]
        ),
        // Knot DNS's zone-file scanner (libzscanner), found through pkg-config: ZoneFileLoader reads master files
        // with it (a million records in well under a second, where ldns took seconds).
        .systemLibrary(
            name: "CZScanner",
            pkgConfig: "libzscanner",
            providers: [.apt(["libknot-dev"])]
        ),
        // recvmmsg/sendmmsg for the UDP workers (GNU extensions glibc hides from Swift).
        .target(name: "CUplinkSys"),
        .target(name: "DNSWire", swiftSettings: strict),
        // Zones: swift-crypto for NSEC3's SHA-1 owner names in signed answers (`Zone.resolveSecure`).
        .target(
            name: "Zones",
            dependencies: [
                "DNSWire", "CLDNS", "CZScanner", "CUplinkSys", .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        // Uplinks: CUplinkSys for a prefetch hint (the client network maps).
        .target(
            name: "Uplinks",
            dependencies: ["DNSWire", "CUplinkSys", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),
        // Responder, Zones: CUplinkSys for a prefetch hint too (filling the name tables of a million names).
        .target(
            name: "Responder", dependencies: ["DNSWire", "Zones", "Uplinks", "CUplinkSys"], swiftSettings: strict),
        // DNSSEC: keys, RRSIG signing and verification, the NSEC chain, with swift-crypto (P-256, Ed25519, SHA-2;
        // _CryptoExtras for RSA, which `check` verifies in zones signed elsewhere).
        .target(
            name: "DNSSEC",
            dependencies: [
                "DNSWire", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        .target(name: "Routing", dependencies: ["Uplinks"], swiftSettings: strict),
        .target(
            name: "Health",
            dependencies: [
                "Uplinks", "Routing", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "Server",
            dependencies: [
                "DNSWire", "Zones", "Uplinks", "Health", "Routing", "Responder", "CUplinkSys", "DNSSEC",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // SHA-256 of the status page's script, for its Content-Security-Policy.
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "FuzzChecks",
            dependencies: [
                "DNSWire", "DNSSEC", "Zones", "Responder", "Server", "Uplinks",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "uplinkdns",
            dependencies: [
                "Server", "Uplinks", "Routing", "Zones", "DNSWire", "DNSSEC",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "DNSWireTests", dependencies: ["DNSWire"], swiftSettings: strict),
        .testTarget(name: "UplinksTests", dependencies: ["Uplinks", "DNSWire", "TestSupport"], swiftSettings: strict),
        // DNSSECTests: CLDNS for the TSIG cross-check against libldns.
        .testTarget(
            name: "DNSSECTests", dependencies: ["DNSSEC", "DNSWire", "Zones", "TestSupport", "CLDNS"],
            swiftSettings: strict),
        .testTarget(
            name: "HealthTests",
            dependencies: ["Health", "Uplinks", .product(name: "MetricsTestKit", package: "swift-metrics")],
            swiftSettings: strict),
        .testTarget(
            name: "RoutingTests",
            dependencies: ["Routing", "Uplinks", "TestSupport", .product(name: "Yams", package: "Yams")],
            resources: [.copy("golden")],
            swiftSettings: strict),
        // Helpers shared by the test targets: zones and records written as master-file text, query bytes, the UDP
        // exchange with a server on loopback, the test lines and their pool.
        .target(
            name: "TestSupport", dependencies: ["Zones", "DNSWire", "Uplinks"], path: "Tests/TestSupport",
            swiftSettings: strict),
        .testTarget(name: "ZonesTests", dependencies: ["Zones", "DNSWire", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "ResponderTests",
            dependencies: ["Responder", "Zones", "DNSWire", "Uplinks", "TestSupport", "DNSSEC"],
            swiftSettings: strict),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "DNSWire", "TestSupport",
                "Server", "Responder", "Zones", "Uplinks", "DNSSEC", "Health",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"), .product(name: "Yams", package: "Yams"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ], swiftSettings: strict),
        .testTarget(
            name: "IntegrationTests", dependencies: ["DNSWire", "DNSSEC", "TestSupport"], swiftSettings: strict),
        .testTarget(
            name: "FuzzRegressionTests", dependencies: ["FuzzChecks", "DNSWire", "DNSSEC"], swiftSettings: strict),
    ]
)
