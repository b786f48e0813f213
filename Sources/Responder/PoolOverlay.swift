// PoolOverlay: what the pools answer now — each recipe's bodies for the pools' current variants, and the served
// serials — rebuilt on every health change without touching the compiled zones.

import DNSWire
import Uplinks
import Zones

/// The part of a snapshot that health changes: for every recipe of the compiled zones (an answer that contains a
/// pool's records) a group of bodies, one per variant of the pool's current plan, and each zone's served serial.
/// Building one costs the recipes times the variants, whatever the size of the zones.
public final class PoolOverlay: Sendable {
    /// Several compiled answers for one (name, type) that pick one per response: the variants of a pool.
    struct AnswerGroup: Sendable {
        /// How the step is chosen (`PoolPlan.Selection`).
        var selection: PoolPlan.Selection
        /// Range in `steps`: one body per rotation step or sticky bucket.
        var start: Int32
        var count: Int32
        /// The pool's client networks (an index into `networkMaps`), or -1: the group answers every client alike.
        var networks: Int32 = -1
        /// Where its network classes 1… start in `networkSteps`.
        var networkStart: Int32 = 0
    }

    let groups: [AnswerGroup]
    /// Per group: the pool and type whose variants it picks among (nil: a group without variants).
    let groupPools: [(name: DomainName, type: RRType)?]
    /// Per group step: the variant of the pool's family it answers with (its index in `PoolPlan.Family.variants`),
    /// -1 for none: what a signed answer to the same question substitutes (`QueryProcessor.secure`).
    let stepVariants: [Int32]
    /// Per group step: the body (an index into `answers`), and the counter of the line it puts first.
    let steps: [Int32]
    let stepCounters: [AnswerCounters.Counter?]
    /// The client-network maps the groups use (pools with the same `by-network` share one).
    let networkMaps: [ClientNetworkMap]
    /// Per group with networks, per class 1…: the step its clients get (after the group's own steps), or -1 when no
    /// line of the class's list is in answers (the pool's policy, as for everyone else).
    let networkSteps: [Int32]
    let answers: [CompiledAnswer]
    let bodyBytes: [UInt8]
    let fixups: [Fixup]
    /// The served SOA serial per zone number.
    let serials: [UInt32]
    /// The zones as they answer now (pools' current records, served serials): for the slow path and transfers.
    let zoneSet: ZoneSet
    /// The pool plans compiled in.
    let plans: [PoolPlan]

