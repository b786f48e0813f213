// ZoneData: one zone's records in flat arenas — owner names, RRsets as ranges, RDATA — nodes in canonical order.

import DNSWire

/// A zone's data, built once per load (`ZoneBuilder`), never changed. Names and RDATA live in two byte arenas;
/// a node is a name and a range of RRsets, an RRset a type, a TTL and a range of RDATA; nodes are in canonical DNS
/// order (RFC 4034 §6.1), so a predecessor search (NSEC) is a binary search. An index hashes the lower-cased names
/// to node numbers. A million records cost a few arrays, not millions of heap objects (what `[DomainName: Node]`
/// with `[[UInt8]]` RDATA used to cost: about six objects per record, and most of the load time in reference
/// counting and malloc).
public final class ZoneData: Sendable {
    struct Node: Sendable {
        /// The owner name (uncompressed wire, case as first written) in `names`.
        var nameOffset: UInt32
        var nameLength: UInt8
        /// The node's RRsets in `sets`, by type (none for an empty non-terminal).
        var setCount: UInt16
        var setStart: UInt32
    }

    struct Set: Sendable {
        var type: UInt16
        var ttl: UInt32
        /// The set's RDATAs: entries `rdataStart ..< rdataStart + rdataCount` of `rdataEnds`.
        var rdataStart: UInt32
        var rdataCount: UInt32
        /// The zone-file line of the set's first record (0 = none).
        var line: UInt32
    }

    let names: [UInt8]
    let nodes: [Node]
    let sets: [Set]
    /// Where each RDATA ends in `rdata` (it starts where the previous one ends).
    let rdataEnds: [UInt32]
    let rdata: [UInt8]
    /// Open addressing over the case-folded names (`ZoneData.hash`): node number + 1, 0 for an empty slot. The
    /// builder's own table, renumbered to the sorted order, so that it is not built twice.
    private let slots: [UInt32]
    private let mask: Int

    init(names: [UInt8], nodes: [Node], sets: [Set], rdataEnds: [UInt32], rdata: [UInt8], slots: [UInt32]) {
        precondition(slots.count.nonzeroBitCount == 1 && slots.count > nodes.count)
        self.names = names
        self.nodes = nodes
        self.sets = sets
        self.rdataEnds = rdataEnds
        self.rdata = rdata
        self.slots = slots
        self.mask = slots.count - 1
    }

    /// An empty zone's data.
    static let empty = ZoneData(names: [], nodes: [], sets: [], rdataEnds: [], rdata: [], slots: [0])

    /// How many nodes (names, empty non-terminals included).
    var count: Int { nodes.count }

    /// FNV-1a over the case-folded octets.
    @inline(__always)
    static func hash(_ p: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in p { h = (h ^ UInt32(DomainName.fold(b))) &* 16_777_619 }
        return h
    }

    /// The node number of `wire` (an uncompressed name, any case), or nil.
    func index(of wire: UnsafeRawBufferPointer) -> Int? {
        let h = ZoneData.hash(wire)
        var s = Int(h) & mask
        return names.withUnsafeBytes { n in
            slots.withUnsafeBufferPointer { slots in
                nodes.withUnsafeBufferPointer { nodes in
                    while true {
                        let v = slots[s]
                        if v == 0 { return nil }
                        let node = nodes[Int(v) - 1]
                        if Int(node.nameLength) == wire.count
                            && DomainName.equalFolded(
                                n.baseAddress! + Int(node.nameOffset), wire.baseAddress!, wire.count)
                        {
                            return Int(v) - 1
                        }
                        s = (s + 1) & mask
                    }
                }
            }
        }
    }

    /// The node number of `name`, or nil.
    func index(of name: DomainName) -> Int? { name.wire.withUnsafeBytes { index(of: $0) } }

    /// The owner name of node `i` (as first written).
    func name(_ i: Int) -> DomainName {
        let n = nodes[i]
        return DomainName(uncheckedWire: Array(names[Int(n.nameOffset)..<(Int(n.nameOffset) + Int(n.nameLength))]))
    }

    /// The octets of node `i`'s name.
    func withName<T>(_ i: Int, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        let n = nodes[i]
        return names.withUnsafeBytes {
            body(UnsafeRawBufferPointer(rebasing: $0[Int(n.nameOffset)..<(Int(n.nameOffset) + Int(n.nameLength))]))
        }
    }

    /// Whether node `i`'s name lies strictly below node `c`'s (case-insensitive, at a label boundary).
    func isBelow(_ i: Int, _ c: Int) -> Bool {
        let (a, b) = (nodes[i], nodes[c])
        guard a.nameLength > b.nameLength else { return false }
        return names.withUnsafeBytes { n in
            let base = n.baseAddress!
            var at = Int(a.nameOffset)
            var left = Int(a.nameLength)
            while left > Int(b.nameLength) {
                let skip = Int(n[at]) + 1
                at += skip
                left -= skip
            }
            return left == Int(b.nameLength)
                && DomainName.equalFolded(base + at, base + Int(b.nameOffset), Int(b.nameLength))
        }
    }

    /// The RRset number of `type` at node `i`, or nil.
    @inline(__always)
    func set(_ i: Int, _ type: RRType) -> Int? {
        let n = nodes[i]
        var j = Int(n.setStart)
        let end = j + Int(n.setCount)
        while j < end {
            if sets[j].type == type.rawValue { return j }
            j += 1
        }
        return nil
    }

    /// The types at node `i`, ascending.
    func types(_ i: Int) -> [RRType] {
        let n = nodes[i]
        return sets[Int(n.setStart)..<(Int(n.setStart) + Int(n.setCount))].map { RRType($0.type) }
    }

    /// The range of RDATA `k` in `rdata`.
    @inline(__always)
    func rdataRange(_ k: Int) -> Range<Int> { (k == 0 ? 0 : Int(rdataEnds[k - 1]))..<Int(rdataEnds[k]) }

    /// RRset `j` as a value, owned by `name`.
    func rrset(_ j: Int, name: DomainName) -> RRset {
        let s = sets[j]
        let rdatas = (Int(s.rdataStart)..<(Int(s.rdataStart) + Int(s.rdataCount))).map { Array(rdata[rdataRange($0)]) }
        return RRset(
            name: name, type: RRType(s.type), ttl: s.ttl, rdatas: rdatas, line: s.line == 0 ? nil : Int(s.line))
    }

    /// Node `i` as a value (its RRsets materialised).
    func node(_ i: Int) -> Zone.Node {
        let name = name(i)
        let n = nodes[i]
        var rrsets: [RRType: RRset] = [:]
        for j in Int(n.setStart)..<(Int(n.setStart) + Int(n.setCount)) {
            rrsets[RRType(sets[j].type)] = rrset(j, name: name)
        }
        return Zone.Node(name: name, rrsets: rrsets)
    }

    /// The node number of the last name at or before `name` in canonical order (the predecessor search NSEC
    /// needs), or nil when `name` sorts before every node.
    func predecessor(of name: DomainName) -> Int? {
        // Compared in place in the names arena (no name values: it runs on the query path of DO answers).
        name.wire.withUnsafeBufferPointer { target in
            names.withUnsafeBufferPointer { all in
                var lo = 0
                var hi = nodes.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    let n = nodes[mid]
                    let node = UnsafeBufferPointer(
                        rebasing: all[Int(n.nameOffset)..<(Int(n.nameOffset) + Int(n.nameLength))])
                    // node <= target, i.e. not target < node.
                    if !DomainName.canonicalLess(target, node) { lo = mid + 1 } else { hi = mid }
                }
                return lo == 0 ? nil : lo - 1
            }
        }
    }
}
