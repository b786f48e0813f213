// Zone: one zone's data — nodes by name, each with its RRsets — and the facts lookups need about it.

import DNSWire

/// A loaded, validated zone. Immutable; built by `ZoneFileLoader` or `Zone.build(...)`. Its records are in flat
/// arenas (`ZoneData`, names in canonical order); a few changed nodes (pools, the served SOA) lie over them.
public struct Zone: Sendable {
    /// A name in the zone: the RRsets it owns (none for an empty non-terminal, RFC 4592 §2.2.2). A value made on
    /// demand from the arenas (or held in the patch).
    public struct Node: Sendable {
        /// The name as first written in the zone file (case kept).
        public var name: DomainName
        /// The RRsets by type.
        public var rrsets: [RRType: RRset]
        /// True when the node owns no data: it exists only because names below it do.
        public var isEmptyNonTerminal: Bool { rrsets.isEmpty }
    }

    /// The zone's apex.
    public let origin: DomainName
    /// The file it came from (for messages).
    public let file: String
    /// The records as loaded.
    let data: ZoneData
    /// Nodes changed since loading (the pools' current records, the served SOA), looked up first. They are few, so
    /// changing them costs what changed: the loaded data is shared, never copied.
    let patch: Patch
    /// The apex SOA record.
    public let soa: ResourceRecord
    /// What loading found doubtful but servable (a TTL that differs within an RRset, data hidden below a delegation
    /// or DNAME): `check` prints it, `serve` logs it. Only the zone as loaded carries it.
    public internal(set) var warnings: [ZoneError] = []

    /// Makes a zone from data already validated.
    init(origin: DomainName, file: String, data: ZoneData, patch: Patch = Patch(), soa: ResourceRecord) {
        self.origin = origin
        self.file = file
        self.data = data
        self.patch = patch
        self.soa = soa
    }

    /// Every node, including empty non-terminals, keyed by name (case-insensitive): made from the arenas, for
    /// tests and small zones (iterate with `names` and `node(_:)` otherwise).
    public var nodes: [DomainName: Node] {
        var out: [DomainName: Node] = [:]
        out.reserveCapacity(data.count)
        for i in 0..<data.count {
            let n = data.node(i)
            out[n.name] = n
        }
        for (name, node) in patch { out[name] = node }
        return out
    }

    /// Every name, empty non-terminals included, in canonical order (RFC 4034 §6.1).
    public var names: [DomainName] {
        let added = patch.keys.filter { data.index(of: $0) == nil }
        let loaded = (0..<data.count).map { data.name($0) }
        return added.isEmpty ? loaded : (loaded + added).sorted()
    }

    /// How many nodes the zone has.
    public var nodeCount: Int { data.count + patch.keys.reduce(0) { $0 + (data.index(of: $1) == nil ? 1 : 0) } }

    /// The zone-file line of the first record of `name`'s RRset of `type` (nil for zones built in memory).
    public func line(_ name: DomainName, _ type: RRType) -> Int? { rrset(name, type)?.line }

    /// This zone with `sets` added (replacing RRsets of the same name and type), `names` made to exist, and the
    /// empty non-terminals above them. Pools use it to put their current addresses into the zone, so that CNAME
    /// chains, ANY and additional-section processing see them like any other data. The caller checks the names are
    /// in the zone. The loaded data is shared: the result costs what it adds.
    public func adding(_ sets: [RRset], names: [DomainName] = []) -> Zone {
        var patch = self.patch
        func exists(_ n: DomainName) -> Bool { patch[n] != nil || data.index(of: n) != nil }
        // Names that must exist even without data (a pool with no address to give: NODATA, not NXDOMAIN).
        for name in names where name.isSubdomain(of: origin) {
            for anc in name.ancestors(upTo: origin) where !exists(anc) {
                patch[anc] = Node(name: anc, rrsets: [:])
            }
        }
        for set in sets where set.name.isSubdomain(of: origin) {
            var node = patch[set.name] ?? loadedNode(set.name) ?? Node(name: set.name, rrsets: [:])
            node.rrsets[set.type] = set
            patch[set.name] = node
            for anc in set.name.ancestors(upTo: origin) where !exists(anc) {
                patch[anc] = Node(name: anc, rrsets: [:])
            }
        }
        return Zone(origin: origin, file: file, data: data, patch: patch, soa: soa)
    }

