// DNSServer+Builds: the builder's jobs — serials decided, snapshots built for the lines up, old ones freed.

import CUplinkSys
import DNSWire
import Dispatch
import Foundation
import Health
import Logging
import Responder
import Synchronization
import Uplinks
import Zones

extension DNSServer {
    /// Decides each zone's served serial for `zones` with the pools answering `plans`, from its content
    /// (`SerialKeeper`), and notes each new version in the IXFR journal (`previous`: the zones served before, when a
    /// reload replaces them, to diff against): the serials, the zones whose serial moved, and what could not be saved.
    /// The journal's new versions are not noted here but by `journalWork`, which the caller runs once the answers
    /// serve (a flap of 100,000 pools is a journal entry of 100,000 records: it must not hold the answers back).
    /// `digests`: the pools' classes per config (`PoolDigests`), so that an unsigned zone's fingerprint costs the
    /// classes, not the names.
    static func decideSerials(
        zones: ZoneSet, fingerprints: [DomainName: UInt64], plans: PoolPlans, config: Config, serials: SerialKeeper,
        journal: Journal, signing: ZoneSigning, previous: (zones: ZoneSet, fingerprints: [DomainName: UInt64])? = nil,
        digests: PoolDigests, logger: Logger
    ) -> (served: [DomainName: UInt32], moved: [DomainName], problem: String?, journalWork: @Sendable () -> String?) {
        var served: [DomainName: UInt32] = [:]
        var moved: [DomainName] = []
        var problems: [String] = []
        var entries: [@Sendable () -> String?] = []
        let policies = config.serialPolicies
        let limits = config.journalLimits
        for (origin, zone) in zones.zones {
            let settings = config.zones.first { $0.origin == origin }?.dnssec
            // A signed zone's pools are signed per name anyway; an unsigned zone's go to the journal after the swap.
            let sets = settings == nil ? [] : ZoneContent.poolSets(plans, in: origin)
            var file = fingerprints[origin] ?? zone.contentFingerprint
            var content = zone
            var before = (zone: previous?.zones.zones[origin], file: previous?.fingerprints[origin])
            var signed: ZoneSigning.Signed?
            if settings == nil { signing.drop(origin) }
            if let settings {
                // DNSSEC: the file content's signatures are made once per load and signature window; the serial
                // moves with them (a refresh is a new version for the secondaries).
                do {
                    let first = signing.signedFingerprint(origin) == nil
                    let s = try signing.prepare(
                        origin: origin, zone: zone, file: file, poolTypes: config.poolTypes(in: origin),
                        settings: settings, stateDirectory: config.stateDirectory)
                    if first {
                        let tags = s.keys.map { "\($0.keyTag)" }.joined(separator: ", ")
                        let denial = settings.denial == .nsec3 ? "NSEC3" : "NSEC"
                        let until = Date(timeIntervalSince1970: TimeInterval(s.window.expiration))
                        logger.notice(
                            "DNSSEC: zone \(origin) signed with key \(tags) and \(denial): \(s.additionCount) records added, valid until \(until)"
                        )
                    }
                    signed = s
                    (content, file) = (s.zone, s.fingerprint)
                    let old = signing.previousSigned(origin)
                    before = (old?.zone, old?.fingerprint)
                } catch {
                    let problem = "cannot sign \(origin): \(error)"
                    logger.error("\(problem)")
                    problems.append(problem)
                }
            }
            let fingerprint = ZoneContent.fingerprint(
                file: file, origin: origin, pools: config.uplinks.pools, digests: digests,
                records: { plans[$0].transferSets })
            let (serial, changed) = serials.serial(
                for: origin, fileSerial: zone.fileSerial, fingerprint: fingerprint,
                policy: policies[origin] ?? .increment)
            served[origin] = serial
            if changed {
                moved.append(origin)
                logger.info("zone \(origin) serial \(serial)")
            }
            let soa = zone.withSerial(serial).soa
            var extras = sets.flatMap(\.records)
            let unsigned = settings == nil
            if let signed, let settings {
                do {
                    extras += try signing.dynamicSignatures(
                        origin: origin, signed: signed, soa: soa, pools: sets, plans: plans, settings: settings)
                } catch {
                    problems.append("cannot sign \(origin)'s SOA and pools: \(error)")
                }
            }
            // The pools' NSEC records in the signed content are the chain's; the ones transfers carry are each
            // build's, among the extras.
            let chainDenial = Set((signed?.poolDenial ?? []).map(\.name))
            let limit = limits[origin] ?? JournalLimits()
            let (recorded, before0) = (extras, before)
            entries.append { [content, file] in
                let pools = unsigned ? ZoneContent.poolSets(plans, in: origin).flatMap(\.records) : recorded
                let problem = journal.record(
                    origin, soa: soa, zone: content, file: file, pools: pools, previous: before0.zone,
                    previousFile: before0.file, limits: limit,
                    ignore: { ($0.type == .nsec || $0.type == .nsec3) && chainDenial.contains($0.name) })
                if let problem { logger.error("\(problem)") }
                return problem
            }
        }
        if !moved.isEmpty {
            do { try serials.save() } catch {
                let problem =
                    "cannot save the served serials to \(serials.path ?? "?"): \(HealthChecker.reason(error))"
                logger.error("\(problem)")
                problems.insert(problem, at: 0)
            }
        }
        let work: @Sendable () -> String? = { [entries] in
            let found = entries.compactMap { $0() }
            return found.isEmpty ? nil : found.joined(separator: "; ")
        }
        return (served, moved, problems.isEmpty ? nil : problems.joined(separator: "; "), work)
    }

