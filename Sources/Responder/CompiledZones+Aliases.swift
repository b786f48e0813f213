// CompiledZones+Aliases: an alias compiled straight from the arenas, without `Zone.resolve` and `MessageWriter`
// (issue 27: a host's hundred thousand customer names that are CNAMEs to a few service names).

import DNSWire
import Zones

extension CompiledZones.Builder {
    /// What an alias's target holds and what answers each of its types, found once for all the aliases that point at
    /// it in a row (a host's aliases point at a few service names).
    struct AliasTarget {
        enum Entry {
            /// A pool's A or AAAA: the pool class's recipe, joined at query time after the alias's record (`Join`).
            case join(RRType, recipe: Int32)
            /// Records whose RDATA holds no name to compress (A, AAAA, TXT…): written after the alias's record.
            case records(RRType, ttl: UInt32, rdatas: [[UInt8]])

            var type: RRType {
                switch self {
                case .join(let t, _), .records(let t, _, _): t
                }
            }
        }
        /// Per type the target holds, ascending.
        var entries: [Entry]
        /// The target's number among the pools references name (`poolNumber`), or -1.
        var pool: Int32
    }

    /// The SOA of a zone's negative answers (RFC 2308 §3), taken apart for `BodyWriter`.
    struct NegativeSOA {
        var owner: [UInt8]
        var ttl: UInt32
        var mname: [UInt8]
        var rname: [UInt8]
        /// SERIAL, REFRESH, RETRY, EXPIRE, MINIMUM.
        var numbers: [UInt8]

        init?(_ soa: ResourceRecord) {
            let names = soa.rdataNames
            guard names.count == 2, soa.rdata.count == names[0].wire.count + names[1].wire.count + 20 else {
                return nil
            }
            owner = soa.name.wire
            ttl = soa.ttl
            mname = names[0].wire
            rname = names[1].wire
            numbers = Array(soa.rdata.suffix(20))
        }
    }

    /// The common alias, compiled from the arenas: a name whose only record is a CNAME to a name of its own zone that
    /// holds no alias, nothing that needs compression or additional data (a pool's addresses aside), in an unsigned
    /// zone without cuts, DNAMEs or served zones below its apex, so that nothing else decides (RFC 1034 §4.3.2). Its
    /// answers are what `compileTypes` compiles through the resolver, byte for byte (`ResponderOptions.
    /// fromArenas` off compiles them that way, which `AliasCompileTests` compares): for CNAME and ANY the
    /// record alone (RFC 8482 picks the alias), for each type the target holds the record and the target's records
    /// (a pool's joined at query time), for every other type the record and the zone's NODATA. False (nothing
    /// compiled) for any other name.
    mutating func compileAlias(_ view: Zone.NodeView, name: DomainName, zi: Int, _ n: inout CompiledZones.NodeInfo)
        -> Bool
    {
        // A pool's name is a changed node (its slot), which never comes here.
        guard options.fromArenas, !decisiveZones[zi], !signed[zi], !childZones[zi], !name.isWildcard,
            let soa = negativeSOAs[zi]
        else { return false }
        var sets = 0
        var alias = false
        var ttl: UInt32 = 0
        // `targetWire` is the builder's, reused: emptied first, so that a name whose one RRset is not a CNAME (an MX
        // after an alias) never takes the last alias's target.
        targetWire.removeAll(keepingCapacity: true)
        view.forEachRRset { type, setTTL, rdatas in
            sets += 1
            guard type == .cname, rdatas.count == 1 else { return }
            alias = true
            ttl = setTTL
            targetWire.append(contentsOf: rdatas[0])
        }
        guard sets == 1, alias, !targetWire.isEmpty, let target = aliasTarget(zi: zi) else { return false }

        let shape = shapeAlias(name: name, zi: zi, ttl: ttl, soa: soa)
        // CNAME and ANY: the alias alone, the bytes its joins begin with. Every other type: the alias, then the
        // target's NODATA (RFC 2308 §2.2), the SOA's serial a fixup.
        let alone = arena.addBody(aliasBody[..<shape.aliasLength], answers: 1)
        guard case .body(let prefix) = alone.kind else { return false }
        n.defaultAnswer = arena.addBody(aliasBody[...], answers: 1, authority: 1, serial: (shape.serialAt, zi))
        let owner = aliasOwner

        var cnameDone = false
        for entry in target.entries {
            if !cnameDone && entry.type > .cname {
                types.append(CompiledZones.TypeEntry(type: RRType.cname.rawValue, answer: alone))
                cnameDone = true
            }
            let answer: AnswerRef
            switch entry {
            case .join(_, let recipe):
                joins.append(CompiledZones.Join(prefix: Int32(prefix), owner: owner, empty: n.defaultAnswer))
                answer = reference(
                    CompiledZones.GroupRef(recipe: recipe, pool: target.pool, join: Int32(joins.count - 1)))
            case .records(let type, let setTTL, let rdatas):
                // The alias, then the target's records owned by the target (`owner`).
                aliasBody.removeSubrange(shape.aliasLength...)
                AnswerArena.appendRecords(to: &aliasBody, owner: owner, type: type, ttl: setTTL, rdatas: rdatas)
                answer = arena.addBody(aliasBody[...], answers: 1 + rdatas.count)
            }
            types.append(CompiledZones.TypeEntry(type: entry.type.rawValue, answer: answer))
        }
        if !cnameDone { types.append(CompiledZones.TypeEntry(type: RRType.cname.rawValue, answer: alone)) }
        types.append(CompiledZones.TypeEntry(type: RRType.any.rawValue, answer: alone))
        aliasesFromArenas += 1
        return true
    }

