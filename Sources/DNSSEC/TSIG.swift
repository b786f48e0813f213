// TSIG: transaction signatures (RFC 8945) — verifying a signed request, signing the response and each later message
// of a multi-message (AXFR) response, and signing and checking the messages UplinkDNS sends (NOTIFY). The HMACs
// come from swift-crypto (with the DNSSEC signatures, here rather than in DNSWire, which stays free of crypto).

import Crypto
import DNSWire

/// A shared secret for TSIG.
public struct TSIGKey: Sendable, Equatable {
    /// The key's name, as both ends know it (compared case-insensitively, written lower-cased).
    public var name: DomainName
    /// The algorithm: `hmac-sha256.` (RFC 8945 §6: mandatory to implement, the default), `hmac-sha1.`,
    /// `hmac-sha384.` or `hmac-sha512.`.
    public var algorithm: DomainName
    /// The secret octets (configured in base64).
    public var secret: [UInt8]

    /// The HMAC-SHA256 algorithm name.
    public static let hmacSHA256 = DomainName(uncheckedWire: [11] + Array("hmac-sha256".utf8) + [0])

    /// The algorithms supported, by the name RFC 8945 §6 gives them (without the trailing dot).
    public static let algorithms = ["hmac-sha256", "hmac-sha1", "hmac-sha384", "hmac-sha512"]

    /// The algorithm named `text` (`hmac-sha256` or `hmac-sha256.`, any case), if supported.
    public static func algorithm(_ text: String) -> DomainName? {
        let bare = text.lowercased().trimmingCharacters(in: ["."])
        guard algorithms.contains(bare) else { return nil }
        return DomainName(uncheckedWire: [UInt8(bare.utf8.count)] + Array(bare.utf8) + [0])
    }

    /// The length of this key's MACs (its hash's output).
    public var macLength: Int {
        switch algorithm.description {
        case "hmac-sha1.": 20
        case "hmac-sha384.": 48
        case "hmac-sha512.": 64
        default: 32
        }
    }

    /// The MAC of `message` under this key (RFC 8945 §4.3), from swift-crypto's HMAC.
    public func mac(_ message: [UInt8]) -> [UInt8] {
        let key = SymmetricKey(data: secret)
        switch algorithm.description {
        case "hmac-sha1.": return Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: key))
        case "hmac-sha384.": return Array(HMAC<SHA384>.authenticationCode(for: message, using: key))
        case "hmac-sha512.": return Array(HMAC<SHA512>.authenticationCode(for: message, using: key))
        default: return Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
        }
    }

    /// Makes a key.
    public init(name: DomainName, algorithm: DomainName = TSIGKey.hmacSHA256, secret: [UInt8]) {
        self.name = name.lowercased()
        self.algorithm = algorithm.lowercased()
        self.secret = secret
    }
}

/// A TSIG record's fields, and where it sits in its message.
public struct TSIGRecord: Sendable, Equatable {
    /// The key name (the record's owner).
    public var keyName: DomainName
    /// The algorithm name.
    public var algorithm: DomainName
    /// Seconds since the epoch, 48 bits on the wire.
    public var timeSigned: UInt64
    /// Permitted clock difference in seconds.
    public var fudge: UInt16
    /// The MAC (empty in an unsigned error response).
    public var mac: [UInt8]
    /// The message ID when it was signed.
    public var originalID: UInt16
    /// The TSIG error (RFC 8945 §3: 16 BADSIG, 17 BADKEY, 18 BADTIME, 22 BADTRUNC).
    public var error: UInt16
    /// Other data (the server's time in a BADTIME response).
    public var otherData: [UInt8]
    /// Offset of the record's first octet in the message.
    public var start: Int
}

/// TSIG errors (RFC 8945 §3).
public enum TSIGError: UInt16, Sendable, CustomStringConvertible {
    case badSig = 16
    case badKey = 17
    case badTime = 18
    case badTrunc = 22

    /// The mnemonic, as dig prints it.
    public var description: String {
        switch self {
        case .badSig: "BADSIG"
        case .badKey: "BADKEY"
        case .badTime: "BADTIME"
        case .badTrunc: "BADTRUNC"
        }
    }
}