    /// Compiles the snapshot for `config` and `zones` with the lines in `up` (nil = all; `held`: out by an operator,
    /// which fail-open does not bring back), deciding each zone's
    /// served serial from its content (`SerialKeeper`). Returns it and the zones whose serial moved.
    static func compile(
        config: Config, zones: ZoneSet, fingerprints: [DomainName: UInt64], up: Set<String>?,
        held: Set<String> = [], serials: SerialKeeper, journal: Journal, signing: ZoneSigning,
        previous: (zones: ZoneSet, fingerprints: [DomainName: UInt64])?, digests: PoolDigests,
        counters: AnswerCounters, logger: Logger
    ) -> (Snapshot, [DomainName], String?) {
        let plans = config.plans(up: up, held: held)
        let (served, moved, serialProblem, journalWork) = decideSerials(
            zones: zones, fingerprints: fingerprints, plans: plans, config: config, serials: serials,
            journal: journal, signing: signing, previous: previous, digests: digests, logger: logger)
        let problem = [serialProblem, journalWork()].compactMap { $0 }.joined(separator: "; ")
        let snapshot = Snapshot(
            zoneSet: zones, options: config.responderOptions, plans: plans, serials: served, counters: counters,
            secure: signing.servingZones, variantSignatures: signing.servingVariantSignatures)
        return (snapshot, moved, problem.isEmpty ? nil : problem)
    }

    /// Every ten minutes on the builder, while serving: when a signed zone's signature window has turned
    /// (`signature-validity`, `refresh`, docs/dnssec.md), the zones are signed for the new one and served as a new
    /// version (the serial moves, secondaries are notified).
    func scheduleResign() {
        builder.asyncAfter(deadline: .now() + 600) { [weak self] in
            guard let self, self.reclaiming.load(ordering: .relaxed) else { return }
            self.resignIfDue()
            self.scheduleResign()
        }
    }

    /// On the builder: a new build when a signed zone's signatures are due for their refresh. True when it built.
    @discardableResult
    func resignIfDue() -> Bool {
        let config = state.withLock { $0.config }
        let due = config.zones.contains { entry in
            entry.dnssec.map { signing.isDue(entry.origin, settings: $0) } ?? false
        }
        guard due else { return false }
        logger.info("DNSSEC: signature window turned: signing anew")
        buildForLines(force: true)
        return true
    }

    /// Every second on the builder, while serving: frees the snapshots every serving thread has moved past.
    func scheduleReclaim() {
        builder.asyncAfter(deadline: .now() + 1) { [weak self] in
            guard let self, self.reclaiming.load(ordering: .relaxed) else { return }
            if self.store.retiredCount > 0 {
                self.release()
                // Still held: an idle UDP worker has not looked since. Wake the workers; the next tick frees it.
                if self.store.retiredCount > 0 { for u in self.state.withLock({ $0.udp }) { u.wake() } }
            }
            self.scheduleReclaim()
        }
    }

    /// Frees what no serving thread holds any more and gives the memory back to the system (a large zone's old
    /// snapshot is hundreds of megabytes that malloc would otherwise keep). On the builder.
    func release(trim: Bool = false) {
        if store.reclaim() > 0 || trim { _ = uplink_malloc_trim() }
    }

