// ZoneSigner: what DNSSEC adds to a zone — DNSKEY, CDS/CDNSKEY, the NSEC chain and an RRSIG over every authoritative
// RRset — with signatures cached by content and validity window, so an RRset seen before costs no signing.

import Crypto
import DNSWire
import Foundation
import Synchronization

/// The NSEC chain (RFC 4034 §4) of a zone's names.
public enum NSECChain {
    /// The NSEC records for `nodes` (canonical order, each with the types it owns; RRSIG and NSEC are added here):
    /// one for every name that is authoritative or a delegation point, linked in order and back to the apex. Names
    /// below a delegation (glue) and empty non-terminals have none; a delegation point's bitmap lists NS and DS
    /// alone (RFC 4035 §2.3). `ttl`: the SOA's negative TTL (RFC 9077).
    public static func records(origin: DomainName, nodes: [(name: DomainName, types: Set<RRType>)], ttl: UInt32)
        -> [ResourceRecord]
    {
        var chain: [(DomainName, Set<RRType>)] = []
        var cut: DomainName?
        for (name, types) in nodes {
            if let c = cut, name.isSubdomain(of: c), name != c { continue }
            cut = nil
            guard !types.isEmpty else { continue }
            if name != origin && types.contains(.ns) {
                cut = name
                chain.append((name, types.intersection([.ns, .ds]).union([.nsec, .rrsig])))
            } else {
                chain.append((name, types.union([.nsec, .rrsig])))
            }
        }
        return chain.enumerated().map { i, entry in
            let next = i + 1 < chain.count ? chain[i + 1].0 : origin
            return ResourceRecord(
                name: entry.0, type: .nsec, ttl: ttl, rdata: next.wire + bitmap(entry.1))
        }
    }

    /// The types a type bit maps field lists (the inverse of `bitmap`).
    public static func types(fromBitmap bytes: ArraySlice<UInt8>) -> Set<RRType> {
        var out: Set<RRType> = []
        var i = bytes.startIndex
        while i + 1 < bytes.endIndex {
            let window = Int(bytes[i])
            let length = Int(bytes[i + 1])
            for j in 0..<length where i + 2 + j < bytes.endIndex {
                let octet = bytes[i + 2 + j]
                for bit in 0..<8 where octet & (0x80 >> UInt8(bit)) != 0 {
                    out.insert(RRType(UInt16(window << 8 | (j * 8 + bit))))
                }
            }
            i += 2 + length
        }
        return out
    }

    /// The type bit maps field (RFC 4034 §4.1.2): per window of 256 types, its number, the octets needed and the
    /// bits.
    public static func bitmap(_ types: Set<RRType>) -> [UInt8] {
        var windows: [UInt8: [UInt8]] = [:]
        for t in types {
            let window = UInt8(t.rawValue >> 8)
            let bit = Int(t.rawValue & 0xFF)
            var bits = windows[window] ?? []
            if bits.count <= bit / 8 { bits += [UInt8](repeating: 0, count: bit / 8 + 1 - bits.count) }
            bits[bit / 8] |= 0x80 >> UInt8(bit % 8)
            windows[window] = bits
        }
        var out: [UInt8] = []
        for w in windows.keys.sorted() {
            let bits = windows[w]!
            out += [w, UInt8(bits.count)] + bits
        }
        return out
    }
}

/// Signs the zones of one server with their keys, caching signatures. Thread-safe; signing runs where it is called
/// (the builder), never on a thread that serves queries.
public final class ZoneSigner: Sendable {
    /// How names that do not exist are proven so: NSEC (RFC 4034), or NSEC3 with RFC 9276's parameters (RFC 5155).
    public enum Denial: String, Sendable, Equatable, CaseIterable {
        case nsec, nsec3
    }

