// ProbeHistory: the last probe results of every check and the last transitions of every line, for the status
// page and `uplinkdns status LINK`; and the health metrics (swift-metrics, through the factory it is handed).

import CoreMetrics
import Foundation
import Synchronization
import Uplinks

/// One probe of one check.
public struct ProbeRecord: Sendable, Equatable, Codable {
    /// When the probe finished.
    public var at: Date
    /// Whether it passed.
    public var ok: Bool
    /// How long it took, in seconds.
    public var seconds: Double
    /// What happened (`connected in 3 ms`, `timed out`).
    public var detail: String

    /// Makes a record.
    public init(at: Date, ok: Bool, seconds: Double, detail: String) {
        (self.at, self.ok, self.seconds, self.detail) = (at, ok, seconds, detail)
    }
}

/// One change of a line's state in answers.
public struct Transition: Sendable, Equatable, Codable {
    /// When it changed.
    public var at: Date
    /// `up` (back in answers) or `down` (out of them).
    public var to: LinkState
    /// Why (`tcp 203.0.113.80:80 timed out 3/3`, `operator: drain`).
    public var reason: String

    /// Makes a transition.
    public init(at: Date, to: LinkState, reason: String) {
        (self.at, self.to, self.reason) = (at, to, reason)
    }
}

/// The recent results of one check of a line.
public struct CheckHistory: Sendable, Equatable {
    /// The check as configured (`tcp 203.0.113.80:80`).
    public var check: String
    /// Its type (`tcp`, `http`, `icmp`, `exec`, `file`, `routing`): the metrics' `check` label.
    public var type: String
    /// The last results, oldest first.
    public var results: [ProbeRecord]
}

/// Keeps, per line, the last `depth` results of each check and the last `depth` transitions (a ring each: a probe
/// costs an append and at most one removal), and feeds the health metrics:
/// - `uplinkdns_probe_duration_seconds{link,check}` (a timer: a histogram in Prometheus), per probe;
/// - `uplinkdns_probes_total{link,check,result}`, per probe (`ok` or `failed`);
/// - `uplinkdns_link_transitions_total{link,direction}`, per change of a line's state in answers.
/// Labels are bounded: lines come from config, check types are a fixed set.
public final class ProbeHistory: Sendable {
    /// Results kept per check, and transitions per line.
    public let depth: Int
    private let factory: any MetricsFactory
    private struct LineRecord {
        var checks: [CheckHistory] = []
        var transitions: [Transition] = []
    }
    private let lines = Mutex<[String: LineRecord]>([:])
    /// The metric objects, made once per label set (making them again would go through the factory's lock).
    private let metrics = Mutex<
        [String: (timer: CoreMetrics.Timer, ok: CoreMetrics.Counter, failed: CoreMetrics.Counter)]
    >([:])
    private let transitionCounters = Mutex<[String: Counter]>([:])

    /// Keeps `depth` results per check; metrics go to `factory` (the server's Prometheus registry; tests pass a
    /// test factory; the default drops them).
    public init(depth: Int = 20, factory: any MetricsFactory = NOOPMetricsHandler.instance) {
        self.depth = depth
        self.factory = factory
    }

    /// The type of a check: the metrics' `check` label.
    public static func type(_ kind: CheckKind) -> String {
        switch kind {
        case .tcp: "tcp"
        case .http: "http"
        case .icmp: "icmp"
        case .exec: "exec"
        case .file: "file"
        case .routing: "routing"
        }
    }

