// DirectorFollower: `director.apply` — the server loads the director's table at start and keeps each service's new
// connections on the real servers the health module has in (keepalived's job, from the same config as the lines).

import Dispatch
import Foundation
import Health
import Logging
import Routing
import Synchronization
import Uplinks

/// Watches the director's real servers with the shared health module (a `HealthChecker` of their own: rounds,
/// rise/fall, overrides, persisted state, hooks with `KIND=real-server`) and keeps the kernel's table true:
/// - `apply: nft`: at start, `net.ipv4.ip_forward=1` and the `routing --for director --format nft` table for the real
///   servers in; then, when one fails or returns, the elements of its service's map are rewritten in one `nft -f`
///   transaction (`DirectorEmitter.slots`: only the failed server's slots move). Connections already open keep their
///   real server: conntrack holds their translation, and no rule or entry of theirs is touched.
/// - `apply: ipvs`: at start, each service deleted and restored with `ipvsadm -R`; then `ipvsadm -e … -w 0` takes a
///   failed real server out of new connections (IPVS keeps its open ones) and its weight puts it back.
/// - `apply: none`: the real servers are still probed and reported; nothing on the host is touched.
/// With `apply: nft` it also compares the live table with what it wrote every `driftInterval` seconds, and writes it
/// again whole when they differ (`routing --check` reports the same drift).
/// It runs on its own queue, never on a thread that serves queries, and never on the builder.
final class DirectorFollower: Sendable {
    /// What the follower has done, for `/v1/status`, the page and the metrics.
    struct Record: Sendable {
        /// `director.apply`.
        var apply: Director.Apply = .none
        /// The real servers out when the table was last written (nil: not written yet).
        var out: Set<String>?
        /// When the table last changed.
        var since: Date?
        /// The last failure (cleared by the next success).
        var error: String?
        /// Table writes, and those that failed.
        var changes = 0
        var failures = 0
    }

    /// The real servers' health: the shared module, watching them as it watches lines.
    let health: HealthChecker
    private let director: Mutex<Director>
    private let record = Mutex(Record())
    private let logger: Logger
    private let queue = DispatchQueue(label: "uplinkdns.director", qos: .userInitiated)
    private let queued = Atomic<Bool>(false)
    private let command: @Sendable (_ path: String, _ arguments: [String], _ input: String?) -> (Int32, String)
    /// How the live table differs from what the real servers in call for (`DirectorCheck.live`; tests fake it).
    private let drift: @Sendable (_ director: Director, _ out: Set<String>) -> [String]
    /// While started, the drift check runs every `driftInterval` seconds and writes the table again on drift.
    private let watching = Atomic<Bool>(false)
    /// Seconds between drift checks: an `nft flush` by hand, or a reboot of nftables.service, is undone within them.
    static let driftInterval: Double = 5

    init(
        director: Director, stateDirectory: String?, restoreMaxAge: TimeInterval = 3600, hooks: [String] = [],
        hookDirectory: String? = nil, logger: Logger, prober: any Prober = SystemProber(),
        clock: @escaping @Sendable () -> Date = { Date() },
        command: @escaping @Sendable (String, [String], String?) -> (Int32, String) = RouteFollower.runCommand,
        drift: @escaping @Sendable (Director, Set<String>) -> [String] = { DirectorCheck.live($0, out: $1) }
    ) {
        self.drift = drift
        self.director = Mutex(director)
        self.logger = logger
        self.command = command
        let box = WeakOwner<DirectorFollower>()
        health = HealthChecker(
            uplinks: director.healthTargets, prober: prober, logger: logger, stateDirectory: stateDirectory,
            restoreMaxAge: restoreMaxAge, hooks: hooks, hookDirectory: hookDirectory, clock: clock,
            kind: "real-server", stateFile: "real-servers.json"
        ) { _ in box.owner?.follow() }
        record.withLock { $0.apply = director.apply }
        box.set(self)
    }

    /// What it has done so far.
    var current: Record { record.withLock { $0 } }

    /// The director as configured now.
    var configured: Director { director.withLock { $0 } }

    /// The real servers out now (`SERVICE/ADDRESS`).
    var out: Set<String> {
        let up = health.up
        return Set(health.linkNames.filter { !up.contains($0) })
    }

    /// At start: the persisted state, one probe round, the table for its result, then (with `loops`; tests drive the
    /// rounds themselves) the probe loops and the drift check. Without services only the loops' machinery starts, so
    /// that a reload adding services has its real servers probed at once.
    func start(loops: Bool = true) async {
        if !configured.services.isEmpty {
            health.restore()
            await health.initialRound()
            queue.sync { write(configured, why: "at start") }
        }
        if loops {
            health.start()
            watching.store(true, ordering: .relaxed)
            queue.asyncAfter(deadline: .now() + Self.driftInterval) { [weak self] in self?.watch() }
        }
    }

    /// Stops probing and watching (the table stays as it is: forwarding goes on with the last real servers in).
    func stop() {
        watching.store(false, ordering: .relaxed)
        health.stop()
    }

    /// On the queue, every `driftInterval` while started: with `apply: nft`, compares the live table with the slots
    /// the real servers in call for and, when they differ (a map flushed by hand, the table deleted), logs the drift and
    /// writes the table again whole.
    private func watch() {
        guard watching.load(ordering: .relaxed) else { return }
        defer { queue.asyncAfter(deadline: .now() + Self.driftInterval) { [weak self] in self?.watch() } }
        checkDrift()
    }

