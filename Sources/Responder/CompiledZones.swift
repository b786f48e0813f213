// CompiledZones: the zones' answers compiled to wire bytes once per load, with each pool's records left as a slot
// that the pool overlay fills.

import DNSWire
import Uplinks
import Zones

/// Every answer the zones give, compiled when they are loaded (or reloaded). What a pool answers is not in here:
/// each answer that contains a pool's records is a *recipe* (which name, which type, how to compile it) and its
/// bodies live in the `PoolOverlay`, which a health change rebuilds alone. So a change costs what the pools touch,
/// not the size of the zones.
public final class CompiledZones: Sendable {
    /// Per-name facts for the query-time walk.
    struct NodeInfo: Sendable {
        /// Index into `zones`.
        var zone: Int32
        /// The referral of the nearest cut at or above this node, `belowDNAME` when a DNAME above it decides,
        /// `none` when the node answers for itself.
        var block: AnswerRef
        /// Node index of `*.` this name, or -1.
        var wildcard: Int32
        /// Range in `typeEntries`.
        var typeStart: Int32
        var typeCount: Int32
        /// The answer for types without an entry.
        var defaultAnswer: AnswerRef
        /// At a cut: DS answered from the parent side. At the apex of a zone whose parent we serve: the parent's
        /// DS answer (RFC 4035 §3.1.4.1). Otherwise `none`.
        var dsAnswer: AnswerRef
        /// The node owns a DNAME: names below it are synthesised on the slow path.
        var hasDNAME: Bool
        /// The node is a delegation point.
        var isCut: Bool
    }

    struct TypeEntry: Sendable {
        var type: UInt16
        var answer: AnswerRef
    }

    struct ZoneInfo: Sendable {
        /// The zone with every pool's name holding placeholder A and AAAA records (the slots).
        var zone: Zone
        var nxDomain: AnswerRef
        var noData: AnswerRef
        /// The zone's slot in the query counters (`ZoneSlots`).
        var statsSlot: UInt8
    }

    /// How an answer that contains a pool's records is compiled, so the overlay can compile it again for the
    /// pools' current addresses. One recipe per group: the group's index is the recipe's.
    struct Recipe: Sendable {
        enum Mode: Sendable {
            /// For the name itself.
            case exact
            /// Wildcard synthesis: the body serves every name the wildcard covers.
            case wildcard
            /// The referral of the cut at `name`, shared by every name below it.
            case referral
            /// A signed zone's DNSSEC records at `name` asked for by type (DNSKEY, CDS, CDNSKEY and NSEC3PARAM at
            /// the apex, a pool's NSEC), from the signed zone as it serves now, without signatures: keys and a
            /// pool's bitmap change without a reload. One body, no variants.
            case signed
            /// A pool's addresses as additional data (its A records, then its AAAA), owned by the query name, shared
            /// by its class: what an MX to the pool joins after its records (`Join.additional`). The variants rotate
            /// the first family, as an answer that holds them does (`PoolOverlay.firstPoolRecords`).
            case additional
        }
        /// Index into `zones`.
        var zone: Int
        /// The node (or cut) the answer is for, and the type asked.
        var name: DomainName
        var type: RRType
        var mode: Mode
        /// A or AAAA at a pool's own name: answered SERVFAIL while the pool says so (`all-down: servfail`).
        var poolItself: Bool
        /// Compiled for every pool of a class alike (`shared`): against `name` (one of them), anchored at the zone's
        /// apex, the pool's records owned by the query name (0xC00C), so that one body serves each name.
        var shared = false
        /// The pools whose records the answer holds (their names in the zones as the overlay builds them).
        var pools: [DomainName] = []
    }

    /// What a `.group` reference of a name names: the recipe whose group of bodies answers (shared by the pools of
    /// a class), the pool it answers for (its counters, and its variant in signed answers), and for an alias whose
    /// chain ends at a pool, the join: the alias's own records before the pool's current body.
    struct GroupRef: Sendable {
        /// Index into `recipes` (and the overlay's groups).
        var recipe: Int32
        /// Index into `pools`, or -1: the answer depends on no one pool's counters.
        var pool: Int32 = -1
        /// Index into `joins`, or -1.
        var join: Int32 = -1
    }

