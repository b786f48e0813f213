// ConsoleTests: the operator's console as operators use it — the status page in a real browser, /metrics read by
// promtool, the query log read by kdig and dnstap-read, the CLI's status/zones/stats/querylog, systemd's notify
// socket, and the default config path.

import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Whether `name` is installed (for `.enabled(if:)`).
func installed(_ name: String) -> Bool { (try? tool(name)) != nil }

/// A server with two probed lines: `unicom` (probing a listener the test holds) and the free-text-named
/// `isp "b" \ 512k` (probing a closed port: down), a weighted pool, a secondary to NOTIFY, and its control API on a
/// port the CLI reads from the config.
struct ConsoleServer {
    let server: ServerProcess
    let target: ProbeTarget
    let control: UInt16
    let config: String
    static let oddName = #"isp "b" \ 512k"#

    init(extra: String = "") throws {
        target = try ProbeTarget()
        control = freePort()
        let text = """
            server:
              udp-workers: 1
              control: 127.0.0.1:\(control)
            \(extra)
            zones:
              - {origin: example.com., file: example.com.zone, notify: ["127.0.0.1:9"]}
            links:
              - name: unicom
                public: [192.0.2.10]
                bandwidth: 2mbit
                interval: 0.3
                checks:
                  - tcp: 127.0.0.1:\(target.port)
              - name: 'isp "b" \\ 512k'
                public: [198.51.100.10]
                bandwidth: 512kbit
                interval: 0.3
                fall: 1
                checks:
                  - tcp: 127.0.0.1:1
            pools:
              - {name: www.example.com., links: [unicom, 'isp "b" \\ 512k'], policy: weighted}
            """
        server = try ServerProcess(
            files: ["uplinkdns.yaml": text, "example.com.zone": poolZoneText], control: nil)
        config = server.dir.appendingPathComponent("uplinkdns.yaml").path
    }