/// TSIG signing and checking.
public enum TSIG {
    /// The fudge UplinkDNS signs with: 300 s, as RFC 8945 §10 recommends.
    public static let defaultFudge: UInt16 = 300

    /// The result of checking a request.
    public enum Verdict: Sendable, Equatable {
        /// No TSIG record.
        case unsigned
        /// Signed with `key` and the MAC and time are good. `message` is the request without its TSIG record.
        case verified(key: TSIGKey, record: TSIGRecord, message: [UInt8])
        /// Signed, but not acceptably (RFC 8945 §5.2): the answer is NOTAUTH with `error` in its TSIG record,
        /// signed with `key` where one is given (BADTIME), unsigned otherwise.
        case failed(error: TSIGError, record: TSIGRecord, key: TSIGKey?)
    }

    /// Finds the TSIG record of `message`: the last record of the additional section (RFC 8945 §5.1). Nil when
    /// the message has none; throws on a malformed message.
    public static func find(_ message: [UInt8]) throws(DNSWireError) -> TSIGRecord? {
        let header = try Header(bytes: message)
        var r = WireReader(message, offset: 12)
        for _ in 0..<header.qdCount {
            _ = try r.name()
            _ = try r.take(4)
        }
        let total = Int(header.anCount) + Int(header.nsCount) + Int(header.arCount)
        guard total > 0 else { return nil }
        for _ in 0..<(total - 1) {
            _ = try r.name()
            _ = try r.take(8)
            let length = try r.u16()
            _ = try r.take(Int(length))
        }
        let start = r.offset
        let owner = try r.name()
        guard try r.u16() == RRType.tsig.rawValue, header.arCount > 0 else { return nil }
        _ = try r.take(6)  // class, TTL
        let length = Int(try r.u16())
        let end = r.offset + length
        let algorithm = try r.name()
        let high = UInt64(try r.u16())
        let time = high << 32 | UInt64(try r.u32())
        let fudge = try r.u16()
        let mac = try r.take(Int(try r.u16()))
        let id = try r.u16()
        let error = try r.u16()
        let other = try r.take(Int(try r.u16()))
        guard r.offset == end else { throw DNSWireError.badRData(offset: start) }
        return TSIGRecord(
            keyName: owner, algorithm: algorithm, timeSigned: time, fudge: fudge, mac: mac, originalID: id,
            error: error, otherData: other, start: start)
    }

    /// `message` without its TSIG record: ARCOUNT one less and the original ID back (RFC 8945 §4.3.1).
    public static func unsigned(_ message: [UInt8], _ t: TSIGRecord) -> [UInt8] {
        var out = Array(message[0..<t.start])
        out[0] = UInt8(t.originalID >> 8)
        out[1] = UInt8(t.originalID & 0xFF)
        let ar = (UInt16(out[10]) << 8 | UInt16(out[11])) &- 1
        out[10] = UInt8(ar >> 8)
        out[11] = UInt8(ar & 0xFF)
        return out
    }

    /// Checks a signed request against `keys` at time `now` (seconds since the epoch), in RFC 8945 §5.2's order:
    /// key and algorithm, then MAC, then time.
    public static func verify(_ message: [UInt8], keys: [TSIGKey], now: UInt64) throws(DNSWireError) -> Verdict {
        guard let t = try find(message) else { return .unsigned }
        guard let key = keys.first(where: { $0.name == t.keyName && $0.algorithm == t.algorithm }) else {
            return .failed(error: .badKey, record: t, key: nil)
        }
        // §5.2.2.1: a MAC shorter than the algorithm's output is a truncated one; UplinkDNS neither sends nor
        // accepts those (allowed: truncation is optional), so it is BADTRUNC.
        guard t.mac.count >= key.macLength else {
            return .failed(error: t.mac.count < 10 ? .badSig : .badTrunc, record: t, key: nil)
        }
        let stripped = unsigned(message, t)
        let expected = key.mac(stripped + variables(t, timersOnly: false))
        guard constantTimeEqual(expected, t.mac) else { return .failed(error: .badSig, record: t, key: nil) }
        let skew = now > t.timeSigned ? now - t.timeSigned : t.timeSigned - now
        guard skew <= UInt64(t.fudge) else { return .failed(error: .badTime, record: t, key: key) }
        return .verified(key: key, record: t, message: stripped)
    }

