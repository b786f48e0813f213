// PoolPlanTests: each policy's orderings and shares, sticky stability, all-down, families, weights.

import DNSWire
import TestSupport
import Testing
import Uplinks

/// A third line with an explicit weight (beside TestSupport's unicom and cnc).
let third = Link(name: "third", publicAddresses: [IPAddress("203.0.113.10")!], weight: 2)

/// The address orders a family hands out over `n` responses (rotate), as text.
func firsts(_ f: PoolPlan.Family, _ n: Int) -> [String] {
    (0..<n).map { f.variants[f.sequence[$0 % f.sequence.count]][0].description }
}

@Suite struct PoolPlanTests {
    @Test func bandwidthWeightsFollowTheSeed() {
        #expect(Uplinks(links: [unicom, cnc]).weights == ["unicom": 4, "cnc": 1])
        #expect(Uplinks(links: [unicom, cnc, third]).weights == ["unicom": 4, "cnc": 1, "third": 2])
        #expect(Uplinks(links: [Link(name: "a", publicAddresses: [])]).weights == ["a": 1])
    }

    @Test func roundRobinRotatesEveryAddress() {
        let p = poolPlan(.roundRobin)
        #expect(p.selection == .rotate)
        #expect(
            p.v4.variants.map { $0.map(\.description) } == [
                ["192.0.2.10", "198.51.100.10"], ["198.51.100.10", "192.0.2.10"],
            ])
        #expect(firsts(p.v4, 4) == ["192.0.2.10", "198.51.100.10", "192.0.2.10", "198.51.100.10"])
    }

    @Test func weightedIsSmoothAndExact() {
        let p = poolPlan(.weighted)
        // Smooth WRR for 4:1 spreads the light line out: A A B A A.
        #expect(firsts(p.v4, 5) == ["192.0.2.10", "192.0.2.10", "198.51.100.10", "192.0.2.10", "192.0.2.10"])
        #expect(p.v4.variants.allSatisfy { $0.count == 2 })  // every healthy address, the rest as fallback
        let three = poolPlan(.weighted, links: [unicom, cnc, third])
        let counts = Dictionary(grouping: firsts(three.v4, 10_000), by: { $0 }).mapValues(\.count)
        // Shares of first place within ±2 % of 4/7, 1/7, 2/7 over 10 000 responses (exact over each cycle).
        #expect(abs(Double(counts["192.0.2.10"]!) / 10_000 - 4.0 / 7) < 0.02)
        #expect(abs(Double(counts["198.51.100.10"]!) / 10_000 - 1.0 / 7) < 0.02)
        #expect(abs(Double(counts["203.0.113.10"]!) / 10_000 - 2.0 / 7) < 0.02)
    }

    @Test func weightedWithAnswerCountDrawsWithoutRepetition() {
        let p = poolPlan(.weighted, links: [unicom, cnc, third], answers: 2)
        #expect(p.v4.variants.allSatisfy { $0.count == 2 && Set($0).count == 2 })
    }

    @Test func failoverAnswersTheFirstHealthyLineAlone() {
        #expect(poolPlan(.failover).v4.variants.map { $0.map(\.description) } == [["192.0.2.10"]])
        #expect(poolPlan(.failover, up: ["cnc"]).v4.variants.map { $0.map(\.description) } == [["198.51.100.10"]])
        #expect(poolPlan(.failover).selection == .fixed)
    }

    @Test func aDownLineLeavesEveryAnswer() {
        for policy in PoolPolicy.allCases {
            let p = poolPlan(policy, up: ["cnc"])
            #expect(p.v4.variants.allSatisfy { $0.map(\.description) == ["198.51.100.10"] }, "\(policy)")
            #expect(p.v6.variants.isEmpty)  // cnc has no IPv6: NODATA for AAAA
        }
    }

    @Test func allDownFailsOpenOrAsConfigured() {
        #expect(poolPlan(.weighted, up: [], allDown: .all).v4.variants.first?.count == 2)
        let none = poolPlan(.weighted, up: [], allDown: .none)
        #expect(none.v4.variants.isEmpty && !none.servfail)
        #expect(poolPlan(.weighted, up: [], allDown: .servfail).servfail)
    }

    @Test func familiesArePlannedApart() {
        let p = poolPlan(.roundRobin)
        #expect(p.v6.variants.map { $0.map(\.description) } == [["2001:db8::10"]])
    }

    @Test func stickyFollowsWeightsAndMovesOnlyTheDownLinesClients() {
        let all = poolPlan(.sticky, links: [unicom, cnc, third])
        #expect(all.selection == .sticky && all.v4.sequence.count == PoolPlan.stickyBuckets)
        let first = all.v4.sequence.map { all.v4.firstLine[$0] }
        let share = Double(first.filter { $0 == "unicom" }.count) / Double(first.count)
        #expect(abs(share - 4.0 / 7) < 0.03)
        let without = poolPlan(.sticky, links: [unicom, cnc, third], up: ["unicom", "third"])
        let after = without.v4.sequence.map { without.v4.firstLine[$0] }
        for (b, line) in first.enumerated() where line != "cnc" {
            #expect(after[b] == line)  // clients of healthy lines stay where they were
        }
        // Deterministic: the same plan again (a restart) gives the same table.
        #expect(poolPlan(.sticky, links: [unicom, cnc, third]).v4.sequence == all.v4.sequence)
    }

    @Test func smoothCycleIsExactPerCycle() {
        let cycle = PoolPlan.smoothWeightedCycle([5, 1, 1])
        #expect(cycle == [0, 0, 1, 0, 2, 0, 0])
        #expect(PoolPlan.smoothWeightedCycle([1_000_000, 1]).count <= PoolPlan.maxCycle + 1)
    }
}