    /// Records one round of `link`'s checks (in config order) and counts each probe.
    /// `fresh[i]` false: check `i` was not due this round (its own `interval` has not passed) and its last result
    /// stood in; only probes that ran are recorded.
    func record(
        link: String, checks: [CheckSpec], results: [(result: CheckResult, seconds: Double)], fresh: [Bool]? = nil,
        at now: Date
    ) {
        let fresh = fresh ?? Array(repeating: true, count: results.count)
        for ((check, r), ran) in zip(zip(checks, results), fresh) where ran {
            let type = Self.type(check.kind)
            let m = metric(link: link, type: type)
            m.timer.recordNanoseconds(Int64(r.seconds * 1e9))
            (r.result.ok ? m.ok : m.failed).increment()
        }
        lines.withLock { all in
            var line = all[link] ?? LineRecord()
            // The checks as configured now: a reload that changed them starts their history anew.
            let names = checks.map(\.kind.description)
            if line.checks.map(\.check) != names {
                line.checks = checks.map {
                    CheckHistory(check: $0.kind.description, type: Self.type($0.kind), results: [])
                }
            }
            for (i, r) in results.enumerated() where fresh[i] {
                line.checks[i].results.append(
                    ProbeRecord(at: now, ok: r.result.ok, seconds: r.seconds, detail: r.result.detail))
                if line.checks[i].results.count > depth { line.checks[i].results.removeFirst() }
            }
            all[link] = line
        }
    }

    /// Makes `link`'s transition counters (at 0), so that a rate over them sees the first transition too.
    func prepare(link: String) {
        for state in [LinkState.up, .down] { _ = transitionCounter(link: link, state) }
    }

    private func transitionCounter(link: String, _ state: LinkState) -> Counter {
        let key = "\(link)\u{0}\(state.rawValue)"
        return transitionCounters.withLock { c in
            if let counter = c[key] { return counter }
            let counter = Counter(
                label: "uplinkdns_link_transitions_total", dimensions: [("link", link), ("direction", state.rawValue)],
                factory: factory)
            c[key] = counter
            return counter
        }
    }

    /// Records a change of `link`'s state in answers.
    func transition(link: String, to state: LinkState, reason: String, at now: Date) {
        transitionCounter(link: link, state).increment()
        lines.withLock { all in
            var line = all[link] ?? LineRecord()
            line.transitions.append(Transition(at: now, to: state, reason: reason))
            if line.transitions.count > depth { line.transitions.removeFirst() }
            all[link] = line
        }
    }

    /// Forgets a line a reload removed: its history, and its series in the metrics.
    func forget(_ link: String) {
        lines.withLock { $0[link] = nil }
        let prefix = "\(link)\u{0}"
        let probes = metrics.withLock { m in
            let mine = m.filter { $0.key.hasPrefix(prefix) }
            for k in mine.keys { m[k] = nil }
            return Array(mine.values)
        }
        for p in probes {
            p.timer.destroy()
            p.ok.destroy()
            p.failed.destroy()
        }
        let transitions = transitionCounters.withLock { c in
            let mine = c.filter { $0.key.hasPrefix(prefix) }
            for k in mine.keys { c[k] = nil }
            return Array(mine.values)
        }
        for t in transitions { t.destroy() }
    }

    /// `link`'s checks with their last results, oldest first.
    public func checks(_ link: String) -> [CheckHistory] { lines.withLock { $0[link]?.checks ?? [] } }

    /// `link`'s last transitions, oldest first.
    public func transitions(_ link: String) -> [Transition] { lines.withLock { $0[link]?.transitions ?? [] } }

    private func metric(link: String, type: String) -> (
        timer: CoreMetrics.Timer, ok: CoreMetrics.Counter, failed: CoreMetrics.Counter
    ) {
        let key = "\(link)\u{0}\(type)"
        return metrics.withLock { m in
            if let found = m[key] { return found }
            let labels = [("link", link), ("check", type)]
            let made = (
                CoreMetrics.Timer(label: "uplinkdns_probe_duration_seconds", dimensions: labels, factory: factory),
                Counter(label: "uplinkdns_probes_total", dimensions: labels + [("result", "ok")], factory: factory),
                Counter(label: "uplinkdns_probes_total", dimensions: labels + [("result", "failed")], factory: factory)
            )
            m[key] = made
            return made
        }
    }
}
