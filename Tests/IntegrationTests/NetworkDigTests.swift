// NetworkDigTests: answers by the client's network from the real server — `dig +subnet` per network with its ECS
// scope, the source address when there is no ECS, a drained line passing its clients on, signed answers validated by
// delv, the status and metrics per network, and a network file changed and reloaded (a bad line refused, old
// networks serving on).

import Foundation
import Testing

@Suite struct NetworkDigTests {
    /// The seed's site: the 2M line's ISP clients (unicom) on the 2M line, the 512K line's ISP clients (cnc) on the
    /// 512K line; loopback counts as a cnc client, so tools on this host (delv) ask as one.
    static func config(dnssec: Bool = false, queryLog: Bool = false) -> String {
        """
        server:
          udp-workers: 1
          control-token: t
          query-log: {format: text, path: queries.log, enabled: \(queryLog)}
        zones:
          - origin: example.com.
            file: example.com.zone
            dnssec: \(dnssec)
        links:
          - name: unicom
            public: [192.0.2.10, "2001:db8::10"]
            bandwidth: 2mbit
          - name: cnc
            public: [198.51.100.10, "2001:db8:1::10"]
            bandwidth: 512kbit
        networks:
          - name: unicom-clients
            file: unicom.txt
          - name: cnc-clients
            prefixes: [198.19.0.0/16, 198.18.200.0/24, 127.0.0.0/8, "2001:db8:100::/40"]
        pools:
          - name: www.example.com.
            links: [unicom, cnc]
            policy: weighted
            by-network:
              unicom-clients: [unicom, cnc]
              cnc-clients: [cnc, unicom]
        """
    }

    static let unicomList = "# unicom's address list\n198.18.0.0/16\n203.0.113.0/24\n"

    static func start(dnssec: Bool = false, queryLog: Bool = false) throws -> ServerProcess {
        try ServerProcess(
            files: [
                "uplinkdns.yaml": config(dnssec: dnssec, queryLog: queryLog), "example.com.zone": poolZoneText,
                "unicom.txt": unicomList,
            ])
    }

