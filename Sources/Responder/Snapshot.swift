// Snapshot: every answer the server can give — the compiled zones and the pools' overlay — swapped in whole.

import DNSWire
import Synchronization
import Uplinks
import Zones

/// The immutable state the query path reads: the zones compiled once per load (`CompiledZones`) and what the pools
/// answer now (`PoolOverlay`). A reload builds both; a health change builds a new overlay and shares the zones
/// (`updating`), so it costs what the pools touch. Answering a query is hash probes over the query name's suffixes
/// plus a copy.
public final class Snapshot: Sendable {
    /// The zones' answers (per load).
    let base: CompiledZones
    /// The pools' answers and the served serials (per health change).
    let overlay: PoolOverlay
    /// Per compiled zone (`base.zones` order): the signed zone as it serves now — its RRSIG and NSEC records, the
    /// pools' records and signatures, the served SOA and its signature — for queries with DO set (docs/dnssec.md);
    /// nil for a zone that is not signed. Empty when no zone is.
    let secure: [Zone?]
    /// The signatures of each pool variant's address set (for DO answers of pools: `QueryProcessor.secure`).
    let variantSignatures: [VariantKey: [ResourceRecord]]
    /// Unique among the snapshots of this process (caches keyed by snapshot use it: an address may be reused).
    let id: UInt64
    private static let ids = Atomic<UInt64>(0)

    /// The zones as they answer now, for the slow path and for export.
    public var zoneSet: ZoneSet { overlay.zoneSet }
    /// The zones served, by origin (without making the zones as they answer now, which `zoneSet` does).
    public var origins: [DomainName] { base.zones.map(\.zone.origin) }
    /// The settings compiled in.
    public var options: ResponderOptions { base.options }
    /// How many names the table holds (for logs and tests).
    public var nameCount: Int { base.nodes.count }
    /// The pool plans compiled in.
    public var plans: PoolPlans { overlay.plans }
    /// The client network a pool answer went by (`QueryScratch.lastNetwork`): its networks joined by `+`, `other`
    /// for the pool's policy, nil when the answer did not depend on networks.
    public func networkLabel(_ code: Int32) -> String? {
        guard code >= 0, Int(code >> 16) < overlay.networkMaps.count else { return nil }
        return overlay.networkMaps[Int(code >> 16)].label(Int(code & 0xFFFF))
    }

    /// How many answers a health change rebuilds: those that hold a pool's records, and a signed zone's keys (a
    /// class of pools with the same definition, and the aliases to them, count once).
    public var poolAnswerCount: Int { base.recipes.count }
    /// How many aliases were compiled straight from the arenas (`ResponderOptions.fromArenas`).
    public var aliasesFromArenas: Int { base.aliasesFromArenas }
    /// How many names with MX, PTR or SRV were compiled straight from the arenas (`ResponderOptions.fromArenas`).
    public var recordsFromArenas: Int { base.recordsFromArenas }
    /// How many referrals were compiled straight from the arenas.
    public var referralsFromArenas: Int { base.referralsFromArenas }
    /// How many groups of bodies this snapshot's overlay compiled (what a health change cost).
    public var compiledGroups: Int { overlay.compiledGroups }

    /// Each numbered pool's class (`PoolPlans.classes`: a `Pool.shareKey` whose pools have the same definition; a
    /// pool changed after its class was numbered is a class of its own). A pool without a `shareKey` has none and
    /// compiles on its own.
    static func classes(_ plans: PoolPlans) -> [DomainName: Int] {
        let classOf = PoolPlans.classes(of: plans.pools).classOf
        var out: [DomainName: Int] = [:]
        out.reserveCapacity(plans.count)
        for (i, pool) in plans.pools.enumerated() where pool.shareKey >= 0 { out[pool.name] = Int(classOf[i]) }
        return out
    }

    init(
        base: CompiledZones, overlay: PoolOverlay, secure: [DomainName: Zone] = [:],
        variantSignatures: [VariantKey: [ResourceRecord]] = [:]
    ) {
        self.base = base
        self.overlay = overlay
        self.variantSignatures = variantSignatures
        self.secure = secure.isEmpty ? [] : base.zones.map { secure[$0.zone.origin] }
        self.id = Snapshot.ids.add(1, ordering: .relaxed).newValue
    }

    /// Compiles `zoneSet` with `options`. Each pool's current addresses (`plans`, from the lines that are up) are
    /// put into its zone, and every answer that contains them is compiled once per variant. `serials` gives the
    /// SOA serial to serve per zone (the server moves it when content changes); a zone not in it keeps its file's.
    /// `secure`: the signed zones as they serve now (see `secure`).
    public convenience init(
        zoneSet: ZoneSet, options: ResponderOptions = ResponderOptions(), plans: PoolPlans = [],
        serials: [DomainName: UInt32] = [:], counters: AnswerCounters = AnswerCounters(),
        secure: [DomainName: Zone] = [:], variantSignatures: [VariantKey: [ResourceRecord]] = [:]
    ) {
        let base = CompiledZones(
            zoneSet: zoneSet, options: options, pools: plans.map(\.pool.name), classes: Snapshot.classes(plans),
            secure: secure)
        self.init(
            base: base,
            overlay: PoolOverlay(
                base: base, plans: plans, serials: serials, counters: counters,
                secure: base.zones.map { secure[$0.zone.origin] }),
            secure: secure, variantSignatures: variantSignatures)
    }

    /// True when `plans` are for the same pools as this snapshot's, so that `updating` can serve them; with
    /// `secure`, also when its compiled zones were compiled with those signed zones (their NSEC records, which a
    /// provisional snapshot made before the first signing lacks).
    public func canUpdate(to plans: PoolPlans, secure: Set<DomainName>? = nil) -> Bool {
        // The same pools in the same order (a build from the same config) is a walk over the names in place, each
        // compared by its storage first; else the sets of names.
        let (new, old) = (plans.pools, overlay.plans.pools)
        let same =
            new.count == old.count
            ? PoolPlans.sameStorage(new, old) || new.indices.allSatisfy { new[$0].name.wire == old[$0].name.wire }
            : Set(new.map(\.name)) == base.poolNames
        return same && (secure == nil || secure == base.secureOrigins)
    }

    /// This snapshot with the pools answering `plans` and the zones served with `serials`: a new overlay over the
    /// same compiled zones. The pools must be the same (`canUpdate`); the answers equal a full compile's.
    public func updating(
        plans: PoolPlans, serials: [DomainName: UInt32], counters: AnswerCounters, secure: [DomainName: Zone] = [:],
        variantSignatures: [VariantKey: [ResourceRecord]] = [:]
    ) -> Snapshot {
        assert(canUpdate(to: plans), "updating a snapshot needs the same pools")
        return Snapshot(
            base: base,
            overlay: PoolOverlay(
                base: base, plans: plans, serials: serials, counters: counters,
                secure: base.zones.map { secure[$0.zone.origin] }, previous: overlay),
            secure: secure, variantSignatures: variantSignatures)
    }
}

/// A pool variant's address set, as its signature is looked up: the pool's name (lower case), the type, and the
/// RDATAs in sorted order (an RRSIG covers the RRset in canonical order, so one serves every ordering of a set).
public struct VariantKey: Hashable, Sendable {
    public var name: DomainName
    public var type: RRType
    public var rdatas: [[UInt8]]

    public init(name: DomainName, type: RRType, rdatas: [[UInt8]]) {
        self.name = name.lowercased()
        self.type = type
        self.rdatas = rdatas.sorted { $0.lexicographicallyPrecedes($1) }
    }
}
