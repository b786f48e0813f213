// MessageWriter: builds a message with name compression (RFC 1035 §4.1.4), recording every pointer it writes.

/// Appends header, question and records to a byte buffer, compressing names against those already written.
/// Each pointer it writes is recorded (`pointers`), so a caller can relocate a body built against one question
/// name to another (see Responder's compiled answers).
public struct MessageWriter {
    /// The message so far.
    public private(set) var bytes: [UInt8] = []
    /// Lower-cased names (and their suffixes) already written, with their offsets.
    private var suffixes: [DomainName: Int] = [:]
    /// Names usable only as a whole (never as a suffix of a longer name), with their offsets.
    private var wholeOnly: [DomainName: Int] = [:]
    /// Every compression pointer written: where it is, where it points, and whether it stands for a name
    /// registered with `wholeOnly` (the whole question name) rather than a suffix or an earlier name.
    public private(set) var pointers: [(at: Int, target: Int, whole: Bool)] = []

    /// Starts an empty message.
    public init() {}

    /// Appends raw octets.
    public mutating func append(_ b: some Sequence<UInt8>) { bytes.append(contentsOf: b) }
    /// Appends a big-endian 16-bit integer.
    public mutating func u16(_ v: UInt16) { bytes += [UInt8(v >> 8), UInt8(v & 0xFF)] }
    /// Appends a big-endian 32-bit integer.
    public mutating func u32(_ v: UInt32) { u16(UInt16(v >> 16)); u16(UInt16(v & 0xFFFF)) }

    /// Overwrites a 16-bit integer at `offset` (used for counts and RDLENGTH).
    public mutating func set16(_ v: UInt16, at offset: Int) {
        bytes[offset] = UInt8(v >> 8)
        bytes[offset + 1] = UInt8(v & 0xFF)
    }

    /// Makes `name` (written at `offset`, e.g. the question) available as a compression target. With `floor`,
    /// only the suffixes that are `floor` or its ancestors are registered: the parts of the name that every
    /// name sharing that floor has in common. With `wholeOnly`, the full name is registered for whole-name
    /// matches only (never as the suffix of a longer name).
    public mutating func register(_ name: DomainName, at offset: Int, floor: DomainName? = nil, wholeOnly: Bool = false)
    {
        let lower = name.lowercased()
        if wholeOnly { self.wholeOnly[lower] = offset }
        var cur: DomainName? = lower
        var pos = offset
        while let c = cur, !c.isRoot, pos < 0x4000 {
            let allowed = floor.map { $0.isSubdomain(of: c) } ?? !(wholeOnly && c == lower)
            if allowed, suffixes[c] == nil { suffixes[c] = pos }
            pos += Int(c.wire[0]) + 1
            cur = c.parent
        }
    }

    /// Writes a name, compressed against earlier names when `compress` is set; the labels written in full
    /// become compression targets for later names.
    public mutating func name(_ name: DomainName, compress: Bool = true) {
        guard compress else {
            bytes += name.wire
            return
        }
        let lower = name.lowercased()
        if let whole = wholeOnly[lower] {
            pointers.append((bytes.count, whole, true))
            u16(0xC000 | UInt16(whole))
            return
        }
        var cur: DomainName? = lower
        var written = 0
        var fresh: [(DomainName, Int)] = []
        defer {
            for (n, at) in fresh where at < 0x4000 && suffixes[n] == nil { suffixes[n] = at }
        }
        while let c = cur, !c.isRoot {
            if let target = suffixes[c] {
                pointers.append((bytes.count, target, false))
                u16(0xC000 | UInt16(target))
                return
            }
            fresh.append((c, bytes.count))
            let len = Int(c.wire[0])
            bytes += name.wire[written..<(written + len + 1)]
            written += len + 1
            cur = c.parent
        }
        bytes.append(0)
    }

    /// Writes a question entry.
    public mutating func question(_ name: DomainName, type: RRType, rrClass: RRClass) {
        self.name(name)
        u16(type.rawValue)
        u16(rrClass.rawValue)
    }

    /// Writes a record. Names in RDATA are compressed only for the types that allow it (RFC 3597 §4).
    public mutating func record(_ rr: ResourceRecord, owner: DomainName? = nil) {
        name(owner ?? rr.name)
        u16(rr.type.rawValue)
        u16(rr.rrClass.rawValue)
        u32(rr.ttl)
        let lenAt = bytes.count
        u16(0)
        let start = bytes.count
        if rr.type.mayCompressRData, let layout = rr.type.rdataLayout {
            var i = 0
            for field in layout {
                switch field {
                case .fixed(let n):
                    bytes += rr.rdata[i..<min(i + n, rr.rdata.count)]
                    i += n
                case .name:
                    var j = i
                    while j < rr.rdata.count, rr.rdata[j] != 0 { j += Int(rr.rdata[j]) + 1 }
                    if let n = try? DomainName(wire: Array(rr.rdata[i...min(j, rr.rdata.count - 1)])) {
                        name(n)
                    } else {
                        bytes += rr.rdata[i...]
                    }
                    i = j + 1
                }
            }
        } else {
            bytes += rr.rdata
        }
        set16(UInt16(bytes.count - start), at: lenAt)
    }
}
