// DNSServer: owns the listeners and the snapshot; starts, reloads on SIGHUP, stops on SIGTERM/SIGINT.

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
        /// The lines currently up; nil = all (the default until the health module says otherwise).
        var up: Set<String>?
        var udp: [UDPListener] = []
        var tcp: [TCPListener] = []
        var group: MultiThreadedEventLoopGroup?
    }

    private let state: Mutex<State>
    private let listenOverride: [ListenAddress]?
    private let logger: Logger
    /// The snapshot being served.
    public let store: SnapshotStore
    /// Responses per (pool, first line), across reloads.
    public let counters = AnswerCounters()
    /// The shared health module: probes, overrides, persisted state; its changes rebuild the answers.
    public let health: HealthChecker
    private let reloadQueue = DispatchQueue(label: "uplinkdns.reload")

    /// Loads the zones named by `config` (throws with every error if any fails) but does not bind yet.
    public init(config: Config, listen: [ListenAddress]? = nil, logger: Logger) throws(ConfigFailure) {
        self.listenOverride = listen
        self.logger = logger
        let zones = try config.loadZones()
        self.state = Mutex(State(config: config, zones: zones))
        let snapshot = Snapshot(
            zoneSet: zones, options: config.responderOptions, plans: config.plans(), counters: counters)
        let box = WeakServer()
        self.health = HealthChecker(
            uplinks: config.uplinks, logger: logger, stateDirectory: config.stateDirectory,
            restoreMaxAge: config.restoreMaxAge, hooks: config.onChange,
            hookDirectory: URL(fileURLWithPath: config.path).deletingLastPathComponent().path
        ) { up in box.server?.setLinesUp(up) }
        self.store = SnapshotStore(snapshot)
        box.set(self)
        logger.info("loaded \(config.zones.count) zone(s), \(snapshot.nameCount) names")
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
        let config = state.withLock { $0.config }
        let workers = config.udpWorkers > 0 ? config.udpWorkers : System.coreCount
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var udp: [UDPListener] = []
        var tcp: [TCPListener] = []
        defer { state.withLock { [udp, tcp] s in (s.group, s.udp, s.tcp) = (group, udp, tcp) } }
        for requested in listenOverride ?? config.listen {
            var attempt = 0
            while true {
                attempt += 1
                let u = try UDPListener(address: requested, workers: workers)
                do {
                    let t = try TCPListener(
                        address: u.address, group: group, store: store, maxConnections: config.tcpMaxConnections,
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
            u.start(store: store, logger: logger)
            logger.info("listening on udp \(u.address) (\(workers) workers)")
        }
        for t in tcp { logger.info("listening on tcp \(t.address)") }
        if let pidFile = config.pidFile {
            try? "\(getpid())\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        }
    }

    /// Re-reads the config file and every zone and swaps the new snapshot in. On any error the old snapshot keeps
    /// serving and every error is logged with file and line. Listen addresses take effect at the next start.
    @discardableResult
    public func reload() -> Bool {
        let config = state.withLock { $0.config }
        do {
            let fresh = try Config.load(path: config.path)
            let zones = try fresh.loadZones()
            let up = state.withLock { $0.up }
            let snapshot = Snapshot(
                zoneSet: zones, options: fresh.responderOptions, plans: fresh.plans(up: up), counters: counters)
            if fresh.listen != config.listen && listenOverride == nil {
                logger.warning("server.listen changed: the new addresses take effect at the next restart")
            }
            store.replace(snapshot)
            state.withLock { st in
                st.config.zones = fresh.zones
                st.config.uplinks = fresh.uplinks
                st.zones = zones
            }
            logger.info("reloaded: \(fresh.zones.count) zone(s), \(snapshot.nameCount) names")
            return true
        } catch {
            for e in error.errors { logger.error("reload failed, still serving the previous data: \(e)") }
            return false
        }
    }

    /// Sets which lines are up and swaps in answers built for them (the input the health module drives). The
    /// zones are not re-read; queries keep being answered from the old snapshot until the swap.
    public func setLinesUp(_ up: Set<String>) {
        let (config, zones) = state.withLock { st in
            st.up = up
            return (st.config, st.zones)
        }
        store.replace(
            Snapshot(
                zoneSet: zones, options: config.responderOptions, plans: config.plans(up: up), counters: counters))
        logger.info("lines up: \(up.sorted().joined(separator: ", "))")
    }

    /// Stops every listener.
    public func stop() {
        health.stop()
        let s = state.withLock { s in
            defer { (s.udp, s.tcp, s.group) = ([], [], nil) }
            return s
        }
        for u in s.udp { u.stop() }
        for t in s.tcp { t.stop() }
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

/// Lets the health module reach the server without keeping it alive (the server owns the checker).
private final class WeakServer: Sendable {
    private let ref = Mutex<WeakRef?>(nil)
    private struct WeakRef: Sendable {
        weak var server: DNSServer?
    }
    func set(_ s: DNSServer) { ref.withLock { $0 = WeakRef(server: s) } }
    var server: DNSServer? { ref.withLock { $0?.server } }
}
