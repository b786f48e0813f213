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
        var chain = Stream(origin: origin, ttl: ttl)
        var out: [ResourceRecord] = []
        for (name, types) in nodes { chain.add(name, types) { out.append($0) } }
        chain.finish { out.append($0) }
        return out
    }

    /// The chain made as the names come (canonical order), one NSEC out per name as soon as its successor is known:
    /// what `records` makes, without holding the zone's names.
    public struct Stream {
        let origin: DomainName
        let ttl: UInt32
        var cut: DomainName?
        var pending: (name: DomainName, types: Set<RRType>)?

        public init(origin: DomainName, ttl: UInt32) {
            self.origin = origin
            self.ttl = ttl
        }

        /// The next name with the types it owns; `emit` gets the NSEC of the chain's previous name.
        public mutating func add(_ name: DomainName, _ types: Set<RRType>, emit: (ResourceRecord) throws -> Void)
            rethrows
        {
            if let c = cut, name.isSubdomain(of: c), name != c { return }
            cut = nil
            guard !types.isEmpty else { return }
            let entry: (DomainName, Set<RRType>)
            if name != origin && types.contains(.ns) {
                cut = name
                entry = (name, types.intersection([.ns, .ds]).union([.nsec, .rrsig]))
            } else {
                entry = (name, types.union([.nsec, .rrsig]))
            }
            if let p = pending {
                try emit(ResourceRecord(name: p.name, type: .nsec, ttl: ttl, rdata: name.wire + bitmap(p.types)))
            }
            pending = entry
        }

        /// The last name's NSEC, pointing back to the apex.
        public mutating func finish(emit: (ResourceRecord) throws -> Void) rethrows {
            if let p = pending {
                try emit(ResourceRecord(name: p.name, type: .nsec, ttl: ttl, rdata: origin.wire + bitmap(p.types)))
            }
            pending = nil
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

    /// RRsets signed at a time on every core (`additions`).
    let batchSize: Int

    /// `batch`: RRsets signed at a time (tests make it small, to sign a small zone in several batches).
    public init(policy: Policy = Policy(), batch: Int = 16384) {
        self.policy = policy
        self.batchSize = max(batch, 1)
    }

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
        let digest = ZoneSigner.digest(records, validity: validity)
        let ck = CacheKey(digest: digest, key: key.keyTag)
        if let hit = cache.withLock({ $0[ck] }) { return hit }
        let sig = try make(records, key: key, prepared: key.prepared(), validity: validity)
        cache.withLock { $0[ck] = sig }
        return sig
    }

    /// Where an RRset's jitter comes from: FNV-1a over its canonical form (owner, type, TTL and RDATA) and the
    /// window, the same every time it is signed in a window.
    static func digest(_ records: [ResourceRecord], validity: Validity, canonical: [UInt8]) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in canonical { h = (h ^ UInt32(b)) &* 16_777_619 }
        for v in [validity.inception, validity.expiration] {
            for shift in stride(from: 24, through: 0, by: -8) { h = (h ^ (v >> UInt32(shift) & 0xFF)) &* 16_777_619 }
        }
        return h
    }

    /// What names an RRset in a window: its owner, type and canonical form, and the window (SHA-256). The cache's
    /// key.
    static func digest(_ records: [ResourceRecord], validity: Validity) -> [UInt8] {
        let first = records[0]
        var h = SHA256()
        h.update(data: first.name.lowercased().wire)
        h.update(data: [UInt8(first.type.rawValue >> 8), UInt8(first.type.rawValue & 0xFF)])
        h.update(data: Signer.canonicalRRset(records, ttl: first.ttl))
        var windowOctets: [UInt8] = []
        Signer.put32(&windowOctets, validity.inception)
        Signer.put32(&windowOctets, validity.expiration)
        h.update(data: windowOctets)
        return Array(h.finalize())
    }

    /// A new signature, its expiration jittered by the RRset's `digest` (the RRset in canonical form made once for
    /// both).
    func make(
        _ records: [ResourceRecord], key: SigningKey, prepared: SigningKey.Prepared, validity: Validity
    ) throws -> ResourceRecord {
        let canonical = Signer.canonicalRRset(records, ttl: records[0].ttl)
        var jittered = validity
        if policy.jitter > 0 {
            let digest = ZoneSigner.digest(records, validity: validity, canonical: canonical)
            jittered.expiration &+= digest % policy.jitter
        }
        let sig = try Signer.sign(records, key: key, validity: jittered, with: prepared, canonical: canonical)
        made.add(1, ordering: .relaxed)
        return sig
    }

    /// A signature the caller already has for an RRset (`records`, `key`, the window): the one made before, when
    /// the RRset has not changed. Nil: sign it.
    public typealias Known = @Sendable (_ records: [ResourceRecord], _ key: SigningKey) -> ResourceRecord?

    /// The RRSIGs of `work` (RRsets with the key to sign each with), in order, made on every core: each job a
    /// run of RRsets (ECDSA signing is what a zone's signing spends its time on). Not cached: a zone's signatures
    /// live in its data (`known` finds them there), not a second time here.
    func sign(
        _ work: [(records: [ResourceRecord], key: SigningKey)], validity: Validity, known: Known?
    ) throws -> [ResourceRecord] {
        guard !work.isEmpty else { return [] }
        let results = UnsafeMutableBufferPointer<ResourceRecord?>.allocate(capacity: work.count)
        results.initialize(repeating: nil)
        defer {
            _ = results.deinitialize()
            results.deallocate()
        }
        let slots = Slots(base: results.baseAddress!)
        let failure = Mutex<(any Error)?>(nil)
        let jobs = min(work.count, 32)
        DispatchQueue.concurrentPerform(iterations: jobs) { job in
            var i = job * work.count / jobs
            let end = (job + 1) * work.count / jobs
            // Each job its own private keys, made ready once for its run (a zone has a key or two).
            var prepared: [(key: [UInt8], ready: SigningKey.Prepared)] = []
            while i < end {
                let (records, key) = work[i]
                if let sig = known?(records, key) {
                    slots.base[i] = sig
                } else {
                    do {
                        let p: SigningKey.Prepared
                        if let made = prepared.first(where: { $0.key == key.publicKey }) {
                            p = made.ready
                        } else {
                            p = try key.prepared()
                            prepared.append((key.publicKey, p))
                        }
                        slots.base[i] = try make(records, key: key, prepared: p, validity: validity)
                    } catch {
                        failure.withLock { $0 = $0 ?? error }
                        return
                    }
                }
                i += 1
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        return results.map { $0! }
    }

    /// The results' memory, written by the workers of `sign` (each its own slots).
    struct Slots: @unchecked Sendable {
        let base: UnsafeMutablePointer<ResourceRecord?>
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
        unsignedNames: Set<DomainName> = [], denial: Denial = .nsec, signSOA: Bool = true, now: UInt32,
        known: Known? = nil
    ) throws -> [ResourceRecord] {
        var out: [ResourceRecord] = []
        try additions(
            origin: origin, records: records, keys: keys, extraNames: extraNames, unsignedNames: unsignedNames,
            denial: denial, signSOA: signSOA, now: now, known: known
        ) { out.append($0) }
        return out
    }

    /// `additions`, each record given to `emit` as it is made (in no particular order), so that a large zone's
    /// additions never sit in one array: the chain is made as the names come, and the signatures a batch at a
    /// time, on every core.
    public func additions(
        origin: DomainName, records: [ResourceRecord], keys: [SigningKey], extraNames: [DomainName: Set<RRType>] = [:],
        unsignedNames: Set<DomainName> = [], denial: Denial = .nsec, signSOA: Bool = true, now: UInt32,
        known: Known? = nil, emit: (ResourceRecord) throws -> Void
    ) throws {
        guard let soa = records.first(where: { $0.type == .soa && $0.name == origin }), !keys.isEmpty else { return }
        guard records.first?.name == origin else { return }
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
        for r in apexAdded { try emit(r) }
        let negativeTTL = min(soa.ttl, soa.soaMinimum ?? soa.ttl)
        // The pools' names' NSEC (or NSEC3) records are left unsigned here: their bitmaps follow the lines' state,
        // so the caller signs them per build (`ZoneSigning`).
        let perBuild =
            denial == .nsec3
            ? Set(unsignedNames.map { NSEC3Chain.owner(of: $0, origin: origin) }) : unsignedNames
        // Signatures are made a batch at a time, on every core, while this thread gathers the next batch (and
        // hands out the records made so far): the signing threads never wait for the walk over the zone.
        var batch: [(records: [ResourceRecord], key: SigningKey)] = []
        batch.reserveCapacity(batchSize)
        var inFlight: (group: DispatchGroup, made: Made)?
        func collect() throws {
            guard let (group, made) = inFlight else { return }
            group.wait()
            inFlight = nil
            for sig in try made.result!.get() { try emit(sig) }
        }
        func flush() throws {
            try collect()
            guard !batch.isEmpty else { return }
            let work = batch
            batch.removeAll(keepingCapacity: true)
            let group = DispatchGroup()
            let made = Made()
            group.enter()
            DispatchQueue.global().async {
                made.result = Result { try self.sign(work, validity: validity, known: known) }
                group.leave()
            }
            inFlight = (group, made)
        }
        defer { inFlight?.group.wait() }
        func denialRecord(_ record: ResourceRecord) throws {
            try emit(record)
            guard !perBuild.contains(record.name) else { return }
            for k in zsks { batch.append(([record], k)) }
            if batch.count >= batchSize { try flush() }
        }
        // Extra names (pools) join the chain where they sort.
        let extras = extraNames.filter { $0.key.isSubdomain(of: origin) }.sorted { $0.key < $1.key }
        var nextExtra = 0
        var chain = NSECChain.Stream(origin: origin, ttl: negativeTTL)
        var hashed: [(name: DomainName, types: Set<RRType>)] = []
        func chainNode(_ name: DomainName, _ types: Set<RRType>) throws {
            if denial == .nsec3 {
                hashed.append((name, types))
            } else {
                try chain.add(name, types, emit: denialRecord)
            }
        }
        // Nodes: records come by name in canonical order, the apex (the least name) first.
        var cut: DomainName?
        var start = 0
        while start < records.count {
            let name = records[start].name
            var end = start + 1
            while end < records.count && records[end].name == name { end += 1 }
            var sets: [RRType: [ResourceRecord]] = [:]
            for r in records[start..<end] { sets[r.type, default: []].append(r) }
            if start == 0 { for r in apexAdded { sets[r.type, default: []].append(r) } }
            start = end
            // The chain, with the extra names that sort before this one.
            var types = Set(sets.keys)
            while nextExtra < extras.count && extras[nextExtra].key <= name {
                if extras[nextExtra].key == name {
                    types.formUnion(extras[nextExtra].value)
                } else {
                    try chainNode(extras[nextExtra].key, extras[nextExtra].value)
                }
                nextExtra += 1
            }
            try chainNode(name, types)
            // Signatures: every authoritative RRset (not the NS of a delegation, not glue or anything else below
            // one).
            if let c = cut, name.isSubdomain(of: c), name != c { continue }
            cut = nil
            let delegation = name != origin && sets[.ns] != nil
            if delegation { cut = name }
            for (type, rs) in sets.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                if unsignedNames.contains(name) && (type == .a || type == .aaaa) { continue }
                if delegation && type != .ds { continue }
                if type == .rrsig || (type == .soa && !signSOA) { continue }
                let signers = type == .dnskey || type == .cds || type == .cdnskey ? ksks : zsks
                for k in signers { batch.append((rs, k)) }
            }
            if batch.count >= batchSize { try flush() }
        }
        for (name, types) in extras[nextExtra...] { try chainNode(name, types) }
        if denial == .nsec3 {
            for r in NSEC3Chain.records(origin: origin, nodes: hashed, ttl: negativeTTL) { try denialRecord(r) }
        } else {
            try chain.finish(emit: denialRecord)
        }
        try flush()
        try collect()
    }

    /// A batch's signatures, made on another thread (`additions`); read once its group is done.
    final class Made: @unchecked Sendable {
        var result: Result<[ResourceRecord], any Error>?
    }
}
