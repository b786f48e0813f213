// Zone+Secure: the lookup of a signed zone for a query with DO set (RFC 4035 §3.1): the answer of `resolve` with
// the RRSIGs of every RRset it holds, and the NSEC records that prove what does not exist.

import DNSWire

extension Zone {
    /// `resolve(qname, qtype)` with DNSSEC material, for a zone whose data holds its RRSIG and NSEC records (a signed
    /// zone): every answer and authority RRset with its RRSIGs (§3.1.1); NXDOMAIN with the NSEC covering the name
    /// and the one covering the wildcard at the closest encloser (§3.1.3.2); NODATA with the name's NSEC (§3.1.3.1)
    /// — for a wildcard, the wildcard's NSEC and the one covering the name (§3.1.3.4); a wildcard answer with the
    /// NSEC proving no closer match (§3.1.3.3); a referral with the DS and its RRSIG, or the cut's NSEC proving
    /// there is none (§3.1.4); additional addresses with their RRSIGs when they are authoritative.
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
            if exists(owner) {
                answer += signatures(at: owner, covering: type)
            } else if let wild = wildcardSource(of: owner) {
                answer += signatures(at: wild, covering: type).map {
                    var r = $0
                    r.name = owner
                    return r
                }
                add(nsec(covering: owner))
            }
        }
        res.answer = answer

        switch res.outcome {
        case .referral:
            if let cut = res.authority.first(where: { $0.type == .ns })?.name {
                if let ds = rrset(cut, .ds) {
                    res.authority += ds.records + signatures(at: cut, covering: .ds)
                } else {
                    // Insecure delegation: the cut's NSEC (NS, no DS) proves it (RFC 4035 §3.1.4.1).
                    res.authority += nsecAt(cut)
                }
            }
            return res
        case .noData, .nxDomain, .answer, .cname, .dname:
            break
        }
        // Negative answers (the first step's, or where a chain ended): SOA with its signature and the proofs.
        if res.authority.contains(where: { $0.type == .soa }) {
            let last = chainEnd(res, qname)
            res.authority += signatures(at: origin, covering: .soa)
            if res.rcode == .nxDomain {
                add(nsec(covering: last))
                if let ce = closestEncloser(of: last), let wild = ce.wildcardChild { add(nsec(covering: wild)) }
            } else if exists(last) {
                add(nsecAt(last))
            } else if let wild = wildcardSource(of: last) {
                // Wildcard NODATA: the wildcard's NSEC (no such type) and the one covering the name.
                add(nsecAt(wild))
                add(nsec(covering: last))
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
        var i = data.predecessor(of: name)
        while let k = i {
            if data.set(k, .nsec) != nil { return nsecAt(data.name(k)) }
            i = k > 0 ? k - 1 : nil
        }
        return []
    }

    /// The closest encloser of a name that does not exist: its deepest existing ancestor.
    private func closestEncloser(of name: DomainName) -> DomainName? {
        var ce = name.parent
        while let c = ce, !exists(c) { ce = c.parent }
        return ce
    }

    /// The wildcard a name that does not exist is answered from, if one applies (RFC 4592 §3.3.1).
    private func wildcardSource(of name: DomainName) -> DomainName? {
        guard !exists(name), let ce = closestEncloser(of: name), let wild = ce.wildcardChild, exists(wild) else {
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
