// RouteFollower: `routing: {apply: true}` — the server applies its routing at start and keeps the main table's
// default route on the lines in answers (seed 001's ip-down/ip-up hooks, done by the server itself).

import Dispatch
import Foundation
import Logging
import Routing
import Synchronization
import Uplinks

/// Keeps this host's routing true while the server runs. At start (before the first probe round) it runs the
/// `routing --for server` script, as `uplinkdns routing --apply` does: each line's inside address, table and rule,
/// and the main default route. Then, each time the health module's lines in answers change, it sets the main table's
/// default route to `OutboundRoute.desired` for them with one `ip route replace` (one netlink request that replaces
/// the route in place: there is never a moment without a default route). Each line's own table and rule are never
/// touched, so replies to queries that came in on a line out of answers still leave by it. No line in answers: the
/// last route stays, and the log, the status page and the metrics say so. It runs on its own queue, never on a
/// thread that serves queries, and never on the builder (a slow `ip` cannot delay the answers).
final class RouteFollower: Sendable {
    /// What the follower has done, for the status page, `/v1/status` and the metrics.
    struct Record: Sendable {
        /// Whether `routing.apply` is on.
        var enabled = false
        /// The route as it should be for the lines in answers now (nil until the first follow).
        var desired: OutboundRoute?
        /// The route last set (nil: none set yet).
        var applied: OutboundRoute?
        /// When `applied` was set, or when the route was first held.
        var since: Date?
        /// The last failure (cleared by the next success).
        var error: String?
        /// Routes set, and attempts that failed (the start's script included).
        var changes = 0
        var failures = 0
        /// Whether the start's script ran and its drift check was clean.
        var scriptApplied = false
        /// `routing.gateway-command`, and the lines in answers the gateway's groups were last dealt for.
        var gatewayCommand: String?
        var gatewayLines: Set<String>?
        var gatewayError: String?
    }

    /// What the follower acts on: the lines, `routing.apply`, `routing.gateway-command`.
    struct Settings: Sendable, Equatable {
        var uplinks: Uplinks
        var enabled: Bool
        var gateway: String?
    }

    private let config: Mutex<Settings>
    /// Where the gateway command runs (the config file's directory, as the `on-change` hooks).
    private let directory: String?
    private let record = Mutex(Record())
    private let logger: Logger
    private let queue = DispatchQueue(label: "uplinkdns.routing", qos: .userInitiated)
    private let queued = Atomic<Bool>(false)
    private let answering: @Sendable () -> Set<String>
    /// Runs a command (`/usr/sbin/ip …`, `/bin/bash -s` with input); returns its exit status and stderr.
    private let command: @Sendable (_ path: String, _ arguments: [String], _ input: String?) -> (Int32, String)

    init(
        uplinks: Uplinks, enabled: Bool, gateway: String? = nil, directory: String? = nil, logger: Logger,
        answering: @escaping @Sendable () -> Set<String>,
        command: @escaping @Sendable (String, [String], String?) -> (Int32, String) = RouteFollower.runCommand
    ) {
        self.config = Mutex(Settings(uplinks: uplinks, enabled: enabled, gateway: gateway))
        self.directory = directory
        self.logger = logger
        self.answering = answering
        self.command = command
        record.withLock { r in
            r.enabled = enabled
            r.gatewayCommand = gateway
        }
    }

    /// What it has done so far.
    var current: Record { record.withLock { $0 } }

    /// `ip`, wherever this system keeps it.
    static let ipPath =
        FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"

