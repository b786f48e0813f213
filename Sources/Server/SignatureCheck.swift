// SignatureCheck: `check` on a zone that comes signed in its file — every RRSIG verified against the apex's
// DNSKEYs, its window checked against the clock, and every authoritative RRset required to have a signature, as
// kzonecheck does.

import DNSSEC
import DNSWire
import Dispatch
import Foundation
import Uplinks
import Zones

/// What checking a zone's signatures found: errors (`check` fails), warnings, and notes (what was not verified).
public struct SignatureFindings: Sendable, Equatable {
    public var errors: [ZoneError] = []
    public var warnings: [ZoneError] = []
    public var notes: [ZoneError] = []
    public init() {}
}

public enum SignatureCheck {
    /// Checks the signatures in `zone`'s file at `now` (seconds since 1970). A zone without RRSIG records is not
    /// signed and has nothing to check. Otherwise:
    /// - a signature that does not verify with the apex DNSKEY it names is an error (the records, or the
    ///   signature, changed after signing), as is one that has expired or is not valid yet, one by a signer other
    ///   than the zone, and an authoritative RRset without any signature (RFC 4035 §2.2; not a delegation's NS,
    ///   nor data below a cut or a DNAME);
    /// - a signature that expires within `margin` seconds is a warning (the zone needs signing anew before then);
    /// - a signature whose algorithm this build does not verify is counted in a note, not judged.
    /// Each finding names the line of the RRset it is about.
    public static func check(_ zone: Zone, now: UInt32, margin: UInt32) -> SignatureFindings {
        var out = SignatureFindings()
        guard zone.allTypes.contains(.rrsig) else { return out }
        let origin = zone.origin
        let keys = (zone.rrset(origin, .dnskey)?.rdatas ?? []).compactMap { DNSKEYData(rdata: $0) }.filter(\.isZoneKey)
        guard !keys.isEmpty else {
            out.errors.append(
                ZoneError(
                    file: zone.file, line: zone.line(origin, .soa),
                    message: "the zone has RRSIG records but no DNSKEY at the apex \(origin): its signatures "
                        + "cannot be verified"))
            return out
        }
        let context = Context(zone: zone, keys: keys, now: now, margin: margin)
        var unverified: [UInt8: Int] = [:]
        // RRsets are verified in batches, on every core: a signature costs tens of microseconds.
        var batch: [Job] = []
        func flush() {
            for result in evaluate(batch, context) {
                out.errors += result.errors
                out.warnings += result.warnings
                for a in result.unverified { unverified[a, default: 0] += 1 }
            }
            batch.removeAll(keepingCapacity: true)
        }
        // The delegation or DNAME whose subtree the walk is in (canonical order puts a name's subtree right after
        // it): nothing there is signed, but what is signed is still verified.
        var hiding: DomainName?
        zone.forEachNode { name, view in
            if let h = hiding, !(name.isSubdomain(of: h) && name != h) { hiding = nil }
            var sets: [(type: RRType, ttl: UInt32, rdatas: [[UInt8]])] = []
            var signatures: [RRSIGData?] = []
            view.forEachRRset { type, ttl, rdatas in
                if type == .rrsig {
                    for r in rdatas { signatures.append(RRSIGData(rdata: r)) }
                } else {
                    sets.append((type, ttl, rdatas.map { Array($0) }))
                }
            }
            let isCut = name != origin && sets.contains(where: { $0.type == .ns })
            let hidden = hiding != nil
            if hiding == nil && (isCut || sets.contains(where: { $0.type == .dname })) { hiding = name }
            if signatures.contains(where: { $0 == nil }) {
                out.errors.append(
                    context.finding(name, .rrsig, "an RRSIG record does not read (too short, or a bad name)"))
            }
            let parsed = signatures.compactMap { $0 }
            for set in sets {
                batch.append(
                    Job(
                        name: name, type: set.type, ttl: set.ttl, rdatas: set.rdatas,
                        signatures: parsed.filter { $0.typeCovered == set.type },
                        required: !hidden && !(isCut && set.type == .ns)))
            }
            // Signatures over a type the name does not have: left over from an edit after signing.
            let types = Set(sets.map(\.type))
            for covered in Set(parsed.map(\.typeCovered)).subtracting(types).sorted() {
                out.warnings.append(
                    context.finding(name, .rrsig, "an RRSIG covers \(covered), but there is no \(covered) RRset here"))
            }
            if batch.count >= 4096 { flush() }
        }
        flush()
        for (alg, count) in unverified.sorted(by: { $0.key < $1.key }) {
            out.notes.append(
                ZoneError(
                    file: zone.file, line: nil,
                    message: "\(count) signature(s) with algorithm \(algorithmName(alg)) not verified: this build "
                        + "verifies \(Verifier.algorithms.sorted().map(algorithmName).joined(separator: ", "))"))
        }
        out.errors.sort { ($0.line ?? 0) < ($1.line ?? 0) }
        out.warnings.sort { ($0.line ?? 0) < ($1.line ?? 0) }
        return out
    }

