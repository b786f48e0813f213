// Zone+Resolve: the authoritative lookup of RFC 1034 §4.3.2 with RFC 2308, RFC 4592 and RFC 6672.

import DNSWire

extension Zone {
    /// The longest CNAME/DNAME chain followed inside one zone (as Knot's and NSD's limits, a guard against loops
    /// that the visited-set check does not already stop).
    public static let maxChain = 12

    /// One step of a lookup: what `name` holds for `type`, before chains are followed.
    public enum Step: Equatable, Sendable {
        /// The RRset asked for, with the owner the answer must carry.
        case found(RRset, owner: DomainName)
        /// An alias (CNAME at the name or at its wildcard), with the owner it is answered with.
        case alias(ResourceRecord)
        /// A DNAME at `owner` above the name (RFC 6672 §2.2).
        case dname(ResourceRecord)
        /// A zone cut at `cut`.
        case referral(cut: DomainName)
        /// The name exists without that type.
        case noData
        /// The name does not exist.
        case nxDomain
    }

    /// Resolves `qname`/`qtype` in this zone (`qname` must be at or below the origin). CNAME and DNAME chains are
    /// followed while they stay in this zone (as Knot and NSD do; PowerDNS also follows into other hosted zones).
    public func resolve(_ qname: DomainName, _ qtype: RRType) -> Resolution {
        var res = Resolution(outcome: .nxDomain)
        var name = qname
        var visited: Set<DomainName> = [qname]
        var first = true
        for _ in 0..<Zone.maxChain {
            let step = self.step(name, qtype)
            defer { first = false }
            switch step {
            case .found(let set, let owner):
                if first { res.outcome = .answer }
                res.answer += set.records(owner: owner)
                addAdditional(for: set, to: &res)
                return res
            case .alias(let cname):
                if first { res.outcome = .cname }
                res.answer.append(cname)
                // qtype CNAME or ANY at an alias: the alias itself is the answer (RFC 1034 §3.6.2, RFC 8482).
                guard qtype != .cname && qtype != .any, let target = cname.target else { return res }
                guard target.isSubdomain(of: origin), visited.insert(target).inserted else { return res }
                name = target
            case .dname(let dname):
                if first { res.outcome = .dname }
                res.answer.append(dname)
                guard let target = dname.target else { return res }
                guard let synthesized = try? name.replacingSuffix(dname.name, with: target) else {
                    // RFC 6672 §2.2: the substituted name would exceed 255 octets.
                    res.rcode = RCode(rawValue: 6)  // YXDOMAIN
                    return res
                }
                // RFC 6672 §3.1: the CNAME is synthesised with the DNAME's TTL, owned by the name asked for.
                var cname = ResourceRecord(name: name, type: .cname, ttl: dname.ttl, rdata: synthesized.wire)
                cname.rrClass = .in
                res.answer.append(cname)
                guard synthesized.isSubdomain(of: origin), visited.insert(synthesized).inserted else { return res }
                name = synthesized
            case .referral(let cut):
                if first {
                    res.outcome = .referral
                    res.authoritative = false
                }
                addReferral(cut: cut, to: &res)
                return res
            case .noData:
                if first { res.outcome = .noData }
                res.authority = [negativeSOA]
                return res
            case .nxDomain:
                if first { res.outcome = .nxDomain }
                res.rcode = .nxDomain
                res.authority = [negativeSOA]
                return res
            }
        }
        return res
    }

    /// One step of RFC 1034 §4.3.2 for `name` (at or below the origin): zone cuts and DNAMEs above the name
    /// first, then the exact name, then the wildcard at the closest encloser (RFC 4592 §3.3), else NXDOMAIN.
    public func step(_ name: DomainName, _ qtype: RRType) -> Step {
        // Step 3b: walk down from the apex; a cut or a DNAME above the name decides before anything below it.
        for anc in name.ancestors(upTo: origin).reversed() where anc != origin {
            guard exists(anc) else { break }
            if has(anc, .ns) {
                // RFC 4035 §3.1.4.1: DS at a cut belongs to the parent side.
                if anc == name && qtype == .ds { break }
                return .referral(cut: anc)
            }
            if anc != name, let dname = rrset(anc, .dname)?.records.first {
                return .dname(dname)
            }
        }
        if answersFor(name) {
            return data(at: name, owner: name, qtype)
        }
        // The closest encloser: the deepest existing ancestor. A wildcard applies only directly below it, so an
        // existing name (even an empty non-terminal) blocks synthesis below itself (RFC 4592 §2.2.2, §3.3.1).
        var ce = name.parent
        while let c = ce, !answersFor(c) { ce = c.parent }
        if let c = ce, let wild = c.wildcardChild, exists(wild) {
            return data(at: wild, owner: name, qtype)
        }
        return .nxDomain
    }