    /// An alias whose CNAME chain ends at a pool (RFC 1034 §3.6.2: the chain and then the target's records), answered
    /// by joining at query time: `prefix` (the chain, compiled for the alias) and then the pool class's current body
    /// with each record's owner pointing at the target's name in the chain (`owner`). When the pool has no record of
    /// the type now, `empty` (the chain and the target zone's NODATA). A drain touches the pool's class, not the
    /// aliases (issue 27). The same for an MX or SRV whose target is a pool (`additional`): its records, then the
    /// pool's addresses as additional data.
    struct Join: Sendable {
        /// The chain's body (an index into `answers`).
        var prefix: Int32
        /// The compression pointer (0xC000 | offset) each joined record's owner gets.
        var owner: UInt16
        /// The answer while the pool has none of the type.
        var empty: AnswerRef
        /// The pool's records are optional additional data (an MX exchange's addresses, `compileRecords`) rather than
        /// the answer's end (an alias's).
        var additional = false
        /// The length of the first joined record's owner when it is written at the prefix's end (an SRV target is
        /// no compression target, RFC 2782: its name is written in full, or against a suffix, the first time), 0
        /// when every owner is `owner`; the records after the first point at it then (`owner`).
        var literal: UInt16 = 0
    }

    let table: NameTable
    let nodes: [NodeInfo]
    let typeEntries: [TypeEntry]
    let zones: [ZoneInfo]
    let answers: [CompiledAnswer]
    let bodyBytes: [UInt8]
    let fixups: [Fixup]
    let recipes: [Recipe]
    /// Per `.group` reference: which recipe, pool and join (`GroupRef`).
    let groupRefs: [GroupRef]
    let joins: [Join]
    /// The pools the references name (`GroupRef.pool`), in order of first use.
    let pools: [DomainName]
    /// CHAOS TXT answers by lower-cased wire name.
    let chaos: [(name: [UInt8], answer: AnswerRef)]
    /// The zone number by origin (serial fixups name zones by number).
    let zoneIndex: [DomainName: Int]
    /// The pools whose slots are compiled in.
    let poolNames: Set<DomainName>
    /// The settings compiled in.
    let options: ResponderOptions
    /// How many aliases `Builder.compileAlias` compiled.
    let aliasesFromArenas: Int
    /// How many names with MX, PTR or SRV `Builder.compileRecords` compiled, and referrals `referralFromArenas`.
    let recordsFromArenas: Int
    let referralsFromArenas: Int
    /// The signed zones whose NSEC records are compiled in (`init`'s `secure`).
    let secureOrigins: Set<DomainName>

    /// Compiles `zoneSet` with `options`; the names in `pools` get slots instead of records. `secure`: the signed
    /// zones as they serve now, by origin, whose NSEC records are answered by type without DO.
    /// `classes`: the class of each pool (`Pool.shareKey`; pools of one class answer alike but for the name), whose
    /// own answers and the aliases to them are compiled once per class (`Recipe.shared`, `Join`); a pool without one
    /// is compiled on its own.
    init(
        zoneSet rawZones: ZoneSet, options: ResponderOptions, pools: [DomainName], classes: [DomainName: Int] = [:],
        secure: [DomainName: Zone] = [:]
    ) {
        let poolNames = Set(pools)
        // Each pool's name holds placeholder A and AAAA records, so that every answer that can ever contain the
        // pool's addresses (CNAME chains, ANY, additional data, referrals) contains them here and becomes a recipe.
        // The placeholders' RDATA, one storage shared by every slot (a host's 100,000 pools hold 200,000 slots).
        let v4: [[UInt8]] = [[0, 0, 0, 0]]
        let v6: [[UInt8]] = [[UInt8](repeating: 0, count: 16)]
        let ordered = rawZones.zones.values.map { zone in
            let mine = pools.filter { $0.isSubdomain(of: zone.origin) }
            let slots = mine.flatMap { name in
                [RRset(name: name, type: .a, ttl: 0, rdatas: v4), RRset(name: name, type: .aaaa, ttl: 0, rdatas: v6)]
            }
            return zone.adding(slots, names: mine).settled()
        }.sorted { $0.origin.labelCount > $1.origin.labelCount }
        var b = Builder(
            ordered: ordered, options: options, poolNames: poolNames, classes: classes, secure: secure)
        b.build()
        self.table = b.table
        self.nodes = b.nodes
        self.typeEntries = b.types
        self.zones = b.zoneInfos
        self.answers = b.arena.answers
        self.bodyBytes = b.arena.bytes
        self.fixups = b.arena.fixups
        self.recipes = b.recipes
        self.groupRefs = b.groupRefs
        self.joins = b.joins
        self.pools = b.poolList
        self.chaos = b.chaos
        self.zoneIndex = b.zoneIndex
        self.poolNames = poolNames
        self.options = options
        self.aliasesFromArenas = b.aliasesFromArenas
        self.recordsFromArenas = b.recordsFromArenas
        self.referralsFromArenas = b.referralsFromArenas
        self.secureOrigins = Set(ordered.map(\.origin).filter { secure[$0] != nil })
    }

