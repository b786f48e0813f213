// FuzzRegressionTests: every saved fuzz input — the seed corpora and each crash a fuzzer found (named
// `crash-WHAT`) — replayed through the same checks the fuzzers run (Fuzz/inputs/<target>/).

import DNSSEC
import DNSWire
import Foundation
import FuzzChecks
import Testing

/// Fuzz/inputs, beside this package's Tests.
let inputsRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fuzz/inputs")

/// The saved inputs of one target, by file name.
func inputs(_ target: String) throws -> [(String, [UInt8])] {
    let dir = inputsRoot.appendingPathComponent(target)
    return try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted().map { name in
        (name, Array(try Data(contentsOf: dir.appendingPathComponent(name))))
    }
}

@Suite struct FuzzRegressionTests {
    @Test(arguments: ["message", "query", "zonefile", "config"])
    func savedInputsHoldTheProperties(target: String) throws {
        let saved = try inputs(target)
        #expect(saved.count >= 3, "Fuzz/inputs/\(target) holds the seed corpus")
        let check: ([UInt8]) -> String? =
            switch target {
            case "message": FuzzChecks.message
            case "query": FuzzChecks.query
            case "zonefile": FuzzChecks.zoneFile
            default: FuzzChecks.config
            }
        for (name, bytes) in saved {
            #expect(check(bytes) == nil, "Fuzz/inputs/\(target)/\(name)")
        }
    }

    /// The signed seeds really are signed with the fuzz key at the fuzz clock, so the fuzzer starts inside the
    /// verified TSIG path and the transfer code rather than at BADSIG.
    @Test func signedSeedsVerify() throws {
        let key = TSIGKey(
            name: try DomainName("k."),
            secret: Array(Data(base64Encoded: "c2VjcmV0LXNoYXJlZC1ieS1wcmltYXJ5LWFuZC1zZWNvbmRhcnk=")!))
        for name in ["axfr-signed", "soa-signed", "ixfr-signed"] {
            let bytes = try Array(Data(contentsOf: inputsRoot.appendingPathComponent("query/\(name)")))
            guard case .verified = try TSIG.verify(bytes, keys: [key], now: 1_800_000_000) else {
                Issue.record("\(name) does not verify")
                continue
            }
        }
    }
}
