// CompiledZones+Records: names with MX, PTR or SRV records compiled straight from the arenas, and a pool in their
// additional data joined at query time (issue 27: a host's hundred thousand customer names with an MX to one mail
// pool, a reverse zone's PTRs).

import DNSWire
import Zones

extension CompiledZones.Builder {
    /// What the addresses of an MX exchange or SRV target add to an answer (RFC 1034 §4.3.2 step 6, as
    /// `Zone.resolve` finds them), found once per target.
    enum AdditionalTarget {
        /// Nothing: out of the zone, not there, an alias, no address.
        case none
        /// Records of the zone (a wildcard's included), owned by the target: per type A then AAAA.
        case records([(type: RRType, ttl: UInt32, rdatas: [[UInt8]])])
        /// A pool's addresses (a pool with a class), joined at query time (`Join.additional`).
        case pool(DomainName)
        /// Anything this path does not write (a pool without a class, a wildcard pool): the resolver's.
        case unsupported
    }

    /// A name that answers for itself with MX, PTR or SRV records beside records that need no compression (A, AAAA,
    /// TXT…), in an unsigned zone without cuts, DNAMEs or served zones below its apex, not a wildcard: its answers
    /// are what `compileTypes` compiles through the resolver, byte for byte (`ResponderOptions.fromArenas` off
    /// compiles them that way, which `RecordsCompileTests` compares). Each type's body is its records owned by the
    /// query name, the RDATA's names compressed as `MessageWriter` compresses them (MX and PTR; SRV's target in full,
    /// RFC 2782), then for MX and SRV the addresses of the targets in the zone as additional data. A pool among them
    /// is joined at query time when its records come last and its name is a compression target there (an MX
    /// exchange): a drain then touches the pool's class, not the names. ANY is the lowest type's answer (RFC 8482),
    /// every other type the zone's NODATA. False (nothing compiled) for any other name.
    mutating func compileRecords(_ view: Zone.NodeView, name: DomainName, zi: Int, _ n: inout CompiledZones.NodeInfo)
        -> Bool
    {
        guard options.fromArenas, !decisiveZones[zi], !signed[zi], !childZones[zi], !name.isWildcard else {
            return false
        }
        var fits = true
        var named = false
        view.forEachRRset { t, _, rdatas in
            switch t {
            case .mx, .ptr, .srv:
                named = true
                if t != .ptr && !additionalFits(rdatas, at: t == .mx ? 2 : 6, zi: zi) { fits = false }
            default:
                if t.mayCompressRData || t == .cname || t == .dname || t == .soa || t == .rrsig || t == .nsec
                    || t == .nsec3
                {
                    fits = false
                }
            }
        }
        guard fits, named else { return false }
        let start = types.count
        var any: AnswerRef?
        view.forEachRRset { t, ttl, rdatas in
            guard fits else { return }
            let ref: AnswerRef?
            switch t {
            case .mx, .ptr, .srv: ref = namedAnswer(name: name, zi: zi, type: t, ttl: ttl, rdatas: rdatas)
            default: ref = arena.addRRset(type: t, ttl: ttl, rdatas: rdatas)
            }
            guard let ref else {
                fits = false
                return
            }
            types.append(CompiledZones.TypeEntry(type: t.rawValue, answer: ref))
            if any == nil { any = ref }
        }
        guard fits else {
            // Only an SRV's additional data written past 16 KiB (no pointer reaches its owner) comes here: the
            // resolver's, from the start (the bodies written are left unused).
            types.removeSubrange(start...)
            return false
        }
        types.append(CompiledZones.TypeEntry(type: RRType.any.rawValue, answer: any ?? zoneInfos[zi].noData))
        recordsFromArenas += 1
        return true
    }

    /// Whether the targets of an MX or SRV set (each RDATA's name from `at`) add only what `namedAnswer` writes: no
    /// target it does not write (`AdditionalTarget.unsupported`), at most one pool, and nothing after the pool's
    /// addresses (they are joined at the end). Decided before anything is compiled, so that a name left to the
    /// resolver leaves no recipe behind.
    private mutating func additionalFits(_ rdatas: Zone.RDatas, at: Int, zi: Int) -> Bool {
        var pool = false
        for (i, rd) in rdatas.enumerated() {
            guard rd.count > at else { return false }
            let target = rd[at...]
            // A target named twice adds nothing the second time.
            if rdatas[..<i].contains(where: { $0.count > at && CompiledZones.Builder.sameName($0[at...], target) }) {
                continue
            }
            switch additionalTarget(target, zi: zi) {
            case .none: continue
            case .unsupported: return false
            case .records: if pool { return false }
            case .pool:
                if pool { return false }
                pool = true
            }
        }
        return true
    }