    /// Compiles every recipe of `base` for `plans`. `serials` gives the SOA serial to serve per zone; a zone not in
    /// it keeps its file's. `secure`: per zone of `base`, the signed zone as it serves now (nil: not signed, or not
    /// yet), which the recipes of its DNSSEC records are answered from.
    init(
        base: CompiledZones, plans: [PoolPlan], serials: [DomainName: UInt32], counters: AnswerCounters,
        secure: [Zone?] = []
    ) {
        let poolByName = Dictionary(plans.map { ($0.pool.name, $0) }, uniquingKeysWith: { a, _ in a })
        let names = Array(base.poolNames)
        // The zones with each pool's slot holding its current first variant (or nothing) and the served serial.
        let now = base.zones.map { info in
            let zone = info.zone
            let mine = names.filter { $0.isSubdomain(of: zone.origin) }
            let sets = mine.compactMap { poolByName[$0] }.flatMap(PoolOverlay.canonicalSets)
            let filled = zone.replacingPools(mine, with: sets)
            return serials[zone.origin].map { filled.withSerial($0) } ?? filled
        }
        var arena = AnswerArena()
        var groups: [AnswerGroup] = []
        var groupPools: [(name: DomainName, type: RRType)?] = []
        var stepVariants: [Int32] = []
        var steps: [Int32] = []
        var stepCounters: [AnswerCounters.Counter?] = []
        var networkMaps: [ClientNetworkMap] = []
        var mapIndex: [ObjectIdentifier: Int32] = [:]
        var networkSteps: [Int32] = []
        let index = base.zoneIndex
        for r in base.recipes {
            let zone = now[r.zone]
            func compile(_ res: Resolution) -> Int32 {
                let ref: AnswerRef
                switch r.mode {
                case .exact, .signed:
                    ref = arena.add(res, template: r.name, serialZone: { index[$0] })
                case .wildcard:
                    ref = arena.add(
                        res, template: r.name, anchor: r.name.parent ?? .root, ownerIsQuery: true,
                        serialZone: { index[$0] })
                case .referral:
                    ref = arena.add(res, template: r.name, anchor: r.name, serialZone: { index[$0] })
                }
                return ref.raw
            }
            if r.poolItself, poolByName[r.name]?.servfail ?? false {
                // Every line down and `all-down: servfail`: SERVFAIL for A and AAAA, not authoritative.
                var fail = Resolution(outcome: .noData)
                fail.rcode = .servFail
                fail.authoritative = false
                groups.append(AnswerGroup(selection: .fixed, start: Int32(steps.count), count: 1))
                groupPools.append(nil)
                steps.append(compile(fail))
                stepVariants.append(-1)
                stepCounters.append(nil)
                continue
            }
            if r.mode == .signed {
                // The records as the signed zone holds them now, without signatures (those come with DO); NODATA
                // while the zone is not signed yet.
                let signed = r.zone < secure.count ? secure[r.zone] : nil
                groups.append(AnswerGroup(selection: .fixed, start: Int32(steps.count), count: 1))
                groupPools.append(nil)
                steps.append(compile((signed ?? zone).resolve(r.name, r.type)))
                stepVariants.append(-1)
                stepCounters.append(nil)
                continue
            }
            let res = zone.resolve(r.name, r.mode == .referral ? .ns : r.type)
            guard let (plan, type) = PoolOverlay.firstPoolRecords(res, poolByName) else {
                // No address of the pool's in it now (a family without lines up): one body.
                groups.append(AnswerGroup(selection: .fixed, start: Int32(steps.count), count: 1))
                groupPools.append(nil)
                steps.append(compile(res))
                stepVariants.append(-1)
                stepCounters.append(nil)
                continue
            }
            let family = type == .aaaa ? plan.v6 : plan.v4
            let bodies = family.variants.map { addrs in
                compile(PoolOverlay.substitute(res, plan: plan, type: type, addresses: addrs))
            }
            let lineCounters = family.firstLine.map { counters.counter(pool: plan.pool.name, line: $0) }
            var group = AnswerGroup(
                selection: plan.selection, start: Int32(steps.count), count: Int32(family.sequence.count))
            for v in family.sequence {
                steps.append(bodies[v])
                stepVariants.append(Int32(v))
                stepCounters.append(lineCounters[v])
            }
            if let map = plan.pool.networkMap, !family.networkVariants.isEmpty {
                // The network classes' steps follow the policy's; their counters name the class.
                if let i = mapIndex[ObjectIdentifier(map)] {
                    group.networks = i
                } else {
                    group.networks = Int32(networkMaps.count)
                    mapIndex[ObjectIdentifier(map)] = group.networks
                    networkMaps.append(map)
                }
                group.networkStart = Int32(networkSteps.count)
                for (k, v) in family.networkVariants.enumerated() {
                    guard v >= 0 else {
                        networkSteps.append(-1)
                        continue
                    }
                    networkSteps.append(Int32(steps.count))
                    steps.append(bodies[v])
                    stepVariants.append(Int32(v))
                    stepCounters.append(
                        counters.counter(pool: plan.pool.name, line: family.firstLine[v], network: map.label(k + 1)))
                }
            }
            groups.append(group)
            groupPools.append((plan.pool.name, type))
        }
        self.groups = groups
        self.groupPools = groupPools
        self.stepVariants = stepVariants
        self.steps = steps
        self.stepCounters = stepCounters
        self.networkMaps = networkMaps
        self.networkSteps = networkSteps
        self.answers = arena.answers
        self.bodyBytes = arena.bytes
        self.fixups = arena.fixups
        self.serials = base.zones.map { info in serials[info.zone.origin] ?? info.zone.fileSerial }
        self.zoneSet = ZoneSet(now)
        self.plans = plans
    }

    /// A pool's records as the zone holds them: its first variant per family (none for a family without
    /// addresses, or when the pool answers SERVFAIL).
    static func canonicalSets(_ plan: PoolPlan) -> [RRset] {
        guard !plan.servfail else { return [] }
        var out: [RRset] = []
        for (type, family) in [(RRType.a, plan.v4), (.aaaa, plan.v6)] {
            guard let first = family.variants.first else { continue }
            out.append(RRset(name: plan.pool.name, type: type, ttl: plan.ttl, rdatas: first.map(\.octets)))
        }
        return out
    }

    /// The first pool whose A or AAAA records appear in an answer (in any section), with that type.
    static func firstPoolRecords(_ res: Resolution, _ pools: [DomainName: PoolPlan]) -> (PoolPlan, RRType)? {
        guard !pools.isEmpty else { return nil }
        for rr in res.answer + res.authority + res.glue + res.additional where rr.type == .a || rr.type == .aaaa {
            if let plan = pools[rr.name] { return (plan, rr.type) }
        }
        return nil
    }

    /// The answer with a pool's run of `type` records replaced by `addresses`, in place, keeping the owner as the
    /// answer wrote it (the query's case).
    static func substitute(_ res: Resolution, plan: PoolPlan, type: RRType, addresses: [IPAddress]) -> Resolution {
        func replace(_ records: [ResourceRecord]) -> [ResourceRecord] {
            guard let first = records.firstIndex(where: { $0.type == type && $0.name == plan.pool.name }) else {
                return records
            }
            let owner = records[first].name
            var out = records.filter { !($0.type == type && $0.name == plan.pool.name) }
            let fresh = addresses.map { ResourceRecord(name: owner, type: type, ttl: plan.ttl, rdata: $0.octets) }
            out.insert(contentsOf: fresh, at: min(first, out.count))
            return out
        }
        return res.mapSections(replace)
    }
}
