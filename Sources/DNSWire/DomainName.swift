// DomainName: a domain name held in uncompressed wire form, compared case-insensitively (RFC 4343).

/// A fully qualified domain name. It keeps the octets as written (case preserved, RFC 4343 §4.1) and compares and
/// hashes them case-insensitively for ASCII letters (RFC 4343 §3), so it can key dictionaries of zone data.
public struct DomainName: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// Uncompressed wire form: length-prefixed labels ending with the zero-length root label.
    public let wire: [UInt8]

    /// The root name `.`.
    public static let root = DomainName(uncheckedWire: [0])

    /// Wraps octets that are already known to be a valid uncompressed name.
    public init(uncheckedWire: [UInt8]) { self.wire = uncheckedWire }

    /// Validates uncompressed wire octets (labels of at most 63 octets, at most 255 in all, root-terminated).
    public init(wire: [UInt8]) throws(DNSWireError) {
        guard wire.count <= 255 else { throw .nameTooLong }
        var i = 0
        while true {
            guard i < wire.count else { throw .truncated(offset: i) }
            let len = Int(wire[i])
            if len == 0 { break }
            guard len <= 63 else { throw .labelTooLong(offset: i) }
            i += 1 + len
        }
        guard i == wire.count - 1 else { throw .badRData(offset: i) }
        self.wire = wire
    }

    /// Parses presentation format (RFC 1035 §5.1): dot-separated labels with `\.` and `\DDD` escapes.
    /// A name without a trailing dot is taken relative to `origin` (absolute when `origin` is nil).
    public init(_ text: String, origin: DomainName? = nil) throws(DNSWireError) {
        if text == "." { self = .root; return }
        if text == "@", let origin { self = origin; return }
        var out: [UInt8] = []
        var label: [UInt8] = []
        var absolute = false
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw .badPresentation(text) }
        var i = 0
        func endLabel() throws(DNSWireError) {
            guard !label.isEmpty else { throw .badPresentation(text) }
            guard label.count <= 63 else { throw .labelTooLong(offset: out.count) }
            out.append(UInt8(label.count))
            out.append(contentsOf: label)
            label.removeAll(keepingCapacity: true)
        }
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\\") {
                guard i + 1 < bytes.count else { throw .badPresentation(text) }
                let d = bytes[i + 1]
                if d >= 0x30 && d <= 0x39 {
                    // `\DDD`: exactly three decimal digits follow the backslash.
                    guard i + 3 < bytes.count else { throw .badPresentation(text) }
                    let digits = bytes[(i + 1)...(i + 3)]
                    guard digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { throw .badPresentation(text) }
                    let value = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
                    guard value <= 255 else { throw .badPresentation(text) }
                    label.append(UInt8(value))
                    i += 4
                } else {
                    label.append(d)
                    i += 2
                }
            } else if c == UInt8(ascii: ".") {
                try endLabel()
                i += 1
                if i == bytes.count { absolute = true }
            } else {
                label.append(c)
                i += 1
            }
        }
        if !label.isEmpty { try endLabel() }
        if absolute || origin == nil {
            out.append(0)
        } else if let origin {
            out.append(contentsOf: origin.wire)
        }
        guard out.count <= 255 else { throw .nameTooLong }
        self.wire = out
    }

    /// The number of labels, not counting the root label (`www.example.com.` has 3).
    public var labelCount: Int {
        var n = 0
        var i = 0
        while wire[i] != 0 {
            n += 1
            i += Int(wire[i]) + 1
        }
        return n
    }

    /// True for the root name.
    public var isRoot: Bool { wire.count == 1 }

    /// The first label's octets (empty for the root).
    public var firstLabel: ArraySlice<UInt8> { isRoot ? [] : wire[1..<(1 + Int(wire[0]))] }

    /// True when the first label is the single octet `*` (RFC 4592 §2.1.1).
    public var isWildcard: Bool { wire.count >= 2 && wire[0] == 1 && wire[1] == UInt8(ascii: "*") }

    /// The name with its first label removed; the root's parent is nil.
    public var parent: DomainName? {
        isRoot ? nil : DomainName(uncheckedWire: Array(wire[(Int(wire[0]) + 1)...]))
    }

    /// This name with `label` put in front (`*` + `example.com.` = `*.example.com.`).
    public func prepending(label: [UInt8]) throws(DNSWireError) -> DomainName {
        guard label.count <= 63, !label.isEmpty else { throw .labelTooLong(offset: 0) }
        guard wire.count + label.count + 1 <= 255 else { throw .nameTooLong }
        return DomainName(uncheckedWire: [UInt8(label.count)] + label + wire)
    }

    /// The wildcard name directly below this one.
    public var wildcardChild: DomainName? { try? prepending(label: [UInt8(ascii: "*")]) }

    /// Replaces the suffix `old` of this name with `new` (DNAME substitution, RFC 6672 §2.2).
    public func replacingSuffix(_ old: DomainName, with new: DomainName) throws(DNSWireError) -> DomainName {
        precondition(isSubdomain(of: old))
        let prefix = wire[0..<(wire.count - old.wire.count)]
        guard prefix.count + new.wire.count <= 255 else { throw .nameTooLong }
        return DomainName(uncheckedWire: Array(prefix) + new.wire)
    }

    /// True when this name equals `other` or lies below it.
    public func isSubdomain(of other: DomainName) -> Bool {
        guard wire.count >= other.wire.count else { return false }
        let start = wire.count - other.wire.count
        // The suffix must begin on a label boundary.
        var i = 0
        while i < start { i += Int(wire[i]) + 1 }
        guard i == start else { return false }
        return DomainName.equalFolded(wire[start...], other.wire[...])
    }

    /// All ancestors from this name up to and including `top` (which must be a suffix), nearest first.
    public func ancestors(upTo top: DomainName) -> [DomainName] {
        var out: [DomainName] = []
        var cur: DomainName? = self
        while let c = cur {
            out.append(c)
            if c == top { break }
            cur = c.parent
        }
        return out
    }

    /// A copy with ASCII letters lower-cased: the canonical form used as a lookup key.
    public func lowercased() -> DomainName {
        DomainName(uncheckedWire: wire.map { DomainName.fold($0) })
    }

    /// Folds one octet to lower case for ASCII letters only (RFC 4343 §3).
    @inline(__always)
    public static func fold(_ b: UInt8) -> UInt8 { (b &- 0x41) < 26 ? b | 0x20 : b }

    static func equalFolded(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in equalFolded(x.baseAddress!, y.baseAddress!, x.count) }
        }
    }

    /// Whether `n` octets at `a` and at `b` are equal, ASCII letters compared without case (RFC 4343 §3).
    @inline(__always)
    public static func equalFolded(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Bool {
        var i = 0
        while i < n {
            if fold(a.load(fromByteOffset: i, as: UInt8.self)) != fold(b.load(fromByteOffset: i, as: UInt8.self)) {
                return false
            }
            i += 1
        }
        return true
    }

    public static func == (lhs: DomainName, rhs: DomainName) -> Bool { equalFolded(lhs.wire[...], rhs.wire[...]) }

    /// Hashes the case-folded octets in one pass (FNV-1a) and feeds the hasher a single word: names are keys of
    /// large dictionaries while zones load, and one `combine` per octet was a large part of loading time.
    public func hash(into hasher: inout Hasher) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        wire.withUnsafeBufferPointer { p in
            for b in p { h = (h ^ UInt64(DomainName.fold(b))) &* 0x100_0000_01b3 }
        }
        hasher.combine(h)
    }

    /// Canonical DNS name order (RFC 4034 §6.1): compare label by label from the right, case-folded.
    /// Allocation-free (sorting a million names for an export must not allocate per comparison): each name's label
    /// offsets go into a stack buffer, then labels are compared from the right.
    public static func < (lhs: DomainName, rhs: DomainName) -> Bool {
        lhs.wire.withUnsafeBufferPointer { l in rhs.wire.withUnsafeBufferPointer { r in canonicalLess(l, r) } }
    }

    /// Canonical order of two names in uncompressed wire form (see `<`), without making name values: what a
    /// search over names kept in arenas compares with.
    public static func canonicalLess(_ l: UnsafeBufferPointer<UInt8>, _ r: UnsafeBufferPointer<UInt8>) -> Bool {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { lo in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { ro in
                let ln = labelOffsets(l, into: lo)
                let rn = labelOffsets(r, into: ro)
                var i = ln - 1
                var j = rn - 1
                while i >= 0 && j >= 0 {
                    let a = Int(lo[i])
                    let b = Int(ro[j])
                    let la = Int(l[a])
                    let lb = Int(r[b])
                    var k = 1
                    while k <= min(la, lb) {
                        let x = fold(l[a + k])
                        let y = fold(r[b + k])
                        if x != y { return x < y }
                        k += 1
                    }
                    if la != lb { return la < lb }
                    i -= 1
                    j -= 1
                }
                return ln < rn
            }
        }
    }

    /// Writes the offset of each label's length octet into `out` (leftmost first); returns the label count.
    @inline(__always)
    private static func labelOffsets(_ wire: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>)
        -> Int
    {
        var n = 0
        var i = 0
        while i < wire.count, wire[i] != 0, n < out.count {
            out[n] = UInt8(i)
            n += 1
            i += Int(wire[i]) + 1
        }
        return n
    }

    /// The labels' octets, leftmost first.
    public var labelSlices: [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        var i = 0
        while wire[i] != 0 {
            let len = Int(wire[i])
            out.append(wire[(i + 1)..<(i + 1 + len)])
            i += len + 1
        }
        return out
    }

    /// Presentation format with a trailing dot; `.` and `\` and non-printable octets escaped (RFC 1035 §5.1).
    public var description: String {
        if isRoot { return "." }
        var s = ""
        for label in labelSlices {
            for b in label {
                switch b {
                case UInt8(ascii: "."), UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "("),
                    UInt8(ascii: ")"), UInt8(ascii: ";"), UInt8(ascii: "@"), UInt8(ascii: "$"):
                    s.append("\\")
                    s.append(Character(Unicode.Scalar(b)))
                case 0x21...0x7e:
                    s.append(Character(Unicode.Scalar(b)))
                default:
                    let d = String(b)
                    s.append("\\" + String(repeating: "0", count: 3 - d.count) + d)
                }
            }
            s.append(".")
        }
        return s
    }
}
