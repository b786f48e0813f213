// HardeningTests: abuse resistance as a client sees it — RRL under a flood, the per-client TCP cap.

import DNSWire
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A UDP socket on 127.0.0.1 for floods: sends many datagrams, then collects what comes back.
final class UDPFlood {
    let socket: LoopbackUDP

    init(port: UInt16) {
        socket = LoopbackUDP(port: port, timeout: 0.5, receiveBuffer: 4 << 20)
    }

    func send(_ bytes: [UInt8]) { socket.send(bytes) }

    /// Every datagram until `quiet` seconds pass without one.
    func receiveAll(quiet: Double = 0.5, max: Int = .max) -> [[UInt8]] {
        socket.setTimeout(quiet)
        var out: [[UInt8]] = []
        while let datagram = socket.receive(limit: 4096) {
            out.append(datagram)
            if out.count >= max { return out }
        }
        return out
    }

    /// Sends `total` copies of `query` (IDs counting up) in bursts of 50, collecting the replies after each burst,
    /// so that no reply is lost to a full socket buffer.
    func flood(total: Int, _ query: (UInt16) -> [UInt8]) -> [[UInt8]] {
        var replies: [[UInt8]] = []
        var i = 0
        while i < total {
            for _ in 0..<min(50, total - i) {
                send(query(UInt16(truncatingIfNeeded: i)))
                i += 1
            }
            replies += receiveAll(quiet: 0.05)
        }
        return replies + receiveAll(quiet: 1.0)
    }
}

@Suite(.serialized) struct HardeningTests {
    @Test func rrlHoldsAFloodToTheRatePlusSlips() throws {
        let config = poolConfig.replacingOccurrences(
            of: "server:\n",
            with: "server:\n  rrl: {responses-per-second: 20, slip: 2, exempt: []}\n  udp-workers: 2\n"
        ).replacingOccurrences(of: "  udp-workers: 1\n", with: "")
        let s = try ServerProcess(files: ["uplinkdns.yaml": config, "example.com.zone": poolZoneText])
        defer { s.stop() }
        let flood = UDPFlood(port: s.port)
        let total = 1000
        let first = time(nil)
        let replies = flood.flood(total: total) { queryBytes("www.example.com.", .a, id: $0) }
        let last = time(nil)
        // RRL counts per second: the flood spans `windows` seconds, each allowing 20 full answers.
        let windows = Int(last - first) + 1
        let full = replies.filter { $0[2] & 0x02 == 0 }
        let truncated = replies.filter { $0[2] & 0x02 != 0 }
        #expect(full.count >= 20 && full.count <= 20 * windows, "full answers: \(full.count) in \(windows) s")
        // Of the rest, every second one is sent truncated (slip 2), with no records, so the client retries on TCP.
        let over = total - full.count
        #expect(abs(truncated.count - over / 2) <= windows, "truncated: \(truncated.count) of \(over)")
        #expect(truncated.allSatisfy { $0[6..<12].allSatisfy { $0 == 0 } })
        // The same network's other lookups have their own budget, and TCP is not limited.
        let other = try #require(udpExchange(port: s.port, queryBytes("ns1.example.com.", .a, id: 7)))
        #expect(other[2] & 0x02 == 0 && other[7] == 1)
        let tcp = try TCPClient(port: s.port)
        tcp.send(tcpFramed(queryBytes("www.example.com.", .a, id: 8)))
        let answer = try #require(tcp.receive())
        #expect(answer[2] & 0x02 == 0 && answer[7] == 2)
        // Counted for the operator.
        let (_, metrics) = try httpRequest(port: s.controlPort, "GET", "/metrics")
        #expect(metrics.contains("uplinkdns_rrl_responses_total{action=\"slipped\"} \(truncated.count)"), "\(metrics)")
        #expect(metrics.contains("uplinkdns_rrl_responses_total{action=\"dropped\"} \(over - truncated.count)"))
    }

    @Test func loopbackIsExemptByDefault() throws {
        let s = try ServerProcess(files: ["uplinkdns.yaml": poolConfig, "example.com.zone": poolZoneText])
        defer { s.stop() }
        let flood = UDPFlood(port: s.port)
        let replies = flood.flood(total: 500) { queryBytes("www.example.com.", .a, id: $0) }
        #expect(replies.count == 500 && replies.allSatisfy { $0[2] & 0x02 == 0 })
    }