    /// One drift check now, on the queue (tests).
    func checkDriftNow() { queue.sync { checkDrift() } }

    /// On the queue: one drift check.
    private func checkDrift() {
        let d = configured
        guard d.apply == .nft, current.out != nil else { return }
        let found = drift(d, out)
        guard !found.isEmpty else { return }
        for problem in found { logger.error("director: drift: \(problem)") }
        write(d, why: "again after drift")
    }

    /// Returns once every change asked for so far is done (tests).
    func settle() { queue.sync {} }

    /// The real servers in or out changed: on the queue, rewrites the maps (or weights) that differ. Follows that
    /// come while one is queued are covered by it.
    func follow() {
        guard !queued.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.async { [self] in
            queued.store(false, ordering: .releasing)
            update(configured)
        }
    }

    /// A reload's director and hooks: the health module takes the new real servers (keeping the state of those that
    /// stay); a changed director is written again whole.
    func reconfigure(director new: Director, hooks: [String]) {
        let old = director.withLock { d in
            defer { d = new }
            return d
        }
        record.withLock { $0.apply = new.apply }
        health.reconfigure(uplinks: new.healthTargets, hooks: hooks)
        if old != new { queue.async { [self] in write(new, why: "after a reload") } }
    }

    /// On the queue: the whole table for the real servers in now (`apply: nft` or `ipvs`).
    private func write(_ d: Director, why: String) {
        let out = self.out
        let script: String
        switch d.apply {
        case .none: return
        case .nft:
            script = """
                set -e
                sysctl -qw net.ipv4.ip_forward=1
                nft -f - <<'UPLINKDNS_NFT'
                \(DirectorEmitter.nft(d, out: out))
                UPLINKDNS_NFT

                """
        case .ipvs:
            let deletes = d.services.map {
                "ipvsadm -D \(DirectorEmitter.ipvsService($0).joined(separator: " ")) 2>/dev/null || true"
            }
            script = """
                set -e
                sysctl -qw net.ipv4.ip_forward=1
                \(deletes.joined(separator: "\n"))
                ipvsadm -R <<'UPLINKDNS_IPVS'
                \(DirectorEmitter.ipvsadm(d, out: out))UPLINKDNS_IPVS

                """
        }
        run(script, out: out, what: "loading the director's \(d.apply.rawValue) table \(why)")
    }

    /// On the queue: the maps (nft) or weights (ipvs) of the services whose real servers in changed since the last
    /// write; nothing when none did.
    private func update(_ d: Director) {
        let out = self.out
        let last = record.withLock { $0 }
        guard d.apply != .none else {
            record.withLock { $0.out = out }
            return
        }
        guard let before = last.out else {
            // Not written yet: the start writes it; after a failed write, this is the retry.
            if last.error != nil { write(d, why: "again") }
            return
        }
        guard before != out || last.error != nil else { return }
        var script = ""
        for (i, s) in d.services.enumerated() {
            switch d.apply {
            case .nft:
                guard DirectorEmitter.nftTable(s) != nil else { continue }
                let now = DirectorEmitter.slots(s, out: out)
                if now != DirectorEmitter.slots(s, out: before) || last.error != nil {
                    script += DirectorEmitter.nftUpdate(s, index: i, slots: now)
                }
            case .ipvs:
                for r in s.realServers {
                    let name = RealServer.name(service: s.name, address: r.address)
                    guard out.contains(name) != before.contains(name) || last.error != nil else { continue }
                    let weight = out.contains(name) ? 0 : r.effectiveWeight
                    script +=
                        "ipvsadm "
                        + DirectorEmitter.ipvsRealServer(s, r, weight: weight, edit: true).joined(separator: " ")
                        + "\n"
                }
            case .none: break
            }
        }
        guard !script.isEmpty else {
            record.withLock { $0.out = out }
            return
        }
        let batch =
            d.apply == .nft ? "set -e\nnft -f - <<'UPLINKDNS_NFT'\n\(script)UPLINKDNS_NFT\n" : "set -e\n" + script
        let moved = out.symmetricDifference(before).sorted().map { out.contains($0) ? "\($0) out" : "\($0) back" }
        run(batch, out: out, what: "moving new connections (\(moved.joined(separator: ", ")))")
    }

    /// Runs `script` with bash; records the real servers `out` it wrote for, or the failure (retried in 5 s).
    private func run(_ script: String, out: Set<String>, what: String) {
        let (status, err) = command("/bin/bash", ["-s"], script)
        guard status == 0 else {
            let message = "\(what) failed (bash exited \(status)): \(err); retrying in 5 s"
            let repeated = record.withLock { r in
                defer {
                    r.failures += 1
                    r.error = message
                }
                return r.error == message
            }
            if repeated { logger.debug("director: \(message)") } else { logger.error("director: \(message)") }
            queue.asyncAfter(deadline: .now() + 5) { [weak self] in self?.follow() }
            return
        }
        record.withLock { r in
            r.out = out
            r.error = nil
            r.changes += 1
            r.since = Date()
        }
        let list = out.sorted().joined(separator: ", ")
        logger.notice("director: \(what); real servers out: \(list.isEmpty ? "none" : list)")
    }
}