    /// Runs `path` with `arguments`, `input` on its stdin; its exit status and stderr (127 when it cannot run).
    @Sendable static func runCommand(_ path: String, _ arguments: [String], _ input: String?) -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        let stdin = input.map { _ in Pipe() }
        p.standardInput = stdin ?? FileHandle.nullDevice
        do { try p.run() } catch { return (127, "cannot run \(path): \(error)") }
        if let stdin, let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try? stdin.fileHandleForWriting.close()
        }
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// At start, before the first probe round (probes leave by the lines' tables): runs the server script for every
    /// line, then the drift check; logs what it did. Returns at once when `routing.apply` is off.
    func applyAtStart() {
        let c = config.withLock { $0 }
        guard c.enabled else { return }
        queue.sync { applyScript(c.uplinks, up: nil, why: "at start") }
    }

    /// On the queue: the server script (the main default for `up`), then the drift check.
    private func applyScript(_ uplinks: Uplinks, up: Set<String>?, why: String) {
        for skipped in RoutingEmitter.skipped(uplinks) { logger.warning("routing: not routed: \(skipped)") }
        let routable = RoutingEmitter.routable(uplinks)
        guard !routable.isEmpty else {
            logger.warning("routing: routing.apply is on but no line can be routed: nothing applied")
            return
        }
        let (status, err) = command("/bin/bash", ["-s"], RoutingEmitter.server(uplinks, up: up))
        let outbound = OutboundRoute.desired(uplinks, up: up)
        guard status == 0 else {
            fail("applying the routing \(why) failed (bash exited \(status)): \(err)")
            return
        }
        let drift = RoutingCheck.live(uplinks, outbound: outbound)
        for d in drift { logger.error("routing: drift after applying the routing \(why): \(d)") }
        record.withLock { r in
            r.scriptApplied = drift.isEmpty
            r.changes += 1
            r.error = drift.isEmpty ? nil : "drift after applying: \(drift.joined(separator: "; "))"
            if outbound.kind == .multipath || outbound.kind == .single {
                r.applied = outbound
                r.since = Date()
            }
            r.desired = outbound
        }
        let lines = routable.joined(separator: ", ")
        logger.info(
            "routing: applied the routing of \(routable.count) line(s) \(why) (\(lines)); outbound default route: \(outbound)"
        )
    }

    /// Records a failure; logs it as an error the first time, and at debug level while the same failure repeats (the
    /// retries every 5 s would fill the log).
    private func fail(_ message: String) {
        let repeated = record.withLock { r in
            defer {
                r.failures += 1
                r.error = message
            }
            return r.error == message
        }
        if repeated { logger.debug("routing: \(message)") } else { logger.error("routing: \(message)") }
    }

    /// The lines in answers changed (or a start or a reload wants the route checked): on the follower's queue, sets
    /// the main default route for the lines in answers when the queued follow runs. Follows that come while one is
    /// queued are covered by it. Returns at once.
    func follow() {
        guard config.withLock({ $0.enabled || $0.gateway != nil }) else { return }
        guard !queued.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.async { [self] in
            queued.store(false, ordering: .releasing)
            let c = config.withLock { $0 }
            let up = answering()
            if c.enabled { setDefault(c.uplinks, up: up) }
            if let gateway = c.gateway { moveGroups(c.uplinks, up: up, command: gateway) }
        }
    }

    /// On the queue: pipes the gateway script for the lines in answers `up` into `command` (`routing.gateway-command`)
    /// when they differ from those it last dealt the groups for (or the last run failed).
    private func moveGroups(_ uplinks: Uplinks, up: Set<String>, command gateway: String) {
        let last = record.withLock { ($0.gatewayLines, $0.gatewayError) }
        guard last.0 != up || last.1 != nil, !RoutingEmitter.routable(uplinks).isEmpty else { return }
        let script = RoutingEmitter.gateway(uplinks, up: up)
        let shell = directory.map { "cd '\($0.replacingOccurrences(of: "'", with: "'\\''"))' && \(gateway)" } ?? gateway
        let (status, err) = command("/bin/sh", ["-c", shell], script)
        guard status == 0 else {
            let message = "the gateway command '\(gateway)' exited \(status): \(err); retrying in 5 s"
            let repeated = record.withLock { r in
                defer {
                    r.failures += 1
                    r.gatewayError = message
                }
                return r.gatewayError == message
            }
            if repeated { logger.debug("routing: \(message)") } else { logger.error("routing: \(message)") }
            queue.asyncAfter(deadline: .now() + 5) { [weak self] in self?.follow() }
            return
        }
        record.withLock { r in
            r.gatewayLines = up
            r.gatewayError = nil
            r.changes += 1
        }
        let routable = RoutingEmitter.routable(uplinks)
        let out = routable.filter { !up.contains($0) }
        let inText = routable.filter { up.contains($0) }.joined(separator: ", ")
        let moved =
            out.isEmpty || inText.isEmpty ? "" : "; the groups of \(out.joined(separator: ", ")) go to \(inText)"
        logger.notice(
            "routing: the gateway's groups dealt for the lines in answers: \(inText.isEmpty ? "none" : inText)\(moved)")
    }

    /// Returns once every follow asked for so far is done (tests, `stop`).
    func settle() { queue.sync {} }

    /// On the queue: the main default route for the lines in answers `up`.
    private func setDefault(_ uplinks: Uplinks, up: Set<String>) {
        let desired = OutboundRoute.desired(uplinks, up: up)
        let last = record.withLock { r in
            defer { r.desired = desired }
            return r
        }
        switch desired.kind {
        case .keep, .none:
            return
        case .held:
            guard last.desired?.kind != .held else { return }
            let kept = last.applied.map { "\($0)" } ?? "as the host had it"
            let out = desired.out.joined(separator: ", ")
            logger.warning("routing: no line in answers (out: \(out)): keeping the last default route, \(kept)")
            record.withLock { $0.since = Date() }
            return
        case .multipath, .single:
            guard last.applied != desired || last.error != nil else { return }
        }
        let arguments = desired.arguments!.split(separator: " ").map(String.init)
        let (status, err) = command(Self.ipPath, ["route", "replace"] + arguments, nil)
        guard status == 0 else {
            fail("ip route replace \(desired.arguments!) failed (exit \(status)): \(err); retrying in 5 s")
            queue.asyncAfter(deadline: .now() + 5) { [weak self] in self?.follow() }
            return
        }
        record.withLock { r in
            r.applied = desired
            r.since = Date()
            r.changes += 1
            r.error = nil
        }
        let from = last.applied.map { "\($0)" } ?? "the host's"
        logger.notice(
            "routing: outbound default route \(desired) (was \(from)): ip route replace \(desired.arguments!)")
    }

    /// A reload's lines, `routing.apply` and `routing.gateway-command`: apply on, with lines that changed (or just
    /// switched on), the script runs again for the lines in answers now; then the route follows. Off: the routes stay
    /// as they are, unfollowed. A new gateway command (or new lines) deals the gateway's groups again.
    func reconfigure(uplinks: Uplinks, enabled: Bool, gateway: String? = nil) {
        let old = config.withLock { c in
            defer { c = Settings(uplinks: uplinks, enabled: enabled, gateway: gateway) }
            return c
        }
        record.withLock { r in
            r.enabled = enabled
            r.gatewayCommand = gateway
            if old.gateway != gateway || old.uplinks != uplinks { r.gatewayLines = nil }
        }
        if gateway != nil { follow() }
        if !enabled {
            if old.enabled { logger.notice("routing: routing.apply is off: the routes stay as they are, unfollowed") }
            return
        }
        if !old.enabled || old.uplinks != uplinks {
            queue.async { [self] in applyScript(uplinks, up: answering(), why: "after a reload") }
        }
        follow()
    }
}