    /// The answer for `qtype` at node `idx`.
    @inline(__always)
    func answer(node idx: Int32, qtype: UInt16) -> AnswerRef {
        let n = nodes[Int(idx)]
        var i = Int(n.typeStart)
        let end = i + Int(n.typeCount)
        while i < end {
            if typeEntries[i].type == qtype { return typeEntries[i].answer }
            i += 1
        }
        return n.defaultAnswer
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
}

extension CompiledZones {
    /// The compilation, split by job: number the names, compile the shared negative bodies, compile each name's
    /// answers, compile CHAOS.
    struct Builder {
        let ordered: [Zone]
        let options: ResponderOptions
        let poolNames: Set<DomainName>
        var arena = AnswerArena()
        var table: NameTable
        var nodes: [NodeInfo] = []
        var types: [TypeEntry] = []
        var zoneInfos: [ZoneInfo] = []
        var recipes: [Recipe] = []
        var groupRefs: [GroupRef] = []
        var joins: [Join] = []
        /// The pools' classes (`init`'s `classes`).
        let classes: [DomainName: Int]
        /// The shared recipe of each (class, zone, type).
        var sharedRecipes: [SharedKey: Int32] = [:]
        var poolList: [DomainName] = []
        var poolIndex: [DomainName: Int32] = [:]
        var chaos: [(name: [UInt8], answer: AnswerRef)] = []
        let zoneIndex: [DomainName: Int]
        /// Per zone: the types it holds.
        let zoneTypes: [Set<RRType>]
        /// The last cut's referral (`referral`).
        var lastReferral: (cut: DomainName, zone: Int, answer: AnswerRef)?
        /// Per zone: the signed zone as it serves now, if the zone is signed and signed already.
        let secure: [Zone?]
        /// Per zone: whether it is signed (configured so, or given signed).
        let signed: [Bool]
        /// Per zone: whether a cut or DNAME lies below its apex (`Zone.hasCutsOrDNAMEs`).
        let decisiveZones: [Bool]
        /// Per zone: whether another served zone lies below its apex.
        let childZones: [Bool]
        /// Per zone: the SOA of its negative answers, taken apart (`compileAlias`).
        let negativeSOAs: [NegativeSOA?]
        /// The body an alias is written in, and its target's RDATA (`compileAlias`), reused.
        var writer = BodyWriter()
        var targetWire: [UInt8] = []
        /// The last alias's bodies (`AliasShape`) where the next alike can take them; the current alias's bodies and
        /// the owner of its target's records (`compileAlias`).
        var aliasShape: AliasShape?
        var aliasBody: [UInt8] = []
        var aliasOwner: UInt16 = 0
        /// The last alias's target (RDATA and zone) and what it holds.
        var lastAlias: (wire: [UInt8], zone: Int, target: AliasTarget?)?
        /// How many aliases `compileAlias` compiled.
        var aliasesFromArenas = 0
        /// What MX exchanges and SRV targets add as additional data, by folded name and zone (`compileRecords`).
        var additionalTargets: [[UInt8]: (zone: Int, target: AdditionalTarget)] = [:]
        /// How many names with MX, PTR or SRV `compileRecords` compiled, and referrals `referralFromArenas`.
        var recordsFromArenas = 0
        var referralsFromArenas = 0

        struct SharedKey: Hashable {
            var poolClass: Int
            var zone: Int
            var type: RRType
            var mode: Recipe.Mode = .exact
        }

        init(
            ordered: [Zone], options: ResponderOptions, poolNames: Set<DomainName>, classes: [DomainName: Int],
            secure: [DomainName: Zone]
        ) {
            self.ordered = ordered
            self.options = options
            self.poolNames = poolNames
            self.classes = classes
            self.secure = ordered.map { secure[$0.origin] }
            self.signed = ordered.map { options.signedZones.contains($0.origin) || secure[$0.origin] != nil }
            self.table = NameTable(capacity: ordered.reduce(0) { $0 + $1.nodeCount })
            self.zoneTypes = ordered.map(\.allTypes)
            self.decisiveZones = ordered.map(\.hasCutsOrDNAMEs)
            self.childZones = ordered.map { zone in
                ordered.contains { $0.origin != zone.origin && $0.origin.isSubdomain(of: zone.origin) }
            }
            self.negativeSOAs = ordered.map { NegativeSOA($0.negativeSOA) }
            self.zoneIndex = Dictionary(uniqueKeysWithValues: ordered.enumerated().map { ($1.origin, $0) })
        }

        mutating func build() {
            compileNegatives()
            compileNames()
            compileChaos()
        }