    var token: String {
        (try? String(contentsOf: server.dir.appendingPathComponent("state/control.token"), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    /// `uplinkdns ARGS --config CONFIG`.
    func cli(_ args: String...) throws -> (status: Int32, out: String, err: String) {
        try run(binaryPath, args + ["--config", config], timeout: 30)
    }

    func get(_ path: String) throws -> (Int, String) { try httpRequest(port: control, "GET", path) }

    func post(_ path: String, _ body: String) throws -> (Int, String) {
        try httpRequest(port: control, "POST", path, headers: ["Authorization: Bearer \(token)"], body: body)
    }

    /// Waits until `/v1/status` satisfies `ok` (probes run every 0.3 s).
    func waitForStatus(timeout: Double = 8, _ ok: ([String: Any]) -> Bool) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        var last: [String: Any] = [:]
        while Date() < deadline {
            let (_, body) = try get("/v1/status")
            last = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
            if ok(last) { return last }
            usleep(100_000)
        }
        return last
    }

    static func link(_ status: [String: Any], _ name: String) -> [String: Any]? {
        (status["links"] as? [[String: Any]])?.first { $0["name"] as? String == name }
    }

    func stop() {
        server.stop()
        target.stop()
    }
}

@Suite(.serialized) struct ConsoleTests {
    @Test(.enabled(if: installed("chromium"), "needs Debian's chromium (make test installs it)"))
    func theStatusPageRendersLinesPoolsAndZonesInChromium() throws {
        let c = try ConsoleServer()
        defer { c.stop() }
        let status = try c.waitForStatus {
            ConsoleServer.link($0, ConsoleServer.oddName)?["state"] as? String == "down"
        }
        #expect(ConsoleServer.link(status, ConsoleServer.oddName)?["state"] as? String == "down")
        for _ in 0..<20 { _ = try c.server.dig("www.example.com", "+short") }
        // The page's security headers: its own inline script, talking to this server alone.
        let raw = try TCPClient(port: c.control)
        raw.send(Array("GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8))
        var head: [UInt8] = []
        while let chunk = raw.receiveRaw(), !chunk.isEmpty { head += chunk }
        let response = String(decoding: head, as: UTF8.self)
        #expect(response.contains("Content-Security-Policy: default-src 'none'"))
        #expect(response.contains("Content-Type: text/html"))

        // The page as a browser renders it (scripts run, the embedded status drawn), before and after a drain.
        func dom() throws -> String {
            let r = try run(
                try tool("chromium"),
                [
                    "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=3000", "--dump-dom",
                    "http://127.0.0.1:\(c.control)/",
                ], timeout: 60)
            return r.out
        }
        let before = try dom()
        #expect(before.contains(#"data-link="unicom"><h3>unicom <span class="badge up">up</span>"#), "\(before)")
        // The free-text name is text in the page (escaped, not markup), and its line is down with the probe's reason.
        #expect(before.contains(#"<h3>isp "b" \ 512k <span class="badge down">down</span>"#), "\(before)")
        #expect(before.contains("connection refused"))
        #expect(before.contains("tcp 127.0.0.1:\(c.target.port)"))
        #expect(before.contains(#"data-pool="www.example.com.""#))
        #expect(before.contains("1/2 lines"))
        #expect(before.contains("weighted · answers now: 192.0.2.10"))
        #expect(before.contains(#"data-zone="example.com.""#))
        #expect(before.contains("127.0.0.1:9"), "the NOTIFY target is listed under its zone")
        #expect(before.contains("Query log: off"))
        #expect(before.contains("Reloads: no reload yet"), "before any reload, no 'last succeeded'")
        // The banner names the line out and why; the configured share stays 4 : 1 with the share now beside it.
        #expect(before.contains(#"out of answers: isp "b" \ 512k (tcp 127.0.0.1:"#), "\(before)")
        #expect(before.contains("80 % <span class=\"muted\">(now 100 %)</span>"), "\(before)")

        // unicom is the pool's last line in answers: the API asks for "force" (the page asks the operator first).
        let (guarded, why) = try c.post("/v1/links/unicom", #"{"state": "drain"}"#)
        #expect(guarded == 409 && why.contains("last line in answers of www.example.com."), "\(why)")
        let (code, _) = try c.post("/v1/links/unicom", #"{"state": "drain", "force": true}"#)
        #expect(code == 200)
        let after = try dom()
        // An operator's drain looks like an operator's action, not a failure (issue 25).
        #expect(after.contains(#"unicom <span class="badge op">drained</span>"#), "\(after)")
        #expect(after.contains("operator: drain"), "the transition is listed with its reason")
        #expect(after.contains("0/2 lines"))

        // A failed reload stays in the banner (first error with file:line) until a reload succeeds (issue 25).
        let cfg = c.server.dir.appendingPathComponent("uplinkdns.yaml")
        let good = try String(contentsOf: cfg, encoding: .utf8)
        try (good + "\nbogus-key: 1\n").write(to: cfg, atomically: true, encoding: .utf8)
        #expect(try c.post("/v1/reload", "").0 == 422)
        let broken = try dom()
        // (The page's script holds the element's markup as text: the rendered one is followed by its words.)
        #expect(broken.contains(#"id="reload-failed">reload failed "#), "\(broken)")
        #expect(broken.contains("uplinkdns.yaml:") && broken.contains("unknown key 'bogus-key'"), "\(broken)")
        try good.write(to: cfg, atomically: true, encoding: .utf8)
        #expect(try c.post("/v1/reload", "").0 == 200)
        let fixed = try dom()
        #expect(!fixed.contains(#"id="reload-failed">reload failed "#), "\(fixed)")

        // Reading needs no token; the buttons do (the API refuses a change without it).
        let (refused, _) = try httpRequest(port: c.control, "POST", "/v1/links/unicom", body: #"{"state":"auto"}"#)
        #expect(refused == 401)

        // A phone-sized screenshot renders (the docs' picture is taken the same way, at desktop size).
        let shot = c.server.dir.appendingPathComponent("page.png").path
        _ = try run(
            try tool("chromium"),
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=390,844",
                "--virtual-time-budget=3000", "--screenshot=\(shot)", "http://127.0.0.1:\(c.control)/",
            ], timeout: 60)
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000)
    }

    @Test func metricsAnswerOperatorsQuestionsWithEscapedBoundedLabels() throws {
        let c = try ConsoleServer()
        defer { c.stop() }
        _ = try c.waitForStatus { ConsoleServer.link($0, ConsoleServer.oddName)?["state"] as? String == "down" }
        _ = try c.server.dig("www.example.com", "+short")
        _ = try c.server.dig("www.example.com", "+short", "+tcp")
        _ = try c.server.dig("nothere.example.org", "+short")
        #expect(try c.post("/v1/links/unicom", #"{"state": "drain", "force": true}"#).0 == 200)
        #expect(try c.post("/v1/reload", "").0 == 200)
        let (code, text) = try c.get("/metrics")
        #expect(code == 200)
        let escaped = #"link="isp \"b\" \\ 512k""#
        for line in [
            #"uplinkdns_build_info{version="#,
            #"uplinkdns_queries_total{transport="udp",zone="example.com.",type="A",rcode="NOERROR"} 1"#,
            #"uplinkdns_queries_total{transport="tcp",zone="example.com.",type="A",rcode="NOERROR"} 1"#,
            #"uplinkdns_queries_total{transport="udp",zone="none",type="A",rcode="REFUSED"} 1"#,
            #"uplinkdns_link_transitions_total{link="unicom",direction="down"} 1"#,
            #"uplinkdns_link_transitions_total{\#(escaped),direction="down"} 1"#,
            #"uplinkdns_link_up{\#(escaped)} 0"#,
            #"uplinkdns_link_override{link="unicom"} 1"#,
            #"uplinkdns_pool_lines_up{pool="www.example.com."} 0"#,
            #"uplinkdns_probe_duration_seconds_bucket{link="unicom",check="tcp",le="+Inf"}"#,
            #"uplinkdns_probe_duration_seconds_count{\#(escaped),check="tcp"}"#,
            #"uplinkdns_probes_total{\#(escaped),check="tcp",result="failed"}"#,
            #"uplinkdns_reloads_total{result="ok"} 1"#, "uplinkdns_config_last_reload_successful 1",
            #"uplinkdns_notify_total{zone="example.com.",secondary="127.0.0.1:9",result="failed"} 0"#,
            "process_resident_memory_bytes ", "process_cpu_seconds_total ", "process_open_fds ",
            "# HELP uplinkdns_probe_duration_seconds ", "# TYPE uplinkdns_probe_duration_seconds histogram",
        ] {
            #expect(text.contains(line), "missing \(line)")
        }
        // Every family the server exports is in contrib/metrics.txt (which the dashboard and alerts are checked
        // against), and every one listed there is exported.
        let listed = Set(
            try String(contentsOf: packageRoot.appendingPathComponent("contrib/metrics.txt"), encoding: .utf8)
                .split(separator: "\n").map(String.init))
        let exported = Set(
            text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) })
        // Per-secondary series appear with the first transfer (TransferDigTests and IXFRTests check them).
        let afterATransfer: Set = [
            "uplinkdns_transfers_sent_total", "uplinkdns_transfer_bytes_total", "uplinkdns_secondary_serial",
        ]
        // Client-network series appear with pools that have `by-network` (NetworkDigTests checks them).
        let withNetworks: Set = ["uplinkdns_network_responses_total"]
        // The routing follower's series appear with routing.apply (tests/netns/follow-health.sh checks them).
        let withRoutingApply: Set = [
            "uplinkdns_routing_default_link", "uplinkdns_routing_default_held", "uplinkdns_routing_changes_total",
        ]
        #expect(
            exported == listed.subtracting(afterATransfer).subtracting(withNetworks).subtracting(withRoutingApply),
            "exported but not listed: \(exported.subtracting(listed)); listed but not exported: \(listed.subtracting(exported))"
        )

        // A failed reload is counted, and the gauge says so.
        try c.server.write("uplinkdns.yaml", "zones: [")
        #expect(try c.post("/v1/reload", "").0 == 422)
        let after = try c.get("/metrics").1
        #expect(after.contains(#"uplinkdns_reloads_total{result="failed"} 1"#))
        #expect(after.contains("uplinkdns_config_last_reload_successful 0"))
    }

    @Test(.enabled(if: installed("promtool"), "needs promtool (Debian's prometheus; make test installs it)"))
    func promtoolAcceptsTheMetricsAndTheShippedRules() throws {
        let c = try ConsoleServer()
        defer { c.stop() }
        _ = try c.waitForStatus { ConsoleServer.link($0, ConsoleServer.oddName)?["state"] as? String == "down" }
        _ = try c.server.dig("www.example.com", "+short")
        let file = c.server.dir.appendingPathComponent("metrics.txt")
        try c.get("/metrics").1.write(to: file, atomically: true, encoding: .utf8)
        let check = try run("/bin/sh", ["-c", "\(try tool("promtool")) check metrics < '\(file.path)'"])
        #expect(check.status == 0, "\(check.out)\(check.err)")
        // The alert rules, their unit tests, and the dashboard's expressions (contrib/check.sh).
        let contrib = try run("/bin/bash", [packageRoot.appendingPathComponent("contrib/check.sh").path], timeout: 120)
        #expect(contrib.status == 0, "\(contrib.out)\(contrib.err)")
    }

    @Test(.enabled(if: installed("kdig") && installed("dnstap-read"), "needs kdig and dnstap-read"))
    func theQueryLogSwitchesAtRunTimeAndKdigAndDnstapReadReadIt() throws {
        let c = try ConsoleServer()
        defer { c.stop() }
        let file = c.server.dir.appendingPathComponent("state/queries.dnstap").path
        let off = try c.cli("querylog")
        #expect(off.status == 0 && off.out.contains("query log off: dnstap to \(file)"), "\(off)")
        _ = try c.server.dig("before.example.com")
        #expect(!FileManager.default.fileExists(atPath: file), "nothing is written while the log is off")

        let on = try c.cli("querylog", "on", "--for", "10m")
        #expect(on.status == 0 && on.out.contains("query log on: dnstap to \(file) until "), "\(on)")
        _ = try c.server.dig("www.example.com")
        _ = try c.server.dig("nothere.example.com", "+tcp")
        let stopped = try c.cli("querylog", "off")
        #expect(stopped.status == 0 && stopped.out.contains("query log off"), "\(stopped)")
        _ = try c.server.dig("after.example.com")

        let read = try run(try tool("dnstap-read"), [file])
        #expect(read.status == 0, "\(read.err)")
        #expect(read.out.contains("AQ 127.0.0.1:") && read.out.contains("UDP 56b www.example.com/IN/A"), "\(read.out)")
        #expect(read.out.contains("AR 127.0.0.1:") && read.out.contains("TCP"), "\(read.out)")
        #expect(read.out.contains("nothere.example.com/IN/A"))
        #expect(!read.out.contains("before.example.com") && !read.out.contains("after.example.com"))
        let kdig = try run(try tool("kdig"), ["-G", file])
        #expect(kdig.status == 0, "\(kdig.err)")
        #expect(kdig.out.contains("status: NXDOMAIN") && kdig.out.contains("www.example.com."), "\(kdig.out)")
        // Switching on again keeps the previous stream as FILE.1.
        #expect(try c.cli("querylog", "on").status == 0)
        #expect(FileManager.default.fileExists(atPath: file + ".1"))
        // `--for` needs `on`; a state that is neither is a usage error.
        #expect(try c.cli("querylog", "off", "--for", "1m").status == 2)
        #expect(try c.cli("querylog", "maybe").status == 2)
    }

    @Test(.enabled(if: installed("fstrm_capture"), "needs fstrm_capture (Debian's fstrm-bin)"))
    func theQueryLogSpeaksFrameStreamsToASocketReader() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fstrm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let socketPath = dir.appendingPathComponent("dnstap.sock").path
        let captured = dir.appendingPathComponent("captured.dnstap").path
        // Spawned with no signal blocked: Foundation's Process passes on the test thread's mask, which blocks
        // SIGINT and SIGTERM, and fstrm_capture stops (closing its file) on those.
        let capture = try spawnWithSignals(
            try tool("fstrm_capture"), ["-t", "protobuf:dnstap.Dnstap", "-u", socketPath, "-w", captured])
        var stopped = false
        defer { if !stopped { kill(capture, SIGKILL) } }
        let deadline = Date().addingTimeInterval(5)
        while !FileManager.default.fileExists(atPath: socketPath) && Date() < deadline { usleep(20_000) }
        let c = try ConsoleServer(extra: "  query-log: {path: 'unix:\(socketPath)', enabled: true}")
        _ = try c.server.dig("www.example.com")
        _ = try c.server.dig("socket.example.com")
        usleep(300_000)
        c.stop()  // the log ends its stream (STOP) as the server stops
        kill(capture, SIGINT)
        stopped = waitForExit(capture, timeout: 5)
        #expect(stopped, "fstrm_capture did not stop on SIGINT")
        let read = try run(try tool("dnstap-read"), [captured])
        #expect(read.out.contains("www.example.com/IN/A") && read.out.contains("socket.example.com/IN/A"), "\(read)")
    }

    @Test func aPlainTextQueryLogCanBeOnFromTheStart() throws {
        let c = try ConsoleServer(extra: "  query-log: {format: text, enabled: true, path: queries.log}")
        defer { c.stop() }
        _ = try c.server.dig("www.example.com")
        _ = try c.server.dig("nothere.example.com", "+tcp")
        let file = c.server.dir.appendingPathComponent("queries.log")
        var text = ""
        let deadline = Date().addingTimeInterval(3)
        while !text.contains("nothere") && Date() < deadline {
            usleep(100_000)
            text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        }
        let lines = text.split(separator: "\n")
        #expect(lines.count == 2, "\(text)")
        #expect(
            lines.first?.contains(" udp 127.0.0.1#") == true && text.contains("www.example.com. IN A NOERROR AA 1 "))
        #expect(text.contains(" tcp 127.0.0.1#") && text.contains("nothere.example.com. IN A NXDOMAIN AA 0 "))
        // Each line names the address and port the query came in on (issue 25).
        #expect(
            lines.allSatisfy { $0.contains(" to 127.0.0.1#\(c.server.port) ") }, "\(text)")
    }

    /// Issue 25: the query log recorded no response address — which of the server's addresses (which line) a query
    /// came in on. On a wildcard socket that is each datagram's destination (IP_PKTINFO), over TCP the connection's
    /// local address: dnstap's response_address and response_port, as dnstap-read shows them.
    @Test(.enabled(if: installed("dnstap-read"), "needs dnstap-read (bind9-dnsutils)"))
    func theQueryLogRecordsTheAddressEachQueryCameInOn() throws {
        let config = """
            server:
              udp-workers: 1
              query-log: {enabled: true, path: queries.dnstap}
            zones:
              - {origin: example.com., file: example.com.zone}
            """
        let s = try ServerProcess(
            files: ["uplinkdns.yaml": config, "example.com.zone": poolZoneText], listen: ["0.0.0.0:0"], control: nil)
        defer { s.stop() }
        for (address, transport) in [("127.0.0.2", "+notcp"), ("127.0.0.3", "+tcp")] {
            let r = try run(
                try tool("dig"), ["@\(address)", "-p", "\(s.port)", transport, "+short", "+tries=1", "ns1.example.com"])
            #expect(r.out.contains("192.0.2.1"), "\(address): \(r.out)\(r.err)")
        }
        usleep(300_000)  // the writer drains every 100 ms
        s.signal(SIGTERM)  // the stream ends (STOP) as the server stops
        s.process.waitUntilExit()
        let read = try run(try tool("dnstap-read"), ["-y", s.dir.appendingPathComponent("queries.dnstap").path])
        #expect(read.status == 0, "\(read.err)")
        let messages = read.out.components(separatedBy: "---").filter { $0.contains("socket_protocol") }
        #expect(messages.count == 4, "\(read.out)")  // a query and a response each
        for (address, transport) in [("127.0.0.2", "UDP"), ("127.0.0.3", "TCP")] {
            let mine = messages.filter { $0.contains("socket_protocol: \(transport)") }
            #expect(mine.count == 2, "\(read.out)")
            #expect(
                mine.allSatisfy {
                    $0.contains("response_address: \"\(address)\"") && $0.contains("response_port: \(s.port)")
                }, "\(read.out)")
        }
    }

    @Test func theCLIShowsALinesHistoryTheZonesAndTheCounters() throws {
        let c = try ConsoleServer()
        defer { c.stop() }
        _ = try c.waitForStatus { ConsoleServer.link($0, ConsoleServer.oddName)?["state"] as? String == "down" }
        _ = try c.server.dig("www.example.com", "+short")
        let history = try c.cli("status", ConsoleServer.oddName)
        #expect(history.status == 0, "\(history.err)")
        #expect(history.out.contains(#"isp "b" \ 512k: down since"#), "\(history.out)")
        #expect(history.out.contains("check tcp 127.0.0.1:1: last "))
        #expect(history.out.contains("FAILED") && history.out.contains("connection refused"))
        #expect(history.out.contains("transitions (newest first):"))
        let unicom = try c.cli("status", "unicom")
        #expect(unicom.out.contains("unicom: up since") && unicom.out.contains("connected in"), "\(unicom.out)")
        // A free-text name through the CLI, and as the page's buttons send it (encodeURIComponent).
        let drained = try c.cli("link", ConsoleServer.oddName, "drain", "--force")
        #expect(drained.status == 0 && drained.out.contains("(the answers show it now)"), "\(drained)")
        let (auto, reply) = try c.post("/v1/links/isp%20%22b%22%20%5C%20512k", #"{"state": "auto"}"#)
        #expect(auto == 200 && reply.contains(#""ok" : true"#), "\(reply)")
        let missing = try c.cli("status", "nosuch")
        #expect(missing.status == 1 && missing.err.contains("no link 'nosuch'"), "\(missing)")

        let zones = try c.cli("zones")
        #expect(zones.status == 0, "\(zones.err)")
        #expect(zones.out.contains("ZONE") && zones.out.contains("example.com.") && zones.out.contains("127.0.0.1:9"))

        let stats = try c.cli("stats")
        #expect(stats.status == 0, "\(stats.err)")
        #expect(stats.out.contains("queries: 1") && stats.out.contains("by zone: example.com. 1"), "\(stats.out)")
        #expect(stats.out.contains("first places: ") && stats.out.contains("www.example.com. unicom 1"))
        let json = try c.cli("stats", "--json")
        #expect((try? JSONSerialization.jsonObject(with: Data(json.out.utf8))) is [String: Any])

        // A mistake in the file on disk does not lock the operator out of the server running the last good config:
        // the commands that ask it warn and go on; a reload reaches the server, which refuses it and counts it.
        let good = try String(contentsOfFile: c.config, encoding: .utf8)
        try (good + "\npools: [oops\n").write(toFile: c.config, atomically: true, encoding: .utf8)
        let stillThere = try c.cli("status")
        #expect(stillThere.status == 0 && stillThere.out.contains("unicom"), "\(stillThere)")
        #expect(stillThere.err.contains("warning: ") && stillThere.err.contains("(asking the running server anyway)"))
        let refused = try c.cli("reload")
        #expect(refused.status == 1 && refused.err.contains("uplinkdns.yaml"), "\(refused)")
        #expect(try c.get("/metrics").1.contains(#"uplinkdns_reloads_total{result="failed"} 1"#))
    }

    @Test func theConfigDefaultsToTheEnvironmentThenEtc() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("defaults-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try poolConfig.write(to: dir.appendingPathComponent("u.yaml"), atomically: true, encoding: .utf8)
        try poolZoneText.write(to: dir.appendingPathComponent("example.com.zone"), atomically: true, encoding: .utf8)
        let viaEnv = try run(
            "/usr/bin/env", ["UPLINKDNS_CONFIG=\(dir.path)/u.yaml", binaryPath, "check"])
        #expect(viaEnv.status == 0 && viaEnv.out.contains("ok: \(dir.path)/u.yaml"), "\(viaEnv)")
        // --config wins over the environment.
        let explicit = try run(
            "/usr/bin/env",
            ["UPLINKDNS_CONFIG=/nonexistent.yaml", binaryPath, "check", "--config", "\(dir.path)/u.yaml"])
        #expect(explicit.status == 0, "\(explicit)")
        if !FileManager.default.fileExists(atPath: "/etc/uplinkdns/uplinkdns.yaml") {
            let bare = try run("/usr/bin/env", ["-u", "UPLINKDNS_CONFIG", binaryPath, "check"])
            #expect(bare.status == 1 && bare.err.contains("/etc/uplinkdns/uplinkdns.yaml"), "\(bare)")
        }
    }
}

