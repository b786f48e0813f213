// DNSServer: owns the listeners and the snapshot; starts, reloads on SIGHUP, stops on SIGTERM/SIGINT.

import CUplinkSys
import DNSWire
import Dispatch
import Foundation
import Health
import Logging
import NIOCore
import NIOPosix
import Responder
import Synchronization
import Uplinks
import Zones

/// The running server: UDP and TCP on every listen address, one snapshot shared by all of them.
public final class DNSServer: Sendable {
    /// What start, reload and stop change, behind one lock (never touched by the query path).
    private struct State {
        var config: Config
        /// The zones as last loaded (health changes recompile from these without reading files).
        var zones: ZoneSet
        /// Each zone's file-content fingerprint (computed once per load; the serial moves when it changes).
        var fingerprints: [DomainName: UInt64]
        /// Zones whose serial moved before the listeners were up: notified once they are.
        var pendingNotify: Set<DomainName> = []
        var started = false
        /// The lines currently up; nil = all (the default until the health module says otherwise).
        var up: Set<String>?
        /// Moves with every change of `up`; the builder skips a change that a later build already covered.
        var upVersion = 0
        var builtUpVersion = -1
        /// Why the last build for a change of lines could not save the served serials (nil: it could).
        var saveProblem: String?

        var udp: [UDPListener] = []
        var tcp: [TCPListener] = []
        var group: MultiThreadedEventLoopGroup?
        var control: ControlServer?
    }

    private let state: Mutex<State>
    private let listenOverride: [ListenAddress]?
    private let controlOverride: ListenAddress??
    private let logger: Logger
    /// The snapshot being served.
    public let store: SnapshotStore
    /// Responses per (pool, first line), across reloads.
    public let counters = AnswerCounters()
    /// Queries by type and rcode, per worker.
    public let queryStats = QueryStats()
    /// The shared health module: probes, overrides, persisted state; its changes rebuild the answers.
    public let health: HealthChecker
    /// Served SOA serials, moved on every change of content and persisted.
    public let serials: SerialKeeper
    /// Signed queries and zone transfers.
    public let transfer: ZoneTransfer
    /// NOTIFY to secondaries.
    public let notifier: Notifier
    /// Response rate limiting for UDP answers (`server.rrl`).
    public let limiter: RateLimiter
    /// The one builder: every snapshot (health change, override, reload) is built and installed here, in order,
    /// never on a thread that serves queries or the control API; old snapshots are freed here too.
    private let builder = DispatchQueue(label: "uplinkdns.builder", qos: .userInitiated)
    private let reloadQueue = DispatchQueue(label: "uplinkdns.reload")
    /// While serving, the builder frees retired snapshots every second (`scheduleReclaim`).
    private let reclaiming = Atomic<Bool>(false)

    /// Loads the zones named by `config` (throws with every error if any fails) but does not bind yet.
    /// `control`: nil = as configured; `.some(nil)` = off; `.some(address)` = that address.
    public init(config: Config, listen: [ListenAddress]? = nil, control: ListenAddress?? = nil, logger: Logger)
        throws(ConfigFailure)
    {
        self.controlOverride = control
        self.listenOverride = listen
        self.logger = logger
        let clock = ContinuousClock()
        let started = clock.now
        let zones = try config.loadZones()
        let loaded = clock.now
        let fingerprints = zones.zones.mapValues(\.contentFingerprint)
        self.state = Mutex(State(config: config, zones: zones, fingerprints: fingerprints))
        self.serials = SerialKeeper(directory: config.stateDirectory)
        // Provisional: served (if at all) only until `start` applies the lines' health and decides the serials; so
        // it neither moves nor persists a serial. `start` keeps its compiled zones and builds the pools' overlay.
        let snapshot = Snapshot(
            zoneSet: zones, options: config.responderOptions, plans: config.plans(),
            serials: serials.current(zones.zones.keys), counters: counters)
        let compiled = clock.now
        self.notifier = Notifier(logger: logger)
        self.limiter = RateLimiter(config.rrl)
        let box = WeakServer()
        self.health = HealthChecker(
            uplinks: config.uplinks, logger: logger, stateDirectory: config.stateDirectory,
            restoreMaxAge: config.restoreMaxAge, hooks: config.onChange,
            hookDirectory: URL(fileURLWithPath: config.path).deletingLastPathComponent().path
        ) { up in box.server?.setLinesUp(up, wait: false) }
        self.store = SnapshotStore(snapshot)
        self.transfer = ZoneTransfer(store: store, logger: logger)
        transfer.configure(config)
        box.set(self)
        func seconds(_ d: Duration) -> String {
            let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
            return "\(ms / 1000).\(String(format: "%02d", ms % 1000 / 10)) s"
        }
        let took =
            "in \(seconds(compiled - started)) (read \(seconds(loaded - started)), compiled \(seconds(compiled - loaded)))"
        logger.info("loaded \(config.zones.count) zone(s), \(snapshot.nameCount) names \(took)")
    }

