// StatusReportTests: `uplinkdns status` says what a line is (drained is not down), aligns its columns, and gives
// monitoring the right code.

import DNSWire
import Server
import Testing
import Uplinks

@Suite struct StatusReportTests {
    static let pools = [
        Pool(
            name: try! DomainName("www.example.com."), members: [PoolMember(link: "unicom"), PoolMember(link: "cnc")],
            policy: .weighted, ttl: 60),
        Pool(name: try! DomainName("fo.example.com."), members: [PoolMember(link: "cnc")], policy: .failover, ttl: 60),
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
        #expect(rows.contains("pool www.example.com. (weighted): unicom up, cnc drained — 1 of 2 line(s) in answers"))
        #expect(rows.contains("pool fo.example.com. (failover): cnc drained — 0 of 1 line(s) in answers"))
    }

    @Test func checkCodesForMonitoring() {
        #expect(
            StatusReport.health(pools: Self.pools, lines: [Self.line("unicom", "up"), Self.line("cnc", "up")]) == .allUp
        )
        #expect(
            StatusReport.health(pools: [Self.pools[0]], lines: [Self.line("unicom", "up"), Self.line("cnc", "down")])
                == .degraded)
        #expect(
            StatusReport.health(pools: Self.pools, lines: [Self.line("unicom", "up"), Self.line("cnc", "down")])
                == .poolDown)
        #expect(StatusReport.Health.poolDown.rawValue == 2 && StatusReport.Health.degraded.rawValue == 1)
    }
}
