// ProbeHistoryTests: the last results per check and transitions per line, and the health metrics they feed.

import Foundation
import Health
import Logging
import MetricsTestKit
import Synchronization
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
        let metrics = TestMetrics()
        let history = ProbeHistory(depth: 5, factory: metrics)
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
        #expect(metrics.counters.contains { $0.dimensions.contains { $0 == ("link", "cnc") } })
        changed.links.removeLast()
        checker.reconfigure(uplinks: changed, hooks: [])
        #expect(history.checks("cnc").isEmpty)
        // A removed line leaves the metrics too.
        #expect(!metrics.counters.contains { $0.dimensions.contains { $0 == ("link", "cnc") } })
        #expect(!metrics.timers.contains { $0.dimensions.contains { $0 == ("link", "cnc") } })
    }
}

/// A clock the test moves.
final class ManualClock: Sendable {
    private let now = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    func read() -> Date { now.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

@Suite struct OverrideExpiryTests {
    /// An override's end is a transition like any other: answers follow it (it is published), it is logged,
    /// counted and kept in the history, and the reason says so. (Before, the end of a timed drain or force was
    /// seen by readers but never published, so answers kept the override.)
    @Test func theEndOfATimedOverrideIsPublishedAndCounted() async throws {
        let clock = ManualClock()
        let published = Published()
        let metrics = TestMetrics()
        let prober = FakeProber()
        let u = lines()
        let checker = HealthChecker(
            uplinks: u, prober: prober, logger: Logger(label: "t"), clock: clock.read,
            history: ProbeHistory(factory: metrics), onChange: published.add)
        await checker.initialRound()
        checker.setOverride("unicom", .drain, for: 10)
        #expect(published.all == [["cnc"]])
        // A probe round while drained keeps the operator's reason.
        await checker.round(u.links[0])
        #expect(checker.links[0].reason == "operator: drain for 10 s")
        clock.advance(11)
        // A probe round after the end but before the expiry runs changes nothing by itself…
        await checker.round(u.links[0])
        #expect(published.all == [["cnc"]])
        // …the expiry publishes the line back.
        checker.expireOverrides()
        #expect(published.all == [["cnc"], ["unicom", "cnc"]])
        #expect(checker.links[0].override == nil && checker.links[0].reason == "operator override expired")
        #expect(checker.links[0].since == clock.read())
        #expect(checker.history.transitions("unicom").map(\.to) == [.down, .up])
        let up = try metrics.expectCounter(
            "uplinkdns_link_transitions_total", [("link", "unicom"), ("direction", "up")])
        #expect(up.totalValue == 1)

        // A force-up of a line whose probes fail ends with the line out of answers again.
        prober.set("file /x", false)
        for _ in 0..<3 { await checker.round(u.links[1]) }
        #expect(checker.up == ["unicom"])
        checker.setOverride("cnc", .forceUp, for: 5)
        #expect(checker.up == ["unicom", "cnc"])
        clock.advance(6)
        checker.expireOverrides()
        #expect(checker.up == ["unicom"] && published.all.last == ["unicom"])
    }
}
