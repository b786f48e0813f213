// Zone+Difference: what changed between two versions of a zone's file content, as RFC 1995's deletions and
// additions, found by one merge over both name lists (each in canonical order).

import DNSWire

/// The records one version of a zone has and the next has not (`removed`), and the reverse (`added`): an IXFR
/// difference sequence without its SOAs.
public struct ZoneDifference: Sendable, Equatable {
    public var removed: [ResourceRecord] = []
    public var added: [ResourceRecord] = []

    public init(removed: [ResourceRecord] = [], added: [ResourceRecord] = []) {
        self.removed = removed
        self.added = added
    }

    /// Nothing changed.
    public var isEmpty: Bool { removed.isEmpty && added.isEmpty }
}

extension Zone {
    /// What changes from this zone's loaded records to `new`'s, the apex SOA aside (the serial and the SOA are the
    /// caller's: IXFR carries them around each sequence). A merge of both name lists, which the arenas keep in
    /// canonical order: it costs one pass over both and makes record values only for what differs. Owner names
    /// are compared without case (a name that only changed case is no change); an RRset whose TTL changed is
    /// removed and added whole (RFC 2181 §5.2: one TTL per RRset).
    public func difference(to new: Zone) -> ZoneDifference {
        let (a, b) = (data, new.data)
        var out = ZoneDifference()
        var i = 0
        var j = 0
        while i < a.count || j < b.count {
            if i < a.count && j < b.count {
                let same = a.withName(i) { x in
                    b.withName(j) { y in
                        x.count == y.count && DomainName.equalFolded(x.baseAddress!, y.baseAddress!, x.count)
                    }
                }
                if same {
                    Zone.compare(a, i, b, j, into: &out)
                    i += 1
                    j += 1
                } else if a.name(i) < b.name(j) {
                    out.removed += Zone.records(a, i)
                    i += 1
                } else {
                    out.added += Zone.records(b, j)
                    j += 1
                }
            } else if i < a.count {
                out.removed += Zone.records(a, i)
                i += 1
            } else {
                out.added += Zone.records(b, j)
                j += 1
            }
        }
        // A name's RRSIGs are one RRset here, with one TTL; each goes out with the TTL of the RRset it covers (its
        // Original TTL), as transfers and answers carry it.
        func covered(_ r: ResourceRecord) -> ResourceRecord {
            guard r.type == .rrsig, r.rdata.count >= 8 else { return r }
            var out = r
            out.ttl = r.rdata[4...7].reduce(0) { $0 << 8 | UInt32($1) }
            return out
        }
        out.removed = out.removed.map(covered)
        out.added = out.added.map(covered)
        return out
    }

    /// Node `i`'s records (SOA aside).
    static func records(_ d: ZoneData, _ i: Int) -> [ResourceRecord] {
        let node = d.nodes[i]
        guard node.setCount > 0 else { return [] }
        let name = d.name(i)
        var out: [ResourceRecord] = []
        for j in Int(node.setStart)..<(Int(node.setStart) + Int(node.setCount))
        where d.sets[j].type != RRType.soa.rawValue {
            out += d.rrset(j, name: name).records
        }
        return out
    }

    /// The RRsets of two nodes with the same name, type by type (both are sorted by type).
    static func compare(_ a: ZoneData, _ i: Int, _ b: ZoneData, _ j: Int, into out: inout ZoneDifference) {
        let (na, nb) = (a.nodes[i], b.nodes[j])
        var x = Int(na.setStart)
        var y = Int(nb.setStart)
        let (xEnd, yEnd) = (x + Int(na.setCount), y + Int(nb.setCount))
        func all(_ d: ZoneData, _ node: Int, _ set: Int) -> [ResourceRecord] {
            d.sets[set].type == RRType.soa.rawValue ? [] : d.rrset(set, name: d.name(node)).records
        }
        while x < xEnd || y < yEnd {
            let tx = x < xEnd ? Int(a.sets[x].type) : Int.max
            let ty = y < yEnd ? Int(b.sets[y].type) : Int.max
            if tx < ty {
                out.removed += all(a, i, x)
                x += 1
            } else if ty < tx {
                out.added += all(b, j, y)
                y += 1
            } else {
                let (sa, sb) = (a.sets[x], b.sets[y])
                if sa.type != RRType.soa.rawValue {
                    let ra = (Int(sa.rdataStart)..<(Int(sa.rdataStart) + Int(sa.rdataCount))).map {
                        a.rdata[a.rdataRange($0)]
                    }
                    let rb = (Int(sb.rdataStart)..<(Int(sb.rdataStart) + Int(sb.rdataCount))).map {
                        b.rdata[b.rdataRange($0)]
                    }
                    if sa.ttl != sb.ttl {
                        out.removed += all(a, i, x)
                        out.added += all(b, j, y)
                    } else if ra != rb {
                        let type = RRType(sa.type)
                        for r in ra where !rb.contains(r) {
                            out.removed.append(
                                ResourceRecord(name: a.name(i), type: type, ttl: sa.ttl, rdata: Array(r)))
                        }
                        for r in rb where !ra.contains(r) {
                            out.added.append(ResourceRecord(name: b.name(j), type: type, ttl: sb.ttl, rdata: Array(r)))
                        }
                    }
                }
                x += 1
                y += 1
            }
        }
    }
}