    /// The addresses actually bound (ports filled in), UDP and TCP alike.
    public var boundAddresses: [ListenAddress] { state.withLock { $0.udp.map(\.address) } }

    /// Binds UDP and TCP on every address and starts serving. With port 0, UDP picks the port and TCP takes
    /// the same one (retried if another process holds it on TCP).
    public func start() throws {
        // Health first (docs/health.md): restore the persisted state, run one probe round, answer with it applied.
        health.restore()
        let done = DispatchSemaphore(value: 0)
        let checker = health
        Task.detached {
            await checker.initialRound()
            done.signal()
        }
        done.wait()
        setLinesUp(health.up)
        health.start()
        // Replaced snapshots are freed once every serving thread has moved past them (`SnapshotStore.reclaim`).
        reclaiming.store(true, ordering: .relaxed)
        scheduleReclaim()
        let config = state.withLock { $0.config }
        let workers = config.udpWorkers > 0 ? config.udpWorkers : System.coreCount
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var udp: [UDPListener] = []
        var tcp: [TCPListener] = []
        defer { state.withLock { [udp, tcp] s in (s.group, s.udp, s.tcp) = (group, udp, tcp) } }
        let tcpStats = queryStats.makeBlock()  // one event loop serves TCP: one block, no contention
        for requested in listenOverride ?? config.listen {
            var attempt = 0
            while true {
                attempt += 1
                let u = try UDPListener(address: requested, workers: workers)
                do {
                    let t = try TCPListener(
                        address: u.address, group: group, store: store, stats: tcpStats, transfer: transfer,
                        maxConnections: config.tcpMaxConnections, maxPerClient: config.tcpMaxPerClient,
                        idleTimeout: config.tcpIdleTimeout, logger: logger)
                    udp.append(u)
                    tcp.append(t)
                    break
                } catch {
                    u.stop()
                    if requested.port != 0 || attempt >= 5 {
                        throw ListenError(address: u.address, reason: "tcp: \(error)")
                    }
                }
            }
        }
        for u in udp {
            u.start(store: store, stats: queryStats, transfer: transfer, limiter: limiter, logger: logger)
            logger.info("listening on udp \(u.address) (\(workers) workers)")
        }
        for t in tcp { logger.info("listening on tcp \(t.address)") }
        if let address = controlOverride ?? config.control {
            let token = try controlToken(config)
            let control = try ControlServer(
                address: address, group: group, token: token, actions: controlActions(), logger: logger)
            state.withLock { $0.control = control }
            logger.info("control API on http://\(control.address)")
        }
        if let pidFile = config.pidFile {
            try? "\(getpid())\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        }
        if let user = config.user { try dropPrivileges(to: user, stateDirectory: config.stateDirectory) }
        // Every zone's secondaries hear from us once at start: they may have missed a NOTIFY while we were down.
        state.withLock { st in
            st.started = true
            st.pendingNotify = []
        }
        sendNotifies(Array(state.withLock { $0.zones.zones.keys }))
        // Loading a large zone leaves freed arenas behind (the parse's, the provisional snapshot): give them back.
        builder.async { [self] in release(trim: true) }
    }

    /// Runs as `user` from now on (`server.user`): after every socket is bound, the state directory (and what is in
    /// it) is given to the user, then the supplementary groups, the group and the user are set — in that order, so
    /// that nothing can be regained. glibc applies setuid to every thread. Started as that user already: nothing
    /// to do; as anyone else but root: an error.
    func dropPrivileges(to user: String, stateDirectory: String) throws {
        guard let pw = getpwnam(user) else {
            throw PrivilegeError(description: "server.user: no user '\(user)' on this system")
        }
        let (uid, gid) = (pw.pointee.pw_uid, pw.pointee.pw_gid)
        if getuid() == uid && geteuid() == uid { return }
        guard geteuid() == 0 else {
            throw PrivilegeError(
                description: "server.user is \(user), but the server runs as uid \(geteuid()), not root")
        }
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        var paths = [stateDirectory]
        paths +=
            (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory))?.map {
                (stateDirectory as NSString).appendingPathComponent($0)
            } ?? []
        for p in paths { _ = chown(p, uid, gid) }
        var groups = [gid]
        guard setgroups(1, &groups) == 0, setgid(gid) == 0, setuid(uid) == 0, setuid(0) != 0 else {
            throw PrivilegeError(description: "cannot drop privileges to \(user): \(String(cString: strerror(errno)))")
        }
        logger.notice("running as \(user) (uid \(uid), gid \(gid))")
    }

