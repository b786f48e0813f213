// StatusReportTests: `uplinkdns status` says what a line is (drained is not down), aligns its columns, and gives
// monitoring the right code.

import DNSWire
import Server
import TestSupport
import Testing
import Uplinks

@Suite struct StatusReportTests {
    /// The pools as `/v1/status` gives them, with cnc drained.
    static let pools = [
        ControlAPI.PoolStatus(
            name: "www.example.com.", policy: "weighted", linesUp: 1, lines: 2, addresses: ["192.0.2.10"],
            members: [.init(link: "unicom", inAnswers: true), .init(link: "cnc", inAnswers: false)],
            summary: "1 of 2 lines up; answering unicom"),
        ControlAPI.PoolStatus(
            name: "fo.example.com.", policy: "failover", linesUp: 0, lines: 1, addresses: [],
            members: [.init(link: "cnc", inAnswers: false)],
            summary: "0 of 1 line up; every line taken out by an operator, nothing to fail open to: answering NODATA"),
    ]

    static func line(_ name: String, _ state: String, override: String? = nil) -> StatusReport.Line {
        StatusReport.Line(
            name: name, state: state, probed: "up", override: override, since: "2026-11-29T18:00:00Z",
            reason: "tcp connected in 3 ms", lastResults: ["tcp connected in 3 ms", "http 200 in 9 ms"])
    }

    @Test func overridesShowAsSuchAndColumnsAlign() {
        let lines = [Self.line("unicom", "up"), Self.line("cnc", "down", override: "drain")]
        let text = StatusReport.text(lines: lines, pools: Self.pools)
        let rows = text.split(separator: "\n").map(String.init)
        #expect(rows[0].hasPrefix("LINE    STATE    PROBED"), "\(text)")
        #expect(rows[2].hasPrefix("cnc     drained  up"), "\(text)")
        #expect(rows[1].contains("tcp connected in 3 ms; http 200 in 9 ms"))
        // Every column starts at the same place on every row.
        let at = rows[0].range(of: "SINCE")!.lowerBound.utf16Offset(in: rows[0])
        #expect(rows[1...2].allSatisfy { $0.dropFirst(at).hasPrefix("2026-11-29") }, "\(text)")
        #expect(
            rows.contains(
                "pool www.example.com. (weighted): unicom up, cnc drained — 1 of 2 lines up; answering unicom"))
        #expect(
            rows.contains(where: { $0.hasPrefix("pool fo.example.com. (failover): cnc drained — 0 of 1 line up; ") }))
    }

    /// Issue 25: with every line down and `all-down: all`, status said "0 of 2 line(s) in answers" while the pool
    /// answered both. It says what the answers carry: failing open, which lines, and which an operator keeps out.
    @Test func aPoolThatFailsOpenSaysSo() {
        func summary(
            _ policy: PoolPolicy, up: Set<String>, held: [String: String] = [:], allDown: AllDownPolicy = .all
        ) -> String {
            let plan = poolPlan(policy, up: up, held: Set(held.keys), allDown: allDown)
            return StatusReport.poolSummary(plan, linesUp: up.count, held: held)
        }
        #expect(summary(.weighted, up: []) == "0 of 2 lines up; failing open: answering all lines")
        #expect(poolPlan(.weighted, up: []).failingOpen && poolPlan(.weighted, up: []).answered == ["unicom", "cnc"])
        #expect(
            summary(.weighted, up: [], held: ["cnc": "drained"])
                == "0 of 2 lines up; failing open: answering unicom; cnc (drained) stays out")
        #expect(
            summary(.weighted, up: [], held: ["cnc": "drained", "unicom": "forced down"])
                == "0 of 2 lines up; every line taken out by an operator, nothing to fail open to: answering NODATA")
        #expect(summary(.weighted, up: [], allDown: .none) == "0 of 2 lines up; all-down: none, answering NODATA")
        #expect(
            summary(.weighted, up: [], allDown: .servfail) == "0 of 2 lines up; all-down: servfail, answering SERVFAIL")
        #expect(summary(.weighted, up: ["unicom"]) == "1 of 2 lines up; answering unicom")
        #expect(summary(.weighted, up: ["unicom", "cnc"]) == "2 of 2 lines up")
        // Failover answers the first line up alone: said, with every line up too.
        #expect(summary(.failover, up: ["unicom", "cnc"]) == "2 of 2 lines up; answering unicom")
        #expect(summary(.failover, up: []) == "0 of 2 lines up; failing open: answering unicom")
        #expect(!poolPlan(.weighted, up: ["unicom"]).failingOpen)
    }

    /// Issue 23: a pool with client networks lists them under it, each with the line serving its clients now.
    @Test func aPoolsClientNetworksSayWhichLineServesThem() {
        var pool = Self.pools[0]
        pool.networks = [
            .init(network: "unicom-clients", lines: ["unicom", "cnc"], serving: "unicom", answers: 12),
            .init(network: "cnc-clients+mobile", lines: ["cnc"], serving: nil, answers: 3),
        ]
        let text = StatusReport.text(lines: [Self.line("unicom", "up"), Self.line("cnc", "down")], pools: [pool])
        #expect(
            text.hasSuffix(
                """
                  clients of unicom-clients (unicom > cnc): served by unicom, 12 answers
                  clients of cnc-clients+mobile (cnc): none of its lines in answers: the pool's policy, 3 answers
                """.trimmingCharacters(in: .newlines)), "\(text)")
    }

    /// Issue 25: systemd's STATUS said "0/2 line(s) in answers" while a pool failed open; it says so as status does.
    @Test func systemdsStatusSaysAPoolFailsOpen() {
        #expect(
            DNSServer.servingStatus(zones: 1, up: 2, lines: 2, plans: [poolPlan(.weighted)])
                == "serving 1 zone(s), 2 of 2 line(s) up")
        #expect(
            DNSServer.servingStatus(zones: 1, up: 0, lines: 2, plans: [poolPlan(.weighted, up: [])])
                == "serving 1 zone(s), 0 of 2 line(s) up; failing open (answering the lines probes took out): "
                + "www.example.com.")
    }

    @Test func checkCodesForMonitoring() {
        var allUp = Self.pools
        allUp[0].linesUp = 2
        allUp[1].linesUp = 1
        #expect(
            StatusReport.health(pools: allUp, lines: [Self.line("unicom", "up"), Self.line("cnc", "up")]) == .allUp)
        #expect(
            StatusReport.health(pools: [Self.pools[0]], lines: [Self.line("unicom", "up"), Self.line("cnc", "down")])
                == .degraded)
        #expect(
            StatusReport.health(pools: Self.pools, lines: [Self.line("unicom", "up"), Self.line("cnc", "down")])
                == .poolDown)
        #expect(StatusReport.Health.poolDown.rawValue == 2 && StatusReport.Health.degraded.rawValue == 1)
    }
}
