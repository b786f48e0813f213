// ZoneSigning: the server's side of DNSSEC — each signed zone's keys (found or generated), what signing adds to its
// file content (made once per load and signature window, off the serving threads), and the few signatures that
// change with health and serial (the pools' RRsets, the SOA), made per build from a cache.

import CUplinkSys
import DNSSEC
import DNSWire
import Foundation
import Logging
import Responder
import Synchronization
import Uplinks
import Zones

public final class ZoneSigning: Sendable {
    /// A zone's signed file content.
    struct Signed: Sendable {
        var keys: [SigningKey]
        /// The fingerprint of the unsigned file content it was made from, and the signature window.
        var file: UInt64
        var window: Validity
        var denial: ZoneSigner.Denial
        /// The unsigned file content it was made from.
        var content: Zone
        /// How many records signing added (DNSKEY, CDS, CDNSKEY, the NSEC chain, and the RRSIG of every file RRset
        /// but the SOA), the pools' NSEC records aside. They live in `zone` alone (`additions` takes them out).
        var additionCount: Int
        /// The pools' names' NSEC (or NSEC3) records as the chain made them (unsigned): each build writes their
        /// bitmaps for the families that have lines up, and signs them.
        var poolDenial: [ResourceRecord]
        /// The file content with the additions: what the journal diffs a reload against.
        var zone: Zone
        /// What names this version for the serial and the journal: the file content's fingerprint with the keys,
        /// the window and the denial — not the signature octets, which ECDSA makes anew (at random) after a restart.
        var fingerprint: UInt64
    }

    private let zones = Mutex<[DomainName: Signed]>([:])
    /// The zone content signed before the current one (a reload's or a refresh's), for the journal.
    private let previous = Mutex<[DomainName: Signed]>([:])
    /// What each served version adds to a transfer (the file content's additions and the per-build signatures of
    /// the SOA and pools), by zone and serial: the newest few. Kept per version, so that a transfer of the version
    /// still served never mixes in the additions of one being built.
    private let dynamic = Mutex<[DomainName: [(serial: UInt32, signed: Signed, records: [ResourceRecord])]]>([:])
    private let signers = Mutex<[DomainName: ZoneSigner]>([:])
    /// Each signed zone as it serves now (for DO queries): the signed file content with the pools' records, the
    /// served SOA and the per-build signatures.
    private let serving = Mutex<[DomainName: Zone]>([:])
    /// Each signed zone's pools' variant signatures now (for DO answers that pick a variant).
    private let variants = Mutex<[DomainName: [VariantKey: [ResourceRecord]]]>([:])
    /// The clock (seconds since 1970; tests set it).
    let now: @Sendable () -> UInt32

    public init(now: @escaping @Sendable () -> UInt32 = { UInt32(Date().timeIntervalSince1970) }) {
        self.now = now
    }

    /// Where `entry`'s keys live.
    static func keyDirectory(_ settings: DNSSECSettings, stateDirectory: String) -> String {
        settings.keyDirectory ?? (stateDirectory as NSString).appendingPathComponent("keys")
    }

    /// The keys of the zone: those in its key directory, or a combined signing key generated there now (the first
    /// start of a signed zone).
    /// `generated`: told of a key made now, with where it was written (the log says so, with its tag and DS).
    static func keys(
        origin: DomainName, settings: DNSSECSettings, stateDirectory: String,
        generated: ((SigningKey, String) -> Void)? = nil
    ) throws -> [SigningKey] {
        let dir = keyDirectory(settings, stateDirectory: stateDirectory)
        let found = try SigningKey.all(in: dir, zone: origin)
        if !found.isEmpty { return found }
        let key = SigningKey.generate(zone: origin, algorithm: settings.algorithm)
        try key.write(to: dir)
        generated?(key, dir)
        return [key]
    }

