// Zone: one zone's data — nodes by name, each with its RRsets — and the facts lookups need about it.

import DNSWire

/// A loaded, validated zone. Immutable; built by `ZoneFileLoader` or `Zone.build(...)`.
public struct Zone: Sendable {
    /// A name in the zone: the RRsets it owns (none for an empty non-terminal, RFC 4592 §2.2.2).
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
    /// The nodes as loaded: every node, including empty non-terminals, keyed by name (case-insensitive).
    let storage: [DomainName: Node]
    /// Nodes changed since loading (the pools' current records, the served SOA), looked up first. They are few, so
    /// changing them costs what changed: the loaded nodes are shared, never copied.
    let patch: [DomainName: Node]
    /// The apex SOA record.
    public let soa: ResourceRecord
    /// Makes a zone from nodes already validated.
    init(
        origin: DomainName, file: String, nodes: [DomainName: Node], patch: [DomainName: Node] = [:],
        soa: ResourceRecord
    ) {
        self.origin = origin
        self.file = file
        self.storage = nodes
        self.patch = patch
        self.soa = soa
    }

    /// Every node, including empty non-terminals, keyed by name (case-insensitive). With changed nodes this merges
    /// them into a copy: for export and tests, not for lookups (`node(_:)`).
    public var nodes: [DomainName: Node] { patch.isEmpty ? storage : storage.merging(patch) { _, changed in changed } }

    /// How many nodes the zone has (without building `nodes`).
    public var nodeCount: Int { storage.count + patch.keys.reduce(0) { $0 + (storage[$1] == nil ? 1 : 0) } }

    /// The zone-file line of the first record of `name`'s RRset of `type` (nil for zones built in memory).
    public func line(_ name: DomainName, _ type: RRType) -> Int? { node(name)?.rrsets[type]?.line }

    /// This zone with `sets` added (replacing RRsets of the same name and type), `names` made to exist, and the
    /// empty non-terminals above them. Pools use it to put their current addresses into the zone, so that CNAME
    /// chains, ANY and additional-section processing see them like any other data. The caller checks the names are
    /// in the zone. The loaded nodes are shared: the result costs what it adds (`flattened()` merges it).
    public func adding(_ sets: [RRset], names: [DomainName] = []) -> Zone {
        var patch = self.patch
        func exists(_ n: DomainName) -> Bool { patch[n] != nil || storage[n] != nil }
        // Names that must exist even without data (a pool with no address to give: NODATA, not NXDOMAIN).
        for name in names where name.isSubdomain(of: origin) {
            for anc in name.ancestors(upTo: origin) where !exists(anc) {
                patch[anc] = Node(name: anc, rrsets: [:])
            }
        }
        for set in sets where set.name.isSubdomain(of: origin) {
            var node = patch[set.name] ?? storage[set.name] ?? Node(name: set.name, rrsets: [:])
            node.rrsets[set.type] = set
            patch[set.name] = node
            for anc in set.name.ancestors(upTo: origin) where !exists(anc) {
                patch[anc] = Node(name: anc, rrsets: [:])
            }
        }
        return Zone(origin: origin, file: file, nodes: storage, patch: patch, soa: soa)
    }

    /// This zone with the A and AAAA RRsets of every name in `pools` replaced by those in `sets` (none where `sets`
    /// has none): how a pool's current addresses go in, at the cost of the pools alone.
    public func replacingPools(_ pools: [DomainName], with sets: [RRset]) -> Zone {
        var patch = self.patch
        for name in pools where name.isSubdomain(of: origin) {
            guard var node = patch[name] ?? storage[name] else { continue }
            node.rrsets[.a] = nil
            node.rrsets[.aaaa] = nil
            patch[name] = node
        }
        return Zone(origin: origin, file: file, nodes: storage, patch: patch, soa: soa).adding(sets, names: pools)
    }

    /// This zone with its changed nodes merged into the loaded ones, so that lookups probe one table.
    public func flattened() -> Zone {
        patch.isEmpty ? self : Zone(origin: origin, file: file, nodes: nodes, soa: soa)
    }

    /// The node at `name`, if any.
    @inline(__always)
    public func node(_ name: DomainName) -> Node? {
        if !patch.isEmpty, let changed = patch[name] { return changed }
        return storage[name]
    }

    /// The RRset of `type` at `name`, if any.
    public func rrset(_ name: DomainName, _ type: RRType) -> RRset? { node(name)?.rrsets[type] }

    /// True when `name` is a delegation point: NS records at a name other than the apex (RFC 1034 §4.2.1).
    public func isCut(_ name: DomainName) -> Bool { name != origin && rrset(name, .ns) != nil }

    /// The nearest delegation point at or above `name` (below the apex), if any: data at or below it is
    /// not authoritative (glue or occluded).
    public func enclosingCut(of name: DomainName) -> DomainName? {
        for anc in name.ancestors(upTo: origin).reversed() where anc != origin {
            guard node(anc) != nil else { return nil }
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

    /// Every record in the zone, apex SOA first, then in canonical name order (for export and tests).
    public var records: [ResourceRecord] {
        var out = [soa]
        let nodes = self.nodes
        for name in nodes.keys.sorted() {
            guard let node = nodes[name] else { continue }
            for type in node.rrsets.keys.sorted() {
                guard let set = node.rrsets[type] else { continue }
                if type == .soa && name == origin { continue }
                out += set.records
            }
        }
        return out
    }
}
