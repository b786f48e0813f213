// DNSServer: owns the runtime state (config, zones, lines up), the listeners and the snapshot store; starts and stops.
// Its other jobs are in DNSServer+Builds (the builder), +Reload, +Control (API wiring, metrics) and +Process.

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
    struct State {
        var config: Config
        /// The zones as last loaded (health changes recompile from these without reading files).
        var zones: ZoneSet
        /// Each zone's file-content fingerprint (computed once per load; the serial moves when it changes).
        var fingerprints: [DomainName: UInt64]
        /// Zones whose serial moved before the listeners were up: notified once they are.
        var pendingNotify: Set<DomainName> = []
        var started = false
        /// Why the last build for a change of lines could not save the served serials (nil: it could).
        var saveProblem: String?

        var udp: [UDPListener] = []
        var tcp: [TCPListener] = []
        var group: MultiThreadedEventLoopGroup?
        var control: ControlServer?
    }

    let state: Mutex<State>
    let listenOverride: [ListenAddress]?
    let controlOverride: ListenAddress??
    let logger: Logger
    /// The snapshot being served.
    public let store: SnapshotStore
    /// Responses per (pool, first line), across reloads.
    public let counters = AnswerCounters()
    /// Queries by type and rcode, per worker.
    public let queryStats = QueryStats()
    /// The shared health module: probes, overrides, persisted state; its changes rebuild the answers.
    public let health: HealthChecker
    /// `routing.apply`: the host's routing applied at start and the main default route kept on the lines in answers.
    let routing: RouteFollower
    /// `director`: its real servers' health, and with `director.apply` the director's table kept true.
    let director: DirectorFollower
    /// Served SOA serials, moved on every change of content and persisted.
    public let serials: SerialKeeper
    /// Each zone's change history, which IXFR answers from.
    public let journal: Journal
    /// DNSSEC: the signed zones' keys and signatures.
    public let signing: ZoneSigning
    /// Signed queries and zone transfers.
    public let transfer: ZoneTransfer
    /// NOTIFY to secondaries.
    public let notifier: Notifier
    /// Response rate limiting for UDP answers (`server.rrl`).
    public let limiter: RateLimiter
    /// The metrics registry (`/metrics`).
    let metrics = ServerMetrics()
    /// The query log, off unless switched on (`server.query-log`, the API, `uplinkdns querylog`).
    public let queryLog: QueryLog
    /// Reloads so far, and the last one's result (metrics, the status page).
    let reloadRecord = Mutex(ReloadRecord())
    /// When the server was made (the status page's uptime).
    let startedAt = Date()
    /// Each pool's first places over the last minute (the status page), sampled every 5 s off the query path.
    let shares = ShareWindow()
    /// The pools' classes per config, for fingerprints that cost the classes (`PoolDigests`).
    let poolDigests = PoolDigests()
    /// The one builder: every snapshot (health change, override, reload) is built and installed here, in order,
    /// never on a thread that serves queries or the control API; old snapshots are freed here too.
    let builder = DispatchQueue(label: "uplinkdns.builder", qos: .userInitiated)
    /// A build for a change of lines is queued and has not started: later changes are covered by it.
    let buildQueued = Atomic<Bool>(false)
    /// While serving, the builder frees retired snapshots every second (`scheduleReclaim`).
    let reclaiming = Atomic<Bool>(false)

    /// Loads the zones named by `config` (throws with every error if any fails) but does not bind yet.
    /// `control`: nil = as configured; `.some(nil)` = off; `.some(address)` = that address.
    /// `signing`: the DNSSEC signer (tests give it a clock).
    public init(
        config: Config, listen: [ListenAddress]? = nil, control: ListenAddress?? = nil,
        signing: ZoneSigning = ZoneSigning(), logger: Logger
    ) throws(ConfigFailure) {
        self.signing = signing
        self.controlOverride = control
        self.listenOverride = listen
        self.logger = logger
        let clock = ContinuousClock()
        let started = clock.now
        let zones = try config.loadZones()
        try ZoneSigning.checkKeys(config, logger: logger)
        let loaded = clock.now
        DNSServer.logWarnings(zones, logger)
        let fingerprints = zones.zones.mapValues(\.contentFingerprint)
        self.state = Mutex(State(config: config, zones: zones, fingerprints: fingerprints))
        self.serials = SerialKeeper(directory: config.stateDirectory)
        self.journal = Journal(stateDirectory: config.stateDirectory)
        // Provisional: served (if at all) only until `start` applies the lines' health and decides the serials; so
        // it neither moves nor persists a serial. `start` keeps its compiled zones and builds the pools' overlay.
        // A zone that UplinkDNS signs is left out of it: `start` signs it before it listens, so its unsigned answers
        // would never serve, and compiling them cost a second and 100 MB at the peak of signing a million records.
        let signed = Set(config.zones.filter { $0.dnssec != nil }.map(\.origin))
        let unsigned = zones.zones.values.filter { !signed.contains($0.origin) }
        let snapshot = Snapshot(
            zoneSet: signed.isEmpty ? zones : ZoneSet(unsigned),
            options: config.responderOptions,
            plans: signed.isEmpty
                ? config.plans()
                : PoolPlans(config.plans().filter { plan in !signed.contains { plan.pool.name.isSubdomain(of: $0) } }),
            serials: serials.current(zones.zones.keys), counters: counters)
        let compiled = clock.now
        self.notifier = Notifier(logger: logger)
        self.limiter = RateLimiter(config.rrl)
        self.queryLog = QueryLog(
            path: config.queryLogPath, format: config.queryLog.format, identity: config.identity, logger: logger)
        let box = WeakOwner<DNSServer>()
        let checker = HealthChecker(
            uplinks: config.uplinks, logger: logger, stateDirectory: config.stateDirectory,
            restoreMaxAge: config.restoreMaxAge, hooks: config.onChange,
            hookDirectory: URL(fileURLWithPath: config.path).deletingLastPathComponent().path,
            history: ProbeHistory(factory: metrics.factory)
        ) { _ in box.owner?.linesChanged(wait: false) }
        self.health = checker
        self.routing = RouteFollower(
            uplinks: config.uplinks, enabled: config.routingApply, gateway: config.routingGateway,
            directory: URL(fileURLWithPath: config.path).deletingLastPathComponent().path, logger: logger,
            answering: { checker.up })
        self.director = DirectorFollower(
            director: config.director, stateDirectory: config.stateDirectory, restoreMaxAge: config.restoreMaxAge,
            hooks: config.onChange, hookDirectory: URL(fileURLWithPath: config.path).deletingLastPathComponent().path,
            logger: logger)
        self.store = SnapshotStore(snapshot)
        self.transfer = ZoneTransfer(store: store, journal: journal, signing: signing, logger: logger)
        transfer.configure(config)
        box.set(self)
        func seconds(_ d: Duration) -> String {
            let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
            return "\(ms / 1000).\(String(format: "%02d", ms % 1000 / 10)) s"
        }
        let took =
            "in \(seconds(compiled - started)) (read \(seconds(loaded - started)), compiled \(seconds(compiled - loaded)))"
        // Counted as `check` counts them (the compiled snapshot adds NSEC3 names and leaves out occluded ones).
        logger.info("loaded \(config.zones.count) zone(s), \(config.nameCount(zones)) \(took)")
    }

    /// Logs what loading found doubtful in the zones (`uplinkdns check` prints the same), a few per zone.
    static func logWarnings(_ zones: ZoneSet, _ logger: Logger) {
        for zone in zones.zones.values.sorted(by: { $0.origin < $1.origin }) where !zone.warnings.isEmpty {
            for w in zone.warnings.prefix(5) { logger.notice("\(w.warning)") }
            if zone.warnings.count > 5 {
                logger.notice("\(zone.file): \(zone.warnings.count - 5) more warning(s): see `uplinkdns check`")
            }
        }
    }

    /// The addresses actually bound (ports filled in), UDP and TCP alike.
    public var boundAddresses: [ListenAddress] { state.withLock { $0.udp.map(\.address) } }

    /// Binds UDP and TCP on every address and starts serving. With port 0, UDP picks the port and TCP takes
    /// the same one (retried if another process holds it on TCP).
    public func start() throws {
        // The routing first, with routing.apply (docs/routing.md): the probes leave by the lines' tables.
        routing.applyAtStart()
        // Health next (docs/health.md): restore the persisted state, run one probe round, answer with it applied.
        health.restore()
        let done = DispatchSemaphore(value: 0)
        let checker = health
        Task.detached {
            await checker.initialRound()
            done.signal()
        }
        done.wait()
        buildAnswers(journalLater: true)
        routing.follow()
        health.start()
        startDirector()
        // Replaced snapshots are freed once every serving thread has moved past them (`SnapshotStore.reclaim`).
        reclaiming.store(true, ordering: .relaxed)
        scheduleReclaim()
        scheduleResign()
        let config = state.withLock { $0.config }
        let workers = config.udpWorkers > 0 ? config.udpWorkers : System.coreCount
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var udp: [UDPListener] = []
        var tcp: [TCPListener] = []
        defer { state.withLock { [udp, tcp] s in (s.group, s.udp, s.tcp) = (group, udp, tcp) } }
        let tcpStats = queryStats.makeBlock(transport: "tcp")  // one event loop serves TCP: one block, no contention
        for requested in listenOverride ?? config.listen {
            var attempt = 0
            while true {
                attempt += 1
                let u = try UDPListener(address: requested, workers: workers, freebind: config.freebind)
                do {
                    let t = try TCPListener(
                        address: u.address, group: group, store: store, stats: tcpStats, transfer: transfer,
                        queryLog: queryLog, limits: config.tcpLimits, freebind: config.freebind, logger: logger)
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
            u.start(
                store: store, stats: queryStats, transfer: transfer, limiter: limiter, queryLog: queryLog,
                logger: logger)
            logger.info("listening on udp \(u.address) (\(workers) workers)")
        }
        for t in tcp { logger.info("listening on tcp \(t.address)") }
        if let address = controlOverride ?? config.control {
            let token = try controlToken(config)
            let control = try ControlServer(
                address: address, group: group, token: token, hosts: config.controlHosts, actions: controlActions(),
                logger: logger)
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
        if config.queryLog.enabled, let why = queryLog.enable() {
            logger.error("query log: \(why); serving without it")
        }
        scheduleShareSampling()
        // Loading a large zone leaves freed arenas behind (the parse's, the provisional snapshot): give them back.
        builder.async { [self] in release(trim: true) }
    }

    /// The running parts in the order they stop (the reverse of the order they start): the control API (no more
    /// changes come in), the listeners (no more queries), the query log (what is queued is written), the notifier, the
    /// health module (its state is saved as it goes), the builder. Written once: `stop()` and the service group
    /// (`Application`) both follow it.
    var stopOrder: [(name: String, stop: @Sendable () -> Void)] {
        [
            ("control", { [self] in stopControl() }), ("listeners", { [self] in stopListeners() }),
            ("query log", { [queryLog] in queryLog.disable() }), ("notifier", { [notifier] in notifier.stop() }),
            ("health", { [self] in stopHealth() }), ("builder", { [self] in stopBuilder() }),
        ]
    }

    /// Stops everything, in `stopOrder`.
    public func stop() {
        for part in stopOrder { part.stop() }
    }

    /// Closes the control API (no more changes come in).
    public func stopControl() {
        let control = state.withLock { s in
            defer { s.control = nil }
            return s.control
        }
        control?.stop()
    }

    /// Stops answering: UDP workers, TCP listeners and their event loop; removes the PID file.
    public func stopListeners() {
        let s = state.withLock { s in
            defer { (s.udp, s.tcp, s.group) = ([], [], nil) }
            return s
        }
        for u in s.udp { u.stop() }
        for t in s.tcp { t.stop() }
        try? s.group?.syncShutdownGracefully()
        if let pidFile = s.config.pidFile { try? FileManager.default.removeItem(atPath: pidFile) }
    }

    /// Stops probing (the lines' state is saved as it goes).
    public func stopHealth() {
        health.stop()
        director.stop()
    }

    /// Stops the builder's reclaim loop once the builds asked for are done.
    public func stopBuilder() {
        reclaiming.store(false, ordering: .relaxed)
        builder.sync {}
    }
}

/// Why the server could not switch to `server.user`.
public struct PrivilegeError: Error, CustomStringConvertible {
    public var description: String
}

/// Lets the health module reach its owner (the server, the director's follower) without keeping it alive.
final class WeakOwner<Owner: AnyObject & Sendable>: Sendable {
    private let ref = Mutex<Ref?>(nil)
    private struct Ref: Sendable {
        weak var owner: Owner?
    }
    func set(_ owner: Owner) { ref.withLock { $0 = Ref(owner: owner) } }
    var owner: Owner? { ref.withLock { $0?.owner } }
}