    /// Decides each zone's served serial for `zones` with the pools answering `plans`, from its content
    /// (`SerialKeeper`): the serials, and the zones whose serial moved.
    static func decideSerials(
        zones: ZoneSet, fingerprints: [DomainName: UInt64], plans: [PoolPlan], policies: [DomainName: SerialPolicy],
        serials: SerialKeeper, logger: Logger
    ) -> (served: [DomainName: UInt32], moved: [DomainName], problem: String?) {
        var served: [DomainName: UInt32] = [:]
        var moved: [DomainName] = []
        for (origin, zone) in zones.zones {
            let sets = ZoneContent.poolSets(plans, in: origin)
            let fingerprint = ZoneContent.fingerprint(
                file: fingerprints[origin] ?? zone.contentFingerprint, origin: origin, pools: sets)
            let (serial, changed) = serials.serial(
                for: origin, fileSerial: zone.fileSerial, fingerprint: fingerprint,
                policy: policies[origin] ?? .dateserial)
            served[origin] = serial
            if changed {
                moved.append(origin)
                logger.info("zone \(origin) serial \(serial)")
            }
        }
        var problem: String?
        if !moved.isEmpty {
            do { try serials.save() } catch {
                problem = "cannot save the served serials to \(serials.path ?? "?"): \(HealthChecker.reason(error))"
                logger.error("\(problem!)")
            }
        }
        return (served, moved, problem)
    }

    /// Compiles the snapshot for `config` and `zones` with the lines in `up` (nil = all), deciding each zone's
    /// served serial from its content (`SerialKeeper`). Returns it and the zones whose serial moved.
    static func compile(
        config: Config, zones: ZoneSet, fingerprints: [DomainName: UInt64], up: Set<String>?, serials: SerialKeeper,
        counters: AnswerCounters, logger: Logger
    ) -> (Snapshot, [DomainName]) {
        let plans = config.plans(up: up)
        let (served, moved, _) = decideSerials(
            zones: zones, fingerprints: fingerprints, plans: plans, policies: config.serialPolicies, serials: serials,
            logger: logger)
        let snapshot = Snapshot(
            zoneSet: zones, options: config.responderOptions, plans: plans, serials: served, counters: counters)
        return (snapshot, moved)
    }