    /// The answer for `type` (MX, PTR, SRV) at `name`: its records, then the targets' addresses (MX, SRV), a pool's
    /// joined (`additionalFits` said they fit); nil only for an SRV whose pool's first owner would lie past 16 KiB.
    private mutating func namedAnswer(name: DomainName, zi: Int, type: RRType, ttl: UInt32, rdatas: Zone.RDatas)
        -> AnswerRef?
    {
        writer.start(question: name.wire)
        for rd in rdatas {
            writer.u16(0xC00C)
            writer.record(type: type, ttl: ttl) { w in
                switch type {
                case .mx:
                    w.append(rd[..<2])
                    w.name(rd[2...])
                case .ptr: w.name(rd[...])
                default: w.append(rd)  // SRV: the target in full and no compression target (RFC 2782).
                }
            }
        }
        let answerLength = writer.bytes.count - writer.bodyStart
        guard type != .ptr else { return arena.addBody(writer.body, answers: rdatas.count) }
        var additional = 0
        // The pool joined: its name, its records' owner, and the target when that is written at the end.
        var joined: (pool: DomainName, owner: UInt16, literal: [UInt8]?)?
        let at = type == .mx ? 2 : 6
        for (i, rd) in rdatas.enumerated() {
            let target = rd[at...]
            // A target named twice adds nothing the second time (`Zone.resolve` skips records it holds).
            if rdatas.prefix(i).contains(where: { CompiledZones.Builder.sameName($0[at...], target) }) { continue }
            switch additionalTarget(target, zi: zi) {
            case .none, .unsupported: continue
            case .records(let sets):
                for set in sets {
                    for rdata in set.rdatas {
                        writer.name(target)
                        writer.record(type: set.type, ttl: set.ttl) { $0.append(rdata) }
                        additional += 1
                    }
                }
            case .pool(let pool):
                // Its records owned by where the target was written (an MX exchange), or else by the name written
                // for the first of them, at the prefix's end (an SRV target: `Join.literal`).
                if let owner = writer.pointer(to: target) {
                    joined = (pool, owner, nil)
                } else {
                    joined = (pool, 0, Array(target))
                }
            }
        }
        let body = arena.addBody(
            writer.body, answers: rdatas.count, additional: additional, minLength: answerLength)
        guard let joined else { return body }
        var prefix = body
        var owner = joined.owner
        var literal = 0
        if let target = joined.literal {
            // The first record's owner, as `MessageWriter` writes it there; the others point at it.
            let at = writer.bytes.count
            guard at < 0x4000 else { return nil }
            writer.name(target)
            owner = 0xC000 | UInt16(at)
            literal = writer.bytes.count - at
            prefix = arena.addBody(
                writer.body, answers: rdatas.count, additional: additional, minLength: answerLength)
        }
        // The pool's class's recipe for its addresses, made when the first name joins it.
        guard case .body(let stored) = prefix.kind,
            let recipe = sharedRecipeIndex(joined.pool, zi: zi, type: .a, poolItself: false, mode: .additional)
        else { return nil }
        joins.append(
            CompiledZones.Join(
                prefix: Int32(stored), owner: owner, empty: body, additional: true, literal: UInt16(literal)))
        return reference(
            CompiledZones.GroupRef(recipe: recipe, pool: poolNumber(joined.pool), join: Int32(joins.count - 1)))
    }

    /// What the target `wire` (an MX exchange or SRV target) adds as additional data in zone `zi`, cached by name.
    private mutating func additionalTarget(_ wire: Slice<UnsafeRawBufferPointer>, zi: Int) -> AdditionalTarget {
        let key = wire.map(DomainName.fold)
        if let known = additionalTargets[key], known.zone == zi { return known.target }
        let found = makeAdditionalTarget(wire, zi: zi)
        // A zone whose names point at a few targets hits; one whose every name has its own target does not grow.
        if additionalTargets.count >= 4096 { additionalTargets.removeAll(keepingCapacity: true) }
        additionalTargets[key] = (zi, found)
        return found
    }

