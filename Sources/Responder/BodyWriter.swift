// BodyWriter: writes a response body with name compression (RFC 1035 §4.1.4) exactly as `MessageWriter` does, without
// a dictionary of names or an allocation per name: what compiling a hundred thousand aliases needs (issue 27).

import DNSWire

/// A reusable scratch message (header, one question, then the body) whose names are compressed against the question
/// and the names written before them, choosing the same pointers as `MessageWriter` with a question registered whole
/// (`register(_:at:)`): for each name, its longest suffix already written wins, and at equal names the first written.
///
/// `MessageWriter` keeps a dictionary keyed by lower-cased names, a value with an array per name and suffix. Here the
/// compression targets are offsets into the message itself, compared label by label (pointers followed): a body has
/// a handful of names, so a scan costs less than hashing one. Its capacity is kept between bodies.
struct BodyWriter {
    /// The message: 12 header octets, the question name, QTYPE and QCLASS, then the body.
    private(set) var bytes: [UInt8] = []
    /// Offsets of the names (and suffixes) written in full, in the order written: the compression targets.
    private var targets: [Int] = []
    /// Where the body starts in `bytes`.
    private(set) var bodyStart = 0
    /// Offsets in `bytes` of the compression pointers `name` wrote.
    private(set) var pointers: [Int] = []

    /// Starts a body for the question `qname` (wire form): its every suffix becomes a target.
    mutating func start(question qname: [UInt8]) {
        bytes.removeAll(keepingCapacity: true)
        targets.removeAll(keepingCapacity: true)
        pointers.removeAll(keepingCapacity: true)
        for _ in 0..<12 { bytes.append(0) }
        var i = 0
        while qname[i] != 0 {
            targets.append(12 + i)
            i += Int(qname[i]) + 1
        }
        bytes.append(contentsOf: qname)
        for _ in 0..<4 { bytes.append(0) }
        bodyStart = bytes.count
    }

    /// The body written so far.
    var body: ArraySlice<UInt8> { bytes[bodyStart...] }

    /// Appends a big-endian 16-bit integer.
    mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(v >> 8))
        bytes.append(UInt8(v & 0xFF))
    }

    /// Appends a big-endian 32-bit integer.
    mutating func u32(_ v: UInt32) {
        u16(UInt16(v >> 16))
        u16(UInt16(v & 0xFFFF))
    }

    /// Writes the rest of a record of class IN once its owner is written (a pointer, or `name`): type, class, TTL,
    /// then the RDATA `rdata` writes (its names compressed or in full, as the type wants), preceded by its length.
    mutating func record(type: RRType, ttl: UInt32, rdata: (inout BodyWriter) -> Void) {
        u16(type.rawValue)
        u16(1)
        u32(ttl)
        let length = bytes.count
        u16(0)
        rdata(&self)
        let v = UInt16(bytes.count - length - 2)
        bytes[length] = UInt8(v >> 8)
        bytes[length + 1] = UInt8(v & 0xFF)
    }

    /// Appends raw octets.
    mutating func append<C: Collection>(_ octets: C) where C.Element == UInt8 { bytes.append(contentsOf: octets) }

    /// Writes the name `wire` (uncompressed wire form, valid), compressed: its longest suffix already a target becomes
    /// a pointer; the labels written in full become targets (below offset 0x4000, as pointers reach). `MessageWriter`
    /// registers them once the name is done; here they are targets at once, which finds the same: a suffix of a name
    /// never equals a longer suffix of it, and a label is written in full only when no target equals it, so no two
    /// targets are equal and the first found is the one `MessageWriter` has.
    mutating func name<C: RandomAccessCollection>(_ wire: C) where C.Element == UInt8, C.Index == Int {
        var k = wire.startIndex
        while wire[k] != 0 {
            if let target = find(wire, from: k) {
                pointers.append(bytes.count)
                u16(0xC000 | UInt16(target))
                return
            }
            if bytes.count < 0x4000 { targets.append(bytes.count) }
            let len = Int(wire[k])
            bytes.append(contentsOf: wire[k...(k + len)])
            k += len + 1
        }
        bytes.append(0)
    }

    /// The compression pointer to the name `wire` (0xC000 | offset) when it has been written (or is the question's
    /// name or a suffix of it): what `name` would write for it. Nil when it would write a label.
    func pointer<C: RandomAccessCollection>(to wire: C) -> UInt16? where C.Element == UInt8, C.Index == Int {
        guard wire[wire.startIndex] != 0, let target = find(wire, from: wire.startIndex) else { return nil }
        return 0xC000 | UInt16(target)
    }

    /// The first target equal to the suffix of `wire` at `k` (case folded), or nil.
    private func find<C: RandomAccessCollection>(_ wire: C, from k: Int) -> Int?
    where C.Element == UInt8, C.Index == Int {
        for t in targets where equal(at: t, wire, from: k) { return t }
        return nil
    }

    /// True when the name at message offset `p` (pointers followed) equals the suffix of `wire` at `k`, case folded.
    private func equal<C: RandomAccessCollection>(at p: Int, _ wire: C, from k: Int) -> Bool
    where C.Element == UInt8, C.Index == Int {
        var p = p
        var k = k
        while true {
            var len = bytes[p]
            while len & 0xC0 == 0xC0 {
                p = Int(len & 0x3F) << 8 | Int(bytes[p + 1])
                len = bytes[p]
            }
            guard len == wire[k] else { return false }
            if len == 0 { return true }
            for i in 1...Int(len) where DomainName.fold(bytes[p + i]) != DomainName.fold(wire[k + i]) { return false }
            p += Int(len) + 1
            k += Int(len) + 1
        }
    }
}
