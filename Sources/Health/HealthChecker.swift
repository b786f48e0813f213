// HealthChecker: the shared health module — probes every line, applies hysteresis and overrides, and publishes.

import Foundation
import Logging
import Synchronization
import Uplinks

/// Owns the health of every line. Rounds of probes (through each line's source address) feed each line's
/// `LinkHealth`; when a line's effective state changes, the change is logged, counted, persisted, handed to
/// `onChange` (the server rebuilds its answers) and to the `on-change` hooks.
///
/// Start-up order (documented in docs/health.md): restore the persisted state if it is recent (drains and forced
/// states survive a restart or a crash), then run one probe round: a line with no restored state takes that
/// round's result directly, as gdnsd does, so a dead line is not served for `fall` rounds after a restart; a
/// restored line keeps its hysteresis. Only then does the server answer, with health applied.
public final class HealthChecker: Sendable {
    /// The lines as configured now (a reload changes them: `reconfigure`).
    private let config: Mutex<(uplinks: Uplinks, hooks: [String])>
    private var uplinks: Uplinks { config.withLock { $0.uplinks } }
    private var hooks: [String] { config.withLock { $0.hooks } }
    private let prober: any Prober
    private let logger: Logger
    private let store: HealthStore?
    private let restoreMaxAge: TimeInterval
    private let hookDirectory: String?
    private let clock: @Sendable () -> Date
    private let onChange: @Sendable (Set<String>) -> Void
    private let state: Mutex<[String: LinkHealth]>
    private let restored = Mutex<Set<String>>([])
    /// Each line's last probe per check: a check whose own `interval` has not passed since is not probed again in a
    /// round (its last result stands), so each check keeps its own schedule while rounds run at the shortest one.
    private let lastProbes = Mutex<[String: [LastProbe]]>([:])
    private struct LastProbe {
        var check: CheckSpec
        var result: CheckResult
        var seconds: Double
        var at: Date
    }
    /// The probe loop of each line (by name), and the loop that expires overrides (`""`); empty until `start`.
    private let tasks = Mutex<[String: Task<Void, Never>]>([:])
    private let started = Atomic<Bool>(false)
    private let transitionCount = Atomic<Int>(0)
    /// Saves one at a time: rounds of several lines finish together, and each save must see the latest state.
    private let saving = Mutex<Void>(())
    /// The last probe results per check and transitions per line; the health metrics.
    public let history: ProbeHistory
    /// What its targets are called in the log and in hooks' `KIND` (`link`; the director's `real-server`).
    private let kind: String

    /// Makes a checker for the lines of `uplinks`, all up until probed.
    public init(
        uplinks: Uplinks, prober: any Prober = SystemProber(), logger: Logger, stateDirectory: String? = nil,
        restoreMaxAge: TimeInterval = 3600, hooks: [String] = [], hookDirectory: String? = nil,
        clock: @escaping @Sendable () -> Date = { Date() }, history: ProbeHistory = ProbeHistory(),
        kind: String = "link", stateFile: String = "health.json", onChange: @escaping @Sendable (Set<String>) -> Void
    ) {
        self.history = history
        self.kind = kind
        self.config = Mutex((uplinks, hooks))
        self.prober = prober
        self.logger = logger
        self.store = stateDirectory.map { HealthStore(directory: $0, file: stateFile) }
        self.restoreMaxAge = restoreMaxAge
        self.hookDirectory = hookDirectory
        self.clock = clock
        self.onChange = onChange
        let now = clock()
        state = Mutex(
            Dictionary(uniqueKeysWithValues: uplinks.links.map { ($0.name, LinkHealth(name: $0.name, since: now)) }))
        for link in uplinks.links { history.prepare(link: link.name) }
    }

    /// Every line's health, in config order.
    public var links: [LinkHealth] {
        state.withLock { s in uplinks.links.compactMap { s[$0.name] } }
    }

    /// The lines whose effective state is up now.
    public var up: Set<String> { answering.up }

    /// The lines in answers and the lines an operator took out (drained, forced down, which a pool's fail-open does
    /// not bring back), read at one moment: what answers are built for.
    public var answering: (up: Set<String>, held: Set<String>) {
        let now = clock()
        return state.withLock { s in
            var up: Set<String> = []
            var held: Set<String> = []
            for h in s.values {
                if h.effective(at: now) == .up { up.insert(h.name) }
                if let o = h.activeOverride(at: now), o != .forceUp { held.insert(h.name) }
            }
            return (up, held)
        }
    }

    /// Effective-state changes so far (for metrics).
    public var transitions: Int { transitionCount.load(ordering: .relaxed) }