    /// Signs `message` (a whole DNS message without TSIG) with `key`: appends the TSIG record and counts it in
    /// ARCOUNT. `previousMAC` is the request's MAC for a response (RFC 8945 §4.3.2), or the MAC of the message
    /// before for the later messages of a multi-message response, which sign only the timers (§5.3.1).
    /// Returns the signed message and its MAC (the `previousMAC` of the next message).
    public static func sign(
        _ message: [UInt8], key: TSIGKey, time: UInt64, fudge: UInt16 = TSIG.defaultFudge,
        previousMAC: [UInt8]? = nil, timersOnly: Bool = false, error: UInt16 = 0, otherData: [UInt8] = []
    ) -> (message: [UInt8], mac: [UInt8]) {
        let id = UInt16(message[0]) << 8 | UInt16(message[1])
        var t = TSIGRecord(
            keyName: key.name, algorithm: key.algorithm, timeSigned: time, fudge: fudge, mac: [], originalID: id,
            error: error, otherData: otherData, start: message.count)
        var input: [UInt8] = []
        if let previousMAC { input += u16(UInt16(previousMAC.count)) + previousMAC }
        input += message + variables(t, timersOnly: timersOnly)
        t.mac = key.mac(input)
        return (appending(t, to: message), t.mac)
    }

    /// `message` with an unsigned TSIG record carrying `error` (RFC 8945 §5.3.2: BADKEY, BADSIG, BADTRUNC).
    public static func unsignedError(_ message: [UInt8], request t: TSIGRecord, error: TSIGError) -> [UInt8] {
        var r = t
        r.mac = []
        r.error = error.rawValue
        r.otherData = []
        r.originalID = UInt16(message[0]) << 8 | UInt16(message[1])
        return appending(r, to: message)
    }

    /// Checks a signed response to a request whose MAC was `requestMAC` (for NOTIFY acknowledgements).
    public static func verifyResponse(_ message: [UInt8], key: TSIGKey, requestMAC: [UInt8]) -> Bool {
        guard let t = try? find(message), t.keyName == key.name, t.mac.count == key.macLength else {
            return false
        }
        let input = u16(UInt16(requestMAC.count)) + requestMAC + unsigned(message, t) + variables(t, timersOnly: false)
        return constantTimeEqual(key.mac(input), t.mac)
    }

    /// The TSIG variables the MAC covers (RFC 8945 §4.3.3), or only the timers (§4.3.3, multi-message).
    static func variables(_ t: TSIGRecord, timersOnly: Bool) -> [UInt8] {
        var out: [UInt8] = []
        if !timersOnly {
            out += t.keyName.lowercased().wire
            out += u16(RRClass.any.rawValue) + [0, 0, 0, 0]
            out += t.algorithm.lowercased().wire
        }
        out += time48(t.timeSigned) + u16(t.fudge)
        if !timersOnly {
            out += u16(t.error) + u16(UInt16(t.otherData.count)) + t.otherData
        }
        return out
    }

    static func appending(_ t: TSIGRecord, to message: [UInt8]) -> [UInt8] {
        var rdata = t.algorithm.lowercased().wire + time48(t.timeSigned) + u16(t.fudge)
        rdata += u16(UInt16(t.mac.count)) + t.mac + u16(t.originalID) + u16(t.error)
        rdata += u16(UInt16(t.otherData.count)) + t.otherData
        var out = message
        out += t.keyName.lowercased().wire + u16(RRType.tsig.rawValue) + u16(RRClass.any.rawValue) + [0, 0, 0, 0]
        out += u16(UInt16(rdata.count)) + rdata
        let ar = (UInt16(out[10]) << 8 | UInt16(out[11])) &+ 1
        out[10] = UInt8(ar >> 8)
        out[11] = UInt8(ar & 0xFF)
        return out
    }

    /// A 48-bit time as six octets.
    public static func time48(_ t: UInt64) -> [UInt8] { (0..<6).map { UInt8(truncatingIfNeeded: t >> (8 * (5 - $0))) } }

    static func u16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
}