    /// NOTIFY the configured secondaries of `origins` with their served SOA (before start: once listening).
    private func sendNotifies(_ origins: [DomainName]) {
        guard !origins.isEmpty else { return }
        let (config, started) = state.withLock { ($0.config, $0.started) }
        guard started else {
            state.withLock { $0.pendingNotify.formUnion(origins) }
            return
        }
        let snapshot = store.current().0
        for origin in origins {
            guard let entry = config.zones.first(where: { $0.origin == origin }), !entry.notify.isEmpty,
                let soa = snapshot.zoneSet.zones[origin]?.soa
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

    private func reloadOnBuilder() -> ReloadOutcome {
        let running = state.withLock { $0.config }
        do {
            let fresh = try Config.load(path: running.path)
            let zones = try fresh.loadZones()
            let fingerprints = zones.zones.mapValues(\.contentFingerprint)
            var outcome = ReloadOutcome()
            outcome.needsRestart = running.restartOnlyChanges(to: fresh).filter { key in
                // Overridden on the command line: the config's value was not in use anyway.
                !(key == "server.listen" && listenOverride != nil)
                    && !(key == "server.control" && controlOverride != nil)
            }
            for key in outcome.needsRestart {
                logger.warning("reload: \(key) changed: it takes effect at the next restart")
            }
            let applied = running.applyingReloadable(from: fresh)
            // The lines first: answers are built for the lines of the new config, with their states.
            outcome.lines = health.reconfigure(uplinks: applied.uplinks, hooks: applied.onChange)
            let up = health.up
            let (snapshot, moved) = DNSServer.compile(
                config: applied, zones: zones, fingerprints: fingerprints, up: up, serials: serials,
                counters: counters, logger: logger)
            store.replace(snapshot)
            let tcp = state.withLock { st in
                st.config = applied
                st.zones = zones
                st.fingerprints = fingerprints
                st.up = up
                st.builtUpVersion = st.upVersion  // a change the reconfiguration published is built here
                return st.tcp
            }
            for t in tcp {
                t.update(
                    maxConnections: applied.tcpMaxConnections, maxPerClient: applied.tcpMaxPerClient,
                    idleTimeout: applied.tcpIdleTimeout)
            }
            transfer.configure(applied)
            limiter.update(applied.rrl)
            release()
            sendNotifies(moved)
            outcome.generation = store.generation
            let restart =
                outcome.needsRestart.isEmpty
                ? "" : "; at the next restart: \(outcome.needsRestart.joined(separator: ", "))"
            logger.info("reloaded: \(fresh.zones.count) zone(s), \(snapshot.nameCount) names\(restart)")
            return outcome
        } catch {
            for e in error.errors { logger.error("reload failed, still serving the previous data: \(e)") }
            return ReloadOutcome(errors: error.errors.map(\.description))
        }
    }

    /// Every second on the builder, while serving: frees the snapshots every serving thread has moved past.
    private func scheduleReclaim() {
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
    private func release(trim: Bool = false) {
        if store.reclaim() > 0 || trim { _ = uplink_malloc_trim() }
    }

    /// The control token: `server.control-token` (or its file), else one generated once into the state directory
    /// (`control.token`, mode 0600), where `uplinkdns status`/`link` read it.
    func controlToken(_ config: Config) throws -> String {
        if let t = config.controlToken { return t }
        let path = (config.stateDirectory as NSString).appendingPathComponent("control.token")
        if let t = try? String(contentsOfFile: path, encoding: .utf8), !t.isEmpty {
            return t.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try FileManager.default.createDirectory(atPath: config.stateDirectory, withIntermediateDirectories: true)
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        return token
    }

    private func controlActions() -> ControlActions {
        ControlActions(
            links: { [health] in health.links },
            addresses: { [weak self] name in
                self?.state.withLock { $0.config.uplinks.link(name)?.publicAddresses.map(\.description) } ?? []
            },
            setOverride: { [health] name, o, d in health.applyOverride(name, o, for: d) },
            linkNames: { [health] in health.linkNames },
            afterBuilds: { [weak self] done in
                guard let self else { return done(0) }
                self.afterBuilds(then: done)
            },
            saveProblem: { [weak self] in self?.state.withLock { $0.saveProblem } },
            reload: { [weak self] done in
                guard let self else { return done(ReloadOutcome(errors: ["server stopping"])) }
                self.reload(then: done)
            },
            metrics: { [weak self] in self?.metricsText() ?? "" },
            export: { [store] origin in
                guard let name = try? DomainName(origin.hasSuffix(".") ? origin : origin + "."),
                    let zone = store.current().0.transferZone(name)
                else { return nil }
                return ZoneExport.text(zone, addresses: "current (from the running server)")
            },
            zones: { [store] in
                let snapshot = store.current().0
                return snapshot.zoneSet.zones.keys.sorted().map { ($0.description, snapshot.serial($0) ?? 0) }
            })
    }

    /// Prometheus text (base units, bounded labels: lines and pools come from config).
    func metricsText() -> String {
        var out = ""
        /// One metric family: its HELP and TYPE lines, then a sample per (labels, value).
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for s in samples { out += "\(name)\(s.labels.isEmpty ? "" : "{\(s.labels)}") \(s.value)\n" }
        }
        let now = Date()
        let links = health.links
        family(
            "uplinkdns_link_up", "gauge", "Whether the line is in answers (1) or out of them (0).",
            links.map { ("link=\"\($0.name)\"", $0.effective(at: now) == .up ? "1" : "0") })
        family(
            "uplinkdns_link_probed_up", "gauge", "Whether the line's probes say up (overrides aside).",
            links.map { ("link=\"\($0.name)\"", $0.probed == .up ? "1" : "0") })
        family(
            "uplinkdns_queries_total", "counter", "Queries by question type and response code (dropped: no answer).",
            queryStats.counts.map { ("type=\"\($0.type)\",rcode=\"\($0.rcode)\"", "\($0.count)") })
        family(
            "uplinkdns_probe_duration_seconds", "gauge", "How long the line's last probe round took.",
            links.map { ("link=\"\($0.name)\"", "\($0.lastRoundSeconds)") })
        family(
            "uplinkdns_link_transitions_total", "counter", "Changes of the lines' state in answers.",
            [("", "\(health.transitions)")])
        family(
            "uplinkdns_responses_first_total", "counter", "Responses whose first address was the line's, per pool.",
            counters.counts.map { ("pool=\"\($0.pool)\",link=\"\($0.line)\"", "\($0.count)") })
        let snapshot = store.current().0
        family(
            "uplinkdns_zone_serial", "gauge", "The SOA serial each zone is served with.",
            snapshot.zoneSet.zones.keys.sorted().map { ("zone=\"\($0)\"", "\(snapshot.serial($0) ?? 0)") })
        family(
            "uplinkdns_transfers_total", "counter",
            "Transfer requests and signed queries by outcome (axfr, ixfr, refused, tsig-error).",
            transfer.outcomes.map { ("outcome=\"\($0.outcome)\"", "\($0.count)") })
        let rrl = limiter.counts
        family(
            "uplinkdns_rrl_responses_total", "counter",
            "UDP responses held back by rate limiting: dropped, or sent truncated (slipped).",
            [("action=\"dropped\"", "\(rrl.dropped)"), ("action=\"slipped\"", "\(rrl.slipped)")])
        let notifies = notifier.counts
        family(
            "uplinkdns_notify_total", "counter", "NOTIFY messages acknowledged or given up on.",
            [("result=\"acknowledged\"", "\(notifies.acknowledged)"), ("result=\"failed\"", "\(notifies.failed)")])
        return out
    }

    /// Sets which lines are up and swaps in answers built for them (the input the health module drives). The
    /// zones are not re-read and not recompiled: the builder builds a new pool overlay over the compiled zones,
    /// which costs what the pools touch. Queries keep being answered from the old snapshot until the swap. With
    /// `wait`, returns once the new answers serve; else at once (the health module's changes, which must not wait).
    public func setLinesUp(_ up: Set<String>, wait: Bool = true) {
        state.withLock { st in
            st.up = up
            st.upVersion += 1
        }
        builder.async { [self] in buildForLines() }
        if wait { afterBuilds() }
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

    /// On the builder: the answers for the lines up now, unless a build already covered the latest change.
    private func buildForLines() {
        let (config, zones, fingerprints, up, version) = state.withLock { st in
            (st.config, st.zones, st.fingerprints, st.up, st.upVersion)
        }
        guard state.withLock({ $0.builtUpVersion }) != version else { return }
        let plans = config.plans(up: up)
        let (served, moved, problem) = DNSServer.decideSerials(
            zones: zones, fingerprints: fingerprints, plans: plans, policies: config.serialPolicies, serials: serials,
            logger: logger)
        state.withLock { $0.saveProblem = problem }
        let current = store.current().0
        // The compiled zones are those of the last load (reloads build on this queue too): only the pools' overlay
        // is new. A change of the pools themselves comes with a reload, which compiles everything.
        let snapshot =
            current.canUpdate(to: plans)
            ? current.updating(plans: plans, serials: served, counters: counters)
            : Snapshot(
                zoneSet: zones, options: current.options, plans: plans, serials: served, counters: counters)
        store.replace(snapshot)
        state.withLock { $0.builtUpVersion = version }
        store.reclaim()
        logger.info("lines up: \(up.map { $0.sorted().joined(separator: ", ") } ?? "all")")
        sendNotifies(moved)
    }

    /// Stops every listener.
    public func stop() {
        health.stop()
        reclaiming.store(false, ordering: .relaxed)
        let s = state.withLock { s in
            defer { (s.udp, s.tcp, s.group, s.control) = ([], [], nil, nil) }
            return s
        }
        for u in s.udp { u.stop() }
        for t in s.tcp { t.stop() }
        s.control?.stop()
        try? s.group?.syncShutdownGracefully()
        if let pidFile = s.config.pidFile { try? FileManager.default.removeItem(atPath: pidFile) }
    }

    /// Serves until SIGTERM or SIGINT; SIGHUP reloads.
    public func runUntilSignalled() {
        signal(SIGHUP, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        let done = DispatchSemaphore(value: 0)
        let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: reloadQueue)
        hup.setEventHandler { [self] in
            logger.info("SIGHUP: reloading")
            reload()
        }
        hup.resume()
        var stops: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            let src = DispatchSource.makeSignalSource(signal: sig, queue: reloadQueue)
            src.setEventHandler { done.signal() }
            src.resume()
            stops.append(src)
        }
        done.wait()
        logger.info("stopping")
        hup.cancel()
        for s in stops { s.cancel() }
        stop()
    }
}

/// Why the server could not switch to `server.user`.
public struct PrivilegeError: Error, CustomStringConvertible {
    public var description: String
}

/// Lets the health module reach the server without keeping it alive (the server owns the checker).
private final class WeakServer: Sendable {
    private let ref = Mutex<WeakRef?>(nil)
    private struct WeakRef: Sendable {
        weak var server: DNSServer?
    }
    func set(_ s: DNSServer) { ref.withLock { $0 = WeakRef(server: s) } }
    var server: DNSServer? { ref.withLock { $0?.server } }
}