    /// Restores the persisted state if it is no older than `restoreMaxAge`; returns whether it did.
    @discardableResult
    public func restore() -> Bool {
        guard let saved = store?.load(maxAge: restoreMaxAge, at: clock()) else { return false }
        let names = state.withLock { s in
            var names: Set<String> = []
            for h in saved where s[h.name] != nil {
                s[h.name] = h
                names.insert(h.name)
            }
            return names
        }
        restored.withLock { $0 = names }
        // In words: the lines' checker says "line(s)", as it always has (logs and tests read it); others their kind.
        let noun = kind == "link" ? "line" : kind.replacingOccurrences(of: "-", with: " ")
        logger.info("health: restored the state of \(names.count) \(noun)(s) from \(store!.path)")
        return !names.isEmpty
    }

    /// One round for every line at once; lines without restored state take its result directly.
    public func initialRound() async {
        await withTaskGroup(of: Void.self) { group in
            for link in uplinks.links where !link.health.checks.isEmpty {
                group.addTask { await self.round(link, initial: true) }
            }
        }
        persist()
    }

    /// Runs `link`'s checks once and records the result.
    public func round(_ link: Link, initial: Bool = false) async {
        let spec = link.health
        guard !spec.checks.isEmpty else { return }
        let started = clock()
        // Which checks are due: all in an initial round, and those with the shortest interval (the rounds'); else those
        // whose own interval has passed since their last probe, within the rounds' ±10 % jitter — or a clock that
        // stepped back.
        let last = lastProbes.withLock { $0[link.name] } ?? []
        let due = spec.checks.enumerated().map { i, check in
            guard !initial, check.interval > spec.interval, i < last.count, last[i].check == check else { return true }
            let elapsed = started.timeIntervalSince(last[i].at)
            return elapsed < 0 || elapsed >= check.interval - spec.interval / 10
        }
        let timed = await withTaskGroup(of: (Int, CheckResult, Double).self) { group in
            for (i, check) in spec.checks.enumerated() where due[i] {
                group.addTask {
                    let begun = ContinuousClock.now
                    let r = await self.prober.probe(check, source: check.source ?? link.inside)
                    let took = ContinuousClock.now - begun
                    return (i, r, Double(took.components.seconds) + Double(took.components.attoseconds) * 1e-18)
                }
            }
            var out: [(result: CheckResult, seconds: Double)] = []
            for i in spec.checks.indices {
                out.append(due[i] ? (CheckResult(ok: false, detail: ""), 0) : (last[i].result, last[i].seconds))
            }
            for await (i, r, s) in group { out[i] = (r, s) }
            return out
        }
        lastProbes.withLock { all in
            var mine: [LastProbe] = []
            for (i, check) in spec.checks.enumerated() {
                mine.append(
                    due[i]
                        ? LastProbe(check: check, result: timed[i].result, seconds: timed[i].seconds, at: started)
                        : last[i])
            }
            all[link.name] = mine
        }
        let results = timed.map(\.result)
        let passed = results.filter(\.ok).count
        let good = spec.require.satisfied(passed: passed, total: results.count)
        // The reason names the first failing check (or the first check when all pass), as logs show it.
        let pick = results.firstIndex { $0.ok != good } == nil ? 0 : (results.firstIndex { !$0.ok } ?? 0)
        let reason = "\(spec.checks[pick].kind) \(results[pick].detail)"
        let now = clock()
        let fresh = initial && !restored.withLock { $0.contains(link.name) }
        // A round counts towards `rise`/`fall` only when a probe that ran in it agrees with its verdict: a slow check's
        // one failure, standing in until its next probe, is one bad round, not one per round in between (a line goes
        // down after `fall` failed probes of a check in a row, as with a single interval).
        let counts = zip(due, results).contains { ran, r in ran && r.ok == good }
        let summary = zip(spec.checks, results).map { "\($0.kind) \($1.detail)" }
        // A round that was under way when a reload removed its line records nothing (it would bring the line's
        // history and metrics back).
        guard uplinks.link(link.name) != nil else { return }
        history.record(link: link.name, checks: spec.checks, results: timed, fresh: due, at: now)
        if !good {
            // Every failed round, also those below `fall` that change nothing yet (they show a line going bad).
            logger.debug("\(kind) \(link.name): probe round failed (\(passed)/\(results.count) passed): \(reason)")
        }
        update(link.name, at: now) { h in
            h.lastResults = summary
            h.lastRoundSeconds = now.timeIntervalSince(started)
            if fresh {
                h.probed = good ? .up : .down
                h.streak = 0
                h.reason = reason
                h.since = now
            } else if counts {
                _ = h.record(good: good, reason: reason, rise: spec.rise, fall: spec.fall, at: now)
            }
        }
    }