    private mutating func makeAdditionalTarget(_ wire: Slice<UnsafeRawBufferPointer>, zi: Int) -> AdditionalTarget {
        let zone = ordered[zi]
        guard let target = try? DomainName(wire: Array(wire)) else { return .unsupported }
        guard target.isSubdomain(of: zone.origin) else { return .none }
        var sets: [(type: RRType, ttl: UInt32, rdatas: [[UInt8]])] = []
        var pool = false
        for t in [RRType.a, .aaaa] {
            guard case .found(let set, _) = zone.step(target, t) else { continue }
            if poolNames.contains(set.name) {
                // A pool's addresses: of the target itself (not a wildcard pool's).
                guard set.name == target else { return .unsupported }
                pool = true
            } else {
                sets.append((t, set.ttl, set.rdatas))
            }
        }
        guard pool else { return sets.isEmpty ? .none : .records(sets) }
        // One class's recipe serves it (`sharedRecipeIndex`'s condition).
        guard sets.isEmpty, let c = classes[target], c >= 0 else { return .unsupported }
        return .pool(target)
    }

    /// True when two wire names are equal, case folded.
    static func sameName<A: Collection, B: Collection>(_ a: A, _ b: B) -> Bool
    where A.Element == UInt8, B.Element == UInt8 {
        a.count == b.count && zip(a, b).allSatisfy { DomainName.fold($0) == DomainName.fold($1) }
    }
}

extension CompiledZones.Builder {
    /// A delegation's referral compiled straight from the arenas (a zone of a hundred thousand delegations): the
    /// cut's NS records in the authority section, then the addresses of its name servers in the zone, those at or
    /// below the cut as required glue and the others as optional additional data (RFC 9471 §3), as `Zone.resolve`
    /// finds them and `AnswerArena.add` writes them anchored at the cut, byte for byte (`RecordsCompileTests`
    /// compares). Nil for a referral with a pool among its name servers (the resolver's recipe).
    mutating func referralFromArenas(_ cut: DomainName, zi: Int) -> AnswerRef? {
        let zone = ordered[zi]
        guard options.fromArenas, let ns = zone.rrset(cut, .ns) else { return nil }
        let cutWire = cut.wire
        var glue: [(target: [UInt8], type: RRType, ttl: UInt32, rdata: [UInt8])] = []
        var additional: [(target: [UInt8], type: RRType, ttl: UInt32, rdata: [UInt8])] = []
        var done: [[UInt8]] = []
        for rdata in ns.rdatas {
            guard let target = try? DomainName(wire: rdata), target.isSubdomain(of: zone.origin) else { continue }
            guard !poolNames.contains(target) else { return nil }
            // A server named twice (in another case) adds nothing the second time: its records are equal.
            guard !done.contains(where: { CompiledZones.Builder.sameName($0, rdata) }) else { continue }
            done.append(rdata)
            let required = target.isSubdomain(of: cut)
            for t in [RRType.a, .aaaa] {
                guard let set = zone.rrset(target, t) else { continue }
                for r in set.rdatas {
                    if required {
                        glue.append((rdata, t, set.ttl, r))
                    } else {
                        additional.append((rdata, t, set.ttl, r))
                    }
                }
            }
        }
        writer.start(question: cutWire)
        for rdata in ns.rdatas {
            writer.name(cutWire)
            writer.record(type: .ns, ttl: ns.ttl) { $0.name(rdata) }
        }
        func address(_ r: (target: [UInt8], type: RRType, ttl: UInt32, rdata: [UInt8])) {
            writer.name(r.target)
            writer.record(type: r.type, ttl: r.ttl) { $0.append(r.rdata) }
        }
        glue.forEach(address)
        let required = writer.bytes.count - writer.bodyStart
        additional.forEach(address)
        referralsFromArenas += 1
        return arena.addAnchoredBody(
            writer, authority: ns.rdatas.count, glue: glue.count, additional: additional.count,
            minLength: required)
    }
}
