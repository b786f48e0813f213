// Verifier: RRSIGs checked against DNSKEYs (RFC 4035 §5.3) for zones signed elsewhere — RSA/SHA-1, RSA/SHA-256,
// RSA/SHA-512, ECDSA P-256 and P-384, Ed25519 — with swift-crypto (RSA from its _CryptoExtras).

import Crypto
import DNSWire
import _CryptoExtras

/// An RRSIG's RDATA read into its fields (RFC 4034 §3.1).
public struct RRSIGData: Sendable, Equatable {
    public var typeCovered: RRType
    public var algorithm: UInt8
    public var labels: UInt8
    public var originalTTL: UInt32
    /// Seconds since 1970, modulo 2^32 (RFC 4034 §3.1.5: compared with serial-number arithmetic).
    public var expiration: UInt32
    public var inception: UInt32
    public var keyTag: UInt16
    public var signer: DomainName
    /// The RDATA up to the signature with the signer's name lower-cased: what is signed ahead of the RRset.
    public var signedPart: [UInt8]
    public var signature: [UInt8]

    /// Reads RRSIG RDATA; nil when it is too short or its signer's name does not read.
    public init?(rdata: some Collection<UInt8>) {
        let rd = Array(rdata)
        guard rd.count > 19 else { return nil }
        func u32(_ i: Int) -> UInt32 {
            UInt32(rd[i]) << 24 | UInt32(rd[i + 1]) << 16 | UInt32(rd[i + 2]) << 8 | UInt32(rd[i + 3])
        }
        typeCovered = RRType(UInt16(rd[0]) << 8 | UInt16(rd[1]))
        algorithm = rd[2]
        labels = rd[3]
        originalTTL = u32(4)
        expiration = u32(8)
        inception = u32(12)
        keyTag = UInt16(rd[16]) << 8 | UInt16(rd[17])
        // The signer's name: uncompressed labels up to the root (RFC 4034 §3.1.7).
        var i = 18
        while i < rd.count, rd[i] != 0 {
            guard rd[i] & 0xC0 == 0 else { return nil }
            i += Int(rd[i]) + 1
        }
        guard i < rd.count, i - 18 < 255, let name = try? DomainName(wire: Array(rd[18...i])) else { return nil }
        signer = name
        signedPart = Array(rd[..<18]) + name.lowercased().wire
        signature = Array(rd[(i + 1)...])
    }
}

/// A DNSKEY's RDATA read into its fields (RFC 4034 §2.1).
public struct DNSKEYData: Sendable, Equatable {
    public var flags: UInt16
    public var protocolField: UInt8
    public var algorithm: UInt8
    public var publicKey: [UInt8]
    /// RFC 4034 Appendix B.
    public var keyTag: UInt16

    /// Reads DNSKEY RDATA; nil when it is shorter than its fixed part.
    public init?(rdata: some Collection<UInt8>) {
        let rd = Array(rdata)
        guard rd.count > 4 else { return nil }
        flags = UInt16(rd[0]) << 8 | UInt16(rd[1])
        protocolField = rd[2]
        algorithm = rd[3]
        publicKey = Array(rd[4...])
        keyTag = SigningKey.keyTag(rd)
    }

    /// A zone key (flags bit 7) with protocol 3: the only kind that may verify a zone's data (RFC 4034 §2.1.1).
    public var isZoneKey: Bool { flags & 0x0100 != 0 && protocolField == 3 }
}

/// Verifies RRSIGs over RRsets, as a validator would (RFC 4035 §5.3), less the time check (the caller's, since a
/// zone check also wants to know what expires soon).
public enum Verifier {
    /// What one signature verification found.
    public enum Outcome: Sendable, Equatable {
        case valid
        /// The signature does not verify with the key: the data, the signature or the key changed after signing.
        case invalid
        /// An algorithm this build cannot verify (DSA, GOST, Ed448…): not a verdict on the signature.
        case unsupportedAlgorithm
    }