extension PoolPlanTests {
    @Test func ttlIsDegradedWhileALineIsDown() {
        #expect(poolPlan(.weighted).ttl == 60)
        #expect(poolPlan(.weighted, up: ["cnc"]).ttl == 30)  // half, as gdnsd
        var pool = poolPlan(.weighted).pool
        pool.ttlDegraded = 10
        #expect(PoolPlan(pool: pool, uplinks: Uplinks(links: [unicom, cnc], pools: [pool]), up: ["unicom"]).ttl == 10)
    }

    /// Issue 25: with isp-b drained and isp-a's probes failing, `all-down: all` answered both addresses, the drained
    /// line included. Fail-open brings back what probes took out, never what an operator took out.
    @Test func aDrainHoldsWhenThePoolFailsOpen() {
        let failOpen = poolPlan(.roundRobin, up: [], held: ["cnc"])
        #expect(failOpen.v4.variants.allSatisfy { $0.map(\.description) == ["192.0.2.10"] })
        // Every line held by an operator: nothing to fail open to (NODATA), or SERVFAIL if the pool says so.
        #expect(poolPlan(.roundRobin, up: [], held: ["unicom", "cnc"]).v4.variants.isEmpty)
        #expect(poolPlan(.roundRobin, up: [], held: ["unicom", "cnc"], allDown: .servfail).servfail)
        // Probes alone: every line comes back, as before.
        #expect(Set(poolPlan(.roundRobin, up: []).v4.variants.flatMap { $0 }.map(\.description)).count == 2)
    }

    /// Issue 25: a comment added above the lines reported every line as changed on reload: where a definition is
    /// written is not part of what it is.
    @Test func aDefinitionsLineIsNotPartOfIt() {
        var moved = unicom
        moved.line = 40
        var check = CheckSpec(kind: .file(path: "/x"), line: 3)
        moved.health.checks = [check]
        var same = unicom
        same.line = 41
        check.line = 4
        same.health.checks = [check]
        #expect(moved == same)
        same.health.checks[0].interval = 9
        #expect(moved != same)
    }

    /// Plans cost the classes: a thousand pools of one definition are planned once, each name's plan is its class's
    /// answers with its own pool, and a pool changed after its class was numbered is a class of its own.
    @Test func plansAreMadeOncePerClass() throws {
        func pool(_ name: String, ttl: UInt32 = 60) -> Pool {
            Pool(
                name: try! DomainName(name), members: [unicom, cnc].map { PoolMember(link: $0.name) },
                policy: .weighted, ttl: ttl)
        }
        var uplinks = Uplinks(
            links: [unicom, cnc], pools: (0..<1000).map { pool("c\($0).example.com.") } + [pool("x.example.com.")])
        let plans = PoolPlan.plans(uplinks, up: ["unicom"])
        #expect(plans.classCount == 1)
        let c500 = try DomainName("c500.example.com.")
        #expect(plans.count == 1001 && plans[500].pool.name == c500)
        let alone = PoolPlan(pool: uplinks.pools[500], uplinks: uplinks, up: ["unicom"])
        #expect(plans[500].v4 == alone.v4 && plans[500].ttl == alone.ttl && plans[500].answered == alone.answered)
        // Two plannings of one config for the same lines answer alike, for other lines not.
        #expect(PoolPlan.sameAnswers(plans, PoolPlan.plans(uplinks, up: ["unicom"])))
        #expect(!PoolPlan.sameAnswers(plans, PoolPlan.plans(uplinks, up: ["unicom", "cnc"])))
        uplinks.pools[7].ttl = 300
        let changed = PoolPlan.plans(uplinks, up: ["unicom"])
        #expect(changed.classCount == 2 && changed[7].ttl == 150 && changed[8].ttl == 30)
    }
}
