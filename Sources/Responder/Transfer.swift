// Transfer: a zone as secondaries and registrars get it — every record, with each pool materialised as ordinary
// A/AAAA records — and the AXFR messages (RFC 5936) that carry it.

import DNSWire
import Synchronization
import Uplinks
import Zones

extension PoolPlan {
    /// The pool as plain records for a transfer or an export: every address that can appear in its answers now
    /// (the union of its variants, first appearance first), with the TTL its answers carry. A pool that answers
    /// SERVFAIL, or has no address of a family, has no records of it.
    public var transferSets: [RRset] {
        guard !servfail else { return [] }
        var out: [RRset] = []
        for (type, family) in [(RRType.a, v4), (.aaaa, v6)] {
            var seen: [IPAddress] = []
            for v in family.variants { for a in v where !seen.contains(a) { seen.append(a) } }
            if !seen.isEmpty { out.append(RRset(name: pool.name, type: type, ttl: ttl, rdatas: seen.map(\.octets))) }
        }
        return out
    }
}

/// What a zone transfers: its records with the pools filled in, and the serial that names this content.
public enum ZoneContent {
    /// `zone` with `sets` (the pools' records) put in and its serial set to `serial`.
    public static func zone(_ zone: Zone, pools sets: [RRset], serial: UInt32) -> Zone {
        zone.adding(sets.filter { $0.name.isSubdomain(of: zone.origin) }, names: sets.map(\.name)).withSerial(serial)
    }

    /// The records of the pools whose names lie in the zone at `origin`.
    public static func poolSets(_ plans: PoolPlans, in origin: DomainName) -> [RRset] {
        plans.filter { $0.pool.name.isSubdomain(of: origin) }.flatMap(\.transferSets)
    }

    /// The fingerprint of a zone with its pools: its file content's (`Zone.contentFingerprint`, computed once per
    /// load) plus, for each class of pools in the zone (`PoolDigests`), a mix of the class's names (fixed per
    /// config) and the records `records` gives for the class's first pool (its index in `pools`). Equal exactly when
    /// a transfer would carry the same records (for one config), and it costs the classes, not the names
    /// (issue 27).
    public static func fingerprint(
        file: UInt64, origin: DomainName, pools: [Pool], digests: PoolDigests, records: (Int) -> [RRset]
    ) -> UInt64 {
        var sum = file
        for entry in digests.entries(pools, in: origin) {
            var content: UInt64 = 0
            for set in records(entry.representative) {
                for rdata in set.rdatas { content = content &+ Zone.recordHash(.root, set.type, set.ttl, rdata) }
            }
            var h = StableHash()
            h.add(entry.names)
            h.add(content)
            sum = sum &+ h.value
        }
        return sum
    }

    /// The records of an AXFR, in order: the SOA, every other record (names in canonical order), and the SOA
    /// again (RFC 5936 §2.2).
    public static func axfrRecords(_ zone: Zone) -> [ResourceRecord] { zone.records + [zone.soa] }
}

extension Snapshot {
    /// The zone with origin `origin` as transferred now: the pools' current addresses in full (not one answer's
    /// worth) and the served serial. Nil when no such zone is served.
    public func transferZone(_ origin: DomainName) -> Zone? {
        guard let zone = zoneSet.zones[origin] else { return nil }
        let sets = ZoneContent.poolSets(plans, in: origin)
        return ZoneContent.zone(zone, pools: sets, serial: zone.fileSerial)
    }

    /// The served SOA serial of the zone at `origin`.
    public func serial(_ origin: DomainName) -> UInt32? {
        base.zoneIndex[origin].map { overlay.serials[$0] }
    }

    /// The served SOA record of the zone at `origin` (without making the zones as they answer now).
    public func soa(_ origin: DomainName) -> ResourceRecord? {
        base.zoneIndex[origin].map { base.zones[$0].zone.withSerial(overlay.serials[$0]).soa }
    }
}

