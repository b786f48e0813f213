// Zone+Secure: the lookup of a signed zone for a query with DO set (RFC 4035 §3.1): the answer of `resolve` with
// the RRSIGs of every RRset it holds, and the NSEC records that prove what does not exist.

import Crypto
import DNSWire

extension Zone {
    /// `resolve(qname, qtype)` with DNSSEC material, for a zone whose data holds its RRSIG and NSEC records (a signed
    /// zone): every answer and authority RRset with its RRSIGs (§3.1.1); NXDOMAIN with the NSEC covering the name
    /// and the one covering the wildcard at the closest encloser (§3.1.3.2); NODATA with the name's NSEC (§3.1.3.1)
    /// — for a wildcard, the wildcard's NSEC and the one covering the name (§3.1.3.4); a wildcard answer with the
    /// NSEC proving no closer match (§3.1.3.3); a referral with the DS and its RRSIG, or the cut's NSEC proving
    /// there is none (§3.1.4); additional addresses with their RRSIGs when they are authoritative. A negative
    /// answer's SOA, proofs and their RRSIGs go out at the negative TTL. An NSEC3 owner name is answered as if it
    /// did not exist (RFC 5155 §7.2.8, `answersFor`).
    public func resolveSecure(_ qname: DomainName, _ qtype: RRType) -> Resolution {
        var res = resolve(qname, qtype)
        var proofs: [ResourceRecord] = []
        func add(_ rrs: [ResourceRecord]) { for r in rrs where !proofs.contains(r) { proofs.append(r) } }

        // Signatures of the answer's RRsets. A wildcard-synthesised RRset (owner not a node of the zone) carries
        // the wildcard's signatures under the query name, and needs the proof that no closer name matched.
        var answer: [ResourceRecord] = []
        for (owner, type) in rrsetKeys(res.answer) {
            answer += res.answer.filter { $0.name == owner && $0.type == type }
            // (A CNAME synthesised from a DNAME has neither: it is not signed, RFC 6672 §5.3.)
            if answersFor(owner) {
                answer += signatures(at: owner, covering: type)
            } else if let wild = wildcardSource(of: owner) {
                answer += signatures(at: wild, covering: type).map {
                    var r = $0
                    r.name = owner
                    return r
                }
                // No closer match: NSEC covering the name, or NSEC3 covering the next closer name (RFC 5155 §7.2.6).
                add(usesNSEC3 ? nsec3Covering(nextCloser(owner)) : nsec(covering: owner))
            }
        }
        res.answer = answer

        switch res.outcome {
        case .referral:
            if let cut = res.authority.first(where: { $0.type == .ns })?.name {
                if let ds = rrset(cut, .ds) {
                    res.authority += ds.records + signatures(at: cut, covering: .ds)
                } else {
                    // Insecure delegation: the cut's NSEC or NSEC3 (NS, no DS) proves it (RFC 4035 §3.1.4.1,
                    // RFC 5155 §7.2.7).
                    res.authority += usesNSEC3 ? nsec3Matching(cut) : nsecAt(cut)
                }
            }
            return res
        case .noData, .nxDomain, .answer, .cname, .dname:
            break
        }
        // Negative answers (the first step's, or where a chain ended): SOA with its signature and the proofs.
        if res.authority.contains(where: { $0.type == .soa }) {
            let last = chainEnd(res, qname)
            // The SOA goes out with the negative TTL (RFC 2308 §3), and so does its signature: an RRSIG's TTL is
            // that of the RRset it covers as sent (RFC 4034 §3, RFC 4035 §2.2); the Original TTL in its RDATA
            // stays what was signed, and a validator takes the smaller (RFC 4035 §5.3.3).
            let negativeTTL = negativeSOA.ttl
            res.authority += signatures(at: origin, covering: .soa).map {
                var r = $0
                r.ttl = negativeTTL
                return r
            }
            if usesNSEC3 {
                if res.rcode == .nxDomain {
                    // The closest encloser proof and the wildcard's absence (RFC 5155 §7.2.2).
                    if let ce = closestEncloser(of: last) {
                        add(nsec3Matching(ce))
                        add(nsec3Covering(nextCloser(last)))
                        if let wild = ce.wildcardChild { add(nsec3Covering(wild)) }
                    }
                } else if answersFor(last) {
                    add(nsec3Matching(last))  // RFC 5155 §7.2.3 (and §7.2.4 for DS)
                } else if let wild = wildcardSource(of: last), let ce = closestEncloser(of: last) {
                    // Wildcard NODATA (§7.2.5): the closest encloser, the next closer covered, the wildcard matched.
                    add(nsec3Matching(ce))
                    add(nsec3Covering(nextCloser(last)))
                    add(nsec3Matching(wild))
                }
            } else if res.rcode == .nxDomain {
                add(nsec(covering: last))
                if let ce = closestEncloser(of: last), let wild = ce.wildcardChild { add(nsec(covering: wild)) }
            } else if answersFor(last) {
                // The name's NSEC; an empty non-terminal has none, and the NSEC covering it (whose next name is
                // below it) proves it has no data (RFC 7129 §5.2).
                let own = nsecAt(last)
                add(own.isEmpty ? nsec(covering: last) : own)
            } else if let wild = wildcardSource(of: last) {
                // Wildcard NODATA: the wildcard's NSEC (no such type) and the one covering the name.
                add(nsecAt(wild))
                add(nsec(covering: last))
            }
            // The proofs at the negative TTL too, each with its signature, as Knot sends them. The signer makes the
            // chain so (RFC 9077); taking the smaller keeps a record and its RRSIG at one TTL if it did not.
            proofs = proofs.map {
                var r = $0
                r.ttl = min(r.ttl, negativeTTL)
                return r
            }
        }
        res.authority += proofs
        // Additional addresses: their signatures too, when they are data of this zone (not glue).
        var additional: [ResourceRecord] = []
        for (owner, type) in rrsetKeys(res.additional) {
            additional += res.additional.filter { $0.name == owner && $0.type == type }
            if exists(owner), enclosingCut(of: owner) == nil { additional += signatures(at: owner, covering: type) }
        }
        res.additional = additional
        return res
    }

