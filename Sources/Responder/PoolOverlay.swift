// PoolOverlay: what the pools answer now — each recipe's bodies for the pools' current variants, and the served
// serials — rebuilt on every health change without touching the compiled zones.

import DNSWire
import Synchronization
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

    /// Per recipe of the compiled zones (`CompiledZones.recipes`): its group of bodies. A class's recipe serves
    /// every pool of the class, and every alias whose chain ends there (`CompiledZones.Join`).
    let groups: [AnswerGroup]
    /// Per group: the pool and type whose variants it picks among (nil: a group without variants); for a class's
    /// recipe, the pool is the one it was compiled for (the reference names the pool asked about).
    let groupPools: [(name: DomainName, type: RRType)?]
    /// Per group step: the variant of the pool's family it answers with (its index in `PoolPlan.Family.variants`),
    /// -1 for none: what a signed answer to the same question substitutes (`QueryProcessor.secure`).
    let stepVariants: [Int32]
    /// Per group step: the body (an index into `answers`), and where the counter of the line it puts first is
    /// among its pool's (`PoolTables.counters`; -1: none).
    let steps: [Int32]
    let stepCounters: [Int32]
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
    /// The zones as they answer now (pools' current records, served serials), for the slow path and transfers:
    /// made when first asked (by a transfer, an export or the slow path), since it costs every pool, not every class.
    let now: LazyZones
    /// The zones as they answer now (see `now`).
    var zoneSet: ZoneSet { now.value }
    /// The pool plans compiled in.
    let plans: PoolPlans
    /// Per compiled zones: the plans by name and the pools' counters, made once (`PoolTables`).
    let tables: PoolTables
    /// How many groups were compiled with bodies (for tests: a drain compiles each class once, not each name).
    public let compiledGroups: Int

    /// Compiles every recipe of `base` for `plans`. `serials` gives the SOA serial to serve per zone; a zone not in
    /// it keeps its file's. `secure`: per zone of `base`, the signed zone as it serves now (nil: not signed, or not
    /// yet), which the recipes of its DNSSEC records are answered from. `previous`: the overlay this one replaces,
    /// whose tables it reuses when both are over `base` (a health change).
    init(
        base: CompiledZones, plans: PoolPlans, serials: [DomainName: UInt32], counters: AnswerCounters,
        secure: [Zone?] = [], previous: PoolOverlay? = nil
    ) {
        let tables =
            previous.flatMap { $0.tables.base === base && $0.plans.count == plans.count ? $0.tables : nil }
            ?? PoolTables(base: base, plans: plans, counters: counters)
        func plan(_ name: DomainName) -> PoolPlan? { tables.plan(named: name, in: plans) }
        // The zones with the pools the recipes hold (each class's by one of its pools) filled in with their current
        // first variant (or nothing), and the served serial: what the recipes are compiled from.
        var involved = Set<DomainName>()
        for r in base.recipes { involved.formUnion(r.pools) }
        let nowForRecipes = base.zones.map {
            PoolOverlay.filled($0.zone, pools: involved, plans: plans, tables: tables, serials: serials)
        }
        var arena = AnswerArena()
        var groups: [AnswerGroup] = []
        var groupPools: [(name: DomainName, type: RRType)?] = []
        var stepVariants: [Int32] = []
        var steps: [Int32] = []
        var stepCounters: [Int32] = []
        var networkMaps: [ClientNetworkMap] = []
        var mapIndex: [ObjectIdentifier: Int32] = [:]
        var networkSteps: [Int32] = []
        let index = base.zoneIndex
        for r in base.recipes {
            let zone = nowForRecipes[r.zone]
            func compile(_ res: Resolution) -> Int32 {
                let ref: AnswerRef
                switch r.mode {
                case .exact where r.shared, .additional:
                    // One body for every pool of the class: owners are the query name, the rest anchored at the apex.
                    ref = arena.add(
                        res, template: r.name, anchor: base.zones[r.zone].zone.origin, ownerIsQuery: true,
                        serialZone: { index[$0] })
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
            func single(_ res: Resolution) {
                groups.append(AnswerGroup(selection: .fixed, start: Int32(steps.count), count: 1))
                groupPools.append(nil)
                steps.append(compile(res))
                stepVariants.append(-1)
                stepCounters.append(-1)
            }
            if r.poolItself, plan(r.name)?.servfail ?? false {
                // Every line down and `all-down: servfail`: SERVFAIL for A and AAAA, not authoritative.
                var fail = Resolution(outcome: .noData)
                fail.rcode = .servFail
                fail.authoritative = false
                single(fail)
                continue
            }
            if r.mode == .signed {
                // The records as the signed zone holds them now, without signatures (those come with DO); NODATA
                // while the zone is not signed yet.
                let signed = r.zone < secure.count ? secure[r.zone] : nil
                single((signed ?? zone).resolve(r.name, r.type))
                continue
            }
            let res =
                r.mode == .additional
                ? PoolOverlay.addresses(of: r.name, in: zone) : zone.resolve(r.name, r.mode == .referral ? .ns : r.type)
            guard let (plan, type) = PoolOverlay.firstPoolRecords(res, plan) else {
                // No address of the pool's in it now (a family without lines up): one body.
                single(res)
                continue
            }
            let family = type == .aaaa ? plan.v6 : plan.v4
            let bodies = family.variants.map { addrs in
                compile(PoolOverlay.substitute(res, plan: plan, type: type, addresses: addrs))
            }
            let members = plan.pool.members
            let lineOffsets = family.firstLine.map { line in Int32(members.firstIndex { $0.link == line } ?? -1) }
            var group = AnswerGroup(
                selection: plan.selection, start: Int32(steps.count), count: Int32(family.sequence.count))
            for v in family.sequence {
                steps.append(bodies[v])
                stepVariants.append(Int32(v))
                stepCounters.append(lineOffsets[v])
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
                    let line = lineOffsets[v]
                    stepCounters.append(line < 0 ? -1 : Int32(k + 1) * Int32(members.count) + line)
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
        self.plans = plans
        self.tables = tables
        self.compiledGroups = groups.count
        self.now = LazyZones { [tables] in
            ZoneSet(
                base.zones.map {
                    PoolOverlay.filled(
                        $0.zone, pools: base.poolNames, plans: plans, tables: tables, serials: serials)
                })
        }
    }

    /// `zone` with the pools among `pools` in it holding their current first variant (or nothing), and the served
    /// serial: what the recipes are compiled from (the pools they hold), and the zones as they answer now (all).
    static func filled(
        _ zone: Zone, pools: Set<DomainName>, plans: PoolPlans, tables: PoolTables, serials: [DomainName: UInt32]
    ) -> Zone {
        let mine = Array(pools.filter { $0.isSubdomain(of: zone.origin) })
        let sets = mine.compactMap { tables.planIndex[$0].map { plans[$0] } }.flatMap(PoolOverlay.canonicalSets)
        let filled = mine.isEmpty ? zone : zone.replacingPools(mine, with: sets)
        return serials[zone.origin].map { filled.withSerial($0) } ?? filled
    }

    /// The plan of the pool called `name`.
    func plan(named name: DomainName) -> PoolPlan? { tables.plan(named: name, in: plans) }

    /// The counter of step `step` answered for pool `pool` (`CompiledZones.pools`), if it counts.
    @inline(__always)
    func counter(step: Int, pool: Int32) -> AnswerCounters.Counter? {
        let offset = stepCounters[step]
        guard offset >= 0, pool >= 0 else { return nil }
        let at = Int(tables.counterStart[Int(pool)]) + Int(offset)
        return at < tables.counters.count ? tables.counters[at] : nil
    }

    /// The A and then the AAAA records `zone` holds at `name`, as an answer (`CompiledZones.Recipe.Mode.additional`).
    static func addresses(of name: DomainName, in zone: Zone) -> Resolution {
        var res = Resolution(outcome: .answer)
        for t in [RRType.a, .aaaa] { res.answer += zone.rrset(name, t)?.records ?? [] }
        return res
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
    static func firstPoolRecords(_ res: Resolution, _ plan: (DomainName) -> PoolPlan?) -> (PoolPlan, RRType)? {
        for rr in res.answer + res.authority + res.glue + res.additional where rr.type == .a || rr.type == .aaaa {
            if let plan = plan(rr.name) { return (plan, rr.type) }
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

/// What every overlay over one compiled zones shares: the plans' order by pool name, and each pool's answer
/// counters (per line it may put first, per client-network class), fetched from the registry once rather than on
/// every health change (which then costs the classes, not the names).
final class PoolTables: Sendable {
    /// The compiled zones these are for.
    let base: CompiledZones
    /// The index of each pool's plan in the plans (the same order in every build from one config).
    let planIndex: [DomainName: Int]
    /// Per pool of `base.pools`: where its counters start in `counters`: per network class k (0: the pool's
    /// policy), per line of the pool (in `members` order), at k × lines + line.
    let counterStart: [Int32]
    let counters: [AnswerCounters.Counter]

    /// The plan of the pool called `name` among `plans` (those these tables were made for).
    func plan(named name: DomainName, in plans: PoolPlans) -> PoolPlan? { planIndex[name].map { plans[$0] } }

    init(base: CompiledZones, plans: PoolPlans, counters registry: AnswerCounters) {
        self.base = base
        var index: [DomainName: Int] = [:]
        index.reserveCapacity(plans.count)
        for (i, p) in plans.enumerated() where index[p.pool.name] == nil { index[p.pool.name] = i }
        planIndex = index
        var starts: [Int32] = []
        var counters: [AnswerCounters.Counter] = []
        starts.reserveCapacity(base.pools.count)
        for name in base.pools {
            starts.append(Int32(counters.count))
            guard let i = index[name] else { continue }
            let pool = plans[i].pool
            let classes = pool.networkMap.map { $0.lists.count } ?? 1
            for k in 0..<max(classes, 1) {
                for m in pool.members {
                    counters.append(
                        registry.counter(
                            pool: pool.name, line: m.link, network: k == 0 ? nil : pool.networkMap?.label(k),
                            listed: false))
                }
            }
        }
        counterStart = starts
        self.counters = counters
    }
}

/// A value made on first use, once, by whichever thread asks first (the others wait for it): the zones as they
/// answer now, which the slow path, transfers and export read and the query path never does.
final class LazyZones: Sendable {
    private let state: Mutex<ZoneSet?>
    private let make: @Sendable () -> ZoneSet

    init(_ make: @escaping @Sendable () -> ZoneSet) {
        self.make = make
        state = Mutex(nil)
    }

    var value: ZoneSet {
        state.withLock { made in
            if let made { return made }
            let value = make()
            made = value
            return value
        }
    }
}