    /// What every RRset's check needs: the zone (for lines), its keys, the clock and the margin.
    struct Context: Sendable {
        let zone: Zone
        let keys: [DNSKEYData]
        let now: UInt32
        let margin: UInt32

        /// A finding about `name` and `type`, at the line of that RRset.
        func finding(_ name: DomainName, _ type: RRType, _ message: String) -> ZoneError {
            ZoneError(file: zone.file, line: zone.line(name, type), message: "\(name) \(type): \(message)")
        }
    }

    /// One RRset to check: its records, the signatures that cover it, and whether it must have one.
    struct Job: Sendable {
        let name: DomainName
        let type: RRType
        let ttl: UInt32
        let rdatas: [[UInt8]]
        let signatures: [RRSIGData]
        let required: Bool
    }

    /// What checking one RRset found.
    struct Result: Sendable {
        var errors: [ZoneError] = []
        var warnings: [ZoneError] = []
        /// The algorithms of the signatures not verified (one entry per signature).
        var unverified: [UInt8] = []
    }

    /// The results of `jobs`, in order, computed on every core.
    static func evaluate(_ jobs: [Job], _ context: Context) -> [Result] {
        guard !jobs.isEmpty else { return [] }
        let results = UnsafeMutableBufferPointer<Result>.allocate(capacity: jobs.count)
        results.initialize(repeating: Result())
        defer {
            _ = results.deinitialize()
            results.deallocate()
        }
        let slots = Slots(base: results.baseAddress!)
        DispatchQueue.concurrentPerform(iterations: jobs.count) { i in
            slots.base[i] = evaluate(jobs[i], context)
        }
        return Array(results)
    }

    /// The results' memory, written by the workers of `evaluate` (each its own slots).
    struct Slots: @unchecked Sendable {
        let base: UnsafeMutablePointer<Result>
    }