    /// The algorithms verified: RSASHA1 (5) and its NSEC3 alias (7), RSASHA256 (8), RSASHA512 (10),
    /// ECDSAP256SHA256 (13), ECDSAP384SHA384 (14), ED25519 (15).
    public static let algorithms: Set<UInt8> = [5, 7, 8, 10, 13, 14, 15]

    /// Whether `sig` is `key`'s signature over the RRset of `owner` and `type` whose RDATAs are `rdatas` (any
    /// order; duplicates count once). The RRset is put in canonical form with the signature's original TTL, and
    /// a wildcard's expanded owner is taken back to the wildcard by the labels field (RFC 4035 §5.3.2).
    public static func verify(
        _ sig: RRSIGData, owner: DomainName, type: RRType, rrClass: RRClass = .in, rdatas: [[UInt8]],
        key: DNSKEYData
    ) -> Outcome {
        guard algorithms.contains(sig.algorithm) else { return .unsupportedAlgorithm }
        guard key.algorithm == sig.algorithm, !rdatas.isEmpty else { return .invalid }
        let name = signedOwner(owner, labels: Int(sig.labels))
        let records = rdatas.map { ResourceRecord(name: name, type: type, rrClass: rrClass, ttl: 0, rdata: $0) }
        let data = sig.signedPart + Signer.canonicalRRset(records, ttl: sig.originalTTL)
        return check(signature: sig.signature, over: data, algorithm: sig.algorithm, publicKey: key.publicKey)
            ? .valid : .invalid
    }

    /// The owner as signed: when the signature's labels field counts fewer labels than the owner has, the owner
    /// is a wildcard's expansion and `*` plus its rightmost `labels` labels was signed.
    static func signedOwner(_ owner: DomainName, labels: Int) -> DomainName {
        let count = owner.labelCount - (owner.isWildcard ? 1 : 0)
        guard labels < count else { return owner }
        var name = owner
        for _ in 0..<(owner.labelCount - labels) { name = name.parent ?? name }
        return (try? name.prepending(label: [UInt8(ascii: "*")])) ?? owner
    }

    /// The signature check proper, by algorithm.
    static func check(signature: [UInt8], over data: [UInt8], algorithm: UInt8, publicKey: [UInt8]) -> Bool {
        switch algorithm {
        case 13:
            guard let s = try? P256.Signing.ECDSASignature(rawRepresentation: signature),
                let k = try? P256.Signing.PublicKey(rawRepresentation: publicKey)
            else { return false }
            return k.isValidSignature(s, for: data)
        case 14:
            guard let s = try? P384.Signing.ECDSASignature(rawRepresentation: signature),
                let k = try? P384.Signing.PublicKey(rawRepresentation: publicKey)
            else { return false }
            return k.isValidSignature(s, for: data)
        case 15:
            guard let k = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return false }
            return k.isValidSignature(signature, for: data)
        case 5, 7, 8, 10:
            guard let k = rsaKey(publicKey) else { return false }
            let s = _RSA.Signing.RSASignature(rawRepresentation: signature)
            switch algorithm {
            case 8: return k.isValidSignature(s, for: SHA256.hash(data: data), padding: .insecurePKCS1v1_5)
            case 10: return k.isValidSignature(s, for: SHA512.hash(data: data), padding: .insecurePKCS1v1_5)
            default: return k.isValidSignature(s, for: Insecure.SHA1.hash(data: data), padding: .insecurePKCS1v1_5)
            }
        default:
            return false
        }
    }

    /// An RSA public key from DNSKEY's form (RFC 3110 §2): the exponent's length in one octet (or, when that is 0,
    /// in the next two), the exponent, then the modulus.
    static func rsaKey(_ key: [UInt8]) -> _RSA.Signing.PublicKey? {
        guard let first = key.first else { return nil }
        var at = 1
        var length = Int(first)
        if length == 0 {
            guard key.count > 3 else { return nil }
            length = Int(key[1]) << 8 | Int(key[2])
            at = 3
        }
        guard length > 0, key.count > at + length else { return nil }
        let e = Array(key[at..<(at + length)])
        let n = Array(key[(at + length)...])
        return try? _RSA.Signing.PublicKey(n: n, e: e)
    }
}