    /// The (owner, type) of each RRset in `records`, in order of first appearance.
    private func rrsetKeys(_ records: [ResourceRecord]) -> [(DomainName, RRType)] {
        var out: [(DomainName, RRType)] = []
        for r in records where !out.contains(where: { $0.0 == r.name && $0.1 == r.type }) {
            out.append((r.name, r.type))
        }
        return out
    }

    /// The RRSIGs at `owner` that cover `type`, each with the TTL of the RRset it covers (its Original TTL,
    /// RFC 4034 §3: one RRset holds every RRSIG of a name, with one TTL).
    public func signatures(at owner: DomainName, covering type: RRType) -> [ResourceRecord] {
        (rrset(owner, .rrsig)?.records ?? []).compactMap { r in
            guard r.rdata.count >= 8, UInt16(r.rdata[0]) << 8 | UInt16(r.rdata[1]) == type.rawValue else {
                return nil
            }
            var out = r
            out.ttl = r.rdata[4...7].reduce(0) { $0 << 8 | UInt32($1) }
            return out
        }
    }

    /// The NSEC record at `name` with its signature (none when the name has no NSEC).
    private func nsecAt(_ name: DomainName) -> [ResourceRecord] {
        guard let n = rrset(name, .nsec) else { return [] }
        return n.records + signatures(at: name, covering: .nsec)
    }

    /// The NSEC that covers `name` — the last name with an NSEC at or before it in canonical order — with its
    /// signature.
    private func nsec(covering name: DomainName) -> [ResourceRecord] {
        nsecCoveringIndex(name).map { nsecAt(data.name($0)) } ?? []
    }

    /// The node of the NSEC that covers `name`.
    private func nsecCoveringIndex(_ name: DomainName) -> Int? {
        var i = data.predecessor(of: name)
        while let k = i {
            if data.set(k, .nsec) != nil { return k }
            i = k > 0 ? k - 1 : nil
        }
        return nil
    }

    /// Whether the zone proves non-existence with NSEC3 (it publishes NSEC3PARAM at the apex).
    private var usesNSEC3: Bool { rrset(origin, .nsec3param) != nil }

