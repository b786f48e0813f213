// Signer: RRSIG records over RRsets in their canonical form (RFC 4034 §3.1.8.1, §6), and their verification.

import Crypto
import DNSWire

/// A signature's validity window, in seconds since 1970 (RFC 4034 §3.1.5: serial-number arithmetic on 32 bits).
public struct Validity: Sendable, Equatable, Hashable {
    public var inception: UInt32
    public var expiration: UInt32
    public init(inception: UInt32, expiration: UInt32) {
        self.inception = inception
        self.expiration = expiration
    }
}

public enum Signer {
    /// The RRSIG over `records` (one RRset: same owner, type and class) made with `key`: type covered, algorithm,
    /// labels (the owner's, less a leading `*`), the original TTL, the window, key tag, signer (the zone), and the
    /// signature over that RDATA and the RRset in canonical form and order.
    public static func sign(_ records: [ResourceRecord], key: SigningKey, validity: Validity) throws -> ResourceRecord {
        try sign(records, key: key, validity: validity, with: key.prepared())
    }

    /// `sign` with the private key made ready before (`SigningKey.prepared`), for signing many RRsets.
    /// `canonical`: the RRset in canonical form, when the caller made it already.
    static func sign(
        _ records: [ResourceRecord], key: SigningKey, validity: Validity, with prepared: SigningKey.Prepared,
        canonical: [UInt8]? = nil
    ) throws -> ResourceRecord {
        let first = records[0]
        let head = rrsigHead(
            type: first.type, owner: first.name, ttl: first.ttl, key: key, validity: validity)
        let signature = try prepared.sign(head + (canonical ?? canonicalRRset(records, ttl: first.ttl)))
        return ResourceRecord(name: first.name, type: .rrsig, ttl: first.ttl, rdata: head + signature)
    }

    /// RRSIG RDATA up to the signature.
    static func rrsigHead(
        type: RRType, owner: DomainName, ttl: UInt32, key: SigningKey, validity: Validity
    ) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(18 + key.signerWire.count)
        put16(&out, type.rawValue)
        out.append(key.algorithm.rawValue)
        out.append(UInt8(owner.labelCount - (owner.isWildcard ? 1 : 0)))
        put32(&out, ttl)
        put32(&out, validity.expiration)
        put32(&out, validity.inception)
        put16(&out, key.keyTag)
        out += key.signerWire
        return out
    }

    /// The RRset in canonical form (RFC 4034 §6.2) and order (§6.3): each record as lower-cased owner, type,
    /// class, the original TTL, RDATA length and canonical RDATA, sorted by canonical RDATA; duplicates once.
    static func canonicalRRset(_ records: [ResourceRecord], ttl: UInt32) -> [UInt8] {
        let owner = records[0].name.lowercased().wire
        let type = records[0].type
        // Most RRsets hold one record: no set, no sort.
        let rdatas =
            records.count == 1
            ? [canonicalRDATA(type, records[0].rdata)]
            : Set(records.map { canonicalRDATA($0.type, $0.rdata) }).sorted { $0.lexicographicallyPrecedes($1) }
        var out = [UInt8]()
        out.reserveCapacity(rdatas.reduce(0) { $0 + owner.count + 10 + $1.count })
        for rd in rdatas {
            out += owner
            put16(&out, type.rawValue)
            put16(&out, records[0].rrClass.rawValue)
            put32(&out, ttl)
            put16(&out, UInt16(rd.count))
            out += rd
        }
        return out
    }

    /// RDATA with the names in it lower-cased for the types RFC 4034 §6.2 lists, less NSEC (RFC 6840 §5.1).
    public static func canonicalRDATA(_ type: RRType, _ rdata: [UInt8]) -> [UInt8] {
        let fields: [RDataField]
        switch type {
        case .rt, .px: fields = type == .rt ? [.fixed(2), .name] : [.fixed(2), .name, .name]
        case .rrsig: fields = [.fixed(18), .name]
        case .naptr:
            // ORDER, PREFERENCE, then FLAGS, SERVICES and REGEXP (each a length and octets), then the name.
            var i = 4
            for _ in 0..<3 where i < rdata.count { i += 1 + Int(rdata[i]) }
            guard i <= rdata.count else { return rdata }
            return Array(rdata[..<i]) + lowerNames(Array(rdata[i...]), [.name])
        default:
            guard let layout = type.rdataLayout else { return rdata }
            fields = layout
        }
        return lowerNames(rdata, fields)
    }

    /// `rdata` with the names at `fields` lower-cased (octets after the last field kept).
    static func lowerNames(_ rdata: [UInt8], _ fields: [RDataField]) -> [UInt8] {
        var out = rdata
        var i = 0
        for f in fields {
            switch f {
            case .fixed(let n): i += n
            case .name:
                while i < out.count {
                    let len = Int(out[i])
                    if len == 0 || len & 0xC0 != 0 { i += 1; break }
                    for j in (i + 1)..<min(out.count, i + 1 + len) { out[j] = DomainName.fold(out[j]) }
                    i += 1 + len
                }
            }
        }
        return out
    }

    /// Whether `rrsig` is a valid signature by `key` over `records` (for tests and self-checks).
    public static func verify(_ rrsig: ResourceRecord, over records: [ResourceRecord], key: SigningKey) -> Bool {
        let rd = rrsig.rdata
        let signerEnd = 18 + key.zone.wire.count
        guard rd.count > signerEnd, !records.isEmpty else { return false }
        let ttl = UInt32(rd[4]) << 24 | UInt32(rd[5]) << 16 | UInt32(rd[6]) << 8 | UInt32(rd[7])
        let data = Array(rd[..<signerEnd]) + canonicalRRset(records, ttl: ttl)
        let sig = Array(rd[signerEnd...])
        switch key.algorithm {
        case .ecdsaP256SHA256:
            guard let s = try? P256.Signing.ECDSASignature(rawRepresentation: sig),
                let pub = try? P256.Signing.PublicKey(rawRepresentation: key.publicKey)
            else { return false }
            return pub.isValidSignature(s, for: data)
        case .ed25519:
            guard let pub = try? Curve25519.Signing.PublicKey(rawRepresentation: key.publicKey) else { return false }
            return pub.isValidSignature(sig, for: data)
        }
    }

    static func put16(_ out: inout [UInt8], _ v: UInt16) { out += [UInt8(v >> 8), UInt8(v & 0xFF)] }
    static func put32(_ out: inout [UInt8], _ v: UInt32) {
        out += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }
}
