// PoolDigTests: the real server answers the site's name by line weight and by client network, seen with dig.

import Foundation
import Testing

/// The seed's two lines, 2M and 512K, and pools of each policy.
let poolConfig = """
    server:
      udp-workers: 1
    zones:
      - origin: example.com.
        file: example.com.zone
    links:
      - name: unicom
        public: [192.0.2.10]
        bandwidth: 2mbit
      - name: cnc
        public: [198.51.100.10]
        bandwidth: 512kbit
    pools:
      - name: www.example.com.
        links: [unicom, cnc]
        policy: weighted
      - name: sticky.example.com.
        links: [unicom, cnc]
        policy: sticky
      - name: fo.example.com.
        links: [cnc, unicom]
        policy: failover
    """

let poolZoneText = """
    $ORIGIN example.com.
    @ 300 IN SOA ns1 hostmaster 1 3600 900 1209600 300
    @ IN NS ns1
    ns1 IN A 192.0.2.1
    ftp IN CNAME www
    """

@Suite struct PoolDigTests {
    let s: ServerProcess

    init() throws {
        s = try ServerProcess(files: ["uplinkdns.yaml": poolConfig, "example.com.zone": poolZoneText])
    }

    @Test func aThousandDigsFollowTheLineWeights() throws {
        let batch = s.dir.appendingPathComponent("queries.txt")
        try String(repeating: "www.example.com A\n", count: 1000).write(to: batch, atomically: true, encoding: .utf8)
        let r = try run(
            try tool("dig"), ["@127.0.0.1", "-p", "\(s.port)", "+norec", "+short", "+tries=1", "-f", batch.path],
            timeout: 120)
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.count == 2000)  // every response has both lines' addresses
        let firsts = stride(from: 0, to: lines.count, by: 2).map { lines[$0] }
        let unicom = Double(firsts.filter { $0 == "192.0.2.10" }.count) / Double(firsts.count)
        #expect(abs(unicom - 0.8) <= 0.02, "unicom first in \(unicom * 100) % of 1000 answers")
    }

    @Test func failoverAnswersTheFirstLineAlone() throws {
        #expect(try s.dig("fo.example.com", "+short").text.split(separator: "\n") == ["198.51.100.10"])
    }

    @Test func stickyKeepsEachClientNetworkOnOneLineAndEchoesItsScope() throws {
        var lines: Set<String> = []
        for n in 0..<20 {
            let answers = try (0..<3).map { _ in
                try s.dig("sticky.example.com", "+subnet=198.18.\(n).0/24").answer.first ?? ""
            }
            #expect(Set(answers).count == 1, "198.18.\(n).0/24 moved between lines: \(answers)")
            lines.insert(answers[0])
        }
        #expect(lines.count == 2)  // 20 networks spread over both lines
        #expect(
            try s.dig("sticky.example.com", "+subnet=198.18.1.0/24").text.contains("CLIENT-SUBNET: 198.18.1.0/24/24"))
        #expect(try s.dig("www.example.com", "+subnet=198.18.1.0/24").text.contains("CLIENT-SUBNET: 198.18.1.0/24/0"))
    }

    @Test func aCNAMEToThePoolGetsThePoolsAddresses() throws {
        let d = try s.dig("ftp.example.com")
        #expect(d.answer.first == "ftp.example.com. 3600 IN CNAME www.example.com.")
        #expect(d.answer.dropFirst().allSatisfy { $0.hasPrefix("www.example.com. 60 IN A ") } && d.answer.count == 3)
    }
}
