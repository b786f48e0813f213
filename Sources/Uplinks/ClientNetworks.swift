// ClientNetworks: named client networks (`networks:`), read compactly from prefix lists, and the range tables that
// map a client address to a pool's ordered lines and its ECS scope.

import CUplinkSys
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The prefixes of one network, compact: tens of thousands to a million per file are usual (an ISP's address list),
/// so no prefix is an object. IPv4 prefixes as `address << 8 | length`, IPv6 as address and length apart.
public struct NetworkPrefixes: Sendable, Equatable {
    /// IPv4: `UInt64(address) << 8 | length`, host bits zero.
    public var v4: [UInt64] = []
    /// IPv6 addresses, host bits zero.
    public var v6: [UInt128] = []
    /// IPv6 prefix lengths, per `v6`.
    public var v6Lengths: [UInt8] = []

    /// No prefixes.
    public init() {}

    /// How many prefixes.
    public var count: Int { v4.count + v6.count }

    /// Why `text` is not a prefix, or nil after adding it: `192.0.2.0/24`, `2001:db8::/32`, or one address (a /32 or
    /// /128). Host bits past the length are refused (`192.0.2.1/24`): they usually mean a typo in the list.
    public mutating func add<S: Collection<UInt8>>(_ text: S) -> String? where S.Index == Int {
        var slash = text.endIndex
        for i in text.indices where text[i] == UInt8(ascii: "/") {
            slash = i
            break
        }
        let addressPart = text[text.startIndex..<slash]
        var length: Int?
        if slash != text.endIndex {
            var n = 0
            var digits = 0
            for c in text[(slash + 1)...] {
                guard c >= 48, c <= 57, digits < 3 else { return "'\(Self.string(text))' is not a prefix" }
                n = n * 10 + Int(c - 48)
                digits += 1
            }
            guard digits > 0 else { return "'\(Self.string(text))' is not a prefix" }
            length = n
        }
        if let a = Self.parseIPv4(addressPart) {
            let len = length ?? 32
            guard len <= 32 else { return "'\(Self.string(text))': an IPv4 prefix is at most /32" }
            let mask: UInt32 = len == 0 ? 0 : ~UInt32(0) << UInt32(32 - len)
            guard a & mask == a else {
                return "'\(Self.string(text))' has bits set past /\(len) (the network is \(Self.ipv4(a & mask))/\(len))"
            }
            v4.append(UInt64(a) << 8 | UInt64(len))
            return nil
        }
        if let a = Self.parseIPv6(addressPart) {
            let len = length ?? 128
            guard len <= 128 else { return "'\(Self.string(text))': an IPv6 prefix is at most /128" }
            let mask: UInt128 = len == 0 ? 0 : ~UInt128(0) << UInt128(128 - len)
            guard a & mask == a else {
                return "'\(Self.string(text))' has bits set past /\(len)"
            }
            v6.append(a)
            v6Lengths.append(UInt8(len))
            return nil
        }
        return "'\(Self.string(text))' is not an IPv4 or IPv6 prefix (e.g. 198.18.0.0/15, 2001:db8::/32)"
    }

    static func string<S: Collection<UInt8>>(_ s: S) -> String { String(decoding: s, as: UTF8.self) }

    /// `a.b.c.d`, each part 0–255 without a sign; nil otherwise.
    static func parseIPv4<S: Collection<UInt8>>(_ s: S) -> UInt32? {
        var value: UInt32 = 0
        var part: UInt32 = 0
        var digits = 0
        var parts = 0
        for c in s {
            if c == UInt8(ascii: ".") {
                guard digits > 0, parts < 3 else { return nil }
                value = value << 8 | part
                parts += 1
                (part, digits) = (0, 0)
            } else if c >= 48, c <= 57 {
                guard digits < 3 else { return nil }
                part = part * 10 + UInt32(c - 48)
                guard part <= 255 else { return nil }
                digits += 1
            } else {
                return nil
            }
        }
        guard digits > 0, parts == 3 else { return nil }
        return value << 8 | part
    }

    /// An IPv6 address by inet_pton, as one 128-bit number.
    static func parseIPv6<S: Collection<UInt8>>(_ s: S) -> UInt128? {
        guard s.count < 46, s.contains(UInt8(ascii: ":")) else { return nil }
        var buf = [CChar](repeating: 0, count: 48)
        for (i, c) in s.enumerated() { buf[i] = CChar(bitPattern: c) }
        var addr = in6_addr()
        guard inet_pton(AF_INET6, buf, &addr) == 1 else { return nil }
        return withUnsafeBytes(of: &addr) { raw in raw.reduce(UInt128(0)) { $0 << 8 | UInt128($1) } }
    }

    static func ipv4(_ a: UInt32) -> String { "\(a >> 24).\(a >> 16 & 255).\(a >> 8 & 255).\(a & 255)" }

    /// Reads a prefix list (`ListFile`'s format): one prefix a line. Returns the problems as (line, message), at most
    /// `maxErrors` of them (and how many more there were).
    public mutating func read(_ bytes: [UInt8], maxErrors: Int = 20) -> (
        errors: [(line: Int, message: String)], more: Int
    ) {
        ListFile.read(bytes, maxErrors: maxErrors) { entry, _ in add(entry) }
    }
}

/// A list file as `networks[].file` and `pools[].names-file` are written: one entry a line, `#` starts a comment;
/// blank lines, and spaces, tabs and a CR around an entry, are ignored. Read as bytes: a prefix list has up to a
/// million lines.
package enum ListFile {
    /// Calls `entry` with each entry and its line; what it returns is that entry's problem. The first `maxErrors`
    /// problems are kept with their lines, the rest counted.
    package static func read(
        _ bytes: [UInt8], maxErrors: Int = 20, _ entry: (UnsafeBufferPointer<UInt8>, Int) -> String?
    ) -> (errors: [(line: Int, message: String)], more: Int) {
        var errors: [(line: Int, message: String)] = []
        var more = 0
        var line = 0
        var start = 0
        let n = bytes.count
        bytes.withUnsafeBufferPointer { b in
            while start < n {
                line += 1
                var end = start
                while end < n, b[end] != 10 { end += 1 }
                var hi = end
                var i = start
                while i < hi {
                    if b[i] == UInt8(ascii: "#") {
                        hi = i
                        break
                    }
                    i += 1
                }
                var lo = start
                while lo < hi, b[lo] == 32 || b[lo] == 9 || b[lo] == 13 { lo += 1 }
                while hi > lo, b[hi - 1] == 32 || b[hi - 1] == 9 || b[hi - 1] == 13 { hi -= 1 }
                if lo < hi, let problem = entry(UnsafeBufferPointer(rebasing: b[lo..<hi]), line) {
                    if errors.count < maxErrors { errors.append((line, problem)) } else { more += 1 }
                }
                start = end + 1
            }
        }
        return (errors, more)
    }
}

/// A named client network (`networks:` entry).
public struct ClientNetwork: Sendable, Equatable {
    /// Its name, unique.
    public var name: String
    /// The prefix list file, as written in the config (nil: only `prefixes`).
    public var file: String?
    /// Its prefixes (the file's and the config's).
    public var prefixes = NetworkPrefixes()
    /// The config line that defines it.
    @SourceLine public var line: Int?

    /// Makes a network.
    public init(name: String, file: String? = nil, prefixes: NetworkPrefixes = NetworkPrefixes(), line: Int? = nil) {
        self.name = name
        self.file = file
        self.prefixes = prefixes
        self.line = line
    }
}

/// A sorted table of address ranges covering a whole address family, each with a class: the longest match of the
/// networks flattened into disjoint runs. A lookup is a direct index on the top 16 bits and a binary search in what
/// it leaves (a few entries), no allocation.
public struct RangeTable<K: FixedWidthInteger & UnsignedInteger & Sendable>: Sendable, Equatable {
    /// Where each range starts (ascending; the first is 0). A range ends where the next starts.
    public private(set) var starts: [K] = [0]
    /// Each range's class.
    public private(set) var classes: [UInt16] = [0]
    /// For a large table: per value of the top 16 bits, the first range that starts at or after it (65,537 entries).
    private var index: [UInt32] = []

    /// One range of class 0.
    public init() {}

    /// Appends a range starting at `start` (at or after the last one's start) of class `cls`; a range that starts
    /// where the last does replaces it, and one of the same class as the one before merges into it.
    mutating func append(_ start: K, _ cls: UInt16) {
        if starts.last == start {
            starts.removeLast()
            classes.removeLast()
        }
        if let last = classes.last, last == cls { return }
        if starts.isEmpty, start != 0 {
            starts.append(0)
            classes.append(0)
        }
        starts.append(start)
        classes.append(cls)
    }

    /// Builds the top-16-bit index (worth it past a few hundred ranges).
    mutating func finish() {
        if starts.capacity > starts.count + starts.count / 4 {
            starts = Array(unsafeUninitializedCapacity: starts.count) { b, n in
                n = b.initialize(fromContentsOf: starts)
            }
            classes = Array(unsafeUninitializedCapacity: classes.count) { b, n in
                n = b.initialize(fromContentsOf: classes)
            }
        }
        guard starts.count > 256 else {
            index = []
            return
        }
        let shift = K.bitWidth - 16
        var idx = [UInt32](repeating: 0, count: 65537)
        var i = 0
        for t in 0..<65536 {
            let bound = K(t) << K(shift)
            while i < starts.count, starts[i] < bound { i += 1 }
            idx[t] = UInt32(i)
        }
        idx[65536] = UInt32(starts.count)
        index = idx
    }

    /// The class of `a`'s range and the ECS scope of the answer: the length of the largest aligned prefix around `a`
    /// inside that range (RFC 7871 §7.2.1: the answer holds for exactly that network; ranges of one class are merged,
    /// so the scope is as short as the classes allow).
    @inline(__always)
    public func lookup(_ a: K) -> (cls: Int, scope: Int) {
        var lo = 0
        var hi = starts.count - 1
        if !index.isEmpty {
            let t = Int(truncatingIfNeeded: a >> K(K.bitWidth - 16))
            lo = max(Int(index[t]) - 1, 0)
            hi = Int(index[t + 1]) - 1
        }
        // The last range starting at or before `a`: starts[lo] <= a always holds (starts[0] == 0).
        while lo < hi {
            let mid = (lo + hi + 1) >> 1
            if starts[mid] <= a { lo = mid } else { hi = mid - 1 }
        }
        let first = starts[lo]
        let last = lo + 1 < starts.count ? starts[lo + 1] - 1 : K.max
        return (Int(classes[lo]), Self.scope(a, first, last))
    }

    /// Starts loading the index slot `lookup(a)` reads first (`ClientNetworkMap.prefetch`).
    @inline(__always)
    func prefetch(_ a: K) {
        guard !index.isEmpty else { return }
        let t = Int(truncatingIfNeeded: a >> K(K.bitWidth - 16))
        index.withUnsafeBufferPointer { uplink_prefetch($0.baseAddress! + t) }
    }

    /// The shortest prefix length L whose aligned block around `a` lies in [first, last].
    @inline(__always)
    static func scope(_ a: K, _ first: K, _ last: K) -> Int {
        let w = K.bitWidth
        // Below: the block's start a & mask(L) >= first.
        let alignFirst = first == 0 ? 0 : w - first.trailingZeroBitCount
        let l1 = a == first ? alignFirst : min(alignFirst, (a ^ first).leadingZeroBitCount + 1)
        // Above: the block's end a | ~mask(L) <= last.
        let alignLast = last == K.max ? 0 : w - (~last).trailingZeroBitCount
        let l2 = a == last ? alignLast : min(alignLast, (a ^ last).leadingZeroBitCount + 1)
        return max(l1, l2)
    }

    /// The table of `prefixes` (start, length, class), longest match winning; an exact duplicate keeps the first.
    /// Where no prefix matches, class 0.
    package static func build(
        _ prefixes: [(start: K, length: UInt8, cls: UInt16)],
        duplicate: (_ start: K, _ length: UInt8, _ first: UInt16, _ second: UInt16) -> Void = { _, _, _, _ in }
    ) -> RangeTable {
        // Containing prefixes before contained ones; among equals, the first given.
        let order = prefixes.indices.sorted { i, j in
            let (a, b) = (prefixes[i], prefixes[j])
            if a.start != b.start { return a.start < b.start }
            if a.length != b.length { return a.length < b.length }
            return i < j
        }
        var t = RangeTable()
        t.starts = []
        t.classes = []
        t.starts.reserveCapacity(prefixes.count * 2 + 1)
        t.classes.reserveCapacity(prefixes.count * 2 + 1)
        t.append(0, 0)
        var stack: [(end: K, cls: UInt16)] = []
        func end(_ start: K, _ length: UInt8) -> K {
            length == 0 ? K.max : start | (K.max >> K(Int(length)))
        }
        func pop(before start: K?) {
            while let top = stack.last, start.map({ top.end < $0 }) ?? true {
                stack.removeLast()
                if top.end != K.max { t.append(top.end + 1, stack.last?.cls ?? 0) }
            }
        }
        var previous: (K, UInt8, UInt16)?
        for i in order {
            let p = prefixes[i]
            if let (s, l, c) = previous, s == p.start, l == p.length {
                if c != p.cls { duplicate(s, l, c, p.cls) }
                continue
            }
            previous = (p.start, p.length, p.cls)
            pop(before: p.start)
            stack.append((end(p.start, p.length), p.cls))
            t.append(p.start, p.cls)
        }
        pop(before: nil)
        t.finish()
        return t
    }
}

/// IPv4 ranges laid out so that a lookup reads one cache line: the address space cut into 2^`bits` aligned slots, each
/// slot one 64-octet block found directly from the address's top bits (no index to load first). A block is 16 words:
/// - word 0: the class of the range holding the slot's first address; where no range starts inside the slot, also
///   its scope (the same for every address of the slot: at most `bits`) at bit 16;
/// - words 1…15: the ranges that start inside the slot, ascending, each as `(start's low bits − 1) << bits | class`,
///   then padding (all ones). `bits` is never below the classes' width, so that a word holds both.
///
/// A slot with more than 15 starts says so (bit 31 of word 0) and where its words are in `overflow`: the first
/// address's class, the count, the words, padding; searched there by bisection. `bits` is chosen so that such slots
/// hold few of the ranges (at most one in 16, if the table is large enough to afford it), and at most one slot per
/// four ranges, so the blocks take at most 16 octets a range beside the range table.
package struct LineTable: @unchecked Sendable {
    /// The slots' width: an address's top `bits` bits pick its block.
    package let bits: UInt32
    /// The low bits, below the slot.
    let lowMask: UInt32
    /// A word's class bits.
    let classMask: UInt32
    /// The blocks, 16 words each, 64-octet aligned.
    let blocks: UnsafePointer<UInt32>
    /// Slots with more than 15 starts.
    package let overflow: [UInt32]
    /// Owns `blocks`.
    private let owner: Storage

    static let padding: UInt32 = .max
    static let overflowFlag: UInt32 = 1 << 31

    /// The blocks' memory, aligned to cache lines (an Array's is not).
    final class Storage: @unchecked Sendable {
        let pointer: UnsafeMutableRawPointer
        init(bytes: Int) {
            var p: UnsafeMutableRawPointer?
            guard posix_memalign(&p, 64, bytes) == 0, let p else { fatalError("out of memory for a network table") }
            pointer = p
        }
        deinit { free(pointer) }
    }

    /// The blocks of `t`'s ranges.
    package init(_ t: RangeTable<UInt32>) {
        let starts = t.starts
        let classes = t.classes
        let maxClass = UInt32(classes.max() ?? 0)
        let classBits = UInt32(max(1, 32 - maxClass.leadingZeroBitCount))
        // The fewest slots with at most one range in 16 in slots that overflow; at most one slot per four ranges.
        // Fewer than one slot per 16 ranges always overflows more (15 per slot hold less than 15/16 of them).
        func log2(_ n: Int) -> UInt32 { UInt32(max(0, Int.bitWidth - 1 - n.leadingZeroBitCount)) }
        let most = min(max(classBits, log2(starts.count / 4), 1), 24)
        var bits = min(max(classBits, log2(starts.count / 16)), most)
        while bits < most {
            var over = 0
            var run = 0
            var slot = UInt32.max
            for start in starts where start != 0 {
                let s = start >> (32 - bits)
                if s == slot {
                    run += 1
                } else {
                    if run > 15 { over += run }
                    (slot, run) = (s, 1)
                }
            }
            if run > 15 { over += run }
            if over * 16 <= starts.count { break }
            bits += 1
        }
        let lowMask = UInt32.max >> bits
        self.bits = bits
        self.lowMask = lowMask
        classMask = UInt32.max >> (32 - classBits)
        let slots = 1 << Int(bits)
        owner = Storage(bytes: slots * 64)
        let words = owner.pointer.bindMemory(to: UInt32.self, capacity: slots * 16)
        var overflow: [UInt32] = []
        var r = 0  // the range holding the slot's first address
        for slot in 0..<slots {
            let base = UInt32(slot) << (32 - bits)
            while r + 1 < starts.count, starts[r + 1] <= base { r += 1 }
            var end = r + 1  // the ranges starting inside the slot: r + 1 ..< end
            while end < starts.count, starts[end] >> (32 - bits) == UInt32(slot) { end += 1 }
            let block = words + slot * 16
            var head = UInt32(classes[r])
            if end == r + 1 {
                let last = end < starts.count ? starts[end] - 1 : UInt32.max
                head |= UInt32(RangeTable.scope(base, starts[r], last)) << 16
            }
            func word(_ j: Int) -> UInt32 { (starts[j] & lowMask - 1) << bits | UInt32(classes[j]) }
            if end - r - 1 <= 15 {
                block[0] = head
                for k in 1..<16 { block[k] = r + k < end ? word(r + k) : LineTable.padding }
            } else {
                block[0] = LineTable.overflowFlag | UInt32(overflow.count)
                for k in 1..<16 { block[k] = LineTable.padding }
                overflow.append(head)
                overflow.append(UInt32(end - r - 1))
                for j in r + 1..<end { overflow.append(word(j)) }
                overflow.append(LineTable.padding)
            }
            r = max(r, end - 1)
        }
        self.overflow = overflow
        blocks = UnsafePointer(words)
    }

    /// As `RangeTable.lookup`: the class of `a`'s range and the ECS scope.
    @inline(__always)
    package func lookup(_ a: UInt32) -> (cls: Int, scope: Int) {
        let block = blocks + Int(a >> (32 - bits)) &* 16
        let head = block[0]
        // The starts inside the slot at or below `a`: words below its low bits shifted up (a start's word holds its
        // low bits minus one).
        let x = (a & lowMask) << bits
        if head & Self.overflowFlag != 0 { return overflowLookup(a, Int(head & ~Self.overflowFlag), x) }
        var i = 0
        for k in 1..<16 { i &+= block[k] < x ? 1 : 0 }
        return answer(a, head, i == 0 ? head : block[i], i == 15 ? Self.padding : block[i + 1], first: i == 0)
    }

    /// Starts loading `a`'s block (`ClientNetworkMap.prefetch`).
    @inline(__always)
    func prefetch(_ a: UInt32) {
        uplink_prefetch(blocks + Int(a >> (32 - bits)) &* 16)
    }

    @inline(never)
    func overflowLookup(_ a: UInt32, _ at: Int, _ x: UInt32) -> (cls: Int, scope: Int) {
        overflow.withUnsafeBufferPointer { o in
            var lo = 0
            var hi = Int(o[at + 1])
            while lo < hi {
                let mid = (lo + hi) >> 1
                if o[at + 2 + mid] < x { lo = mid + 1 } else { hi = mid }
            }
            return answer(a, o[at], lo == 0 ? o[at] : o[at + 1 + lo], o[at + 2 + lo], first: lo == 0)
        }
    }

    /// The answer from the word of `a`'s range (`head` for the one holding the slot's start: `first`) and the next
    /// one's. Inside the slot the scope is that of the range cut to the slot, which is the range's own: a range that
    /// starts before the slot and ends inside it is bounded by its end, past the slot's width, and likewise one that
    /// starts inside and ends after. A slot inside one range has its scope in `head`.
    @inline(__always)
    func answer(_ a: UInt32, _ head: UInt32, _ word: UInt32, _ next: UInt32, first: Bool) -> (cls: Int, scope: Int) {
        let cls = Int(word & classMask)
        if first && next == Self.padding { return (cls, Int(head >> 16 & 63)) }
        let base = a & ~lowMask
        let start = first ? base : base | ((word >> bits) + 1)
        return (cls, RangeTable.scope(a, start, base | next >> bits))
    }

    /// The octets the table takes.
    package var bytes: Int { (1 << Int(bits)) * 64 + overflow.count * 4 }
}

/// Which of a pool's ordered line lists a client address gets, and the ECS scope: class 0 is the pool's own policy
/// (clients in no network the pool lists), class k > 0 the k-th distinct list. Built once per config for each
/// distinct `by-network` (pools that share one share the map), never on a health change.
public final class ClientNetworkMap: Sendable, Equatable {
    /// Per class, the lines in order of preference (class 0: empty, the pool's policy).
    public let lists: [[String]]
    /// Per class, the networks it stands for (class 0: none; metrics and the query log name classes by them).
    public let networks: [[String]]
    /// IPv4 and IPv6 ranges by class.
    let v4: RangeTable<UInt32>
    let v6: RangeTable<UInt128>
    /// `v4` as lookups read it: one cache line each.
    let v4Lines: LineTable

    /// A hash of everything above: unequal maps (a changed network file) compare unequal at once.
    let fingerprint: UInt64
    /// The last other map found equal (a reload's copy of this one): the next comparison with it is immediate, so
    /// comparing 100,000 pools that share both maps compares the tables once.
    private let knownEqual = Mutex<WeakMap>(WeakMap())
    private struct WeakMap: @unchecked Sendable { weak var map: ClientNetworkMap? }

    init(lists: [[String]], networks: [[String]], v4: RangeTable<UInt32>, v6: RangeTable<UInt128>) {
        self.lists = lists
        self.networks = networks
        self.v4 = v4
        self.v6 = v6
        v4Lines = LineTable(v4)
        var h = StableHash()
        for (list, names) in zip(lists, networks) {
            for x in list + ["|"] + names + ["\n"] { h.add(Array(x.utf8)) }
        }
        for (start, cls) in zip(v4.starts, v4.classes) { h.add(UInt64(start) << 16 | UInt64(cls)) }
        for (start, cls) in zip(v6.starts, v6.classes) {
            h.add(UInt64(truncatingIfNeeded: start >> 64))
            h.add(UInt64(truncatingIfNeeded: start) ^ UInt64(cls))
        }
        fingerprint = h.value
    }

    /// The class and ECS scope for an address given as ClientAddress's words (`family` 4 or 6; else class 0, scope
    /// 0). IPv4 is in the top 32 bits of `hi`.
    @inline(__always)
    public func lookup(family: UInt8, hi: UInt64, lo: UInt64) -> (cls: Int, scope: UInt8) {
        switch family {
        case 4:
            let (c, s) = v4Lines.lookup(UInt32(truncatingIfNeeded: hi >> 32))
            return (c, UInt8(s))
        case 6:
            let (c, s) = v6.lookup(UInt128(hi) << 64 | UInt128(lo))
            return (c, UInt8(s))
        default:
            return (0, 0)
        }
    }

    /// Starts loading the cache line `lookup` reads first for this address (the IPv4 block, the IPv6 index slot),
    /// without waiting for it: called as soon as the client is known, the miss overlaps what comes before the
    /// lookup (the name's) instead of stalling it.
    public func prefetch(family: UInt8, hi: UInt64, lo: UInt64) {
        switch family {
        case 4: v4Lines.prefetch(UInt32(truncatingIfNeeded: hi >> 32))
        case 6: v6.prefetch(UInt128(hi) << 64 | UInt128(lo))
        default: break
        }
    }

    /// How a class is named in status, metrics and the query log: its networks joined by `+`, or `other`.
    public func label(_ cls: Int) -> String {
        cls > 0 && cls < networks.count ? networks[cls].joined(separator: "+") : "other"
    }

    /// How many ranges the tables hold (IPv4, IPv6).
    public var rangeCount: (v4: Int, v6: Int) { (v4.starts.count, v6.starts.count) }

    public static func == (a: ClientNetworkMap, b: ClientNetworkMap) -> Bool {
        if a === b || a.knownEqual.withLock({ $0.map === b }) { return true }
        guard a.fingerprint == b.fingerprint, a.lists == b.lists, a.networks == b.networks, a.v4 == b.v4, a.v6 == b.v6
        else { return false }
        a.knownEqual.withLock { $0.map = b }
        return true
    }
}

/// All networks flattened once (longest match, by network index + 1; 0 = none), from which each pool's map is a
/// linear pass.
struct NetworkPartition {
    let v4: RangeTable<UInt32>
    let v6: RangeTable<UInt128>
    /// Prefixes listed by two networks: (prefix, the network that has it, the other one). The first in config
    /// order keeps it.
    let duplicates: [(prefix: String, kept: String, other: String)]

    init(_ networks: [ClientNetwork]) {
        var p4: [(start: UInt32, length: UInt8, cls: UInt16)] = []
        var p6: [(start: UInt128, length: UInt8, cls: UInt16)] = []
        p4.reserveCapacity(networks.reduce(0) { $0 + $1.prefixes.v4.count })
        for (i, n) in networks.enumerated() {
            let cls = UInt16(i + 1)
            for x in n.prefixes.v4 { p4.append((UInt32(truncatingIfNeeded: x >> 8), UInt8(x & 255), cls)) }
            for (a, l) in zip(n.prefixes.v6, n.prefixes.v6Lengths) { p6.append((a, l, cls)) }
        }
        var dups: [(String, String, String)] = []
        v4 = RangeTable.build(p4) { s, l, a, b in
            dups.append(("\(NetworkPrefixes.ipv4(s))/\(l)", networks[Int(a) - 1].name, networks[Int(b) - 1].name))
        }
        v6 = RangeTable.build(p6) { s, l, a, b in
            dups.append(("\(Self.ipv6(s))/\(l)", networks[Int(a) - 1].name, networks[Int(b) - 1].name))
        }
        duplicates = dups.map { (prefix: $0.0, kept: $0.1, other: $0.2) }
    }

    static func ipv6(_ a: UInt128) -> String {
        let octets = (0..<16).map { UInt8(truncatingIfNeeded: a >> UInt128(120 - 8 * $0)) }
        return IPAddress(octets: octets)?.description ?? "?"
    }

    /// The map for a pool whose `by-network` gives `choices` (network name → lines), `defaultList` being the list its
    /// own policy amounts to, if it is one (failover: its lines in order) — a network with that list answers as
    /// everyone else does and shares their ranges, as gdnsd merges a net whose datacenters are the default's.
    func map(_ networks: [ClientNetwork], choices: [NetworkChoice], defaultList: [String]?) -> ClientNetworkMap {
        var lists: [[String]] = [[]]
        var names: [[String]] = [[]]
        var classOf = [UInt16](repeating: 0, count: networks.count + 1)
        for c in choices {
            guard let i = networks.firstIndex(where: { $0.name == c.network }) else { continue }
            if c.lines == defaultList {
                names[0].append(c.network)
                continue
            }
            if let k = lists.firstIndex(of: c.lines), k > 0 {
                classOf[i + 1] = UInt16(k)
                names[k].append(c.network)
            } else {
                lists.append(c.lines)
                names.append([c.network])
                classOf[i + 1] = UInt16(lists.count - 1)
            }
        }
        func remap<K>(_ t: RangeTable<K>) -> RangeTable<K> {
            var out = RangeTable<K>()
            for (s, c) in zip(t.starts, t.classes) { out.append(s, classOf[Int(c)]) }
            out.finish()
            return out
        }
        return ClientNetworkMap(lists: lists, networks: names, v4: remap(v4), v6: remap(v6))
    }
}

/// One `by-network` entry of a pool: a network and its lines in order of preference.
public struct NetworkChoice: Sendable, Hashable {
    /// The network's name.
    public var network: String
    /// The pool's lines for its clients, the first in answers serving them.
    public var lines: [String]

    /// Makes a choice.
    public init(network: String, lines: [String]) {
        self.network = network
        self.lines = lines
    }
}

extension ClientNetworkMap {
    /// The map of one `by-network` over `networks` (tests, and tools that build one pool's map alone).
    package static func build(_ networks: [ClientNetwork], choices: [NetworkChoice], defaultList: [String]? = nil)
        -> ClientNetworkMap
    {
        NetworkPartition(networks).map(networks, choices: choices, defaultList: defaultList)
    }
}