        /// Each zone's shared NXDOMAIN and NODATA bodies, built against the apex and moved to any query name.
        mutating func compileNegatives() {
            for zone in ordered {
                let origin = zone.origin
                var nx = Resolution(outcome: .nxDomain)
                nx.rcode = .nxDomain
                nx.authority = [zone.negativeSOA]
                var nodata = Resolution(outcome: .noData)
                nodata.authority = [zone.negativeSOA]
                let info = ZoneInfo(
                    zone: zone,
                    nxDomain: add(nx, template: origin, anchor: origin),
                    noData: add(nodata, template: origin, anchor: origin),
                    statsSlot: ZoneSlots.shared.slot(for: origin.lowercased().description))
                zoneInfos.append(info)
            }
        }

        /// Compiles into the arena, SOA serials as fixups.
        mutating func add(
            _ res: Resolution, template: DomainName, anchor: DomainName? = nil, ownerIsQuery: Bool = false
        ) -> AnswerRef {
            let index = zoneIndex
            return arena.add(
                res, template: template, anchor: anchor, ownerIsQuery: ownerIsQuery, serialZone: { index[$0] })
        }

        /// The pools whose A or AAAA records an answer holds (in any section), in order of appearance.
        func poolsIn(_ res: Resolution) -> [DomainName] {
            guard !poolNames.isEmpty else { return [] }
            var out: [DomainName] = []
            for section in [res.answer, res.authority, res.glue, res.additional] {
                for rr in section where (rr.type == .a || rr.type == .aaaa) && poolNames.contains(rr.name) {
                    if !out.contains(rr.name) { out.append(rr.name) }
                }
            }
            return out
        }

        /// True when an answer holds a pool's A or AAAA records (in any section).
        func hasPoolRecords(_ res: Resolution) -> Bool { !poolsIn(res).isEmpty }

        /// The number of `pool` among the pools references name.
        mutating func poolNumber(_ pool: DomainName) -> Int32 {
            if let i = poolIndex[pool] { return i }
            poolList.append(pool)
            poolIndex[pool] = Int32(poolList.count - 1)
            return Int32(poolList.count - 1)
        }

        /// A recipe for the overlay, as a group reference (for the first pool its answer holds).
        mutating func recipe(_ r: Recipe) -> AnswerRef {
            var r = r
            if r.pools.isEmpty, r.mode != .signed { r.pools = r.poolItself ? [r.name] : [] }
            recipes.append(r)
            return reference(
                GroupRef(recipe: Int32(recipes.count - 1), pool: r.pools.first.map { poolNumber($0) } ?? -1))
        }

        /// A group reference for `ref`.
        mutating func reference(_ ref: GroupRef) -> AnswerRef {
            groupRefs.append(ref)
            return .group(groupRefs.count - 1)
        }

        /// The class's recipe for the A, AAAA or ANY answer of pool `name` in zone `zi` (one per class, zone and
        /// type), as `name`'s reference; nil when the pool has no class, or is a wildcard.
        mutating func sharedRecipe(_ name: DomainName, zi: Int, type: RRType, poolItself: Bool) -> AnswerRef? {
            sharedRecipeIndex(name, zi: zi, type: type, poolItself: poolItself).map {
                reference(GroupRef(recipe: $0, pool: poolNumber(name)))
            }
        }

        /// The index of the class's recipe (`sharedRecipe`), made on first use.
        mutating func sharedRecipeIndex(
            _ name: DomainName, zi: Int, type: RRType, poolItself: Bool, mode: Recipe.Mode = .exact
        ) -> Int32? {
            guard let c = classes[name], c >= 0, !name.isWildcard else { return nil }
            let key = SharedKey(poolClass: c, zone: zi, type: type, mode: mode)
            if let done = sharedRecipes[key] { return done }
            recipes.append(
                Recipe(
                    zone: zi, name: name, type: type, mode: mode, poolItself: poolItself, shared: true,
                    pools: [name]))
            sharedRecipes[key] = Int32(recipes.count - 1)
            return Int32(recipes.count - 1)
        }

        /// An alias's answer for `type` (A or AAAA) when its chain ends at a pool with a class and nothing else comes
        /// with it: the join of the chain and the pool class's body (`Join`); nil for any other answer. `empty`: the
        /// alias's answer where the chain ends without data (the chain and the target zone's NODATA).
        /// An alias's chain as compiled for its first join (A and AAAA share it): the records, the body, the owner.
        struct JoinPrefix {
            var chain: [ResourceRecord]
            var stored: Int32
            var owner: UInt16
        }

