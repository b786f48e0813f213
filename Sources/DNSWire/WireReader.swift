// WireReader: a bounds-checked cursor over a received message, with name decompression.

/// Reads integers, names and records from message octets. Every read is bounds-checked and throws on
/// malformed input; nothing here can trap on hostile bytes.
public struct WireReader {
    /// The whole message (compression pointers are offsets into it).
    public let bytes: [UInt8]
    /// The read position.
    public var offset: Int

    /// Starts reading `bytes` at `offset`.
    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    /// Reads one octet.
    public mutating func u8() throws(DNSWireError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(offset: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads a big-endian 16-bit integer.
    public mutating func u16() throws(DNSWireError) -> UInt16 {
        guard offset + 2 <= bytes.count else { throw .truncated(offset: offset) }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    /// Reads a big-endian 32-bit integer.
    public mutating func u32() throws(DNSWireError) -> UInt32 {
        let hi = try u16()
        let lo = try u16()
        return UInt32(hi) << 16 | UInt32(lo)
    }

    /// Reads `n` octets.
    public mutating func take(_ n: Int) throws(DNSWireError) -> [UInt8] {
        guard n >= 0, offset + n <= bytes.count else { throw .truncated(offset: offset) }
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }

    /// Reads a possibly compressed name (RFC 1035 §4.1.4). Pointers must point strictly backwards, which also
    /// rules out loops; the expanded name must fit in 255 octets.
    public mutating func name() throws(DNSWireError) -> DomainName {
        var out: [UInt8] = []
        var pos = offset
        var jumped = false
        var lowestTarget = offset
        while true {
            guard pos < bytes.count else { throw .truncated(offset: pos) }
            let len = bytes[pos]
            switch len & 0xC0 {
            case 0x00:
                if len == 0 {
                    out.append(0)
                    if !jumped { offset = pos + 1 }
                    guard out.count <= 255 else { throw .nameTooLong }
                    return DomainName(uncheckedWire: out)
                }
                guard pos + 1 + Int(len) <= bytes.count else { throw .truncated(offset: pos) }
                out.append(contentsOf: bytes[pos..<(pos + 1 + Int(len))])
                guard out.count < 255 else { throw .nameTooLong }
                pos += 1 + Int(len)
            case 0xC0:
                guard pos + 1 < bytes.count else { throw .truncated(offset: pos) }
                let target = Int(UInt16(len & 0x3F) << 8 | UInt16(bytes[pos + 1]))
                guard target < lowestTarget else { throw .badPointer(offset: pos) }
                if !jumped { offset = pos + 2 }
                jumped = true
                lowestTarget = target
                pos = target
            default:
                throw .badLabelType(offset: pos)
            }
        }
    }

    /// Reads one resource record, expanding names inside the RDATA of the types that carry them.
    public mutating func record() throws(DNSWireError) -> ResourceRecord {
        let owner = try name()
        let type = RRType(try u16())
        let cls = RRClass(rawValue: try u16())
        let ttl = try u32()
        let rdlen = Int(try u16())
        let start = offset
        guard start + rdlen <= bytes.count else { throw .badRData(offset: start) }
        var rdata: [UInt8]
        if let layout = type.rdataLayout {
            rdata = []
            for field in layout {
                switch field {
                case .name: rdata += try name().wire
                case .fixed(let n): rdata += try take(n)
                }
            }
            guard offset == start + rdlen else { throw .badRData(offset: start) }
        } else {
            rdata = try take(rdlen)
        }
        return ResourceRecord(name: owner, type: type, rrClass: cls, ttl: ttl, rdata: rdata)
    }
}
