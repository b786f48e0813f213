// NSEC3Chain: hashed denial of existence (RFC 5155) with RFC 9276's parameters — SHA-1, no extra iterations, no
// salt, no opt-out — as the alternative to the NSEC chain.

import Crypto
import DNSWire

public enum NSEC3Chain {
    /// The NSEC3PARAM RDATA: SHA-1, flags 0, 0 iterations, no salt (RFC 9276 §3.1).
    public static let paramRDATA: [UInt8] = [1, 0, 0, 0, 0]

    /// The hash of `name` (RFC 5155 §5: SHA-1 of the lower-cased wire name and the empty salt, no iterations).
    public static func hash(_ name: DomainName) -> [UInt8] {
        Array(Insecure.SHA1.hash(data: name.lowercased().wire))
    }

    /// `hash` in base32hex (RFC 4648 §7), lower case, unpadded: the first label of an NSEC3 owner.
    public static func base32hex(_ bytes: [UInt8]) -> String {
        String(decoding: Base32Hex.encode(bytes), as: UTF8.self)
    }

    /// The NSEC3 owner for `name` in the zone `origin`: `<base32hex(hash)>.<origin>`.
    public static func owner(of name: DomainName, origin: DomainName) -> DomainName {
        let label = Array(base32hex(hash(name)).utf8)
        return DomainName(uncheckedWire: [UInt8(label.count)] + label + origin.wire)
    }

    /// The NSEC3 records for `nodes` (canonical order, each with the types it owns): one for every name that is
    /// authoritative, a delegation point, or an empty non-terminal between them (RFC 5155 §7.1), in hash order,
    /// each pointing at the next hash and the last back to the first. Bitmaps: the name's types and RRSIG when it
    /// has signed data; a delegation's NS and DS (RRSIG with a DS); an empty non-terminal's none.
    public static func records(origin: DomainName, nodes: [(name: DomainName, types: Set<RRType>)], ttl: UInt32)
        -> [ResourceRecord]
    {
        var named: [DomainName: Set<RRType>] = [:]
        var cut: DomainName?
        for (name, types) in nodes {
            if let c = cut, name.isSubdomain(of: c), name != c { continue }
            cut = nil
            guard !types.isEmpty || name == origin else { continue }
            var bitmap: Set<RRType>
            if name != origin && types.contains(.ns) {
                cut = name
                bitmap = types.intersection([.ns, .ds])
                if types.contains(.ds) { bitmap.insert(.rrsig) }
            } else {
                bitmap = types.union([.rrsig])
            }
            named[name, default: []].formUnion(bitmap)
            // Empty non-terminals between this name and the apex.
            for anc in name.ancestors(upTo: origin).dropFirst() where named[anc] == nil {
                named[anc] = []
            }
        }
        let hashed = named.map { (hash: hash($0.key), types: $0.value) }.sorted {
            $0.hash.lexicographicallyPrecedes($1.hash)
        }
        return hashed.enumerated().map { i, entry in
            let next = hashed[(i + 1) % hashed.count].hash
            let label = Array(base32hex(entry.hash).utf8)
            let owner = DomainName(uncheckedWire: [UInt8(label.count)] + label + origin.wire)
            // Algorithm, flags, iterations, salt length (from NSEC3PARAM), hash length, next hash, bitmaps.
            return ResourceRecord(
                name: owner, type: .nsec3, ttl: ttl, rdata: paramRDATA + [20] + next + NSECChain.bitmap(entry.types))
        }
    }
}