        mutating func joinedAlias(
            _ res: Resolution, name: DomainName, type: RRType, empty: AnswerRef, prefix cache: inout JoinPrefix?
        ) -> AnswerRef? {
            guard case .body = empty.kind, res.outcome == .cname, res.rcode == .noError, res.authority.isEmpty,
                res.glue.isEmpty, res.additional.isEmpty,
                let last = res.answer.lastIndex(where: { $0.type == .cname }), last + 1 < res.answer.count
            else { return nil }
            let target = res.answer[last + 1].name
            guard res.answer[(last + 1)...].allSatisfy({ $0.type == type && $0.name == target }),
                res.answer[...last].allSatisfy({ $0.type == .cname }), poolNames.contains(target),
                let targetZone = ordered.firstIndex(where: { target.isSubdomain(of: $0.origin) })
            else { return nil }
            let chain = Array(res.answer[...last])
            guard let shared = sharedRecipeIndex(target, zi: targetZone, type: type, poolItself: true) else {
                return nil
            }
            if cache == nil || cache?.chain != chain {
                // The chain alone, as the compiled path writes it before the pool's records; their owner is the
                // target's name where the chain first wrote it: the last CNAME's RDATA, or where that RDATA points
                // when it is a pointer alone (a target that is a suffix of the question).
                var prefix = Resolution(outcome: .cname)
                prefix.answer = chain
                guard case .body(let p) = add(prefix, template: name).kind, arena.answers[p].fixupCount == 0 else {
                    return nil
                }
                let body = Array(arena.bytes[Int(arena.answers[p].offset)...].prefix(Int(arena.answers[p].length)))
                guard let lastRecord = Builder.recordOffset(body, after: chain.count - 1),
                    let rdata = Builder.rdataStart(body, record: lastRecord), rdata + 2 <= body.count
                else { return nil }
                let owner =
                    body[rdata] & 0xC0 == 0xC0
                    ? UInt16(body[rdata]) << 8 | UInt16(body[rdata + 1])
                    : 0xC000 | UInt16(12 + name.wire.count + 4 + rdata)
                cache = JoinPrefix(chain: chain, stored: Int32(p), owner: owner)
            }
            guard let prefix = cache else { return nil }
            joins.append(Join(prefix: prefix.stored, owner: prefix.owner, empty: empty))
            return reference(GroupRef(recipe: shared, pool: poolNumber(target), join: Int32(joins.count - 1)))
        }

        /// The types an alias's answer can differ by: those its chain's end holds (a pool's addresses among them),
        /// when the chain stays in zone `zi`, every name on it exists and the zone has no cut or DNAME below its apex
        /// (so nothing else decides); nil otherwise (every type the zone holds then). Every other type ends at the
        /// end's NODATA, as the alias's default answer does.
        func aliasEndTypes(_ name: DomainName, zi: Int) -> Set<RRType>? {
            let zone = ordered[zi]
            guard !decisiveZones[zi] else { return nil }
            var current = name
            for _ in 0..<8 {
                guard let rdata = zone.rrset(current, .cname)?.rdatas.first,
                    let target = try? DomainName(wire: rdata), target.isSubdomain(of: zone.origin),
                    zone.exists(target), !target.isWildcard
                else { return nil }
                if !zone.has(target, .cname) {
                    var out = Set(zone.types(target))
                    if poolNames.contains(target) { out.formUnion([.a, .aaaa]) }
                    out.insert(.cname)
                    return out
                }
                current = target
            }
            return nil
        }

        /// The offset in a compiled body (`bytes`, the body alone) where the record after the first `count` ones
        /// starts: owners skipped (labels or a pointer), then type, class, TTL, RDATA.
        static func recordOffset(_ bytes: [UInt8], after count: Int) -> Int? {
            var i = 0
            for _ in 0..<count {
                guard let rdata = rdataStart(bytes, record: i) else { return nil }
                i = rdata + (Int(bytes[rdata - 2]) << 8 | Int(bytes[rdata - 1]))
            }
            return i
        }

        /// Where the RDATA of the record at `record` starts: its owner skipped (labels, or a pointer), then type,
        /// class, TTL and RDATA length.
        static func rdataStart(_ bytes: [UInt8], record: Int) -> Int? {
            var i = record
            while true {
                guard i < bytes.count else { return nil }
                let b = bytes[i]
                if b == 0 {
                    i += 1
                    break
                }
                if b & 0xC0 == 0xC0 {
                    i += 2
                    break
                }
                i += Int(b) + 1
            }
            return i + 10 <= bytes.count ? i + 10 : nil
        }

