// HealthDigTests: a line whose probe target dies leaves the answers, and comes back, as dig sees it.

import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP listener on 127.0.0.1 that the test can close and reopen on the same port.
final class ProbeTarget {
    private(set) var fd: Int32 = -1
    let port: UInt16

    init() throws {
        var p: UInt16 = 0
        fd = ProbeTarget.listen(port: 0, bound: &p)
        guard fd >= 0 else { throw HarnessError(description: "cannot listen") }
        port = p
    }

    static func listen(port: UInt16, bound: inout UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr)
        let ok = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard ok == 0, Glibc.listen(fd, 64) == 0 else {
            close(fd)
            return -1
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        bound = UInt16(bigEndian: sa.sin_port)
        return fd
    }

    func stop() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    func start() {
        var p: UInt16 = 0
        fd = ProbeTarget.listen(port: port, bound: &p)
    }

    deinit { stop() }
}

@Suite struct HealthDigTests {
    /// The seconds until `dig` shows (or stops showing) `address` for www, polled every 100 ms.
    func secondsUntil(_ s: ServerProcess, present: Bool, _ address: String, limit: Double) throws -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < limit {
            let answers = try s.dig("www.example.com", "+short").text
            if answers.contains(address) == present { return Date().timeIntervalSince(start) }
            usleep(100_000)
        }
        return nil
    }

    @Test func aDeadProbeTargetTakesItsLineOutAndItsRecoveryPutsItBack() throws {
        let target = try ProbeTarget()
        let flag = FileManager.default.temporaryDirectory.appendingPathComponent("cnc-\(UUID().uuidString)").path
        try "up\n".write(toFile: flag, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: flag) }
        let config = """
            server:
              udp-workers: 1
            zones:
              - {origin: example.com., file: example.com.zone}
            links:
              - name: unicom
                public: [192.0.2.10]
                inside: 127.0.0.1
                interval: 0.3
                rise: 2
                fall: 2
                checks:
                  - tcp: 127.0.0.1:\(target.port)
              - name: cnc
                public: [198.51.100.10]
                interval: 0.3
                fall: 1
                rise: 1
                checks:
                  - file: \(flag)
            pools:
              - {name: www.example.com., links: [unicom, cnc], policy: round-robin}
            health:
              on-change: ["echo \\"$LINK $STATE $REASON\\" >> hooks.log"]
            """
        let s = try ServerProcess(files: ["uplinkdns.yaml": config, "example.com.zone": poolZoneText])
        defer { s.stop() }
        #expect(try s.dig("www.example.com", "+short").text.contains("192.0.2.10"))

        target.stop()
        // fall × interval, jitter, and 4 s of slack: CI runs every suite at once on two cores, and each poll is a dig.
        let gone = try secondsUntil(s, present: false, "192.0.2.10", limit: 2 * 0.3 * 1.1 + 4)
        #expect(gone != nil, "unicom's address still served; log:\n\(s.log)")
        #expect(s.log.contains("link unicom down: tcp 127.0.0.1:\(target.port)"))
        #expect(try s.dig("www.example.com", "+short").text.contains("198.51.100.10"))

        target.start()
        let back = try secondsUntil(s, present: true, "192.0.2.10", limit: 2 * 0.3 * 1.1 + 4)
        #expect(back != nil, "unicom did not come back; log:\n\(s.log)")

        // A file check flips when the file is written (seed 001's ip-down hook writes it).
        try "down\n".write(toFile: flag, atomically: true, encoding: .utf8)
        #expect(try secondsUntil(s, present: false, "198.51.100.10", limit: 0.3 * 1.1 + 4) != nil)
        let hooks = try String(contentsOf: s.dir.appendingPathComponent("hooks.log"), encoding: .utf8)
        #expect(hooks.contains("unicom down tcp 127.0.0.1:\(target.port)"), "\(hooks)")
        #expect(hooks.contains("unicom up ") && hooks.contains("cnc down file"), "\(hooks)")
        // The state is persisted for the next start.
        #expect(FileManager.default.fileExists(atPath: s.dir.appendingPathComponent("state/health.json").path))
    }
}

