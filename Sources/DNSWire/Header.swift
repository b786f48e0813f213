// Header: the fixed 12-octet DNS message header (RFC 1035 §4.1.1).

/// The DNS message header. Flags are kept as the raw 16-bit word with accessors for each field.
public struct Header: Hashable, Sendable {
    /// The query identifier, copied into the response.
    public var id: UInt16
    /// QR, Opcode, AA, TC, RD, RA, Z, AD, CD and RCODE as on the wire.
    public var flags: UInt16
    /// Entries in the question section.
    public var qdCount: UInt16
    /// Records in the answer section.
    public var anCount: UInt16
    /// Records in the authority section.
    public var nsCount: UInt16
    /// Records in the additional section.
    public var arCount: UInt16

    /// Makes a header; all counts zero unless given.
    public init(
        id: UInt16 = 0, flags: UInt16 = 0, qdCount: UInt16 = 0, anCount: UInt16 = 0, nsCount: UInt16 = 0,
        arCount: UInt16 = 0
    ) {
        self.id = id
        self.flags = flags
        self.qdCount = qdCount
        self.anCount = anCount
        self.nsCount = nsCount
        self.arCount = arCount
    }

    /// Bit masks of the flag word (RFC 1035 §4.1.1, RFC 4035 §3.2 for AD and CD).
    public enum Flag {
        public static let qr: UInt16 = 0x8000
        public static let aa: UInt16 = 0x0400
        public static let tc: UInt16 = 0x0200
        public static let rd: UInt16 = 0x0100
        public static let ra: UInt16 = 0x0080
        public static let z: UInt16 = 0x0040
        public static let ad: UInt16 = 0x0020
        public static let cd: UInt16 = 0x0010
    }

    /// True for a response.
    public var qr: Bool { flags & Flag.qr != 0 }
    /// Authoritative answer.
    public var aa: Bool { flags & Flag.aa != 0 }
    /// Truncated.
    public var tc: Bool { flags & Flag.tc != 0 }
    /// Recursion desired.
    public var rd: Bool { flags & Flag.rd != 0 }
    /// Recursion available.
    public var ra: Bool { flags & Flag.ra != 0 }
    /// Authentic data.
    public var ad: Bool { flags & Flag.ad != 0 }
    /// Checking disabled.
    public var cd: Bool { flags & Flag.cd != 0 }
    /// The 4-bit opcode.
    public var opcode: OpCode { OpCode(rawValue: UInt8((flags >> 11) & 0xF)) }
    /// The low 4 bits of the response code.
    public var rcodeLow: UInt16 { flags & 0xF }

    /// Reads a header from the first 12 octets.
    public init(bytes: some Collection<UInt8>) throws(DNSWireError) {
        guard bytes.count >= 12 else { throw .truncated(offset: bytes.count) }
        let b = Array(bytes.prefix(12))
        func u16(_ i: Int) -> UInt16 { UInt16(b[i]) << 8 | UInt16(b[i + 1]) }
        self.init(id: u16(0), flags: u16(2), qdCount: u16(4), anCount: u16(6), nsCount: u16(8), arCount: u16(10))
    }

    /// The 12 octets of this header.
    public var bytes: [UInt8] {
        [id, flags, qdCount, anCount, nsCount, arCount].flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}