/// Builds the messages of a zone transfer response.
public enum TransferMessages {
    /// Our OPT record for a response to a query that carried `theirs` (RFC 6891 §7): our UDP payload size, version
    /// 0, DO copied (RFC 3225 §3), no options. Nil when the query had none.
    public static func opt(answering theirs: ResourceRecord?, ours size: UInt16) -> [UInt8]? {
        guard let theirs else { return nil }
        let dnssecOK: UInt8 = theirs.ttl & 0x8000 != 0 ? 0x80 : 0
        return [0, 0, 41, UInt8(size >> 8), UInt8(size & 0xFF), 0, 0, dnssecOK, 0, 0, 0]
    }

    /// The largest message built: well under the 65535 a TCP frame allows, leaving room for a TSIG record.
    public static let messageLimit = 16_384

    /// The response messages carrying `records` to the query `id`/`question`: the question in the first message
    /// only (RFC 5936 §2.2.1 allows it in the first and requires nothing after), AA set, names compressed within
    /// each message, as many records per message as fit in `limit` octets.
    /// `opt`: the OPT record (wire form) each message ends with, when the query had one (RFC 6891 §7).
    public static func build(
        id: UInt16, question: Question, records: [ResourceRecord], limit: Int = TransferMessages.messageLimit,
        opt: [UInt8]? = nil
    ) -> [[UInt8]] {
        var messages: [[UInt8]] = []
        var i = 0
        repeat {
            var w = MessageWriter()
            let first = messages.isEmpty
            w.u16(id)
            w.u16(Header.Flag.qr | Header.Flag.aa)
            w.u16(first ? 1 : 0)
            w.u16(0)
            w.u16(0)
            w.u16(0)
            if first { w.question(question.name, type: question.type, rrClass: question.rrClass) }
            var count = 0
            while i < records.count {
                // The record's uncompressed size bounds what it adds (compression only shrinks it).
                let most = records[i].name.wire.count + 10 + records[i].rdata.count
                if w.bytes.count + most > limit && count > 0 { break }
                w.record(records[i])
                count += 1
                i += 1
            }
            w.set16(UInt16(count), at: 6)
            var bytes = w.bytes
            if let opt {
                bytes[11] = 1  // ARCOUNT
                bytes += opt
            }
            messages.append(bytes)
        } while i < records.count
        return messages
    }
}

/// Per config (its pools, as read): for each zone, its pools by class (`Pool.shareKey`, a pool whose definition
/// differs from its class's first standing alone), each class's first pool and a digest of its names. Made once per
/// config and kept, so that a health change fingerprints the classes, not the names (`ZoneContent.fingerprint`).
public final class PoolDigests: Sendable {
    /// One class of pools in one zone.
    public struct Entry: Sendable {
        /// The index of its first pool (in the config's pools, which is also the plans' order).
        public var representative: Int
        /// The sum of its names' hashes.
        public var names: UInt64
    }

    private let state = Mutex<(pools: [Pool], byOrigin: [DomainName: [Entry]])?>(nil)

    /// An empty cache.
    public init() {}

    /// The classes of `pools` in the zone at `origin`.
    public func entries(_ pools: [Pool], in origin: DomainName) -> [Entry] {
        state.withLock { state in
            // The same config: the same array (it is kept here, so its storage cannot be another's).
            let same = state.map { PoolPlans.sameStorage($0.pools, pools) } ?? false
            if !same { state = (pools, [:]) }
            if let done = state?.byOrigin[origin] { return done }
            // One entry per class (`PoolPlans.classes`) with pools in this zone.
            let classOf = PoolPlans.classes(of: pools).classOf
            var entries: [Entry] = []
            var byClass: [Int32: Int] = [:]
            for (i, pool) in pools.enumerated() where pool.name.isSubdomain(of: origin) {
                let name = Zone.recordHash(pool.name, RRType(0), 0, [])
                if let e = byClass[classOf[i]] {
                    entries[e].names = entries[e].names &+ name
                    continue
                }
                byClass[classOf[i]] = entries.count
                entries.append(Entry(representative: i, names: name))
            }
            state?.byOrigin[origin] = entries
            return entries
        }
    }
}