extension HealthDigTests {
    @Test func drainThroughTheControlAPISurvivesKill9() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("drill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = freePort()
        let config = poolConfig.replacingOccurrences(of: "server:\n", with: "server:\n  control: 127.0.0.1:\(port)\n")
        let files = ["uplinkdns.yaml": config, "example.com.zone": poolZoneText]
        let cfg = dir.appendingPathComponent("uplinkdns.yaml").path
        var s = try ServerProcess(files: files, control: nil, directory: dir)
        #expect(try s.dig("fo.example.com", "+short").text.contains("198.51.100.10"))

        // Mutating calls need the token: without it, 401 and nothing changes.
        let (denied, _) = try httpRequest(port: port, "POST", "/v1/links/cnc", body: "{\"state\":\"drain\"}")
        #expect(denied == 401)
        #expect(try s.dig("fo.example.com", "+short").text.contains("198.51.100.10"))

        // The command line reads the token the server generated in its state directory.
        let start = Date()
        let r = try run(binaryPath, ["link", "cnc", "drain", "--for", "10m", "--config", cfg])
        #expect(r.status == 0, "\(r.err)")
        #expect(try s.dig("fo.example.com", "+short").text.contains("192.0.2.10"))  // failover to the next line
        #expect(Date().timeIntervalSince(start) < 3, "the drain took too long to reach the answers")
        let status = try run(binaryPath, ["status", "--config", cfg]).out
        #expect(status.contains("cnc") && status.contains("drained until"), "\(status)")
        let (ok, metrics) = try httpRequest(port: port, "GET", "/metrics")
        #expect(ok == 200 && metrics.contains("uplinkdns_link_up{link=\"cnc\"} 0"))
        #expect(metrics.contains("uplinkdns_responses_first_total{pool=\"fo.example.com.\",link=\"unicom\"}"))
        #expect(
            metrics.contains(#"uplinkdns_queries_total{transport="udp",zone="example.com.",type="A",rcode="NOERROR"}"#),
            "\(metrics)")
        #expect(metrics.split(separator: "\n").allSatisfy { $0.hasPrefix("#") || $0.split(separator: " ").count == 2 })

        // kill -9, then start again from the same state directory: still drained.
        kill(s.process.processIdentifier, SIGKILL)
        s.process.waitUntilExit()
        s = try ServerProcess(files: files, control: nil, directory: dir)
        defer { s.stop() }
        #expect(try s.dig("fo.example.com", "+short").text.split(separator: "\n") == ["192.0.2.10"])
        #expect(try run(binaryPath, ["link", "cnc", "auto", "--config", cfg]).status == 0)
        #expect(try s.dig("fo.example.com", "+short").text.contains("198.51.100.10"))
        #expect(try httpRequest(port: port, "GET", "/healthz").0 == 200)
        // A reload through the API with a broken zone reports the zone's file and line, and keeps serving.
        try (poolZoneText + "\nbroken IN A 999.1.1.1\n").write(
            to: dir.appendingPathComponent("example.com.zone"), atomically: true, encoding: .utf8)
        let reload = try run(binaryPath, ["reload", "--config", cfg])
        #expect(reload.status != 0 && reload.err.contains("example.com.zone:"), "\(reload.out)\(reload.err)")
        #expect(try s.dig("fo.example.com", "+short").text.contains("198.51.100.10"))
        try poolZoneText.write(to: dir.appendingPathComponent("example.com.zone"), atomically: true, encoding: .utf8)
        let fixed = try run(binaryPath, ["reload", "--config", cfg])
        #expect(fixed.status == 0, "\(fixed.out)\(fixed.err)")
    }
}

extension HealthDigTests {
    @Test func theDrillDrainsEachLineAndSeesItComeBack() throws {
        let port = freePort()
        let config = poolConfig.replacingOccurrences(of: "server:\n", with: "server:\n  control: 127.0.0.1:\(port)\n")
        let s = try ServerProcess(files: ["uplinkdns.yaml": config, "example.com.zone": poolZoneText], control: nil)
        defer { s.stop() }
        let r = try run(
            binaryPath,
            [
                "drill", "--config", s.dir.appendingPathComponent("uplinkdns.yaml").path,
                "--server", "127.0.0.1:\(s.port)",
            ], timeout: 60)
        #expect(r.status == 0, "\(r.out)\(r.err)")
        let rows = r.out.split(separator: "\n").filter { $0.hasPrefix("unicom") || $0.hasPrefix("cnc") }
        #expect(rows.count == 2 && rows.allSatisfy { $0.contains("PASS") }, "\(r.out)")
        // Both lines are back to auto afterwards.
        #expect(
            Set(try s.dig("www.example.com", "+short").text.split(separator: "\n")) == ["192.0.2.10", "198.51.100.10"])
    }
}

