// Snapshot: every answer the server can give, compiled once from the zones and swapped in whole on reload.

import DNSWire
import Uplinks
import Zones

/// The immutable, precompiled state the query path reads. Building one does all the work (lookups, chains,
/// compression); answering a query is then hash probes over the query name's suffixes plus a copy.
public final class Snapshot: Sendable {
    /// Per-name facts for the query-time walk.
    struct NodeInfo: Sendable {
        /// Index into `zones`.
        var zone: Int32
        /// `referral` answer of the nearest cut at or above this node; `belowDNAME` when a DNAME above it decides;
        /// `-1` when the node answers for itself.
        var block: Int32
        /// Node index of `*.` this name, or -1.
        var wildcard: Int32
        /// Range in `typeEntries`.
        var typeStart: Int32
        var typeCount: Int32
        /// The answer for types without an entry.
        var defaultAnswer: Int32
        /// At a cut: DS answered from the parent side. At the apex of a zone whose parent we serve: the parent's
        /// DS answer (RFC 4035 §3.1.4.1). Otherwise -1.
        var dsAnswer: Int32
        /// The node owns a DNAME: names below it are synthesised on the slow path.
        var hasDNAME: Bool
        /// The node is a delegation point.
        var isCut: Bool
    }

    /// `NodeInfo.block` value for names under a DNAME.
    static let belowDNAME: Int32 = -2

    struct TypeEntry: Sendable {
        var type: UInt16
        var answer: Int32
    }

    /// Several compiled answers for one (name, type) that pick one per response: the variants of a pool.
    /// An answer reference below zero, `-(index + 1)`, names a group instead of a body.
    struct AnswerGroup: Sendable {
        /// How the step is chosen (`PoolPlan.Selection`).
        var selection: PoolPlan.Selection
        /// Range in `groupSteps`: one body per rotation step or sticky bucket.
        var start: Int32
        var count: Int32
    }

    struct ZoneInfo: Sendable {
        var zone: Zone
        var nxDomain: Int32
        var noData: Int32
    }

    let table: NameTable
    let nodes: [NodeInfo]
    let typeEntries: [TypeEntry]
    let zones: [ZoneInfo]
    let answers: [CompiledAnswer]
    let bodyBytes: [UInt8]
    let fixups: [Fixup]
    let groups: [AnswerGroup]
    /// Per group step: the body, and the counter of the line it puts first.
    let groupSteps: [Int32]
    let stepCounters: [AnswerCounters.Counter?]
    /// CHAOS TXT answers by lower-cased wire name.
    let chaos: [(name: [UInt8], answer: Int32)]
    /// The zones, for the slow path and for export.
    public let zoneSet: ZoneSet
    /// The settings compiled in.
    public let options: ResponderOptions

    /// How many names the table holds (for logs and tests).
    public var nameCount: Int { nodes.count }

    /// The pool plans compiled in.
    public let plans: [PoolPlan]