    /// How long signatures are valid, when they are refreshed, how far inception is back-dated.
    public struct Policy: Sendable, Equatable {
        /// Seconds a new signature is valid from now (default 14 days).
        public var validity: UInt32 = 14 * 86400
        /// Signatures are made anew once less than this is left (default 7 days).
        public var refresh: UInt32 = 7 * 86400
        /// Inception is this far in the past, for validators whose clocks are behind (default 1 hour).
        public var backdate: UInt32 = 3600
        /// Each signature's expiration is this much later at most, by an amount derived from its RRset (the same
        /// every time it is signed in a window), so that a zone's signatures do not all expire at one moment
        /// (default 1 hour; 0: none).
        public var jitter: UInt32 = 3600
        public init() {}
    }

    private struct CacheKey: Hashable {
        var digest: [UInt8]
        var key: UInt16
    }

    private let cache = Mutex<[CacheKey: ResourceRecord]>([:])
    /// Signatures made (not served from the cache), for metrics and tests.
    private let made = Atomic<Int>(0)
    public let policy: Policy

    public init(policy: Policy = Policy()) { self.policy = policy }

    public var signaturesMade: Int { made.load(ordering: .relaxed) }

    /// The window for signatures made at `now`: the same for every signature made until only `refresh` of its
    /// validity is left, so that signatures made within one window are the same and the cache finds them.
    public func validity(at now: UInt32) -> Validity {
        // Windows start every `validity − refresh` seconds, so a window's signatures are made anew (by the next
        // window) when `refresh` of their validity is left.
        let step = max(policy.validity > policy.refresh ? policy.validity - policy.refresh : policy.validity, 1)
        let start = now - now % step
        return Validity(inception: start &- policy.backdate, expiration: start &+ policy.validity)
    }

    /// The RRSIG of `records` (one RRset) with `key` for `validity`: from the cache when this RRset was signed in
    /// this window before.
    public func signature(_ records: [ResourceRecord], key: SigningKey, validity: Validity) throws -> ResourceRecord {
        let first = records[0]
        var h = SHA256()
        h.update(data: first.name.lowercased().wire)
        h.update(data: [UInt8(first.type.rawValue >> 8), UInt8(first.type.rawValue & 0xFF)])
        h.update(data: Signer.canonicalRRset(records, ttl: first.ttl))
        var windowOctets: [UInt8] = []
        Signer.put32(&windowOctets, validity.inception)
        Signer.put32(&windowOctets, validity.expiration)
        h.update(data: windowOctets)
        let digest = Array(h.finalize())
        let ck = CacheKey(digest: digest, key: key.keyTag)
        if let hit = cache.withLock({ $0[ck] }) { return hit }
        var jittered = validity
        if policy.jitter > 0 {
            jittered.expiration &+= digest[0..<4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } % policy.jitter
        }
        let sig = try Signer.sign(records, key: key, validity: jittered)
        made.add(1, ordering: .relaxed)
        cache.withLock { $0[ck] = sig }
        return sig
    }

    /// Drops cached signatures of windows that have ended (after a refresh).
    public func forget(before now: UInt32) {
        cache.withLock { c in
            c = c.filter { _, sig in
                let rd = sig.rdata
                let expiration = UInt32(rd[8]) << 24 | UInt32(rd[9]) << 16 | UInt32(rd[10]) << 8 | UInt32(rd[11])
                return expiration > now
            }
        }
    }