    /// The bodies an alias's answers are made of, written once for aliases alike: the alias's record and the SOA of the
    /// zone's NODATA after it (`body`). Two aliases with the same parent name, target, TTL and zone write the same
    /// octets but for the compression pointers, which all point into the question's parent name or the body and so
    /// move by the difference of their first labels' lengths; the one to the whole question (the owner, 0xC00C) does
    /// not. That holds while no name written is the alias's own name or below it (it would be a pointer to the
    /// question, or compress against it): those aliases are written on their own.
    struct AliasShape {
        var zone: Int
        var ttl: UInt32
        /// The alias's name without its first label, and that label's length.
        var parent: [UInt8]
        var firstLabel: Int
        /// The target as the RDATA has it.
        var target: [UInt8]
        var body: [UInt8]
        /// The alias's record's length (the body's first part), and the SOA serial's offset.
        var aliasLength: Int
        var serialAt: Int
        /// The owner of the target's records joined after the alias's (`Join.owner`).
        var owner: UInt16
        /// Offsets in `body` of the pointers that move with the first label.
        var pointers: [Int]
    }

    /// Puts the bodies of the alias `name` into `aliasBody` and the owner of its target's records into `aliasOwner`:
    /// from the last alias's shape when it is alike (`AliasShape`), moved; else written (`BodyWriter`).
    /// Returns the alias's record's length and the SOA serial's offset in `aliasBody`.
    private mutating func shapeAlias(name: DomainName, zi: Int, ttl: UInt32, soa: NegativeSOA)
        -> (aliasLength: Int, serialAt: Int)
    {
        let wire = name.wire
        let first = Int(wire[0])
        let alone =
            CompiledZones.Builder.isAtOrBelow(targetWire, wire) || CompiledZones.Builder.isAtOrBelow(soa.mname, wire)
            || CompiledZones.Builder.isAtOrBelow(soa.rname, wire)
        if !alone, let shape = aliasShape, shape.zone == zi, shape.ttl == ttl, shape.target == targetWire,
            shape.parent.elementsEqual(wire[(first + 1)...])
        {
            aliasBody.removeAll(keepingCapacity: true)
            aliasBody.append(contentsOf: shape.body)
            let move = first - shape.firstLabel
            for p in shape.pointers {
                let v = (Int(aliasBody[p] & 0x3F) << 8 | Int(aliasBody[p + 1])) + move
                aliasBody[p] = UInt8(0xC0 | v >> 8)
                aliasBody[p + 1] = UInt8(v & 0xFF)
            }
            aliasOwner = UInt16(Int(shape.owner) + move)
            return (shape.aliasLength, shape.serialAt)
        }
        writer.start(question: wire)
        writeAlias(ttl: ttl)
        let aliasLength = writer.bytes.count - writer.bodyStart
        // The target's name where the RDATA wrote it: its first label, or the pointer it is when it is a suffix of
        // the alias's name.
        let rdata = writer.bodyStart + 12
        aliasOwner =
            writer.bytes[rdata] & 0xC0 == 0xC0
            ? UInt16(writer.bytes[rdata]) << 8 | UInt16(writer.bytes[rdata + 1]) : 0xC000 | UInt16(rdata)
        writer.name(soa.owner)
        var serialAt = 0
        writer.record(type: .soa, ttl: soa.ttl) { w in
            w.name(soa.mname)
            w.name(soa.rname)
            serialAt = w.bytes.count - w.bodyStart
            w.append(soa.numbers)
        }
        aliasBody.removeAll(keepingCapacity: true)
        aliasBody.append(contentsOf: writer.body)
        if !alone {
            aliasShape = AliasShape(
                zone: zi, ttl: ttl, parent: Array(wire[(first + 1)...]), firstLabel: first, target: targetWire,
                body: aliasBody, aliasLength: aliasLength, serialAt: serialAt, owner: aliasOwner,
                pointers: writer.pointers.map { $0 - writer.bodyStart })
        } else {
            aliasShape = nil
        }
        return (aliasLength, serialAt)
    }