    private func signer(_ origin: DomainName, _ settings: DNSSECSettings) -> ZoneSigner {
        signers.withLock { all in
            if let s = all[origin], s.policy == settings.policy { return s }
            let s = ZoneSigner(policy: settings.policy)
            all[origin] = s
            return s
        }
    }

    /// The signed file content of `zone` (fingerprint `file`) whose pools answer `poolTypes` at their names: made
    /// when the content, the keys or the signature window changed, else the one made before.
    func prepare(
        origin: DomainName, zone: Zone, file: UInt64, poolTypes: [DomainName: Set<RRType>],
        settings: DNSSECSettings, stateDirectory: String
    ) throws -> Signed {
        let signer = signer(origin, settings)
        let window = signer.validity(at: now())
        if let s = zones.withLock({ $0[origin] }), s.file == file, s.window == window, s.denial == settings.denial {
            return s
        }
        let keys = try ZoneSigning.keys(origin: origin, settings: settings, stateDirectory: stateDirectory)
        let owners = Set(
            poolTypes.keys.map { settings.denial == .nsec3 ? NSEC3Chain.owner(of: $0, origin: origin) : $0 })
        let isPoolDenial: (ResourceRecord) -> Bool = {
            ($0.type == .nsec || $0.type == .nsec3) && owners.contains($0.name)
        }
        // The signed zone is built as signing goes: the file's records, then each addition as it is made, straight
        // into the builder's arenas (no array of the additions, no object per signature kept). The zone keeps the
        // pools' NSEC records too (unsigned; the serving zone lays each build's over them), so that the NSEC
        // chain's order is whole for the predecessor search of denial proofs.
        var records = zone.records
        var builder = ZoneBuilder(origin: origin, file: zone.file)
        // Per name: its records, an NSEC and the signatures of both.
        builder.reserve(records: records.count * 4 + 64, octets: 0)
        for r in records { builder.add(r, line: nil) }
        var poolDenial: [ResourceRecord] = []
        var additionCount = 0
        try signer.additions(
            origin: origin, records: records, keys: keys, extraNames: poolTypes,
            unsignedNames: Set(poolTypes.keys), denial: settings.denial, signSOA: false, now: now(),
            known: zones.withLock { $0[origin] }.flatMap { ZoneSigning.known(in: $0, window: window) }
        ) { r in
            builder.add(r, line: nil)
            if isPoolDenial(r) { poolDenial.append(r) } else { additionCount += 1 }
        }
        // The file's records as objects are gone, and their memory given back to the system, before the build
        // copies the arenas into the zone's: the peak of a large zone's signing.
        records = []
        _ = uplink_malloc_trim()
        let signedZone = try builder.build()
        var fingerprint = file
        for k in keys { fingerprint = fingerprint &+ Zone.recordHash(origin, .dnskey, 0, k.dnskeyRDATA) }
        fingerprint = fingerprint &+ UInt64(window.inception) &* 0x9E37_79B9 &+ UInt64(window.expiration)
        fingerprint = fingerprint &+ (settings.denial == .nsec3 ? 0x5EC3 : 0)
        let signed = Signed(
            keys: keys, file: file, window: window, denial: settings.denial, content: zone,
            additionCount: additionCount, poolDenial: poolDenial, zone: signedZone, fingerprint: fingerprint)
        zones.withLock { all in
            if let old = all[origin] { previous.withLock { $0[origin] = old } }
            all[origin] = signed
        }
        signer.forget(before: now())
        return signed
    }