/// Starts `path` with every signal unblocked and at its default (unlike Foundation's Process); returns its PID.
func spawnWithSignals(_ path: String, _ args: [String]) throws -> pid_t {
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var none = sigset_t()
    sigemptyset(&none)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attr, &none)
    posix_spawnattr_setsigdefault(&attr, &all)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    var pid = pid_t()
    let rc = posix_spawn(&pid, path, &actions, &attr, argv, environ)
    guard rc == 0 else { throw HarnessError(description: "cannot start \(path): \(String(cString: strerror(rc)))") }
    return pid
}

/// Waits up to `timeout` seconds for `pid` to exit; returns whether it did.
func waitForExit(_ pid: pid_t, timeout: Double) -> Bool {
    let until = Date().addingTimeInterval(timeout)
    var status: Int32 = 0
    while Date() < until {
        if waitpid(pid, &status, WNOHANG) == pid { return true }
        usleep(20_000)
    }
    return false
}

extension TCPClient {
    /// Whatever arrives next (nil or empty at the end).
    func receiveRaw() -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? Array(buf[0..<n]) : nil
    }
}

/// A datagram socket standing in for systemd's notify socket: collects what the server sends.
final class NotifySocket {
    let path: String
    private let fd: Int32

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString).sock").path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in path.utf8.enumerated() { p[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard fd >= 0, rc == 0 else { throw HarnessError(description: "cannot bind \(path)") }
    }

    /// The next message (fields joined by newlines), or nil after `timeout` seconds.
    func next(timeout: Double = 10) -> String? {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, Int32(timeout * 1000)) > 0 else { return nil }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: buf[0..<n], as: UTF8.self) : nil
    }

    /// Messages until one contains `text` (all of them, in order), or nil when none does within `timeout`.
    func until(_ text: String, timeout: Double = 10) -> [String]? {
        var seen: [String] = []
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline, let m = next(timeout: deadline.timeIntervalSinceNow) {
            seen.append(m)
            if m.contains(text) { return seen }
        }
        return nil
    }

    deinit {
        close(fd)
        unlink(path)
    }
}