    /// The health module's lines up changed (or a start or test wants answers for them): the builder builds answers
    /// for the lines the health module has up when the build runs — the health module alone says which lines are up.
    /// The zones are not re-read and not recompiled: the builder builds a new pool overlay over the compiled zones,
    /// which costs what the pools touch. Queries keep being answered from the old snapshot until the swap. Changes
    /// that come while a build is queued are covered by it. With `wait`, returns once the new answers serve; else at
    /// once (the health module's changes, which must not wait).
    public func linesChanged(wait: Bool = true) {
        // The main default route follows the same lines, on the follower's own queue (routing.apply).
        routing.follow()
        if !buildQueued.exchange(true, ordering: .acquiringAndReleasing) {
            builder.async { [self] in
                buildQueued.store(false, ordering: .releasing)
                buildForLines()
            }
        }
        if wait { afterBuilds() }
    }

    /// Builds the answers for the lines up now and decides the served serials, even when the lines are those of the
    /// provisional snapshot `init` made (what `start` does first); returns once they serve. `journalLater`: return as
    /// soon as they serve, the journal's version (which costs every pool: seconds for 100,000 of them) recorded next
    /// on the builder, before any later build (what `start` does, so that the listeners open without waiting for it;
    /// a secondary asking for IXFR in between is answered AXFR-style, RFC 1995 §4).
    public func buildAnswers(journalLater: Bool = false) {
        dispatchPrecondition(condition: .notOnQueue(builder))
        builder.sync { buildForLines(force: true, journalLater: journalLater) }
    }

    /// Waits until every build asked for so far serves.
    public func afterBuilds() {
        dispatchPrecondition(condition: .notOnQueue(builder))
        builder.sync {}
    }

    /// Calls `done` (on the builder) once every build asked for so far serves, with the generation serving then.
    func afterBuilds(then done: @escaping @Sendable (Int) -> Void) {
        builder.async { [store] in done(store.generation) }
    }

    /// On the builder: the answers for the lines the health module has up now (with `force` also when they are the
    /// ones served: a signature refresh).
    func buildForLines(force: Bool = false, journalLater: Bool = false) {
        let started = DispatchTime.now().uptimeNanoseconds
        @Sendable func ms(since t: UInt64) -> String {
            String(format: "%.1f ms", Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
        }
        let (config, zones, fingerprints) = state.withLock { st in (st.config, st.zones, st.fingerprints) }
        let (up, held) = health.answering
        let current = store.current().0
        let plans = config.plans(up: up, held: held)
        guard force || !PoolPlan.sameAnswers(current.plans, plans) else { return }
        let planned = ms(since: started)
        let (served, moved, problem, journalWork) = DNSServer.decideSerials(
            zones: zones, fingerprints: fingerprints, plans: plans, config: config, serials: serials,
            journal: journal, signing: signing, digests: poolDigests, logger: logger)
        let decided = ms(since: started)
        // The compiled zones are those of the last load (reloads build on this queue too): only the pools' overlay
        // is new. A change of the pools themselves comes with a reload, which compiles everything; so does the
        // first build with signed zones (the provisional snapshot of `init` was compiled without them), and a build
        // whose zones are not those compiled (a signed zone that could not be signed is served unsigned).
        let secure = signing.servingZones
        let snapshot =
            Set(current.origins) == Set(zones.zones.keys)
                && current.canUpdate(to: plans, secure: Set(secure.keys.filter { zones.zones[$0] != nil }))
            ? current.updating(
                plans: plans, serials: served, counters: counters, secure: secure,
                variantSignatures: signing.servingVariantSignatures)
            : Snapshot(
                zoneSet: zones, options: current.options, plans: plans, serials: served, counters: counters,
                secure: secure, variantSignatures: signing.servingVariantSignatures)
        store.replace(snapshot)
        logger.debug(
            "answers built in \(ms(since: started)) (planned in \(planned), serials by \(decided)); \(snapshot.compiledGroups) group(s)"
        )
        // Once the answers serve: the journal's new versions, which cost every pool. (So do the zones as they
        // answer now, made when first asked: by a transfer, an export or the slow path, not here.)
        let afterSwap: @Sendable () -> Void = { [self] in
            let recording = DispatchTime.now().uptimeNanoseconds
            let journalProblem = journalWork()
            logger.debug("journal recorded in \(ms(since: recording))")
            let saveProblem = [problem, journalProblem].compactMap { $0 }.joined(separator: "; ")
            state.withLock { $0.saveProblem = saveProblem.isEmpty ? nil : saveProblem }
            store.reclaim()
            if !config.uplinks.links.isEmpty {
                let out = config.uplinks.links.map(\.name).filter { !up.contains($0) }
                let upText = up.isEmpty ? "none" : up.sorted().joined(separator: ", ")
                let outText = out.isEmpty ? "" : "; out: \(out.joined(separator: ", "))"
                logger.info("answers built for the lines up: \(upText)\(outText)")
            }
            sendNotifies(moved)
        }
        if journalLater { builder.async(execute: afterSwap) } else { afterSwap() }
    }
}