    /// Compiles `zoneSet` with `options`. Each pool's current addresses (`plans`, from the lines that are up) are
    /// put into its zone, and every answer that contains them is compiled once per variant. `serials` gives the
    /// SOA serial to serve per zone (the server moves it when content changes); a zone not in it keeps its file's.
    public init(
        zoneSet rawZones: ZoneSet, options: ResponderOptions = ResponderOptions(), plans: [PoolPlan] = [],
        serials: [DomainName: UInt32] = [:], counters: AnswerCounters = AnswerCounters()
    ) {
        let poolByName = Dictionary(plans.map { ($0.pool.name, $0) }, uniquingKeysWith: { a, _ in a })
        let zoneSet = ZoneSet(
            rawZones.zones.values.map { zone in
                let mine = plans.filter { $0.pool.name.isSubdomain(of: zone.origin) }
                let filled = zone.adding(mine.flatMap(Snapshot.canonicalSets), names: mine.map(\.pool.name))
                return serials[zone.origin].map { filled.withSerial($0) } ?? filled
            })
        var arena = AnswerArena()
        var groups: [AnswerGroup] = []
        var groupSteps: [Int32] = []
        var stepCounters: [AnswerCounters.Counter?] = []
        var nodes: [NodeInfo] = []
        var types: [TypeEntry] = []
        var zoneInfos: [ZoneInfo] = []
        let ordered = zoneSet.zones.values.sorted { $0.origin.labelCount > $1.origin.labelCount }
        let total = ordered.reduce(0) { $0 + $1.nodes.count }
        var table = NameTable(capacity: total)

        // Pass 1: give every name an index. Deeper zones go first, so a child apex we serve wins over the
        // parent's delegation point, and the parent's glue below it is left to the child.
        var wildcardOf: [DomainName: Int32] = [:]  // parent name → index of its `*` child
        var owned: [(zone: Int, name: DomainName)] = []
        for (zi, zone) in ordered.enumerated() {
            // Only a zone with another served zone below it needs the per-name check (and sorting a million
            // names for a stable order cost more than compiling them: the order of indexes does not matter).
            let hasChildZone = zoneSet.zones.keys.contains { $0 != zone.origin && $0.isSubdomain(of: zone.origin) }
            for name in zone.nodes.keys {
                if hasChildZone, zoneSet.zone(for: name, qtype: .a)?.origin != zone.origin { continue }
                let idx = Int32(owned.count)
                guard table.insert(name.lowercased().wire, value: idx) else { continue }
                if name.isWildcard, let parent = name.parent { wildcardOf[parent] = idx }
                owned.append((zi, name))
            }
        }

        // Pass 2: compile each zone's shared negative bodies, then every name's answers.
        for zone in ordered {
            let origin = zone.origin
            var nx = Resolution(outcome: .nxDomain)
            nx.rcode = .nxDomain
            nx.authority = [zone.negativeSOA]
            var nodata = Resolution(outcome: .noData)
            nodata.authority = [zone.negativeSOA]
            zoneInfos.append(
                ZoneInfo(
                    zone: zone,
                    nxDomain: arena.add(nx, template: origin, anchor: origin),
                    noData: arena.add(nodata, template: origin, anchor: origin)))
        }
        // Per zone, once: the types it holds and a type it does not (for the answers aliases give).
        let zoneTypes = ordered.map { z in Set(z.nodes.values.flatMap { $0.rrsets.keys }) }
        let absentTypes = zoneTypes.map(Snapshot.absentType(notIn:))
        // Zones without cuts or DNAMEs (below the apex) need no walk up from each name.
        let decisive = ordered.map { z in
            z.nodes.contains { name, node in
                name != z.origin && (node.rrsets[.ns] != nil || node.rrsets[.dname] != nil)
            }
        }
        var referralOf: [DomainName: Int32] = [:]
        for (zi, name) in owned {
            let zone = ordered[zi]
            let origin = zone.origin
            let info = zoneInfos[zi]
            let node = zone.nodes[name]!
            var n = NodeInfo(
                zone: Int32(zi), block: -1, wildcard: wildcardOf[name] ?? -1,
                typeStart: Int32(types.count), typeCount: 0, defaultAnswer: info.noData, dsAnswer: -1,
                hasDNAME: node.rrsets[.dname] != nil, isCut: zone.isCut(name))
            /// Compiles an answer; one that contains a pool's records becomes a group of one body per variant.
            func compileRef(_ res: Resolution, wildcard: Bool) -> Int32 {
                guard let (plan, type) = Snapshot.firstPoolRecords(res, poolByName) else {
                    return compile(res, wildcard: wildcard)
                }
                let family = type == .aaaa ? plan.v6 : plan.v4
                // Even one variant is a group, so its responses are counted for their first line.
                guard !family.variants.isEmpty else { return compile(res, wildcard: wildcard) }
                let bodies = family.variants.map { addrs in
                    compile(Snapshot.substitute(res, plan: plan, type: type, addresses: addrs), wildcard: wildcard)
                }
                let lineCounters = family.firstLine.map { counters.counter(pool: plan.pool.name, line: $0) }
                groups.append(
                    AnswerGroup(
                        selection: plan.selection, start: Int32(groupSteps.count), count: Int32(family.sequence.count)))
                for v in family.sequence {
                    groupSteps.append(bodies[v])
                    stepCounters.append(lineCounters[v])
                }
                return -Int32(groups.count)
            }
            /// Shares the zone's negative bodies where an answer is just that, and compiles the rest.
            func compile(_ res: Resolution, wildcard: Bool) -> Int32 {
                if res.answer.isEmpty && res.outcome == .noData { return info.noData }
                if res.answer.isEmpty && res.outcome == .nxDomain { return info.nxDomain }
                if wildcard, let parent = name.parent {
                    return arena.add(res, template: name, anchor: parent, ownerIsQuery: true)
                }
                return arena.add(res, template: name)
            }
            // The topmost cut or DNAME above decides for everything below it (RFC 1034 §4.3.2 step 3b).
            for anc in decisive[zi] ? name.ancestors(upTo: origin).reversed() : [] where anc != origin {
                if zone.isCut(anc) {
                    if referralOf[anc] == nil {
                        referralOf[anc] = arena.add(zone.resolve(anc, .ns), template: anc, anchor: anc)
                    }
                    n.block = referralOf[anc]!
                    break
                }
                if anc != name, zone.rrset(anc, .dname) != nil {
                    n.block = Snapshot.belowDNAME
                    break
                }
            }
            if n.isCut {
                n.dsAnswer = compile(zone.resolve(name, .ds), wildcard: false)
            } else if n.block == -1 {
                let wildcard = name.isWildcard
                var wanted = Set(node.rrsets.keys)
                wanted.insert(.any)
                if poolByName[name] != nil { wanted.formUnion([.a, .aaaa]) }
                if node.rrsets[.cname] != nil {
                    // An alias answers every type through its chain; each type present in the zone may end
                    // differently, every other type ends like `absent`.
                    wanted.formUnion(zoneTypes[zi])
                    n.defaultAnswer = compileRef(zone.resolve(name, absentTypes[zi]), wildcard: wildcard)
                }
                // A pool that answers SERVFAIL (every line down, `all-down: servfail`) does so for A and AAAA.
                let servfailPool = poolByName[name]?.servfail ?? false
                var compiled: [RRType: Int32] = [:]
                for t in wanted.sorted() where t != .any {
                    if servfailPool && (t == .a || t == .aaaa) {
                        var fail = Resolution(outcome: .noData)
                        fail.rcode = .servFail
                        fail.authoritative = false
                        types.append(TypeEntry(type: t.rawValue, answer: arena.add(fail, template: name)))
                        continue
                    }
                    let answer = compileRef(zone.resolve(name, t), wildcard: wildcard)
                    compiled[t] = answer
                    types.append(TypeEntry(type: t.rawValue, answer: answer))
                }
                // ANY is answered with the one RRset `Zone.resolve` picks (RFC 8482): the alias, or the lowest
                // type; that type's compiled answer is the same body, so it is reused rather than built again.
                let anyPick: RRType? =
                    node.rrsets[.cname] != nil
                    ? .cname : node.rrsets.keys.filter { ![.rrsig, .nsec, .nsec3].contains($0) }.min()
                let anyAnswer =
                    anyPick.flatMap { compiled[$0] } ?? compileRef(zone.resolve(name, .any), wildcard: wildcard)
                types.append(TypeEntry(type: RRType.any.rawValue, answer: anyAnswer))
                if name == origin, let parent = zoneSet.zone(for: name, qtype: .ds), parent.origin != origin {
                    n.dsAnswer = arena.add(parent.resolve(name, .ds), template: name)
                }
            }
            n.typeCount = Int32(types.count) - n.typeStart
            nodes.append(n)
        }

        // CHAOS TXT (RFC 4892): answered from config, not authoritative, TTL 0.
        var chaos: [(name: [UInt8], answer: Int32)] = []
        let texts: [(String, String?)] = [
            ("version.bind.", options.version), ("version.server.", options.version),
            ("id.server.", options.identity), ("hostname.bind.", options.identity),
        ]
        for (qname, text) in texts {
            guard let text, let name = try? DomainName(qname) else { continue }
            var res = Resolution(outcome: .answer)
            res.authoritative = false
            res.answer = [ResourceRecord(name: name, type: .txt, rrClass: .ch, ttl: 0, rdata: Snapshot.txtRData(text))]
            chaos.append((name.wire, arena.add(res, template: name)))
        }

        self.table = table
        self.nodes = nodes
        self.typeEntries = types
        self.zones = zoneInfos
        self.answers = arena.answers
        self.bodyBytes = arena.bytes
        self.fixups = arena.fixups
        self.chaos = chaos
        self.zoneSet = zoneSet
        self.options = options
        self.groups = groups
        self.groupSteps = groupSteps
        self.stepCounters = stepCounters
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
        var r = res
        r.answer = replace(r.answer)
        r.authority = replace(r.authority)
        r.glue = replace(r.glue)
        r.additional = replace(r.additional)
        return r
    }

    /// A private-use type code (RFC 6895 §3.1: 65280–65534) that no RRset in the zone has, to compile the answer
    /// an alias gives for every type the zone does not hold.
    static func absentType(notIn used: Set<RRType>) -> RRType {
        return (65280...65534).lazy.map { RRType(UInt16($0)) }.first { !used.contains($0) } ?? RRType(65534)
    }

    /// TXT RDATA for `text`: character-strings of at most 255 octets (RFC 1035 §3.3.14).
    static func txtRData(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var i = 0
        repeat {
            let chunk = bytes[i..<min(i + 255, bytes.count)]
            out.append(UInt8(chunk.count))
            out += chunk
            i += 255
        } while i < bytes.count
        return out
    }

    /// The answer index for `qtype` at node `idx`.
    @inline(__always)
    func answer(node idx: Int32, qtype: UInt16) -> Int32 {
        let n = nodes[Int(idx)]
        var i = Int(n.typeStart)
        let end = i + Int(n.typeCount)
        while i < end {
            if typeEntries[i].type == qtype { return typeEntries[i].answer }
            i += 1
        }
        return n.defaultAnswer
    }
}