@Suite struct SystemdNotifyTests {
    @Test func systemdHearsReadyReloadingAndWhetherAReloadFailed() throws {
        let notify = try NotifySocket()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let control = freePort()
        let config = poolConfig.replacingOccurrences(
            of: "server:\n", with: "server:\n  control: 127.0.0.1:\(control)\n")
        try config.write(to: dir.appendingPathComponent("uplinkdns.yaml"), atomically: true, encoding: .utf8)
        try poolZoneText.write(to: dir.appendingPathComponent("example.com.zone"), atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binaryPath)
        p.arguments = ["serve", "--listen", "127.0.0.1:0"]
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = notify.path
        env["UPLINKDNS_CONFIG"] = dir.appendingPathComponent("uplinkdns.yaml").path
        p.environment = env
        p.standardError = FileHandle.nullDevice
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        defer {
            if p.isRunning {
                kill(p.processIdentifier, SIGTERM)
                p.waitUntilExit()
            }
        }
        let ready = notify.until("READY=1")
        #expect(ready?.last?.contains("STATUS=serving 1 zone(s), 2 of 2 line(s) up") == true, "\(ready ?? [])")

        // SIGHUP (systemctl reload with a kill-style ExecReload): RELOADING=1 with the monotonic time, then READY=1.
        kill(p.processIdentifier, SIGHUP)
        let reload = notify.until("READY=1") ?? []
        #expect(reload.first?.contains("RELOADING=1") == true && reload.first?.contains("MONOTONIC_USEC=") == true)
        #expect(reload.last?.contains("STATUS=serving") == true, "\(reload)")

        // The unit's ExecReload, `uplinkdns reload`, fails when the reload fails, and systemd's STATUS says why.
        try "zones: [".write(to: dir.appendingPathComponent("uplinkdns.yaml"), atomically: true, encoding: .utf8)
        let env2 = ["UPLINKDNS_CONFIG=\(dir.path)/good.yaml"]
        try config.write(to: dir.appendingPathComponent("good.yaml"), atomically: true, encoding: .utf8)
        // The CLI reads the control address from a good copy (the served file is the broken one).
        let failed = try run("/usr/bin/env", env2 + [binaryPath, "reload"])
        #expect(failed.status == 1, "\(failed)")
        let status = notify.until("READY=1") ?? []
        #expect(status.last?.contains("STATUS=reload failed, serving the previous config") == true, "\(status)")

        kill(p.processIdentifier, SIGTERM)
        #expect(notify.until("STOPPING=1") != nil)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }
}