        /// Compiles an answer for `name` in zone `zi`; one that contains a pool's records becomes a recipe.
        mutating func compileRef(_ res: Resolution, zi: Int, name: DomainName, type: RRType, wildcard: Bool)
            -> AnswerRef
        {
            let pools = poolsIn(res)
            if !pools.isEmpty {
                return recipe(
                    Recipe(
                        zone: zi, name: name, type: type, mode: wildcard ? .wildcard : .exact, poolItself: false,
                        pools: pools))
            }
            let info = zoneInfos[zi]
            // Shares the zone's negative bodies where an answer is just that.
            if res.answer.isEmpty && res.outcome == .noData { return info.noData }
            if res.answer.isEmpty && res.outcome == .nxDomain { return info.nxDomain }
            if wildcard, let parent = name.parent {
                return add(res, template: name, anchor: parent, ownerIsQuery: true)
            }
            return add(res, template: name)
        }

        /// The referral of the cut `cut`, compiled once and shared by every name below it. Names are compiled in
        /// canonical order, where a cut's names follow it without another between them, so the last cut's referral is
        /// the only one asked for again (a table of a hundred thousand delegations' referrals cost a third of their
        /// compile).
        mutating func referral(_ cut: DomainName, zi: Int) -> AnswerRef {
            if let last = lastReferral, last.zone == zi, last.cut == cut { return last.answer }
            let ref: AnswerRef
            if let fast = referralFromArenas(cut, zi: zi) {
                ref = fast
            } else {
                let res = ordered[zi].resolve(cut, .ns)
                let pools = poolsIn(res)
                ref =
                    !pools.isEmpty
                    ? recipe(Recipe(zone: zi, name: cut, type: .ns, mode: .referral, poolItself: false, pools: pools))
                    : add(res, template: cut, anchor: cut)
            }
            lastReferral = (cut, zi, ref)
            return ref
        }

        /// Every name's answers: per type it holds (and the types an alias answers through its chain), ANY, DS.
        /// Every name's answers, zone by zone in canonical order: each name gets the next index (deeper zones go
        /// first, so a child apex we serve wins over the parent's delegation point, and the parent's glue below it
        /// is left to the child), then its answers per type it holds (and the types an alias answers through its
        /// chain), ANY, DS. A wildcard comes after its parent (canonical order), which it is then attached to.
        mutating func compileNames() {
            // Per zone, once: a type it does not hold (for the answers aliases give); whether names need the walk
            // from the apex (zones without cuts or DNAMEs below the apex do not).
            let absentTypes = zoneTypes.map(CompiledZones.absentType(notIn:))
            let decisive = decisiveZones
            let set = ZoneSet(ordered)
            let total = ordered.reduce(0) { $0 + $1.nodeCount }
            // Room for what the names compile to, so that the arrays are not copied as they grow: a plain name is
            // about two type entries, one answer and 16 octets; an alias (`compileAlias`) adds about two entries,
            // an answer, two joins and 80 octets (a million aliases in a zone are what this is for).
            let aliases = ordered.reduce(0) { $0 + $1.loadedSetCount(of: .cname) }
            nodes.reserveCapacity(total)
            types.reserveCapacity(total * 2 + aliases * 2)
            arena.answers.reserveCapacity(total + aliases)
            arena.bytes.reserveCapacity(total * 16 + aliases * 80)
            joins.reserveCapacity(aliases * 2)
            groupRefs.reserveCapacity(aliases * 2)
            for (zi, zone) in ordered.enumerated() {
                let origin = zone.origin
                // Only a zone with another served zone below it needs the per-name check, and the check that a name
                // is new (the child's apex is the parent's delegation point). Any other zone's names are new and
                // unique: they go into the table as a batch once the zone is done (`NameTable.commit`), and its
                // wildcards are attached to their parents then.
                let hasChildZone = childZones[zi]
                var wildcards: [(node: Int32, parent: DomainName)] = []
                defer {
                    table.commit()
                    for (idx, parent) in wildcards {
                        if let p = parent.lowercased().wire.withUnsafeBytes({ table.find($0) }) {
                            nodes[Int(p)].wildcard = idx
                        }
                    }
                }
                zone.forEachNode { name, view in
                    if hasChildZone, set.zone(for: name, qtype: .a)?.origin != origin { return }
                    let idx = Int32(nodes.count)
                    if hasChildZone {
                        guard name.wire.withUnsafeBytes({ table.insert(folding: $0, value: idx) }) else { return }
                    } else {
                        name.wire.withUnsafeBytes { table.append(folding: $0, value: idx) }
                    }
                    var n = NodeInfo(
                        zone: Int32(zi), block: .none, wildcard: -1, typeStart: Int32(types.count), typeCount: 0,
                        defaultAnswer: zoneInfos[zi].noData, dsAnswer: .none, hasDNAME: view.has(.dname),
                        isCut: name != origin && view.has(.ns))
                    // The topmost cut or DNAME above decides for everything below it (RFC 1034 §4.3.2 step 3b).
                    var topmostCut = false
                    for anc in decisive[zi] ? name.ancestors(upTo: origin).reversed() : [] where anc != origin {
                        if zone.isCut(anc) {
                            n.block = referral(anc, zi: zi)
                            topmostCut = anc == name
                            break
                        }
                        if anc != name, zone.has(anc, .dname) {
                            n.block = .belowDNAME
                            break
                        }
                    }
                    if topmostCut && options.fromArenas && !view.has(.ds) && !view.has(.cname) {
                        // DS at a delegation without one, nothing above it deciding: the parent's NODATA
                        // (RFC 4035 §3.1.4.1), what the resolver compiles below, without asking it.
                        n.dsAnswer = zoneInfos[zi].noData
                    } else if n.isCut {
                        n.dsAnswer = compileRef(
                            zone.resolve(name, .ds), zi: zi, name: name, type: .ds, wildcard: false)
                    } else if n.block == .none {
                        if view.isChanged
                            || !(compilePlain(view, zi: zi, &n) || compileAlias(view, name: name, zi: zi, &n)
                                || compileRecords(view, name: name, zi: zi, &n))
                        {
                            compileTypes(
                                &n, node: view.node, name: name, zi: zi, zoneTypes: zoneTypes[zi],
                                absent: absentTypes[zi])
                        }
                        if signed[zi] { compileSigned(&n, name: name, zi: zi) }
                        if name == origin, let parent = set.zone(for: name, qtype: .ds), parent.origin != origin {
                            n.dsAnswer = add(parent.resolve(name, .ds), template: name)
                        }
                    }
                    n.typeCount = Int32(types.count) - n.typeStart
                    nodes.append(n)
                    if name.isWildcard, let parent = name.parent { wildcards.append((idx, parent)) }
                }
            }
        }