    /// The A addresses of an answer to a query from `subnet`, and the ECS scope the server returned.
    static func ask(_ s: ServerProcess, _ subnet: String, _ type: String = "A") throws -> (
        addresses: [String], scope: String?
    ) {
        let d = try s.dig("www.example.com", type, "+subnet=\(subnet)")
        let scope = d.match(#"CLIENT-SUBNET: [^ \n]+/\d+/(\d+)"#)
        return (d.answer.filter { $0.contains(" \(type) ") }.map { String($0.split(separator: " ").last!) }, scope)
    }

    static func setLine(_ s: ServerProcess, _ link: String, _ state: String) throws {
        let (status, body) = try httpRequest(
            port: s.controlPort, "POST", "/v1/links/\(link)", headers: ["Authorization: Bearer t"],
            body: "{\"state\":\"\(state)\"}")
        #expect(status == 200, "\(state): \(status) \(body)")
    }

    @Test func eachISPsClientsGetTheirLineWithTheScopeOfTheirNetwork() throws {
        let s = try Self.start()
        defer { s.stop() }
        #expect(try Self.ask(s, "198.18.5.0/24") == (["192.0.2.10"], "17"))  // 198.18.0.0/17: no cnc /24 in it
        #expect(try Self.ask(s, "198.18.200.0/24") == (["198.51.100.10"], "24"))
        #expect(try Self.ask(s, "198.19.44.0/24") == (["198.51.100.10"], "16"))
        #expect(try Self.ask(s, "203.0.113.7/32") == (["192.0.2.10"], "24"))
        let other = try Self.ask(s, "192.0.2.0/24")
        #expect(other.addresses.count == 2, "everyone else: the pool's weighted policy, both lines")
        #expect(other.scope == "6", "\(other)")  // 192.0.0.0/6 holds no network
        // IPv6 clients and AAAA the same way.
        #expect(try Self.ask(s, "2001:db8:100:5::/56", "AAAA") == (["2001:db8:1::10"], "40"))
        let other6 = try Self.ask(s, "2001:db8:200::/48", "AAAA")
        #expect(other6.addresses.count == 2 && other6.scope == "39", "\(other6)")  // 2001:db8:200::/39
        // Without ECS the source address decides: 127.0.0.1 is in cnc-clients.
        #expect(try s.dig("www.example.com", "+short").text.split(separator: "\n") == ["198.51.100.10"])

        // A drained line passes its clients to the next in their list; the scope follows the lists, not health.
        try Self.setLine(s, "cnc", "drain")
        #expect(try Self.ask(s, "198.19.44.0/24") == (["192.0.2.10"], "16"))
        try Self.setLine(s, "cnc", "auto")
        #expect(try Self.ask(s, "198.19.44.0/24") == (["198.51.100.10"], "16"))

        // The status API and the metrics, per network.
        let (ok, body) = try httpRequest(port: s.controlPort, "GET", "/v1/status")
        let status = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        let pool = (status?["pools"] as? [[String: Any]])?.first
        let networks = (pool?["networks"] as? [[String: Any]]) ?? []
        #expect(ok == 200 && networks.count == 2, "\(body)")
        let cnc = networks.first { $0["network"] as? String == "cnc-clients" }
        #expect(cnc?["serving"] as? String == "cnc" && cnc?["lines"] as? [String] == ["cnc", "unicom"], "\(body)")
        #expect((cnc?["answers"] as? Int ?? 0) >= 3, "\(body)")
        let (_, metrics) = try httpRequest(port: s.controlPort, "GET", "/metrics")
        #expect(
            metrics.contains(
                #"uplinkdns_network_responses_total{pool="www.example.com.",network="cnc-clients",link="cnc"}"#),
            "\(metrics)")
    }

    @Test func signedAnswersOfEachNetworkValidate() throws {
        let s = try Self.start(dnssec: true)
        defer { s.stop() }
        let anchor = try DNSSECDigTests().anchor(s)
        // delv asks from 127.0.0.1, a cnc client: the cnc-only answer, signed ahead of time.
        let before = try DNSSECDigTests().delv(s.port, anchor, "www.example.com", "A")
        #expect(before.contains("fully validated") && before.contains("198.51.100.10"), "\(before)")
        #expect(!before.contains("192.0.2.10"), "\(before)")
        try Self.setLine(s, "cnc", "drain")
        let after = try DNSSECDigTests().delv(s.port, anchor, "www.example.com", "A")
        #expect(after.contains("fully validated") && after.contains("192.0.2.10"), "\(after)")
        // An ECS answer with DO carries the signature of its own address set.
        let d = try s.dig("www.example.com", "A", "+dnssec", "+subnet=198.18.5.0/24")
        #expect(d.answer.contains { $0.contains(" RRSIG A ") } && d.answer.contains { $0.hasSuffix("192.0.2.10") })
    }

    @Test func aChangedNetworkFileIsReadOnReloadAndABadOneRefused() throws {
        let s = try Self.start()
        defer { s.stop() }
        #expect(try Self.ask(s, "203.0.113.0/24").addresses == ["192.0.2.10"])
        // A bad line: the reload fails with the file and line; the old networks go on answering.
        try s.write("unicom.txt", Self.unicomList + "203.0.113.300/24\n")
        let (failed, body) = try httpRequest(
            port: s.controlPort, "POST", "/v1/reload", headers: ["Authorization: Bearer t"])
        #expect(failed != 200 && body.contains("unicom.txt:4:") && body.contains("203.0.113.300/24"), "\(body)")
        #expect(try Self.ask(s, "203.0.113.0/24").addresses == ["192.0.2.10"])
        // The operator moves 203.0.113.0/24 out of unicom's list: after the reload, it is everyone else's.
        try s.write("unicom.txt", "198.18.0.0/16\n")
        let (ok, reply) = try httpRequest(
            port: s.controlPort, "POST", "/v1/reload", headers: ["Authorization: Bearer t"])
        #expect(ok == 200, "\(reply)")
        #expect(try Self.ask(s, "203.0.113.0/24").addresses.count == 2)
        #expect(try Self.ask(s, "198.18.5.0/24").addresses == ["192.0.2.10"])
    }

    /// The query log names the network a pool's answer went by, over UDP and TCP.
    @Test func theQueryLogNamesTheNetwork() throws {
        let s = try Self.start(queryLog: true)
        defer { s.stop() }
        _ = try s.dig("www.example.com", "A", "+subnet=198.19.1.0/24")
        _ = try s.dig("www.example.com", "A", "+tcp", "+subnet=198.18.1.0/24")
        _ = try s.dig("www.example.com", "A", "+subnet=192.0.2.0/24")
        _ = try s.dig("example.com", "SOA")
        let file = s.dir.appendingPathComponent("queries.log")
        var lines: [String] = []
        for _ in 0..<100 {
            lines = ((try? String(contentsOf: file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            if lines.count >= 4 { break }
            usleep(50_000)
        }
        #expect(lines.count == 4, "\(lines)")
        #expect(lines.count == 4 && lines[0].hasPrefix("20") && lines[0].hasSuffix(" network=cnc-clients"), "\(lines)")
        #expect(lines.count == 4 && lines[1].contains("tcp ") && lines[1].hasSuffix(" network=unicom-clients"))
        #expect(lines.count == 4 && lines[2].hasSuffix(" network=other"), "\(lines)")
        #expect(lines.count == 4 && !lines[3].contains("network="), "\(lines)")
    }
}