extension HealthDigTests {
    /// With a line already drained by an operator, the drill refuses; with --force it never drains the last line
    /// in answers, and leaves the operator's drain as it is (SKIP, not a PASS).
    @Test func theDrillRefusesWithALineOutAndRestoresWhatItFound() throws {
        let port = freePort()
        let config = poolConfig.replacingOccurrences(
            of: "server:\n", with: "server:\n  control: 127.0.0.1:\(port)\n  control-token: t\n")
        let s = try ServerProcess(files: ["uplinkdns.yaml": config, "example.com.zone": poolZoneText], control: nil)
        defer { s.stop() }
        let cfg = s.dir.appendingPathComponent("uplinkdns.yaml").path
        #expect(try run(binaryPath, ["link", "cnc", "drain", "--for", "10m", "--config", cfg]).status == 0)
        let refused = try run(binaryPath, ["drill", "--config", cfg, "--server", "127.0.0.1:\(s.port)"], timeout: 60)
        #expect(refused.status == 1 && refused.err.contains("overridden: cnc (drain)"), "\(refused.out)\(refused.err)")
        #expect(refused.err.contains("--force"), "\(refused.err)")

        let forced = try run(
            binaryPath, ["drill", "--force", "--config", cfg, "--server", "127.0.0.1:\(s.port)"], timeout: 60)
        #expect(forced.status == 0, "\(forced.out)\(forced.err)")
        let unicom = forced.out.split(separator: "\n").first { $0.hasPrefix("unicom") } ?? ""
        #expect(unicom.contains("SKIP") && unicom.contains("the last line in answers"), "\(forced.out)")
        // Issue 25: cnc is an operator's drain: SKIP, never drained again by the drill (it reported a PASS it never
        // saw, and drained cnc a second time).
        let cncRow = forced.out.split(separator: "\n").first { $0.hasPrefix("cnc") } ?? ""
        #expect(cncRow.contains("SKIP") && cncRow.contains("overridden (drain)"), "\(forced.out)")
        #expect(!forced.out.contains("PASS"), "\(forced.out)")
        #expect(s.log.components(separatedBy: "link cnc set to drain").count == 2, "\(s.log)")
        // Unicom was never drained: every answer kept it; cnc is still drained, for what was left of its 10 minutes.
        #expect(try s.dig("www.example.com", "+short").text.split(separator: "\n") == ["192.0.2.10"])
        let (_, links) = try httpRequest(port: port, "GET", "/v1/links")
        let list = (try? JSONSerialization.jsonObject(with: Data(links.utf8))) as? [[String: Any]] ?? []
        let cnc = list.first { $0["name"] as? String == "cnc" }
        #expect(cnc?["override"] as? String == "drain" && cnc?["override_until"] != nil, "\(links)")
        // Draining the last line in answers asks for --force.
        let last = try run(binaryPath, ["link", "unicom", "drain", "--config", cfg])
        #expect(last.status == 1 && last.err.contains("last line in answers") && last.err.contains("--force"))
        #expect(try s.dig("www.example.com", "+short").text.split(separator: "\n") == ["192.0.2.10"])
        #expect(try run(binaryPath, ["link", "unicom", "drain", "--force", "--config", cfg]).status == 0)
    }
}