    /// True when `name` is a node that lookups see: it exists, and is not an NSEC3 owner name. An NSEC3 record's
    /// owner is covered by another NSEC3, so a query for it is answered as if it did not exist (RFC 5155 §7.2.8:
    /// NXDOMAIN with the proofs, or a wildcard's answer), not as an empty non-terminal. Such a name is one label of
    /// 32 base32hex digits (SHA-1, RFC 9276) below the apex and holds nothing but NSEC3 and RRSIG.
    func answersFor(_ name: DomainName) -> Bool {
        guard exists(name) else { return false }
        guard name.wire.count == origin.wire.count + 33, has(name, .nsec3) else { return true }
        return !types(name).allSatisfy { $0 == .nsec3 || $0 == .rrsig }
    }

    /// What the node `node` holds for `qtype`, answered with `owner` (the node's name, or the query name for a
    /// wildcard).
    private func data(at node: DomainName, owner: DomainName, _ qtype: RRType) -> Step {
        // An alias answers every type through its chain, but for the NSEC at its own name: a signed zone has one
        // beside the CNAME (RFC 4035 §2.5), and it is answered as asked for, as Knot does.
        if qtype != .cname, !(qtype == .nsec && owner == node && has(node, .nsec)), let cname = rrset(node, .cname) {
            var r = cname.records(owner: owner)[0]
            r.rrClass = .in
            return .alias(r)
        }
        if qtype == .any {
            // RFC 8482 §4.1: answer ANY with one RRset. We pick the RRset of the lowest type code, which is
            // deterministic; RRSIG/NSEC are not chosen on their own.
            let pick = types(node).filter { ![.rrsig, .nsec, .nsec3].contains($0) }.min()
            guard let pick, let set = rrset(node, pick) else { return .noData }
            return .found(set, owner: owner)
        }
        if let set = rrset(node, qtype) { return .found(set, owner: owner) }
        return .noData
    }

    /// The addresses of the names an answer points at: MX exchanges, SRV targets, NS hosts inside this zone
    /// (RFC 1034 §4.3.2 step 6; RFC 2782). Only authoritative data, wildcard matches included.
    private func addAdditional(for set: RRset, to res: inout Resolution) {
        guard [.mx, .srv, .ns].contains(set.type) else { return }
        for rr in set.records {
            guard let target = rr.target, target.isSubdomain(of: origin) else { continue }
            if set.type == .ns, set.name != origin, target.isSubdomain(of: set.name) { continue }
            for t in [RRType.a, .aaaa] {
                guard case .found(let addr, let owner) = step(target, t) else { continue }
                for r in addr.records(owner: owner) where !res.additional.contains(r) && !res.answer.contains(r) {
                    res.additional.append(r)
                }
            }
        }
    }

    /// A referral: the cut's NS in authority; addresses of NS hosts inside this zone as glue. Those at or below the
    /// cut are required (RFC 9471 §3); sibling and other in-zone addresses are optional additional data.
    private func addReferral(cut: DomainName, to res: inout Resolution) {
        guard let ns = rrset(cut, .ns) else { return }
        res.authority += ns.records
        for rr in ns.records {
            guard let target = rr.target, target.isSubdomain(of: origin) else { continue }
            for t in [RRType.a, .aaaa] {
                guard let addr = rrset(target, t) else { continue }
                for r in addr.records {
                    if target.isSubdomain(of: cut) {
                        if !res.glue.contains(r) { res.glue.append(r) }
                    } else if !res.additional.contains(r) {
                        res.additional.append(r)
                    }
                }
            }
        }
    }
}