    /// The signatures of `signed` that can be used again in `window`: an RRset's own, when it has not changed and
    /// the key is the same (ECDSA signs at random: signing it again would change every signature, and with them
    /// every transfer). Nil when the window turned.
    static func known(in signed: Signed, window: Validity) -> ZoneSigner.Known? {
        guard signed.window == window else { return nil }
        let zone = signed.zone
        let keys = signed.keys
        return { records, key in
            guard let first = records.first, keys.contains(where: { $0.dnskeyRDATA == key.dnskeyRDATA }),
                let set = zone.rrset(first.name, first.type), set.ttl == first.ttl,
                Set(set.rdatas) == Set(records.map(\.rdata)),
                let sigs = zone.rrset(first.name, .rrsig)
            else { return nil }
            let tag = [UInt8(key.keyTag >> 8), UInt8(key.keyTag & 0xFF)]
            let type = [UInt8(first.type.rawValue >> 8), UInt8(first.type.rawValue & 0xFF)]
            let octets = { (v: UInt32) in
                [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
            }
            let ttl = octets(first.ttl)
            let inception = octets(window.inception)
            guard
                let rd = sigs.rdatas.first(where: {
                    $0.count > 18 && $0[0..<2].elementsEqual(type) && $0[2] == key.algorithm.rawValue
                        && $0[4..<8].elementsEqual(ttl) && $0[12..<16].elementsEqual(inception)
                        && $0[16..<18].elementsEqual(tag)
                })
            else { return nil }
            return ResourceRecord(name: first.name, type: .rrsig, ttl: first.ttl, rdata: rd)
        }
    }

    /// What signing added to `signed`'s file content (DNSKEY, CDS, CDNSKEY, the NSEC chain and signatures), the
    /// pools' NSEC records aside: read back from the signed zone, for transfers and `export`.
    static func additions(_ signed: Signed) -> [ResourceRecord] {
        let added: Set<RRType> = [.dnskey, .cds, .cdnskey, .nsec3param, .nsec, .nsec3, .rrsig]
        let pools = Set(signed.poolDenial.map(\.name))
        return signed.zone.records.filter { r in
            guard added.contains(r.type), !(pools.contains(r.name) && (r.type == .nsec || r.type == .nsec3)) else {
                return false
            }
            return !(signed.content.rrset(r.name, r.type)?.rdatas.contains(r.rdata) ?? false)
        }
    }

    /// The fingerprint of `origin`'s signed content now, or nil before it was first signed.
    func signedFingerprint(_ origin: DomainName) -> UInt64? { zones.withLock { $0[origin]?.fingerprint } }

    /// Whether `origin`'s signatures are from a window that has turned (a build signs them anew).
    func isDue(_ origin: DomainName, settings: DNSSECSettings) -> Bool {
        guard let signed = zones.withLock({ $0[origin] }) else { return false }
        return signed.window != signer(origin, settings).validity(at: now())
    }

    /// Loads (or, the first time, makes) the keys of every signed zone of `config`, so that a zone that cannot be
    /// signed — an unreadable key file, a key directory that cannot be written — stops a start or a reload with a
    /// clear error instead of being served unsigned.
    /// A key generated here is logged with its tag and the DS the parent needs.
    public static func checkKeys(_ config: Config, logger: Logger? = nil) throws(ConfigFailure) {
        var errors: [ConfigError] = []
        for entry in config.zones {
            guard let settings = entry.dnssec else { continue }
            do {
                _ = try keys(origin: entry.origin, settings: settings, stateDirectory: config.stateDirectory) {
                    key, dir in
                    let what = "generated key \(key.keyTag) (\(key.algorithm)) in \(dir)"
                    logger?.notice(
                        "DNSSEC: zone \(entry.origin) had no key: \(what); give the parent its DS: \(key.dsText)")
                }
            } catch {
                errors.append(
                    ConfigError(
                        file: config.path, line: entry.line, message: "zone \(entry.origin) cannot be signed: \(error)")
                )
            }
        }
        if !errors.isEmpty { throw ConfigFailure(errors: errors) }
    }

    /// Forgets `origin`'s signing (it is no longer signed, or no longer served).
    func drop(_ origin: DomainName) {
        zones.withLock { _ = $0.removeValue(forKey: origin) }
        previous.withLock { _ = $0.removeValue(forKey: origin) }
        serving.withLock { _ = $0.removeValue(forKey: origin) }
        variants.withLock { _ = $0.removeValue(forKey: origin) }
        dynamic.withLock { _ = $0.removeValue(forKey: origin) }
    }

    /// The signed content served before the current one, for the journal's diff.
    func previousSigned(_ origin: DomainName) -> Signed? { previous.withLock { $0[origin] } }

    /// What changes per build: the pools' names' NSEC (NSEC3) records with their current bitmaps, and the
    /// signatures of those, of the SOA with the served serial and of the pools' RRsets as transfers carry them
    /// (each variant's set is signed too, for DO answers). Kept by serial for the transfers of that version.
    func dynamicSignatures(
        origin: DomainName, signed: Signed, soa: ResourceRecord, pools: [RRset], plans: PoolPlans = [],
        settings: DNSSECSettings
    ) throws -> [ResourceRecord] {
        let signer = signer(origin, settings)
        let zsks = signed.keys.filter { !$0.isKSK }.isEmpty ? signed.keys : signed.keys.filter { !$0.isKSK }
        // Every address set a pool's answers can hold (its variants, as the compiled path picks them), signed once
        // per set: a DO answer carries the variant it picked with its own signature.
        var variantSigs: [VariantKey: [ResourceRecord]] = [:]
        for plan in plans where plan.pool.name.isSubdomain(of: origin) && !plan.servfail {
            for (type, family) in [(RRType.a, plan.v4), (.aaaa, plan.v6)] {
                for addresses in family.variants where !addresses.isEmpty {
                    let key = VariantKey(name: plan.pool.name, type: type, rdatas: addresses.map(\.octets))
                    guard variantSigs[key] == nil else { continue }
                    let set = RRset(name: plan.pool.name, type: type, ttl: plan.ttl, rdatas: key.rdatas)
                    variantSigs[key] = try zsks.map {
                        try signer.signature(set.records, key: $0, validity: signed.window)
                    }
                }
            }
        }
        variants.withLock { $0[origin] = variantSigs }
        // The pools' names' NSEC (NSEC3) records with the types their answers hold now: A while the pool has IPv4
        // lines up, AAAA while IPv6 (a pool answering SERVFAIL keeps what its lines could give).
        var denial: [ResourceRecord] = []
        // Each pool's plan by the owner of its name's NSEC (the name) or NSEC3 (its hash), made once: found for each
        // record by a search of the plans, 100,000 signed pools cost minutes per build.
        var planOf: [DomainName: PoolPlan] = [:]
        if !signed.poolDenial.isEmpty {
            let hashed = signed.poolDenial.contains { $0.type == .nsec3 }
            planOf.reserveCapacity(plans.count)
            for plan in plans where plan.pool.name.isSubdomain(of: origin) {
                let owner = hashed ? NSEC3Chain.owner(of: plan.pool.name, origin: origin) : plan.pool.name
                if planOf[owner] == nil { planOf[owner] = plan }
            }
        }
        for template in signed.poolDenial {
            guard let plan = planOf[template.name] else {
                denial.append(template)
                continue
            }
            let head = template.type == .nsec ? ZoneSigning.nameLength(template.rdata) : 26  // NSEC3: fixed fields
            var types = NSECChain.types(fromBitmap: template.rdata[head...])
            if !plan.servfail {
                types.subtract([.a, .aaaa])
                if !plan.v4.variants.isEmpty { types.insert(.a) }
                if !plan.v6.variants.isEmpty { types.insert(.aaaa) }
            }
            var record = template
            record.rdata = Array(template.rdata[..<head]) + NSECChain.bitmap(types)
            denial.append(record)
        }
        var out: [ResourceRecord] = denial
        for record in denial {
            for k in zsks { out.append(try signer.signature([record], key: k, validity: signed.window)) }
        }
        for set in [RRset(name: soa.name, type: .soa, ttl: soa.ttl, rdatas: [soa.rdata])] + pools
        where !set.rdatas.isEmpty {
            for k in zsks { out.append(try signer.signature(set.records, key: k, validity: signed.window)) }
        }
        let serial = soa.soaSerial ?? 0
        serving.withLock {
            $0[origin] = ZoneSigning.serving(
                signed: signed.zone, soa: soa, pools: pools, signatures: out,
                poolNames: plans.map(\.pool.name).filter { $0.isSubdomain(of: origin) })
        }
        dynamic.withLock { all in
            var list = all[origin, default: []].filter { $0.serial != serial }
            list.append((serial, signed, out))
            all[origin] = Array(list.suffix(8))
        }
        return out
    }

    /// The signed file content with the pools' RRsets, the SOA with the served serial, and their signatures merged
    /// into the RRSIG RRsets of their names. Every pool's name exists, with addresses or without (`poolNames`), as
    /// in the compiled answers: a pool with no line in answers is NODATA with its own NSEC or NSEC3, never a name
    /// the zone's wildcard answers for (RFC 4592 §2.2.1). With NSEC its NSEC kept it so; with NSEC3 (whose records
    /// live at hashed owners) nothing did, and DO answers gave the wildcard's data, proved by an NSEC3 that covers
    /// nothing (dnsviz, ValidatorTests; SignedPoolAnswerTests).
    static func serving(
        signed: Zone, soa: ResourceRecord, pools: [RRset], signatures: [ResourceRecord], poolNames: [DomainName]
    ) -> Zone {
        // The pools' names' NSEC (NSEC3) records of this build replace the chain's; the rest are RRSIGs.
        var sets = pools
        for r in signatures where r.type == .nsec || r.type == .nsec3 {
            sets.append(RRset(name: r.name, type: r.type, ttl: r.ttl, rdatas: [r.rdata]))
        }
        var byOwner: [DomainName: [ResourceRecord]] = [:]
        for sig in signatures where sig.type == .rrsig { byOwner[sig.name, default: []].append(sig) }
        for (owner, sigs) in byOwner {
            // Replace what these signatures cover (an older version's) and keep the rest of the name's RRSIGs.
            let covered = Set(sigs.map { UInt16($0.rdata[0]) << 8 | UInt16($0.rdata[1]) })
            let kept = (signed.rrset(owner, .rrsig)?.rdatas ?? []).filter {
                !covered.contains(UInt16($0[0]) << 8 | UInt16($0[1]))
            }
            sets.append(RRset(name: owner, type: .rrsig, ttl: sigs[0].ttl, rdatas: kept + sigs.map(\.rdata)))
        }
        return signed.adding(sets, names: poolNames).withSerial(soa.soaSerial ?? signed.fileSerial)
    }

    /// The pools' variant signatures of every signed zone now.
    public var servingVariantSignatures: [VariantKey: [ResourceRecord]] {
        variants.withLock { all in all.values.reduce(into: [:]) { $0.merge($1) { a, _ in a } } }
    }

    /// The length of the domain name at the start of `rdata` (an NSEC's next name).
    static func nameLength(_ rdata: [UInt8]) -> Int {
        var i = 0
        while i < rdata.count, rdata[i] != 0 { i += Int(rdata[i]) + 1 }
        return min(i + 1, rdata.count)
    }

    /// The signed zones as they serve now, by origin.
    public var servingZones: [DomainName: Zone] { serving.withLock { $0 } }

    /// Everything DNSSEC adds to a transfer of `origin` at `serial`: the file content's additions and that
    /// version's per-build signatures. Nil when the zone is not signed or that version is not known.
    public func transferAdditions(_ origin: DomainName, serial: UInt32) -> [ResourceRecord]? {
        guard let version = dynamic.withLock({ $0[origin]?.last(where: { $0.serial == serial }) }) else { return nil }
        return ZoneSigning.additions(version.signed) + version.records
    }

    /// The keys in use for `origin` (nil: not signed, or not yet).
    public func keys(_ origin: DomainName) -> [SigningKey]? { zones.withLock { $0[origin]?.keys } }
}