extension HealthDigTests {
    /// Line names are free text: the drill encodes them in the API's paths as every other command does (it sent them
    /// raw, and both lines failed with `cannot drain: 400`).
    @Test func theDrillDrainsLinesWithSpacesInTheirNames() throws {
        let port = freePort()
        let config = poolConfig.replacingOccurrences(of: "server:\n", with: "server:\n  control: 127.0.0.1:\(port)\n")
            .replacingOccurrences(of: "name: unicom", with: "name: line one")
            .replacingOccurrences(of: "name: cnc", with: "name: line two")
            .replacingOccurrences(of: "[unicom, cnc]", with: "[line one, line two]")
            .replacingOccurrences(of: "[cnc, unicom]", with: "[line two, line one]")
        let s = try ServerProcess(files: ["uplinkdns.yaml": config, "example.com.zone": poolZoneText], control: nil)
        defer { s.stop() }
        let cfg = s.dir.appendingPathComponent("uplinkdns.yaml").path
        // Without --server: the drill asks the server where it answers (here the command line's port, not the
        // file's server.listen — issue 25: it used the file's, and found no server there).
        let r = try run(binaryPath, ["drill", "--config", cfg], timeout: 60)
        #expect(r.status == 0, "\(r.out)\(r.err)")
        let rows = r.out.split(separator: "\n").filter { $0.hasPrefix("line one") || $0.hasPrefix("line two") }
        #expect(rows.count == 2 && rows.allSatisfy { $0.contains("PASS") }, "\(r.out)")
        #expect(!r.out.contains("400"), "\(r.out)")
        // Both lines are back to auto afterwards; `status LINE` finds a line with a space too.
        #expect(
            Set(try s.dig("www.example.com", "+short").text.split(separator: "\n")) == ["192.0.2.10", "198.51.100.10"])
        let history = try run(binaryPath, ["status", "line two", "--config", cfg])
        #expect(history.status == 0 && history.out.contains("line two: up since"), "\(history.out)\(history.err)")
    }
}

extension HealthDigTests {
    /// Issue 25: with every line's probes failing, `all-down: all` answered both lines while `status` said "0 of 2
    /// line(s) in answers". It says what the answers carry — failing open, and which lines — as the page does
    /// (`/v1/status`'s summary); a line an operator drains stays out, and is named as such.
    @Test func statusSaysAPoolIsFailingOpen() throws {
        let port = freePort()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("failopen-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = """
            server:
              udp-workers: 1
              control: 127.0.0.1:\(port)
            zones:
              - {origin: example.com., file: example.com.zone}
            links:
              - {name: unicom, public: [192.0.2.10], interval: 0.3, fall: 1, checks: [{file: \(dir.path)/unicom.state}]}
              - {name: cnc, public: [198.51.100.10], interval: 0.3, fall: 1, checks: [{file: \(dir.path)/cnc.state}]}
            pools:
              - {name: www.example.com., links: [unicom, cnc], all-down: all}
            """
        let s = try ServerProcess(
            files: [
                "uplinkdns.yaml": config, "example.com.zone": poolZoneText, "unicom.state": "down\n",
                "cnc.state": "down\n",
            ], control: nil, directory: dir)
        defer { s.stop() }
        let cfg = s.dir.appendingPathComponent("uplinkdns.yaml").path
        // Both lines down by their probes: the pool fails open, both addresses in the answers.
        #expect(s.waitForLog("link cnc down") && s.waitForLog("link unicom down"), "\(s.log)")
        let answers = try s.dig("www.example.com", "+short").text
        #expect(answers.contains("192.0.2.10") && answers.contains("198.51.100.10"), "\(answers)")
        let status = try run(binaryPath, ["status", "--config", cfg])
        #expect(
            status.out.contains(
                "pool www.example.com. (round-robin): unicom down, cnc down — 0 of 2 lines up; "
                    + "failing open: answering all lines"), "\(status.out)\(status.err)")
        #expect(!status.out.contains("in answers"), "\(status.out)")
        #expect(try run(binaryPath, ["status", "--check", "--config", cfg]).status == 2)
        let (code, body) = try httpRequest(port: port, "GET", "/v1/status")
        #expect(code == 200 && body.contains("\"failing_open\" : true"), "\(body)")
        #expect(body.contains("0 of 2 lines up; failing open: answering all lines"), "\(body)")

        // Drained, cnc stays out however the pool fails open; status names it.
        #expect(try run(binaryPath, ["link", "cnc", "drain", "--force", "--config", cfg]).status == 0)
        #expect(try s.dig("www.example.com", "+short").text.split(separator: "\n") == ["192.0.2.10"])
        let drained = try run(binaryPath, ["status", "--config", cfg]).out
        #expect(
            drained.contains("0 of 2 lines up; failing open: answering unicom; cnc (drained) stays out"), "\(drained)")
    }
}