    @Test(
        .enabled(
            if: geteuid() == 0 && getpwnam("nobody") != nil,
            "server.user needs root and a user 'nobody' (run `make test` as root, as CI does)"))
    func theServerDropsToServerUserAfterBinding() throws {
        let pw = try #require(getpwnam("nobody"))
        // A privileged port: only root can bind it; the server must still answer after becoming nobody.
        var port: UInt16 = 0
        for candidate in UInt16(900)..<1000 where canBind(candidate) {
            port = candidate
            break
        }
        try #require(port != 0, "no free port below 1024")
        let config = poolConfig.replacingOccurrences(of: "server:\n", with: "server:\n  user: nobody\n")
        let s = try ServerProcess(
            files: ["uplinkdns.yaml": config, "example.com.zone": poolZoneText], listen: ["127.0.0.1:\(port)"])
        defer { s.stop() }
        // The directory must be readable by nobody for reloads (temporary directories are 0755, files 0644).
        #expect(s.waitForLog("running as nobody"))
        let status = try String(contentsOfFile: "/proc/\(s.process.processIdentifier)/status", encoding: .utf8)
        let uids = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }?.split(whereSeparator: \.isWhitespace)
        #expect(uids?.dropFirst().allSatisfy { UInt32($0) == pw.pointee.pw_uid } == true, "\(uids ?? [])")
        #expect(try s.dig("www.example.com", "+short").text.contains("192.0.2.10"))
        // The state it writes from now on is the user's.
        var st = stat()
        #expect(stat(s.dir.appendingPathComponent("state").path, &st) == 0 && st.st_uid == pw.pointee.pw_uid)
        // A reload still works without root.
        try s.write("example.com.zone", poolZoneText + "\nnew IN A 192.0.2.77\n")
        s.signal(SIGHUP)
        #expect(s.waitForLog("reloaded"), "\(s.log)")
        #expect(try s.dig("new.example.com", "+short").text.contains("192.0.2.77"))
    }

    /// Whether 127.0.0.1:port is free for both UDP and TCP.
    func canBind(_ port: UInt16) -> Bool {
        for type in [SOCK_DGRAM, SOCK_STREAM] {
            let fd = socket(AF_INET, Int32(type.rawValue), 0)
            defer { close(fd) }
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr)
            let rc = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if rc != 0 { return false }
        }
        return true
    }

    /// contrib/systemd's units, as shipped: `systemd-analyze verify` in a scratch root, and `systemd-analyze
    /// security` under an exposure ceiling, so losing a hardening option fails (tests/packaging/check-units.sh).
    @Test(.enabled(if: (try? tool("systemd-analyze")) != nil, "needs systemd-analyze (Debian package systemd)"))
    func theSystemdUnitsVerifyAndStayHardened() throws {
        let script = packageRoot.appendingPathComponent("tests/packaging/check-units.sh").path
        // With `make man`'s page, verify also resolves Documentation=man:uplinkdns(1).
        let manDir = packageRoot.appendingPathComponent(".build/man")
        let env =
            FileManager.default.fileExists(atPath: manDir.appendingPathComponent("uplinkdns.1").path)
            ? ["MAN_DIR=\(manDir.path)"] : []
        let r = try run(try tool("env"), env + [try tool("bash"), script], timeout: 120)
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(r.out.contains("exposure"), "\(r.out)")
    }

    /// No amplification by design: what an attacker can make the server send per query octet, over UDP.
    @Test func responsesAreNoLargerThanNeeded() throws {
        let s = try ServerProcess(files: ["uplinkdns.yaml": poolConfig, "example.com.zone": poolZoneText])
        defer { s.stop() }
        func exchange(_ name: String, _ type: UInt16, edns: Bool = true) throws -> (ratio: Double, reply: [UInt8]) {
            let q = queryBytes(name, RRType(type), id: 1, edns: edns ? EDNSQuery(size: 4096) : nil)
            let r = try #require(udpExchange(port: s.port, q))
            return (Double(r.count) / Double(q.count), r)
        }
        // Outside our zones: REFUSED with the question only — no records at all (RFC 8906 §3.1.5).
        let refused = try exchange("victim.example.net", 255)
        #expect(refused.reply[3] & 0x0F == 5 && refused.reply[6..<10].allSatisfy { $0 == 0 })
        // ANY: one RRset (RFC 8482), not the whole node.
        let any = try exchange("example.com", 255)
        #expect(any.reply[6] == 0 && any.reply[7] == 1, "ANCOUNT \(any.reply[7])")
        // Nothing this zone can be asked for, with the largest EDNS size, answers with more than 4× the query.
        for (name, type) in [("example.com", 255), ("example.com", 6), ("www.example.com", 1), ("nope.example.com", 1)]
        {
            let r = try exchange(name, UInt16(type))
            #expect(r.ratio < 4, "\(name) type \(type): \(r.reply.count) octets, \(r.ratio)×")
        }
    }

    @Test func theControlAPIRefusesAbsurdInput() throws {
        let config = poolConfig.replacingOccurrences(of: "server:\n", with: "server:\n  control-token: t\n")
        let s = try ServerProcess(files: ["uplinkdns.yaml": config, "example.com.zone": poolZoneText])
        defer { s.stop() }
        let auth = ["Authorization: Bearer t"]
        for body in [
            "{\"state\":\"drain\",\"for\":\"infh\"}", "{\"state\":\"drain\",\"for\":1e308}",
            "{\"state\":\"drain\",\"for\":\"-5m\"}", "{\"state\":\"sideways\"}", "not json", "",
        ] {
            let (status, _) = try httpRequest(port: s.controlPort, "POST", "/v1/links/cnc", headers: auth, body: body)
            #expect(status == 400, "\(body)")
        }
        let (missing, _) = try httpRequest(
            port: s.controlPort, "POST", "/v1/links/nope", headers: auth, body: "{\"state\":\"drain\"}")
        #expect(missing == 404)
        #expect(s.process.isRunning)
        #expect(try s.dig("fo.example.com", "+short").text.contains("198.51.100.10"))  // nothing changed
    }

    /// DNS rebinding: a page on attacker.example whose name now points at 127.0.0.1 sends requests with its own name
    /// as Host. The API answers only to localhost, IP literals and `server.control-hosts`; a token that merely
    /// starts like the right one, or extends it, is refused.
    @Test func theControlAPIAnswersOnlyToItsOwnNamesAndTheExactToken() throws {
        let config = poolConfig.replacingOccurrences(
            of: "server:\n", with: "server:\n  control-token: s3cret-token\n  control-hosts: [dns1.example.net]\n")
        let s = try ServerProcess(files: ["uplinkdns.yaml": config, "example.com.zone": poolZoneText])
        defer { s.stop() }
        let p = s.controlPort
        for host in ["127.0.0.1:\(p)", "localhost:\(p)", "[::1]:\(p)", "LOCALHOST", "dns1.example.net:\(p)"] {
            #expect(try httpRequest(port: p, "GET", "/v1/links", host: host).0 == 200, "\(host)")
        }
        #expect(try httpRequest(port: p, "GET", "/v1/links", host: nil).0 == 200, "HTTP/1.0 without Host")
        for host in [
            "attacker.example:\(p)", "attacker.example", "localhost.attacker.example", "dns1.example.net.evil",
        ] {
            let (status, body) = try httpRequest(port: p, "GET", "/v1/links", host: host)
            #expect(status == 403 && body.contains("server.control-hosts"), "\(host): \(status) \(body)")
        }
        #expect(try httpRequest(port: p, "GET", "/metrics", host: "attacker.example").0 == 403)
        for token in ["s3cret-toke", "s3cret-tokenX", "S3cret-token", ""] {
            let (status, _) = try httpRequest(
                port: p, "POST", "/v1/links/cnc", headers: ["Authorization: Bearer \(token)"],
                body: "{\"state\":\"drain\"}")
            #expect(status == 401, "token \(token)")
        }
        let (ok, _) = try httpRequest(
            port: p, "POST", "/v1/links/cnc", headers: ["Authorization: Bearer s3cret-token"],
            body: "{\"state\":\"drain\"}")
        #expect(ok == 200)
    }

    @Test func oneClientCannotTakeEveryTCPConnection() throws {
        let config = poolConfig.replacingOccurrences(
            of: "server:\n", with: "server:\n  tcp: {max-connections: 10, max-per-client: 2, idle-timeout: 5}\n")
        let s = try ServerProcess(files: ["uplinkdns.yaml": config, "example.com.zone": poolZoneText])
        defer { s.stop() }
        let held = try (0..<2).map { _ in try TCPClient(port: s.port) }
        usleep(200_000)
        let third = try TCPClient(port: s.port)
        #expect(third.closedByServer(), "a third connection from the same address is closed at once")
        for (i, c) in held.enumerated() {
            c.send(tcpFramed(queryBytes("www.example.com.", .a, id: UInt16(i))))
            #expect(c.receive() != nil)
        }
        // UDP is not affected.
        #expect(udpExchange(port: s.port, queryBytes("www.example.com.", .a, id: 9)) != nil)
    }
}
