// ProbeHistoryTests: the last results per check and transitions per line, and the health metrics they feed.

import Foundation
import Health
import Logging
import MetricsTestKit
import Testing
import Uplinks

@Suite struct ProbeHistoryTests {
    @Test func keepsTheLastResultsOfEachCheckAndCountsEveryProbe() async throws {
        let metrics = TestMetrics()
        let prober = FakeProber()
        let history = ProbeHistory(depth: 3, factory: metrics)
        let u = lines()
        let checker = HealthChecker(
            uplinks: u, prober: prober, logger: Logger(label: "t"), history: history, onChange: { _ in })
        let cnc = u.links[1]
        await checker.initialRound()
        prober.set("file /x", false)
        for _ in 0..<4 { await checker.round(cnc) }
        let checks = history.checks("cnc")
        #expect(checks.map(\.check) == ["tcp 203.0.113.80:80", "file /x"])
        #expect(checks.map(\.type) == ["tcp", "file"])
        // Five rounds, three kept, oldest first: the last three file probes failed.
        #expect(checks[1].results.count == 3 && checks[1].results.allSatisfy { !$0.ok })
        #expect(checks[1].results.last?.detail == "timed out")
        #expect(checks[0].results.allSatisfy { $0.ok && $0.seconds >= 0 })

        let failed = try metrics.expectCounter(
            "uplinkdns_probes_total", [("link", "cnc"), ("check", "file"), ("result", "failed")])
        let ok = try metrics.expectCounter(
            "uplinkdns_probes_total", [("link", "cnc"), ("check", "file"), ("result", "ok")])
        #expect(failed.totalValue == 4 && ok.totalValue == 1)
        let timer = try metrics.expectTimer("uplinkdns_probe_duration_seconds", [("link", "cnc"), ("check", "tcp")])
        #expect(timer.values.count == 5)

        // fall is 3: the third failed round took cnc out; the transition is kept and counted by direction.
        let transitions = history.transitions("cnc")
        #expect(transitions.map(\.to) == [.down] && transitions[0].reason == "file /x timed out 3/3")
        let down = try metrics.expectCounter(
            "uplinkdns_link_transitions_total", [("link", "cnc"), ("direction", "down")])
        #expect(down.totalValue == 1)
        // Every line's transition counters exist from the start (at 0), so a rate sees the first transition.
        let up = try metrics.expectCounter(
            "uplinkdns_link_transitions_total", [("link", "unicom"), ("direction", "up")])
        #expect(up.totalValue == 0)

        // An override is a transition too.
        checker.setOverride("unicom", .drain)
        #expect(history.transitions("unicom").last?.reason == "operator: drain")
    }

    @Test func aReloadThatChangesALinesChecksStartsItsHistoryAnew() async {
        let prober = FakeProber()
        let history = ProbeHistory(depth: 5)
        let u = lines()
        let checker = HealthChecker(
            uplinks: u, prober: prober, logger: Logger(label: "t"), history: history, onChange: { _ in })
        await checker.round(u.links[1])
        #expect(history.checks("cnc").count == 2)
        var changed = u
        changed.links[1].health.checks = [CheckSpec(kind: .icmp(host: "203.0.113.9"))]
        checker.reconfigure(uplinks: changed, hooks: [])
        await checker.round(changed.links[1])
        #expect(history.checks("cnc").map(\.check) == ["icmp 203.0.113.9"])
        changed.links.removeLast()
        checker.reconfigure(uplinks: changed, hooks: [])
        #expect(history.checks("cnc").isEmpty)
    }
}
