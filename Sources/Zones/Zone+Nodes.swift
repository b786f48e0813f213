// Zone+Nodes: visiting every node without making values of its records (what compiling a million names needs).

import DNSWire

extension Zone {
    /// A node's RRsets read in place: types, TTLs and RDATA octets straight from the arenas (or from the patch).
    public struct NodeView {
        let data: ZoneData
        let index: Int
        let patched: Node?

        /// True for a node changed since loading (a pool's slot, the served SOA): not read from the arenas.
        public var isChanged: Bool { patched != nil }

        /// True when the node has an RRset of `type`.
        public func has(_ type: RRType) -> Bool {
            if let patched { return patched.rrsets[type] != nil }
            return data.set(index, type) != nil
        }

        /// The node as a value (its records made).
        public var node: Node { patched ?? data.node(index) }

        /// Calls `body` for each RRset, ascending by type: its type, TTL and RDATAs (valid during the call). Reads
        /// the arenas in place: nothing is allocated for a loaded node.
        public func forEachRRset(_ body: (RRType, UInt32, RDatas) -> Void) {
            if let patched {
                // A changed node's RDATA laid out as the arenas are, so that both read the same way.
                for type in patched.rrsets.keys.sorted() {
                    let set = patched.rrsets[type]!
                    let bytes = set.rdatas.flatMap { $0 }
                    var ends: [UInt32] = []
                    for rdata in set.rdatas { ends.append((ends.last ?? 0) + UInt32(rdata.count)) }
                    bytes.withUnsafeBytes { rd in
                        ends.withUnsafeBufferPointer { e in
                            body(type, set.ttl, RDatas(bytes: rd, ends: e, start: 0, count: set.rdatas.count))
                        }
                    }
                }
                return
            }
            let n = data.nodes[index]
            data.rdata.withUnsafeBytes { rd in
                data.rdataEnds.withUnsafeBufferPointer { ends in
                    for j in Int(n.setStart)..<(Int(n.setStart) + Int(n.setCount)) {
                        let set = data.sets[j]
                        body(
                            RRType(set.type), set.ttl,
                            RDatas(
                                bytes: rd, ends: ends, start: Int(set.rdataStart), count: Int(set.rdataCount)))
                    }
                }
            }
        }
    }

    /// An RRset's RDATAs in place: a collection of octet buffers, valid while the visit that gave it lasts.
    public struct RDatas: RandomAccessCollection {
        let bytes: UnsafeRawBufferPointer
        let ends: UnsafeBufferPointer<UInt32>
        let start: Int
        public let count: Int

        public var startIndex: Int { 0 }
        public var endIndex: Int { count }

        public subscript(i: Int) -> UnsafeRawBufferPointer {
            let k = start + i
            let from = k == 0 ? 0 : Int(ends[k - 1])
            return UnsafeRawBufferPointer(rebasing: bytes[from..<Int(ends[k])])
        }
    }

    /// Calls `body` with the TTL and RDATAs of the RRset of `type` at `name`, read in place from the arenas (for a
    /// loaded node nothing is allocated); nil when the name has no such RRset.
    public func withRRset<R>(_ name: DomainName, _ type: RRType, _ body: (UInt32, RDatas) -> R) -> R? {
        if !patch.isEmpty, let changed = patch[name] {
            guard let set = changed.rrsets[type] else { return nil }
            let bytes = set.rdatas.flatMap { $0 }
            var ends: [UInt32] = []
            for rdata in set.rdatas { ends.append((ends.last ?? 0) + UInt32(rdata.count)) }
            return bytes.withUnsafeBytes { rd in
                ends.withUnsafeBufferPointer { e in
                    body(set.ttl, RDatas(bytes: rd, ends: e, start: 0, count: set.rdatas.count))
                }
            }
        }
        guard let i = data.index(of: name), let j = data.set(i, type) else { return nil }
        let set = data.sets[j]
        return data.rdata.withUnsafeBytes { rd in
            data.rdataEnds.withUnsafeBufferPointer { ends in
                body(set.ttl, RDatas(bytes: rd, ends: ends, start: Int(set.rdataStart), count: Int(set.rdataCount)))
            }
        }
    }

    /// Visits every node (empty non-terminals and the patch included) in canonical order with its name.
    public func forEachNode(_ body: (DomainName, NodeView) -> Void) {
        let added = patch.keys.filter { data.index(of: $0) == nil }.sorted()
        var a = 0
        for i in 0..<data.count {
            let name = data.name(i)
            while a < added.count && added[a] < name {
                body(added[a], NodeView(data: data, index: -1, patched: patch[added[a]]))
                a += 1
            }
            body(name, NodeView(data: data, index: i, patched: patch.isEmpty ? nil : patch[name]))
        }
        for name in added[a...] { body(name, NodeView(data: data, index: -1, patched: patch[name])) }
    }

    /// How many RRsets of `type` the zone loaded (the patch aside): a count to reserve room by.
    public func loadedSetCount(of type: RRType) -> Int {
        data.sets.reduce(0) { $0 + ($1.type == type.rawValue ? 1 : 0) }
    }

    /// Every type the zone holds (the patch included).
    public var allTypes: Set<RRType> {
        var out = Set(data.sets.lazy.map { RRType($0.type) })
        for node in patch.values { out.formUnion(node.rrsets.keys) }
        return out
    }

    /// True when a name below the apex has NS (a cut) or a DNAME: then names need the walk from the apex.
    public var hasCutsOrDNAMEs: Bool {
        let originLength = origin.wire.count
        for (i, node) in data.nodes.enumerated() where Int(node.nameLength) != originLength {
            if data.set(i, .ns) != nil || data.set(i, .dname) != nil { return true }
        }
        return patch.contains { name, node in
            name != origin && (node.rrsets[.ns] != nil || node.rrsets[.dname] != nil)
        }
    }

    /// The name that sorts last at or before `name` in canonical order among the loaded names (the predecessor
    /// search of NSEC), or nil.
    public func loadedPredecessor(of name: DomainName) -> DomainName? { data.predecessor(of: name).map(data.name) }
}