    /// This zone with the A and AAAA RRsets of every name in `pools` replaced by those in `sets` (none where `sets`
    /// has none): how a pool's current addresses go in, at the cost of the pools alone.
    public func replacingPools(_ pools: [DomainName], with sets: [RRset]) -> Zone {
        var patch = self.patch
        for name in pools where name.isSubdomain(of: origin) {
            guard var node = patch[name] ?? loadedNode(name) else { continue }
            node.rrsets[.a] = nil
            node.rrsets[.aaaa] = nil
            patch[name] = node
        }
        return Zone(origin: origin, file: file, data: data, patch: patch, soa: soa).adding(sets, names: pools)
    }

    /// The node at `name` as loaded (the patch aside).
    func loadedNode(_ name: DomainName) -> Node? { data.index(of: name).map { data.node($0) } }

    /// The node at `name`, if any (made from the arenas: for lookups of a few names, see `exists` and `rrset`).
    public func node(_ name: DomainName) -> Node? {
        if !patch.isEmpty, let changed = patch[name] { return changed }
        return loadedNode(name)
    }

    /// True when `name` is a node of the zone (empty non-terminals included).
    @inline(__always)
    public func exists(_ name: DomainName) -> Bool {
        if !patch.isEmpty, patch[name] != nil { return true }
        return data.index(of: name) != nil
    }

    /// The RRset of `type` at `name`, if any.
    public func rrset(_ name: DomainName, _ type: RRType) -> RRset? {
        if !patch.isEmpty, let changed = patch[name] { return changed.rrsets[type] }
        guard let i = data.index(of: name), let j = data.set(i, type) else { return nil }
        return data.rrset(j, name: data.name(i))
    }

    /// True when `name` has an RRset of `type` (without making it).
    @inline(__always)
    public func has(_ name: DomainName, _ type: RRType) -> Bool {
        if !patch.isEmpty, let changed = patch[name] { return changed.rrsets[type] != nil }
        guard let i = data.index(of: name) else { return false }
        return data.set(i, type) != nil
    }

    /// The types `name` has RRsets of, ascending (empty for a name that does not exist).
    public func types(_ name: DomainName) -> [RRType] {
        if !patch.isEmpty, let changed = patch[name] { return changed.rrsets.keys.sorted() }
        guard let i = data.index(of: name) else { return [] }
        return data.types(i)
    }

    /// True when `name` is a delegation point: NS records at a name other than the apex (RFC 1034 §4.2.1).
    public func isCut(_ name: DomainName) -> Bool { name != origin && has(name, .ns) }

    /// The nearest delegation point at or above `name` (below the apex), if any: data at or below it is
    /// not authoritative (glue or occluded).
    public func enclosingCut(of name: DomainName) -> DomainName? {
        for anc in name.ancestors(upTo: origin).reversed() where anc != origin {
            guard exists(anc) else { return nil }
            if isCut(anc) { return anc }
        }
        return nil
    }

    /// The SOA as it goes in the authority section of a negative answer: TTL = min(SOA TTL, MINIMUM)
    /// (RFC 2308 §3).
    public var negativeSOA: ResourceRecord {
        var r = soa
        r.ttl = min(soa.ttl, soa.soaMinimum ?? soa.ttl)
        return r
    }

    /// Every record in the zone, apex SOA first, then in canonical name order (for export and transfers).
    public var records: [ResourceRecord] {
        var out = [soa]
        out.reserveCapacity(data.rdataEnds.count + 1)
        func add(_ node: Node) {
            for type in node.rrsets.keys.sorted() where !(type == .soa && node.name == origin) {
                out += node.rrsets[type]!.records
            }
        }
        // Names only in the patch go where they sort among the loaded ones.
        let added = patch.keys.filter { data.index(of: $0) == nil }.sorted()
        var a = 0
        for i in 0..<data.count {
            let name = data.name(i)
            while a < added.count && added[a] < name {
                add(patch[added[a]]!)
                a += 1
            }
            if !patch.isEmpty, let changed = patch[name] {
                add(changed)
                continue
            }
            let n = data.nodes[i]
            for j in Int(n.setStart)..<(Int(n.setStart) + Int(n.setCount)) {
                let set = data.sets[j]
                if set.type == RRType.soa.rawValue && name == origin { continue }
                for k in Int(set.rdataStart)..<(Int(set.rdataStart) + Int(set.rdataCount)) {
                    out.append(
                        ResourceRecord(
                            name: name, type: RRType(set.type), ttl: set.ttl,
                            rdata: Array(data.rdata[data.rdataRange(k)])))
                }
            }
        }
        for name in added[a...] { add(patch[name]!) }
        return out
    }
}