        /// The common case, compiled straight from the arenas: a name that answers for itself with RRsets that need
        /// no compression and no additional data (A, AAAA, TXT…) or none at all, no alias, not a pool. Each type's body is its
        /// records owned by the query name, ANY is the lowest type's (RFC 8482), other types the zone's NODATA.
        /// False (nothing compiled) for any other name, which `compileTypes` compiles through the resolver. A
        /// changed node (a pool's slot) never comes here.
        mutating func compilePlain(_ view: Zone.NodeView, zi: Int, _ n: inout NodeInfo) -> Bool {
            var plain = true
            view.forEachRRset { t, _, _ in
                if t.mayCompressRData || t == .srv || t == .cname || t == .dname || t == .soa { plain = false }
            }
            guard plain else { return false }
            var any: AnswerRef?
            view.forEachRRset { t, ttl, rdatas in
                let ref = arena.addRRset(type: t, ttl: ttl, rdatas: rdatas)
                types.append(TypeEntry(type: t.rawValue, answer: ref))
                if any == nil && t != .rrsig && t != .nsec && t != .nsec3 { any = ref }
            }
            types.append(TypeEntry(type: RRType.any.rawValue, answer: any ?? zoneInfos[zi].noData))
            return true
        }

        /// The type entries of one name that answers for itself.
        mutating func compileTypes(
            _ n: inout NodeInfo, node: Zone.Node, name: DomainName, zi: Int, zoneTypes: Set<RRType>, absent: RRType
        ) {
            let zone = ordered[zi]
            let wildcard = name.isWildcard
            let isPool = poolNames.contains(name)
            var wanted = Set(node.rrsets.keys)
            wanted.insert(.any)
            if node.rrsets[.cname] != nil {
                // An alias answers every type through its chain; each type present in the zone may end
                // differently, every other type ends like `absent`. Where the chain ends plainly in this zone, only
                // the types its end holds end otherwise.
                wanted.formUnion(wildcard ? zoneTypes : aliasEndTypes(name, zi: zi) ?? zoneTypes)
                n.defaultAnswer = compileRef(
                    zone.resolve(name, absent), zi: zi, name: name, type: absent, wildcard: wildcard)
            }
            var joinPrefix: JoinPrefix?
            var compiled: [RRType: AnswerRef] = [:]
            let isAlias = node.rrsets[.cname] != nil
            for t in wanted.sorted() where t != .any {
                let answer: AnswerRef
                if isPool && (t == .a || t == .aaaa) {
                    // The pool itself: always the overlay's (it may answer SERVFAIL, or NODATA for a family), one
                    // recipe for every pool of its class.
                    answer =
                        sharedRecipe(name, zi: zi, type: t, poolItself: true)
                        ?? recipe(Recipe(zone: zi, name: name, type: t, mode: .exact, poolItself: true))
                } else if t == .cname, let prefix = joinPrefix, prefix.chain.count == 1 {
                    // The alias's own record alone: the bytes its joins begin with.
                    answer = .body(Int(prefix.stored))
                } else {
                    let res = zone.resolve(name, t)
                    if isAlias, !wildcard, t == .a || t == .aaaa,
                        let joined = joinedAlias(
                            res, name: name, type: t, empty: n.defaultAnswer, prefix: &joinPrefix)
                    {
                        answer = joined
                    } else {
                        answer = compileRef(res, zi: zi, name: name, type: t, wildcard: wildcard)
                    }
                }
                compiled[t] = answer
                types.append(TypeEntry(type: t.rawValue, answer: answer))
            }
            // ANY is answered with the one RRset `Zone.resolve` picks (RFC 8482): the alias, or the lowest type;
            // that type's compiled answer is the same body, so it is reused rather than built again. Not a pool's:
            // which RRset ANY picks there depends on the addresses the pool has now.
            let anyPick: RRType? =
                node.rrsets[.cname] != nil
                ? .cname : node.rrsets.keys.filter { ![.rrsig, .nsec, .nsec3].contains($0) }.min()
            let reuse = anyPick.flatMap { compiled[$0] }.flatMap { ref -> AnswerRef? in
                if case .group = ref.kind { return nil }
                return ref
            }
            // A pool that holds nothing but its addresses answers ANY alike for its whole class.
            let onlyAddresses = isPool && node.rrsets.keys.allSatisfy { $0 == .a || $0 == .aaaa }
            let anyAnswer =
                reuse ?? (onlyAddresses ? sharedRecipe(name, zi: zi, type: .any, poolItself: false) : nil)
                ?? compileRef(zone.resolve(name, .any), zi: zi, name: name, type: .any, wildcard: wildcard)
            types.append(TypeEntry(type: RRType.any.rawValue, answer: anyAnswer))
        }

