// RRType: resource-record type codes (RFC 1035 §3.2.2 and later registrations), with mnemonics.

/// A resource-record type. Unknown codes are kept as numbers and printed as `TYPEnnn` (RFC 3597 §5).
public struct RRType: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The 16-bit type code.
    public var rawValue: UInt16
    /// Makes a type from its code.
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// Makes a type from its code.
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    public static let a = RRType(1)
    public static let ns = RRType(2)
    public static let cname = RRType(5)
    public static let soa = RRType(6)
    public static let mb = RRType(7)
    public static let mg = RRType(8)
    public static let mr = RRType(9)
    public static let ptr = RRType(12)
    public static let hinfo = RRType(13)
    public static let minfo = RRType(14)
    public static let mx = RRType(15)
    public static let txt = RRType(16)
    public static let rp = RRType(17)
    public static let afsdb = RRType(18)
    public static let rt = RRType(21)
    public static let px = RRType(26)
    public static let aaaa = RRType(28)
    public static let loc = RRType(29)
    public static let srv = RRType(33)
    public static let naptr = RRType(35)
    public static let kx = RRType(36)
    public static let dname = RRType(39)
    public static let opt = RRType(41)
    public static let ds = RRType(43)
    public static let rrsig = RRType(46)
    public static let nsec = RRType(47)
    public static let dnskey = RRType(48)
    public static let nsec3 = RRType(50)
    public static let nsec3param = RRType(51)
    public static let cds = RRType(59)
    public static let cdnskey = RRType(60)
    public static let svcb = RRType(64)
    public static let https = RRType(65)
    public static let spf = RRType(99)
    public static let tsig = RRType(250)
    public static let ixfr = RRType(251)
    public static let axfr = RRType(252)
    public static let mailb = RRType(253)
    public static let maila = RRType(254)
    public static let any = RRType(255)
    public static let caa = RRType(257)

    private static let names: [UInt16: String] = [
        1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 7: "MB", 8: "MG", 9: "MR", 12: "PTR", 13: "HINFO", 14: "MINFO",
        15: "MX", 16: "TXT", 17: "RP", 18: "AFSDB", 21: "RT", 26: "PX", 28: "AAAA", 29: "LOC", 33: "SRV", 35: "NAPTR",
        36: "KX",
        39: "DNAME", 41: "OPT", 43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 50: "NSEC3", 51: "NSEC3PARAM",
        59: "CDS", 60: "CDNSKEY",
        64: "SVCB", 65: "HTTPS", 99: "SPF", 250: "TSIG", 251: "IXFR", 252: "AXFR", 253: "MAILB", 254: "MAILA",
        255: "ANY", 257: "CAA",
    ]

    /// The mnemonic, or `TYPEnnn` for a type without one.
    public var description: String { Self.names[rawValue] ?? "TYPE\(rawValue)" }

    /// Parses a mnemonic (case-insensitive) or the RFC 3597 `TYPEnnn` form.
    public init?(mnemonic: String) {
        let upper = mnemonic.uppercased()
        if let hit = Self.names.first(where: { $0.value == upper }) {
            self.init(hit.key)
        } else if upper.hasPrefix("TYPE"), let code = UInt16(upper.dropFirst(4)) {
            self.init(code)
        } else {
            return nil
        }
    }

    /// Meta and question-only types (RFC 6895 §3.1: 128–255), which never appear as zone data.
    public var isMeta: Bool { rawValue >= 128 && rawValue <= 255 || self == .opt }

    public static func < (lhs: RRType, rhs: RRType) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A record class (RFC 1035 §3.2.4).
public struct RRClass: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The 16-bit class code.
    public var rawValue: UInt16
    /// Makes a class from its code.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let `in` = RRClass(rawValue: 1)
    public static let ch = RRClass(rawValue: 3)
    public static let hs = RRClass(rawValue: 4)
    public static let none = RRClass(rawValue: 254)
    public static let any = RRClass(rawValue: 255)

    /// The mnemonic, or `CLASSnnn`.
    public var description: String {
        switch rawValue {
        case 1: "IN"
        case 3: "CH"
        case 4: "HS"
        case 254: "NONE"
        case 255: "ANY"
        default: "CLASS\(rawValue)"
        }
    }
}

/// A response code, including the extended codes carried partly in the OPT record (RFC 6891 §6.1.3).
public struct RCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The 12-bit response code (4 bits in the header, 8 more in OPT).
    public var rawValue: UInt16
    /// Makes a response code from its value.
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let noError = RCode(rawValue: 0)
    public static let formErr = RCode(rawValue: 1)
    public static let servFail = RCode(rawValue: 2)
    public static let nxDomain = RCode(rawValue: 3)
    public static let notImp = RCode(rawValue: 4)
    public static let refused = RCode(rawValue: 5)
    public static let notAuth = RCode(rawValue: 9)
    public static let badVers = RCode(rawValue: 16)

    /// The mnemonic as dig prints it.
    public var description: String {
        switch rawValue {
        case 0: "NOERROR"
        case 1: "FORMERR"
        case 2: "SERVFAIL"
        case 3: "NXDOMAIN"
        case 4: "NOTIMP"
        case 5: "REFUSED"
        case 9: "NOTAUTH"
        case 16: "BADVERS"
        default: "RCODE\(rawValue)"
        }
    }
}

/// A message opcode (RFC 1035 §4.1.1, RFC 1996, RFC 2136).
public struct OpCode: RawRepresentable, Hashable, Sendable {
    /// The 4-bit opcode.
    public var rawValue: UInt8
    /// Makes an opcode from its value.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let query = OpCode(rawValue: 0)
    public static let status = OpCode(rawValue: 2)
    public static let notify = OpCode(rawValue: 4)
    public static let update = OpCode(rawValue: 5)
}
