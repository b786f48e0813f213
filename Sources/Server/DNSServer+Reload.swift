// DNSServer+Reload: a reload that applies the whole new config, and NOTIFY of the serials that moved.

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
    /// NOTIFY the configured secondaries of `origins` with their served SOA (before start: once listening).
    func sendNotifies(_ origins: [DomainName]) {
        guard !origins.isEmpty else { return }
        let (config, started) = state.withLock { ($0.config, $0.started) }
        guard started else {
            state.withLock { $0.pendingNotify.formUnion(origins) }
            return
        }
        let snapshot = store.current().0
        for origin in origins {
            guard let entry = config.zones.first(where: { $0.origin == origin }), !entry.notify.isEmpty,
                let soa = snapshot.soa(origin)
            else { continue }
            notifier.notify(zone: origin, soa: soa, targets: entry.notify, key: entry.key)
        }
    }

    /// What a reload did.
    public struct ReloadOutcome: Sendable {
        /// Every error (`file:line: message`) when nothing was applied; nil when everything was.
        public var errors: [String]?
        /// Settings that changed but apply only at the next start (by config key); everything else was applied.
        public var needsRestart: [String] = []
        /// What changed of the lines.
        public var lines = HealthChecker.Changes()
        /// The snapshot generation that serves the new config.
        public var generation = 0
        /// Why the served serials could not be saved (the reload serves, but they will not survive a restart).
        public var saveProblem: String?

        /// An outcome; with `errors`, a reload that applied nothing.
        public init(errors: [String]? = nil) { self.errors = errors }
    }

    /// Re-reads the config file and every zone and applies every part: zones, pools, lines and their checks,
    /// server settings (identity, version, NSID, CHAOS, EDNS size, RRL, TCP limits), keys, transfer ACLs and
    /// NOTIFY targets. Settings that need a restart (listen addresses, workers, the control API, user, state
    /// directory) are named in the log and in the outcome. On any error nothing is applied: the old snapshot keeps
    /// serving and every error is logged with file and line.
    @discardableResult
    public func reload() -> Bool { reloadReporting() == nil }

    /// `reload()`, returning nil on success, else every error as `file:line: message`.
    public func reloadReporting() -> [String]? { reloadOutcome().errors }

    /// `reload()` with everything it did. Runs on the builder (waiting for it); never call it from the builder.
    public func reloadOutcome() -> ReloadOutcome {
        dispatchPrecondition(condition: .notOnQueue(builder))
        return builder.sync { reloadOnBuilder() }
    }

    /// `reloadOutcome()` without waiting: `done` gets the outcome on the builder once the new snapshot serves.
    func reload(then done: @escaping @Sendable (ReloadOutcome) -> Void) {
        builder.async { [self] in done(reloadOnBuilder()) }
    }

    /// Test-only: `UPLINKDNS_TEST_RELOAD_DELAY=SECONDS` in the server's environment makes every reload take that much
    /// longer, as a large signed zone's does (the tests of `uplinkdns reload`'s wait; docs/console.md). Unset, nothing.
    static let testReloadDelay = ProcessInfo.processInfo.environment["UPLINKDNS_TEST_RELOAD_DELAY"].flatMap(Double.init)

    func reloadOnBuilder() -> ReloadOutcome {
        SystemdNotify.reloading()
        if let delay = Self.testReloadDelay, delay > 0 { Thread.sleep(forTimeInterval: min(delay, 600)) }
        let outcome = applyReload()
        reloadRecord.withLock { $0.record(outcome) }
        if let errors = outcome.errors {
            // One line: a newline would start another field of the message.
            let first = (errors.first ?? "").replacingOccurrences(of: "\n", with: " ")
            SystemdNotify.send(["READY=1", "STATUS=reload failed, serving the previous config: \(first)"])
        } else if let why = outcome.saveProblem {
            let line = why.replacingOccurrences(of: "\n", with: " ")
            SystemdNotify.send(["READY=1", "STATUS=reloaded, but the serials cannot be saved: \(line)"])
        } else {
            SystemdNotify.send(["READY=1", "STATUS=\(servingStatus())"])
        }
        return outcome
    }

    /// One line on what is served, for systemd's STATUS.
    func servingStatus() -> String {
        let snapshot = store.current().0
        return Self.servingStatus(
            zones: snapshot.origins.count, up: health.up.count, lines: health.linkNames.count,
            plans: snapshot.plans)
    }

    /// `serving 1 zone(s), 2 of 2 line(s) up`, and the pools failing open (no line up, answering the lines probes
    /// took out), as `status` and the page say it: systemd's STATUS must not say a pool answers nothing while it
    /// answers every line.
    public static func servingStatus(zones: Int, up: Int, lines: Int, plans: PoolPlans) -> String {
        let open = plans.filter(\.failingOpen).map(\.pool.name.description)
        let more = open.count > 3 ? " and \(open.count - 3) more" : ""
        let failing =
            open.isEmpty
            ? ""
            : "; failing open (answering the lines probes took out): "
                + open.prefix(3).joined(separator: ", ") + more
        return "serving \(zones) zone(s), \(up) of \(lines) line(s) up\(failing)"
    }

    private func applyReload() -> ReloadOutcome {
        let running = state.withLock { $0.config }
        do {
            // Everything is read and checked first; nothing is applied unless all of it loads.
            let fresh = try Config.load(path: running.path)
            let zones = try fresh.loadZones()
            try ZoneSigning.checkKeys(fresh, logger: logger)
            DNSServer.logWarnings(zones, logger)
            let fingerprints = zones.zones.mapValues(\.contentFingerprint)
            let plan = ReloadPlan(
                running: running, desired: fresh, listenOverridden: listenOverride != nil,
                controlOverridden: controlOverride != nil)
            var outcome = ReloadOutcome()
            outcome.needsRestart = plan.keptUntilRestart
            for key in outcome.needsRestart {
                logger.warning("reload: \(key) changed: it takes effect at the next restart")
            }
            let applied = plan.applied
            var moved: [DomainName] = []
            for step in plan.steps {
                switch step {
                case .lines:
                    // Answers are built for the lines of the new config, with their states. A change of lines that
                    // comes in meanwhile (a new line's first probe) queues its own build, which runs after this one,
                    // over the new zones, with the health module's lines up then.
                    outcome.lines = health.reconfigure(uplinks: applied.uplinks, hooks: applied.onChange)
                case .transferPolicies:
                    transfer.configure(applied)
                case .queryLog:
                    queryLog.configure(
                        path: applied.queryLogPath, format: applied.queryLog.format, identity: applied.identity)
                case .answers:
                    let previous = state.withLock { ($0.zones, $0.fingerprints) }
                    let (up, held) = health.answering
                    let (snapshot, changed, problem) = DNSServer.compile(
                        config: applied, zones: zones, fingerprints: fingerprints, up: up, held: held, serials: serials,
                        journal: journal, signing: signing, previous: previous, digests: poolDigests,
                        counters: counters,
                        logger: logger)
                    store.replace(snapshot)
                    state.withLock { st in
                        st.config = applied
                        st.zones = zones
                        st.fingerprints = fingerprints
                        st.saveProblem = problem
                    }
                    outcome.saveProblem = problem
                    moved = changed
                    release()
                case .routing:
                    routing.reconfigure(
                        uplinks: applied.uplinks, enabled: applied.routingApply, gateway: applied.routingGateway)
                case .director:
                    director.reconfigure(director: applied.director, hooks: applied.onChange)
                case .tcpLimits:
                    for t in state.withLock({ $0.tcp }) { t.update(applied.tcpLimits) }
                case .rateLimit:
                    limiter.update(applied.rrl)
                case .notify:
                    sendNotifies(moved)
                }
            }
            outcome.generation = store.generation
            let restart =
                outcome.needsRestart.isEmpty
                ? "" : "; at the next restart: \(outcome.needsRestart.joined(separator: ", "))"
            let did = plan.steps.map { "\($0)" }.joined(separator: ", ")
            logger.info(
                "reloaded: \(fresh.zones.count) zone(s), \(applied.nameCount(zones)) (\(did))\(restart)")
            return outcome
        } catch {
            for e in error.errors { logger.error("reload failed, still serving the previous data: \(e)") }
            return ReloadOutcome(errors: error.errors.map(\.description))
        }
    }
}