    /// What DNSSEC adds to a zone whose records are `records` (the apex SOA first, then by name in canonical order,
    /// as `Zone.records` gives them): the apex's DNSKEY, CDS and CDNSKEY, the NSEC chain — over `extraNames` too, the
    /// pools' names with the types they answer — and an RRSIG over every authoritative RRset but those at
    /// `unsignedNames` (the pools', signed per variant by the caller) and, without `signSOA`, the SOA (signed per
    /// served serial by the caller). ZSKs sign the zone, KSKs the DNSKEY RRset; a
    /// lone key of either kind signs everything (a combined signing key).
    public func additions(
        origin: DomainName, records: [ResourceRecord], keys: [SigningKey], extraNames: [DomainName: Set<RRType>] = [:],
        unsignedNames: Set<DomainName> = [], denial: Denial = .nsec, signSOA: Bool = true, now: UInt32
    ) throws -> [ResourceRecord] {
        guard let soa = records.first(where: { $0.type == .soa && $0.name == origin }), !keys.isEmpty else { return [] }
        let validity = validity(at: now)
        let zsks = keys.filter { !$0.isKSK }.isEmpty ? keys : keys.filter { !$0.isKSK }
        let ksks = keys.filter(\.isKSK).isEmpty ? keys : keys.filter(\.isKSK)
        let keyTTL = soa.ttl
        var apexAdded: [ResourceRecord] = keys.map { $0.dnskey(ttl: keyTTL) }
        for k in ksks {
            apexAdded.append(ResourceRecord(name: origin, type: .cds, ttl: keyTTL, rdata: k.dsRDATA))
            apexAdded.append(ResourceRecord(name: origin, type: .cdnskey, ttl: keyTTL, rdata: k.dnskeyRDATA))
        }
        if denial == .nsec3 {
            apexAdded.append(ResourceRecord(name: origin, type: .nsec3param, ttl: 0, rdata: NSEC3Chain.paramRDATA))
        }
        // Group into nodes: records come by name in canonical order, the apex (the least name) first.
        var nodes: [(name: DomainName, sets: [RRType: [ResourceRecord]])] = []
        for r in records {
            if let last = nodes.last, last.name == r.name {
                nodes[nodes.count - 1].sets[r.type, default: []].append(r)
            } else {
                nodes.append((r.name, [r.type: [r]]))
            }
        }
        guard nodes.first?.name == origin else { return [] }
        for r in apexAdded { nodes[0].sets[r.type, default: []].append(r) }
        // Extra names (pools) join the chain where they sort.
        var names = nodes.map { (name: $0.name, types: Set($0.sets.keys)) }
        for (name, types) in extraNames where name.isSubdomain(of: origin) {
            if let i = names.firstIndex(where: { $0.name == name }) {
                names[i].types.formUnion(types)
            } else {
                names.append((name, types))
            }
        }
        names.sort { $0.name < $1.name }
        let negativeTTL = min(soa.ttl, soa.soaMinimum ?? soa.ttl)
        let nsecs =
            denial == .nsec3
            ? NSEC3Chain.records(origin: origin, nodes: names, ttl: negativeTTL)
            : NSECChain.records(origin: origin, nodes: names, ttl: negativeTTL)
        var out = apexAdded + nsecs
        // Signatures: every authoritative RRset (not the NS of a delegation, not glue or anything else below one).
        var cut: DomainName?
        for n in nodes {
            if let c = cut, n.name.isSubdomain(of: c), n.name != c { continue }
            cut = nil
            let delegation = n.name != origin && n.sets[.ns] != nil
            if delegation { cut = n.name }
            for (type, rs) in n.sets.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                if unsignedNames.contains(n.name) && (type == .a || type == .aaaa) { continue }
                if delegation && type != .ds { continue }
                if type == .rrsig || (type == .soa && !signSOA) { continue }
                let signers = type == .dnskey || type == .cds || type == .cdnskey ? ksks : zsks
                for k in signers { out.append(try signature(rs, key: k, validity: validity)) }
            }
        }
        // The pools' names' NSEC (or NSEC3) records are left unsigned here: their bitmaps follow the lines' state,
        // so the caller signs them per build (`ZoneSigning`).
        let perBuild =
            denial == .nsec3
            ? Set(unsignedNames.map { NSEC3Chain.owner(of: $0, origin: origin) }) : unsignedNames
        for nsec in nsecs where !perBuild.contains(nsec.name) {
            for k in zsks { out.append(try signature([nsec], key: k, validity: validity)) }
        }
        return out
    }
}