    /// Checks one RRset's signatures.
    static func evaluate(_ job: Job, _ context: Context) -> Result {
        var out = Result()
        let (name, type, now) = (job.name, job.type, context.now)
        guard !job.signatures.isEmpty else {
            if job.required {
                out.errors.append(
                    context.finding(
                        name, type,
                        "no RRSIG covers it: the zone is signed, so every authoritative RRset needs a signature "
                            + "(RFC 4035 §2.2)"))
            }
            return out
        }
        var good = false
        var keyless: [RRSIGData] = []
        for sig in job.signatures {
            let by = "its RRSIG by key \(sig.keyTag) (\(algorithmName(sig.algorithm)))"
            guard sig.signer == context.zone.origin else {
                out.errors.append(context.finding(name, type, "\(by) names the signer \(sig.signer), not the zone"))
                continue
            }
            guard Verifier.algorithms.contains(sig.algorithm) else {
                out.unverified.append(sig.algorithm)
                good = true  // not judged: neither for nor against the RRset
                continue
            }
            let candidates = context.keys.filter { $0.keyTag == sig.keyTag && $0.algorithm == sig.algorithm }
            guard !candidates.isEmpty else {
                keyless.append(sig)
                continue
            }
            let valid = candidates.contains {
                Verifier.verify(sig, owner: name, type: type, rdatas: job.rdatas, key: $0) == .valid
            }
            guard valid else {
                out.errors.append(
                    context.finding(
                        name, type,
                        "\(by) does not verify: the records or the signature changed after signing; sign the zone "
                            + "anew"))
                continue
            }
            // The TTL the signature was made for (RFC 4034 §3.1.4) is the RRset's: one changed after signing no
            // longer matches, and kzonecheck refuses the signature.
            if sig.originalTTL != job.ttl {
                out.errors.append(
                    context.finding(
                        name, type,
                        "\(by) was made for TTL \(sig.originalTTL), but the RRset has TTL \(job.ttl): the TTL "
                            + "changed after signing; sign the zone anew"))
            } else if Int32(bitPattern: sig.expiration &- now) < 0 {
                out.errors.append(
                    context.finding(
                        name, type, "\(by) expired on \(date(sig.expiration, now: now)); sign the zone anew"))
            } else if Int32(bitPattern: now &- sig.inception) < 0 {
                out.errors.append(
                    context.finding(name, type, "\(by) is not valid before \(date(sig.inception, now: now))"))
            } else {
                good = true
                if sig.expiration &- now < context.margin {
                    out.warnings.append(
                        context.finding(
                            name, type,
                            "\(by) expires on \(date(sig.expiration, now: now)), within the refresh margin "
                                + "(\(days(context.margin))): sign the zone anew before then"))
                }
            }
        }
        if !good, let sig = keyless.first {
            out.errors.append(
                context.finding(
                    name, type,
                    "signed only by key \(sig.keyTag) (\(algorithmName(sig.algorithm))), which the DNSKEY RRset at "
                        + "\(context.zone.origin) does not hold"))
        }
        return out
    }

    /// The mnemonic of a DNSSEC algorithm number (the IANA registry), or the number.
    static func algorithmName(_ n: UInt8) -> String {
        let names: [UInt8: String] = [
            1: "RSAMD5", 3: "DSA", 5: "RSASHA1", 6: "DSA-NSEC3-SHA1", 7: "RSASHA1-NSEC3-SHA1", 8: "RSASHA256",
            10: "RSASHA512", 12: "ECC-GOST", 13: "ECDSAP256SHA256", 14: "ECDSAP384SHA384", 15: "ED25519", 16: "ED448",
        ]
        return names[n] ?? "\(n)"
    }

    /// A signature time (32-bit, serial arithmetic) as the date nearest `now` it can mean, in UTC.
    static func date(_ t: UInt32, now: UInt32) -> String {
        let seconds = Int64(now) + Int64(Int32(bitPattern: t &- now))
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss 'UTC'"
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    /// A margin in whole days when it is one (`7 days`), else in seconds.
    static func days(_ s: UInt32) -> String { s % 86400 == 0 ? "\(s / 86400) days" : "\(s) s" }
}

extension Config {
    /// Checks the signatures of every zone in `zones` that comes signed in its file (`SignatureCheck`), at `now`.
    /// The margin is the zone's `dnssec.refresh`, or its default (7 days) for a zone that UplinkDNS does not sign.
    public func checkSignatures(_ zones: ZoneSet, now: UInt32) -> (
        errors: [ConfigError], warnings: [ConfigError], notes: [ConfigError]
    ) {
        var errors: [ConfigError] = []
        var warnings: [ConfigError] = []
        var notes: [ConfigError] = []
        func config(_ list: [ZoneError]) -> [ConfigError] {
            list.map { ConfigError(file: $0.file, line: $0.line, message: $0.message) }
        }
        for entry in self.zones {
            guard let zone = zones.zones[entry.origin] else { continue }
            let margin = entry.dnssec?.policy.refresh ?? ZoneSigner.Policy().refresh
            let found = SignatureCheck.check(zone, now: now, margin: margin)
            errors += config(found.errors)
            warnings += config(found.warnings)
            notes += config(found.notes)
        }
        return (errors, warnings, notes)
    }
}
