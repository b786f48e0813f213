// ReloadAppliesTests: a reload applies every part of the config — server settings, lines added and removed, pools,
// transfer ACLs — and keeps applying it after lines change; what needs a restart is named in the reply.

import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct ReloadAppliesTests {
    /// Where the lines' state files are (absolute paths: a file check reads its path as written).
    static let stateDir: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reload-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }()

    static func setState(_ link: String, _ state: String) throws {
        try "\(state)\n".write(to: stateDir.appendingPathComponent("\(link).state"), atomically: true, encoding: .utf8)
    }

    /// A two-line site whose lines are judged by state files the test writes (`up`/`down`).
    static func config(_ server: String = "", links: [String] = ["unicom", "cnc"], extra: String = "") -> String {
        let addresses = ["unicom": "192.0.2.10", "cnc": "198.51.100.10", "ctc": "203.0.113.10"]
        let lines = links.map { name in
            """
              - name: \(name)
                public: [\(addresses[name]!)]
                interval: 0.2
                rise: 1
                fall: 1
                checks: [{file: \(stateDir.appendingPathComponent("\(name).state").path)}]
            """
        }.joined(separator: "\n")
        return """
            server:
              control-token: t
              udp-workers: 1
            \(server)
            zones:
              - origin: example.com.
                file: example.com.zone
            \(extra)
            links:
            \(lines)
            pools:
              - {name: www.example.com., links: [\(links.joined(separator: ", "))], policy: round-robin}
            """
    }

    static func start(_ config: String) throws -> ServerProcess {
        for name in ["unicom", "cnc", "ctc"] { try setState(name, "up") }
        return try ServerProcess(files: ["uplinkdns.yaml": config, "example.com.zone": poolZoneText])
    }

    static func reload(_ s: ServerProcess, _ config: String) throws -> [String: Any] {
        try s.write("uplinkdns.yaml", config)
        let (status, body) = try httpRequest(
            port: s.controlPort, "POST", "/v1/reload", headers: ["Authorization: Bearer t"])
        #expect(status == 200, "\(status) \(body)")
        return (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }

    /// Drains a line and puts it back through the API (each answered once it serves).
    static func flap(_ s: ServerProcess, _ link: String) throws {
        for state in ["drain", "auto"] {
            let (status, body) = try httpRequest(
                port: s.controlPort, "POST", "/v1/links/\(link)", headers: ["Authorization: Bearer t"],
                body: "{\"state\":\"\(state)\"}")
            #expect(status == 200, "\(state): \(status) \(body)")
        }
    }

    static func www(_ s: ServerProcess) throws -> Set<String> {
        Set(try s.dig("www.example.com", "A").answer.compactMap { $0.split(separator: " ").last.map(String.init) })
    }

    @Test func serverSettingsApplyAndStayAfterALineChange() throws {
        let s = try Self.start(Self.config("  identity: before\n  version: v-before\n  nsid: n-before"))
        defer { s.stop() }
        #expect(try s.dig("id.server", "TXT", "-c", "CH").answer.first?.hasSuffix("\"before\"") == true)
        _ = try Self.reload(s, Self.config("  identity: after\n  version: v-after\n  nsid: n-after"))
        for round in 0..<2 {
            let id = try s.dig("id.server", "TXT", "-c", "CH")
            #expect(id.answer.first?.hasSuffix("\"after\"") == true, "round \(round): \(id)")
            let version = try s.dig("version.bind", "TXT", "-c", "CH")
            #expect(version.answer.first?.hasSuffix("\"v-after\"") == true, "round \(round): \(version)")
            let nsid = try s.dig("www.example.com", "+nsid")
            #expect(nsid.text.contains("n-after"), "round \(round): \(nsid)")
            // A line change rebuilds the pools' answers: the reloaded settings stay.
            try Self.flap(s, "cnc")
        }
    }

    @Test func notifyTargetsApply() throws {
        // A secondary that only listens: what reaches it is what the server sends.
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { a in
                bind(fd, a, len) == 0 ? getsockname(fd, a, &len) : -1
            }
        }
        let port = UInt16(bigEndian: sa.sin_port)
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let s = try Self.start(Self.config())
        defer { s.stop() }
        _ = try Self.reload(s, Self.config(extra: "    notify: [\"127.0.0.1:\(port)\"]"))
        // A line change moves the serial: the new target hears of it.
        try Self.flap(s, "cnc")
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        #expect(n > 12 && (buffer[2] >> 3) & 0x0F == 4, "no NOTIFY (opcode 4) reached the new target")
    }

    @Test func chaosAndEDNSSizeApply() throws {
        let s = try Self.start(Self.config("  edns-udp-size: 1232"))
        defer { s.stop() }
        #expect(try s.dig("www.example.com", "+bufsize=4096").text.contains("udp: 1232"))
        _ = try Self.reload(s, Self.config("  edns-udp-size: 1400\n  chaos: false"))
        for round in 0..<2 {
            #expect(try s.dig("www.example.com", "+bufsize=4096").text.contains("udp: 1400"), "round \(round)")
            #expect(try s.dig("id.server", "TXT", "-c", "CH").status == "REFUSED", "round \(round)")
            try Self.flap(s, "cnc")
        }
    }

    @Test func poolPolicyAndTCPLimitsAndRRLApply() throws {
        let s = try Self.start(Self.config())
        defer { s.stop() }
        var failover = Self.config("  tcp: {max-connections: 1}\n  rrl: {responses-per-second: 2, slip: 0, exempt: []}")
        failover = failover.replacingOccurrences(of: "policy: round-robin", with: "policy: failover")
        _ = try Self.reload(s, failover)
        for round in 0..<2 {
            // Failover: the first line alone.
            #expect(try Self.www(s) == ["192.0.2.10"], "round \(round)")
            try Self.flap(s, "cnc")
        }
        // One TCP connection at most: a second one takes the slot of the first, idle, one.
        let first = try TCPClient(port: s.port)
        first.send(tcpFramed(queryBytes("www.example.com.", .a, id: 1)))
        #expect(first.receive() != nil)
        let second = try TCPClient(port: s.port)
        #expect(first.closedByServer())
        second.send(tcpFramed(queryBytes("www.example.com.", .a, id: 2)))
        #expect(second.receive() != nil)
        // RRL at 2 per second with no slip: a burst of the same question loses most answers.
        let burst = UDPFlood(port: s.port)
        for i in 0..<20 { burst.send(queryBytes("ns1.example.com.", .a, id: UInt16(i))) }
        let answered = burst.receiveAll(quiet: 0.5).count
        #expect(answered < 10, "\(answered) of 20 answered")
    }

    @Test func aLineAddedByReloadIsProbedAnsweredAndListedAndARemovedOneIsGone() throws {
        let s = try Self.start(Self.config())
        defer { s.stop() }
        #expect(try Self.www(s) == ["192.0.2.10", "198.51.100.10"])
        let reply = try Self.reload(s, Self.config(links: ["unicom", "ctc"]))
        let lines = reply["lines"] as? [String: [String]] ?? [:]
        #expect(lines["added"] == ["ctc"] && lines["removed"] == ["cnc"], "\(reply)")
        // ctc is answered once its first probe (at once, not after an interval) says up.
        let deadline = Date().addingTimeInterval(5)
        while try Self.www(s) != ["192.0.2.10", "203.0.113.10"] && Date() < deadline { usleep(50_000) }
        #expect(try Self.www(s) == ["192.0.2.10", "203.0.113.10"])
        let (_, list) = try httpRequest(port: s.controlPort, "GET", "/v1/links")
        #expect(list.contains("\"ctc\"") && !list.contains("\"cnc\""), "\(list)")
        // Probed: its state file going down takes it out; the removed line's file no longer matters.
        try Self.setState("ctc", "down")
        #expect(s.waitForLog("link ctc down", timeout: 5), "\(s.log.suffix(1500))")
        // The log line comes as the change is handed to the builder; the answers follow when its build serves.
        let served = Date().addingTimeInterval(2)
        while try Self.www(s) != ["192.0.2.10"] && Date() < served { usleep(20_000) }
        #expect(try Self.www(s) == ["192.0.2.10"])
        try Self.setState("cnc", "down")
        usleep(600_000)
        #expect(!s.log.contains("link cnc down"), "\(s.log.suffix(1500))")
        // An operator can drive the new line.
        try Self.setState("ctc", "up")
        #expect(s.waitForLog("link ctc up", timeout: 5))
        let (status, body) = try httpRequest(
            port: s.controlPort, "POST", "/v1/links/ctc", headers: ["Authorization: Bearer t"],
            body: "{\"state\":\"drain\"}")
        #expect(status == 200, "\(body)")
        #expect(try Self.www(s) == ["192.0.2.10"])
    }

    @Test func transferAccessAppliesAndRestartOnlySettingsAreNamed() throws {
        let s = try Self.start(Self.config())
        defer { s.stop() }
        #expect(try s.dig("example.com", "AXFR").text.contains("Transfer failed"))
        let allow = Self.config(extra: "    transfer: [127.0.0.0/8]")
        let reply = try Self.reload(s, allow.replacingOccurrences(of: "udp-workers: 1", with: "udp-workers: 2"))
        #expect(reply["needs_restart"] as? [String] == ["server.udp-workers"], "\(reply)")
        #expect(s.log.contains("server.udp-workers changed: it takes effect at the next restart"))
        let axfr = try s.dig("example.com", "AXFR")
        #expect(axfr.text.contains("XFR size: 7 records"), "\(axfr)")
        // Still allowed after a line goes down and up; then a key required by reload: unsigned is refused, signed
        // with the new key allowed.
        try Self.flap(s, "cnc")
        #expect(try s.dig("example.com", "AXFR").text.contains("XFR size: 7 records"))
        let secret = "c2VjcmV0LXNoYXJlZC1ieS1wcmltYXJ5LWFuZC1zZWNvbmRhcnk="
        let keyed = Self.config(
            extra: "    transfer: [127.0.0.0/8]\n    key: k.\nkeys: [{name: k., secret: \(secret)}]")
        _ = try Self.reload(s, keyed)
        #expect(try s.dig("example.com", "AXFR").text.contains("Transfer failed"))
        let signed = try s.dig("example.com", "AXFR", "-y", "hmac-sha256:k.:\(secret)")
        #expect(signed.text.contains("XFR size: 7 records"), "\(signed)")
    }
}
