// MultihomedTests: a server listening on the wildcard address answers from the address it was asked on (UDP and
// TCP), the way a multihomed host's source routing needs; shown on loopback, where 127.0.0.2 is another local
// address. The namespace test (tests/netns/two-lines.sh) shows it through two real lines.

import Foundation
import Testing

@Suite struct MultihomedTests {
    /// dig checks that a UDP reply comes from the address it sent to ("reply from unexpected source" otherwise).
    /// Asked at 127.0.0.2 from 127.0.0.1, a wildcard socket without IP_PKTINFO answers from 127.0.0.1.
    @Test func wildcardListeningRepliesFromTheAddressAsked() throws {
        let s = try ServerProcess(
            files: ["uplinkdns.yaml": poolConfig, "example.com.zone": poolZoneText], listen: ["0.0.0.0:0"])
        defer { s.stop() }
        for target in ["127.0.0.2", "127.0.0.3", "127.0.0.1"] {
            for transport in ["+notcp", "+tcp"] {
                let r = try run(
                    try tool("dig"),
                    [
                        "@\(target)", "-b", "127.0.0.1", "-p", "\(s.port)", "+norec", "+time=2", "+tries=1",
                        transport, "www.example.com", "A",
                    ])
                let dig = Dig(text: r.out)
                #expect(dig.status == "NOERROR" && dig.answer.count == 2, "\(target) \(transport): \(r.out)")
                #expect(!r.out.contains("unexpected source"), "\(target) \(transport): \(r.out)")
            }
        }
    }
}