        /// A signed zone's DNSSEC records at `name` asked for by type. The DO bit decides whether signatures and
        /// proofs are added (RFC 4035 §3.1.1, §3.1.3), not whether records asked for are there: without DO they are
        /// answered without their RRSIGs, as Knot, NSD and BIND answer them (a registrar or zonemaster asks for
        /// DNSKEY without DO). DNSKEY, CDS, CDNSKEY and NSEC3PARAM at the apex and a pool's NSEC are recipes (the
        /// overlay compiles them from the signed zone of each build); every other name's NSEC is compiled here,
        /// from the signed zone this compile was given (its chain changes only with the file, which recompiles).
        /// DS at a cut is file data, answered like any other. Types the name already answers are left as they are.
        mutating func compileSigned(_ n: inout NodeInfo, name: DomainName, zi: Int) {
            let present = types[Int(n.typeStart)...].map(\.type)
            let isPool = poolNames.contains(name)
            var dynamic: [RRType] = name == ordered[zi].origin ? [.dnskey, .cds, .cdnskey, .nsec3param] : []
            if isPool { dynamic.append(.nsec) }
            for t in dynamic where !present.contains(t.rawValue) {
                let ref = recipe(Recipe(zone: zi, name: name, type: t, mode: .signed, poolItself: false))
                types.append(TypeEntry(type: t.rawValue, answer: ref))
            }
            guard !isPool, !present.contains(RRType.nsec.rawValue), let zone = secure[zi] else { return }
            // Owned by the query name (0xC00C): at a wildcard, the name it answers for, as the DO answer has it.
            let ref = zone.withRRset(name, .nsec) { ttl, rdatas in
                arena.addRRset(type: .nsec, ttl: ttl, rdatas: rdatas)
            }
            if let ref { types.append(TypeEntry(type: RRType.nsec.rawValue, answer: ref)) }
        }

        /// CHAOS TXT (RFC 4892): answered from config, not authoritative, TTL 0.
        mutating func compileChaos() {
            let texts: [(String, String?)] = [
                ("version.bind.", options.version), ("version.server.", options.version),
                ("id.server.", options.identity), ("hostname.bind.", options.identity),
            ]
            for (qname, text) in texts {
                guard let text, let name = try? DomainName(qname) else { continue }
                var res = Resolution(outcome: .answer)
                res.authoritative = false
                res.answer = [
                    ResourceRecord(
                        name: name, type: .txt, rrClass: .ch, ttl: 0, rdata: CompiledZones.txtRData(text))
                ]
                chaos.append((name.wire, arena.add(res, template: name)))
            }
        }
    }
}