    /// Sets an operator override (nil = auto), optionally for a limited time.
    @discardableResult
    public func setOverride(_ link: String, _ o: Override?, for duration: TimeInterval? = nil) -> Bool {
        applyOverride(link, o, for: duration) != .noSuchLink
    }

    /// What setting an override did.
    public enum OverrideResult: Equatable, Sendable {
        /// In effect and saved: it survives a restart.
        case applied
        /// In effect, but the state could not be saved (the reason): it will not survive a restart.
        case notSaved(String)
        /// No line of that name.
        case noSuchLink
    }

    /// Sets an operator override (nil = auto), optionally for a limited time, and says whether it was saved.
    public func applyOverride(_ link: String, _ o: Override?, for duration: TimeInterval? = nil) -> OverrideResult {
        guard uplinks.link(link) != nil else { return .noSuchLink }
        update(link, at: clock()) { $0.setOverride(o, for: duration, at: self.clock()) }
        return persist().map { .notSaved($0) } ?? .applied
    }

    /// The lines' names, in config order.
    public var linkNames: [String] { uplinks.links.map(\.name) }

    /// Starts a loop per line: a round every interval, with ±10 % jitter so probes do not run in step, and the
    /// expiry of overrides checked every second.
    public func start() {
        started.store(true, ordering: .relaxed)
        for link in uplinks.links { startLoop(link, probeFirst: false) }
        let expiry = Task.detached { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 1_000_000_000)
                self.expireOverrides()
            }
        }
        tasks.withLock { $0[""] = expiry }
    }

    /// Drops the overrides whose time is up (every second while started): a line whose state in answers that
    /// changes is published, logged, counted and persisted like any transition.
    public func expireOverrides() {
        let now = clock()
        for name in uplinks.links.map(\.name) {
            update(name, at: now, expiring: true) { _ = $0.expire(at: now) }
        }
    }

    /// Starts (or restarts) `link`'s probe loop; with `probeFirst`, its first round runs at once and its result is
    /// taken directly (a line a reload added).
    private func startLoop(_ link: Link, probeFirst: Bool) {
        guard !link.health.checks.isEmpty else {
            // No checks (any more): no loop; one a reload left behind stops.
            tasks.withLock { $0.removeValue(forKey: link.name)?.cancel() }
            return
        }
        let task = Task.detached { [self] in
            if probeFirst { await self.round(link, initial: true) }
            while !Task.isCancelled {
                let jitter = Double.random(in: 0.9...1.1)
                try? await Task.sleep(nanoseconds: UInt64(link.health.interval * jitter * 1e9))
                if Task.isCancelled { break }
                await self.round(link)
            }
        }
        tasks.withLock { $0.updateValue(task, forKey: link.name)?.cancel() }
    }

    /// What a reload changed of the lines.
    public struct Changes: Sendable, Equatable {
        /// Lines new in the config: probed at once (a line with checks is down until its first round passes).
        public var added: [String] = []
        /// Lines gone from the config: no longer probed, listed or answered.
        public var removed: [String] = []
        /// Lines whose definition changed (checks, inside address, addresses): probed anew with it; their state and
        /// history are kept.
        public var reprobed: [String] = []
        /// No change.
        public init() {}
    }

    /// Applies a reloaded config's lines: adds, removes and re-configures lines and their checks, keeping the state
    /// (and overrides) of the lines that stay. Publishes the lines up when that changed. Returns what changed.
    @discardableResult
    public func reconfigure(uplinks new: Uplinks, hooks: [String]) -> Changes {
        let old = config.withLock { c in
            defer { c = (new, hooks) }
            return c.uplinks
        }
        let now = clock()
        let before = up
        var changes = Changes()
        let oldNames = Set(old.links.map(\.name))
        let newNames = Set(new.links.map(\.name))
        changes.removed = old.links.map(\.name).filter { !newNames.contains($0) }
        changes.added = new.links.map(\.name).filter { !oldNames.contains($0) }
        // A line whose checks, or whose inside address (the probes' source), changed is probed anew.
        changes.reprobed = new.links.filter { l in old.link(l.name).map { $0 != l } ?? false }.map(\.name)
        state.withLock { s in
            for name in changes.removed {
                s[name] = nil
                history.forget(name)
            }
            lastProbes.withLock { all in for name in changes.removed { all[name] = nil } }
            for link in new.links where changes.added.contains(link.name) {
                history.prepare(link: link.name)
                // Not answered before a probe says so; a line without checks is up.
                let probed: LinkState = link.health.checks.isEmpty ? .up : .down
                s[link.name] = LinkHealth(name: link.name, probed: probed, since: now, reason: "added by reload")
            }
            // A line left without checks has nothing to say it is down: up.
            for link in new.links where changes.reprobed.contains(link.name) && link.health.checks.isEmpty {
                s[link.name]?.probed = .up
                s[link.name]?.reason = "no checks"
            }
        }
        // A line added again is new: its first probe decides (not hysteresis from a state restored at start).
        restored.withLock { r in r.subtract(changes.added + changes.removed) }
        if started.load(ordering: .relaxed) {
            for name in changes.removed { tasks.withLock { $0.removeValue(forKey: name)?.cancel() } }
            for link in new.links where changes.added.contains(link.name) { startLoop(link, probeFirst: true) }
            for link in new.links where changes.reprobed.contains(link.name) { startLoop(link, probeFirst: false) }
        }
        if !changes.added.isEmpty || !changes.removed.isEmpty || !changes.reprobed.isEmpty {
            let said = [
                ("added", changes.added), ("removed", changes.removed),
                ("with new checks, probed anew", changes.reprobed),
            ].filter { !$0.1.isEmpty }.map { "\($0.0): \($0.1.joined(separator: ", "))" }
            logger.notice("health: reload changed lines — \(said.joined(separator: "; "))")
            persist()
        }
        if up != before { onChange(up) }
        return changes
    }

    /// Stops the loops.
    public func stop() {
        started.store(false, ordering: .relaxed)
        for t in tasks.withLock({ t in
            defer { t = [:] }
            return Array(t.values)
        }) { t.cancel() }
    }

    /// Applies `change` to a line; if its effective state changed, logs, counts, persists, publishes and runs hooks.
    /// `expiring`: the change drops an expired override; answers showed the override until now, so the state
    /// before is the override's (`effectiveUntilExpired`), not what `effective(at:)` says once its time is up.
    private func update(_ name: String, at now: Date, expiring: Bool = false, _ change: (inout LinkHealth) -> Void) {
        let (before, after) = state.withLock { s -> (LinkHealth?, LinkHealth?) in
            guard var h = s[name] else { return (nil, nil) }
            let before = h
            change(&h)
            s[name] = h
            return (before, h)
        }
        guard let before, let after else { return }
        let was = expiring ? before.effectiveUntilExpired : before.effective(at: now)
        let isNow = after.effective(at: now)
        guard was != isNow else {
            if before.probed != after.probed { persist() }
            // A line already out that an operator takes out (or gives back) changes no state, but what a pool that
            // fails open answers: a held line stays out of it.
            let heldBefore = (expiring ? before.override : before.activeOverride(at: now)).map { $0 != .forceUp }
            if heldBefore ?? false != after.activeOverride(at: now).map({ $0 != .forceUp }) ?? false { onChange(up) }
            return
        }
        transitionCount.add(1, ordering: .relaxed)
        history.transition(link: name, to: isNow, reason: after.reason, at: now)
        logger.notice("\(kind) \(name) \(isNow.rawValue): \(after.reason)")
        persist()
        onChange(up)
        runHooks(link: name, state: isNow, reason: after.reason)
    }

    /// Saves the state; returns why it could not, after logging it.
    @discardableResult
    private func persist() -> String? {
        guard let store else { return nil }
        do {
            try saving.withLock { _ in try store.save(links, at: clock()) }
            return nil
        } catch {
            let why = "cannot save the state to \(store.path): \(HealthChecker.reason(error))"
            logger.error("health: \(why)")
            return why
        }
    }

    /// A file error's reason in words (not `NSCocoaErrorDomain Code=…`).
    public static func reason(_ error: Error) -> String {
        if let known = error as? FileWriteError { return known.reason }
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        return ns.localizedDescription
    }

    /// Runs each `on-change` command with LINK, STATE and REASON in its environment (the seeds' ip-down script), in
    /// `hookDirectory` (the config file's); not waited for, so a slow hook cannot delay the answers.
    private func runHooks(link: String, state: LinkState, reason: String) {
        for hook in hooks {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", hook]
            if let dir = hookDirectory { p.currentDirectoryURL = URL(fileURLWithPath: dir) }
            var env = ProcessInfo.processInfo.environment
            env["LINK"] = link
            env["STATE"] = state.rawValue
            env["REASON"] = reason
            env["KIND"] = kind
            p.environment = env
            do {
                try p.run()
                let (logger, kind) = (self.logger, self.kind)
                DispatchQueue.global().async {
                    p.waitUntilExit()
                    if p.terminationStatus != 0 {
                        logger.warning("on-change hook '\(hook)' exited \(p.terminationStatus) for \(kind) \(link)")
                    }
                }
            } catch {
                logger.error("cannot run on-change hook '\(hook)': \(error)")
            }
        }
    }
}
