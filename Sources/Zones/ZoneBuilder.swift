// ZoneBuilder: collects records with their lines, validates the zone and builds it, or reports every error.

import DNSWire

/// Gathers a zone's records and turns them into a `Zone`, checking what an authoritative server must refuse:
/// data outside the zone, anything but class IN, not exactly one SOA at the apex, no NS at the apex, CNAME beside
/// other data or more than one CNAME (RFC 1034 §3.6.2, RFC 2181 §10.1), more than one DNAME (RFC 6672 §2.4),
/// and in-bailiwick delegations without glue. All errors are reported, not only the first.
public struct ZoneBuilder {
    /// The zone's apex.
    public let origin: DomainName
    /// The file name used in messages.
    public let file: String
    private var entries: [(record: ResourceRecord, line: Int?)] = []
    /// Errors found while reading (syntax) before validation.
    public var errors: [ZoneError] = []

    /// Starts an empty zone.
    public init(origin: DomainName, file: String) {
        self.origin = origin
        self.file = file
    }

    /// Adds one record read from `line`.
    public mutating func add(_ record: ResourceRecord, line: Int?) {
        entries.append((record, line))
    }

    /// Records an error found while reading.
    public mutating func fail(line: Int?, _ message: String) {
        errors.append(ZoneError(file: file, line: line, message: message))
    }

    /// Validates and builds the zone.
    public func build() throws(ZoneLoadFailure) -> Zone {
        var errors = self.errors
        func fail(_ line: Int?, _ message: String) {
            errors.append(ZoneError(file: file, line: line, message: message))
        }

        var nodes: [DomainName: Zone.Node] = [:]
        nodes.reserveCapacity(entries.count + entries.count / 4)  // names, plus room for empty non-terminals
        for (rr, line) in entries {
            guard rr.name.isSubdomain(of: origin) else {
                fail(line, "\(rr.name) \(rr.type) is outside the zone \(origin): remove it or fix the owner name")
                continue
            }
            guard rr.rrClass == .in else {
                fail(line, "class \(rr.rrClass) is not served: only class IN records belong in a zone file")
                continue
            }
            guard !rr.type.isMeta else {
                fail(line, "type \(rr.type) cannot appear in zone data")
                continue
            }
            // Mutated in place (not copied out and back), so a record costs no copy of its node's RRsets.
            nodes[rr.name, default: Zone.Node(name: rr.name, rrsets: [:])].add(rr, line: line)
        }
        func lineOf(_ name: DomainName, _ type: RRType) -> Int? { nodes[name]?.rrsets[type]?.line }

        // The apex: exactly one SOA, and NS.
        var soa: ResourceRecord?
        if let apex = nodes[origin], let set = apex.rrsets[.soa] {
            if set.rdatas.count != 1 {
                fail(lineOf(origin, .soa), "the apex has \(set.rdatas.count) SOA records; a zone has exactly one")
            }
            soa = set.records.first
            if apex.rrsets[.ns] == nil {
                fail(lineOf(origin, .soa), "no NS records at the apex \(origin): a zone must list its name servers")
            }
        } else {
            fail(nil, "no SOA record at the apex \(origin): the first record of a zone is its SOA")
        }
        for (name, node) in nodes where name != origin && node.rrsets[.soa] != nil {
            fail(lineOf(name, .soa), "SOA record at \(name): only the apex \(origin) may have one")
        }

        // CNAME and DNAME rules.
        for (name, node) in nodes {
            if let cname = node.rrsets[.cname] {
                if cname.rdatas.count > 1 {
                    fail(
                        lineOf(name, .cname),
                        "\(name) has \(cname.rdatas.count) CNAME records; an alias has exactly one")
                }
                // RFC 2181 §10.1: no other data beside a CNAME (DNSSEC records excepted, RFC 4035 §2.5).
                let others = node.rrsets.keys.filter { ![.cname, .rrsig, .nsec, .nsec3].contains($0) }.sorted()
                if !others.isEmpty {
                    fail(
                        lineOf(name, .cname),
                        "\(name) has a CNAME and other data (\(others.map(\.description).joined(separator: ", "))): "
                            + "an alias can have no other records")
                }
            }
            if let dname = node.rrsets[.dname], dname.rdatas.count > 1 {
                fail(lineOf(name, .dname), "\(name) has \(dname.rdatas.count) DNAME records; RFC 6672 allows one")
            }
        }

        // Empty non-terminals: every ancestor of a name, down from the apex, is a node (RFC 4592 §2.2.2).
        // Walking up stops at the first existing name: its own ancestors are made when it is visited in turn.
        for name in Array(nodes.keys) where name != origin {
            var cur = name.parent
            while let c = cur, c.isSubdomain(of: origin), nodes[c] == nil {
                nodes[c] = Zone.Node(name: c, rrsets: [:])
                cur = c == origin ? nil : c.parent
            }
        }

        let placeholderSOA = ResourceRecord(name: origin, type: .soa, ttl: 0, rdata: [])
        let built = Zone(origin: origin, file: file, nodes: nodes, soa: soa ?? placeholderSOA)

        // Glue: an NS target at or below its own delegation point can only be reached through glue.
        for (name, node) in nodes where name != origin {
            guard let ns = node.rrsets[.ns] else { continue }
            for rr in ns.records {
                guard let target = rr.target, target.isSubdomain(of: name) else { continue }
                let addrs = nodes[target].map { $0.rrsets[.a] != nil || $0.rrsets[.aaaa] != nil } ?? false
                if !addrs {
                    fail(
                        lineOf(name, .ns),
                        "delegation \(name) NS \(target) needs glue: add an A or AAAA record for \(target)")
                }
            }
        }

        guard errors.isEmpty else {
            throw ZoneLoadFailure(errors: errors.sorted { ($0.line ?? 0) < ($1.line ?? 0) })
        }
        return built
    }
}

extension Zone {
    /// Builds a zone from records (no line numbers); used by tests and by anything that makes zones in memory.
    public static func build(origin: DomainName, file: String = "<memory>", records: [ResourceRecord])
        throws(ZoneLoadFailure) -> Zone
    {
        var b = ZoneBuilder(origin: origin, file: file)
        for r in records { b.add(r, line: nil) }
        return try b.build()
    }
}

extension Zone.Node {
    /// Adds a record. RFC 2181 §5: an RRset is a set, so exact duplicates are dropped; §5.2: one TTL per set, the
    /// first record's (Knot and NSD warn and do the same).
    mutating func add(_ rr: ResourceRecord, line: Int?) {
        if rrsets[rr.type] == nil {
            rrsets[rr.type] = RRset(name: rr.name, type: rr.type, ttl: rr.ttl, rdatas: [rr.rdata], line: line)
        } else if !rrsets[rr.type]!.rdatas.contains(rr.rdata) {
            rrsets[rr.type]!.rdatas.append(rr.rdata)
        }
    }
}