    /// True when the name `a` (wire) is `b` or below it, case folded.
    static func isAtOrBelow(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count >= b.count else { return false }
        var i = 0
        let start = a.count - b.count
        while i < start { i += Int(a[i]) + 1 }
        guard i == start else { return false }
        for k in 0..<b.count where DomainName.fold(a[start + k]) != DomainName.fold(b[k]) { return false }
        return true
    }

    /// The alias's record: owned by the question (0xC00C), class IN, its target (`targetWire`) compressed.
    private mutating func writeAlias(ttl: UInt32) {
        let target = targetWire
        writer.u16(0xC00C)
        writer.record(type: .cname, ttl: ttl) { $0.name(target) }
    }

    /// What the target in `targetWire` holds (`AliasTarget`), found again only when it differs from the last alias's;
    /// nil when the alias is not one `compileAlias` compiles.
    private mutating func aliasTarget(zi: Int) -> AliasTarget? {
        if let last = lastAlias, last.zone == zi, last.wire == targetWire { return last.target }
        let found = makeAliasTarget(zi: zi)
        lastAlias = (targetWire, zi, found)
        return found
    }

    private mutating func makeAliasTarget(zi: Int) -> AliasTarget? {
        let zone = ordered[zi]
        guard let name = try? DomainName(wire: targetWire), name.isSubdomain(of: zone.origin), !name.isWildcard,
            zone.exists(name)
        else { return nil }
        let isPool = poolNames.contains(name)
        let types = zone.types(name)
        // Only what needs neither compression nor additional data nor DNSSEC; a pool's addresses only with a class.
        let plain = types.allSatisfy { t in
            if isPool && (t == .a || t == .aaaa) { return classes[name].map { $0 >= 0 } ?? false }
            return !t.mayCompressRData && ![.srv, .cname, .dname, .soa, .ns, .rrsig, .nsec, .nsec3].contains(t)
        }
        guard plain else { return nil }
        var entries: [AliasTarget.Entry] = []
        for type in types {
            if isPool && (type == .a || type == .aaaa) {
                guard let recipe = sharedRecipeIndex(name, zi: zi, type: type, poolItself: true) else { return nil }
                entries.append(.join(type, recipe: recipe))
            } else {
                guard let set = zone.rrset(name, type) else { return nil }
                entries.append(.records(type, ttl: set.ttl, rdatas: set.rdatas))
            }
        }
        return AliasTarget(entries: entries, pool: isPool ? poolNumber(name) : -1)
    }
}