    /// The NSEC3 owner of `name`: the base32hex of its SHA-1 hash (RFC 9276: no salt, no extra iterations).
    private func nsec3Owner(_ name: DomainName) -> DomainName {
        let label = Base32Hex.encode(Insecure.SHA1.hash(data: name.lowercased().wire))
        return DomainName(uncheckedWire: [UInt8(label.count)] + label + origin.wire)
    }

    /// The NSEC3 whose owner is `name`'s hash, with its signature.
    private func nsec3Matching(_ name: DomainName) -> [ResourceRecord] {
        let owner = nsec3Owner(name)
        guard let n = rrset(owner, .nsec3) else { return [] }
        return n.records + signatures(at: owner, covering: .nsec3)
    }

    /// The NSEC3 that covers `name`'s hash: the last NSEC3 owner before it in hash order (the same as canonical
    /// order for these one-label names), or the last of all when none is before it (the chain wraps).
    private func nsec3Covering(_ name: DomainName) -> [ResourceRecord] {
        guard let k = nsec3CoveringIndex(name) else { return [] }
        let owner = data.name(k)
        return (rrset(owner, .nsec3)?.records ?? []) + signatures(at: owner, covering: .nsec3)
    }

    /// The node of the NSEC3 that covers `name`'s hash.
    private func nsec3CoveringIndex(_ name: DomainName) -> Int? {
        let hashed = nsec3Owner(name)
        var i = data.predecessor(of: hashed)
        var wrapped = false
        while true {
            guard let k = i else {
                if wrapped { return nil }
                wrapped = true
                i = data.count - 1
                continue
            }
            if data.set(k, .nsec3) != nil && (data.name(k) != hashed || wrapped) { return k }
            i = k > 0 ? k - 1 : nil
        }
    }

    /// What an NXDOMAIN answer for `qname` depends on besides the zone: the nodes of the NSEC (or NSEC3) records
    /// that prove it — the ones covering the name and the wildcard (or the closest encloser's, the next closer's
    /// and the wildcard's). Names with the same key get the same answer (the question aside), so it can be kept
    /// once for them all. Nil when the zone's data does not give one (the caller then resolves per name).
    public func nxDomainProofKey(_ qname: DomainName) -> [Int]? {
        guard let ce = closestEncloser(of: qname), let ceIndex = data.index(of: ce), let wild = ce.wildcardChild
        else { return nil }
        if usesNSEC3 {
            guard let next = nsec3CoveringIndex(nextCloser(qname)), let w = nsec3CoveringIndex(wild),
                let m = data.index(of: nsec3Owner(ce))
            else { return nil }
            return [ceIndex, m, next, w]
        }
        guard let cover = nsecCoveringIndex(qname), let w = nsecCoveringIndex(wild) else { return nil }
        return [ceIndex, cover, w]
    }

    /// The next closer name of `name` (RFC 5155 §1.3): the ancestor one label longer than its closest encloser.
    private func nextCloser(_ name: DomainName) -> DomainName {
        guard let ce = closestEncloser(of: name) else { return name }
        return name.ancestors(upTo: ce).dropLast().last ?? name
    }

    /// The closest encloser of a name that does not exist: its deepest existing ancestor.
    private func closestEncloser(of name: DomainName) -> DomainName? {
        var ce = name.parent
        while let c = ce, !answersFor(c) { ce = c.parent }
        return ce
    }

    /// The wildcard a name that does not exist is answered from, if one applies (RFC 4592 §3.3.1).
    private func wildcardSource(of name: DomainName) -> DomainName? {
        guard !answersFor(name), let ce = closestEncloser(of: name), let wild = ce.wildcardChild, exists(wild) else {
            return nil
        }
        return wild
    }

    /// The name a negative answer is about: the query name, or where a CNAME chain inside the zone ended.
    private func chainEnd(_ res: Resolution, _ qname: DomainName) -> DomainName {
        var name = qname
        for r in res.answer where r.type == .cname && r.name == name {
            guard let t = r.target, t.isSubdomain(of: origin) else { break }
            name = t
        }
        return name
    }
}
