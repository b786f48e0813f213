// StatusData: what the status page and `uplinkdns status`/`stats` show — lines with their probe history, pools with
// the share of first places each line got over the last minute, zones with their secondaries, reloads, the log.

import Dispatch
import Foundation
import Health
import Responder
import Routing
import Synchronization
import Uplinks

/// Reloads so far and how the last one went.
struct ReloadRecord: Sendable {
    var ok = 0
    var failed = 0
    /// Whether the last reload (or the start, before any) succeeded.
    var lastSucceeded = true
    /// When the config last loaded whole (the start, or a reload).
    var lastSuccess = Date()
    /// When the last reload ran, and its errors if it failed.
    var lastAttempt: Date?
    var lastErrors: [String] = []

    mutating func record(_ outcome: DNSServer.ReloadOutcome) {
        let now = Date()
        lastAttempt = now
        // Applied but not saved is a failure to report: it will not survive a restart.
        if outcome.errors == nil && outcome.saveProblem == nil {
            ok += 1
            lastSucceeded = true
            lastSuccess = now
            lastErrors = []
        } else {
            failed += 1
            lastSucceeded = false
            lastErrors = outcome.errors ?? [outcome.saveProblem ?? ""]
        }
    }
}

/// The per-(pool, line) first-place counters sampled every 5 s for the last minute, so the page can show the share
/// each line actually got next to its configured one.
final class ShareWindow: Sendable {
    static let span: TimeInterval = 60
    private let samples = Mutex<[(at: Date, counts: [String: Int])]>([])

    func sample(_ counts: [(pool: String, line: String, count: Int)], at now: Date) {
        let keyed = Dictionary(counts.map { ("\($0.pool)|\($0.line)", $0.count) }, uniquingKeysWith: +)
        samples.withLock { s in
            s.append((now, keyed))
            // Keep one sample at least a span old, as the window's start.
            while s.count > 2, now.timeIntervalSince(s[1].at) >= ShareWindow.span { s.removeFirst() }
        }
    }

    /// First places per "pool|line" over the window (up to a minute), and the window's length in seconds.
    func firstPlaces() -> (counts: [String: Int], seconds: Double) {
        samples.withLock { s in
            guard let first = s.first, let last = s.last, s.count > 1 else { return ([:], 0) }
            var out: [String: Int] = [:]
            for (k, v) in last.counts { out[k] = v - (first.counts[k] ?? 0) }
            return (out, last.at.timeIntervalSince(first.at))
        }
    }
}

extension DNSServer {
    /// Samples the first-place counters every 5 s (a utility queue, never the query path) while the server runs.
    func scheduleShareSampling() {
        shares.sample(counters.counts, at: Date())
        DispatchQueue.global(qos: .utility).asyncAfter(deadline: .now() + 5) { [weak self] in
            guard let self, self.reclaiming.load(ordering: .relaxed) else { return }
            self.scheduleShareSampling()
        }
    }

    /// Each line (or the one named `only`) as the page and `/v1/links/NAME` show it: state, why, since, weight,
    /// addresses, each check's recent results (newest first) and the recent transitions.
    /// `checker`: another health module's targets (the director's real servers), with their weights and addresses.
    func linkDetails(
        config: Config, now: Date, iso: ISO8601DateFormatter, only: String? = nil, checker: HealthChecker? = nil,
        weights: [String: Int]? = nil, addresses: ((String) -> [String])? = nil
    ) -> [ControlAPI.LinkDetail] {
        let health = checker ?? self.health
        let weights = weights ?? config.uplinks.weights
        let addresses = addresses ?? { config.uplinks.link($0)?.publicAddresses.map(\.description) ?? [] }
        return health.links.filter { only == nil || $0.name == only }.map { h in
            ControlAPI.LinkDetail(
                name: h.name, state: h.effective(at: now).rawValue, probed: h.probed.rawValue,
                override: h.activeOverride(at: now)?.rawValue ?? "auto",
                overrideUntil: h.activeOverride(at: now) == nil ? nil : h.overrideUntil.map { iso.string(from: $0) },
                since: iso.string(from: h.since), reason: h.reason, weight: weights[h.name] ?? 1,
                addresses: addresses(h.name),
                checks: health.history.checks(h.name).map { c in
                    ControlAPI.CheckHistory(
                        check: c.check, type: c.type,
                        results: c.results.reversed().map { r in
                            ControlAPI.ProbeResult(
                                at: iso.string(from: r.at), ok: r.ok, ms: (r.seconds * 10000).rounded() / 10,
                                detail: r.detail)
                        })
                },
                transitions: health.history.transitions(h.name).reversed().map { t in
                    ControlAPI.Transition(at: iso.string(from: t.at), to: t.to.rawValue, reason: t.reason)
                })
        }
    }

    /// One line as `/v1/links/NAME` gives it, or nil when there is none of that name.
    func linkDetail(_ name: String) -> ControlAPI.LinkDetail? {
        let config = state.withLock { $0.config }
        return linkDetails(config: config, now: Date(), iso: ISO8601DateFormatter(), only: name).first
    }

    /// Everything the status page shows.
    func status() -> ControlAPI.Status {
        let now = Date()
        let iso = ISO8601DateFormatter()
        let config = state.withLock { $0.config }
        let snapshot = store.current().0
        let weights = config.uplinks.weights
        let links = linkDetails(config: config, now: now, iso: iso)
        let (firsts, window) = shares.firstPlaces()
        let upNow = health.up
        // The share of first places each line has in a plan: how often it leads over the plan's cycle (rotation
        // steps or sticky buckets), as the query path picks them.
        func firstShares(_ plan: PoolPlan) -> [String: Double] {
            let family = plan.v4.variants.isEmpty ? plan.v6 : plan.v4
            var out: [String: Double] = [:]
            if plan.selection == .fixed || family.sequence.isEmpty {
                if let first = family.firstLine.first { out[first] = 1 }
            } else {
                for v in family.sequence where v < family.firstLine.count {
                    out[family.firstLine[v], default: 0] += 1 / Double(family.sequence.count)
                }
            }
            return out
        }
        // What the config gives each line (every line up), whatever is out now.
        let allUp = Set(config.uplinks.links.map(\.name))
        let networkCounts = counters.networkCounts
        // The lines an operator took out: failing open leaves them out.
        let held = Dictionary(
            links.compactMap { l in
                l.override == "drain" ? (l.name, "drained") : l.override == "force-down" ? (l.name, "forced down") : nil
            }, uniquingKeysWith: { a, _ in a })
        let pools: [ControlAPI.PoolStatus] = snapshot.plans.map { plan in
            let pool = plan.pool
            let expected = firstShares(plan)
            let configured = firstShares(PoolPlan(pool: pool, uplinks: config.uplinks, up: allUp))
            // The counters name pools lower-cased (AnswerCounters).
            let key = pool.name.lowercased().description
            let total = pool.members.reduce(0) { sum, m in sum + max(0, firsts["\(key)|\(m.link)"] ?? 0) }
            let members = pool.members.map { m in
                let n = max(0, firsts["\(key)|\(m.link)"] ?? 0)
                return ControlAPI.PoolMemberStatus(
                    link: m.link, weight: weights[m.link] ?? 1, inAnswers: upNow.contains(m.link),
                    expectedShare: expected[m.link] ?? 0, configuredShare: configured[m.link] ?? 0, firstPlaces: n,
                    share: total > 0 ? Double(n) / Double(total) : 0)
            }
            let linesUp = pool.members.filter { upNow.contains($0.link) }.count
            var status = ControlAPI.PoolStatus(
                name: pool.name.description, policy: pool.policy.rawValue,
                linesUp: linesUp, lines: pool.members.count,
                addresses: (plan.v4.variants.first ?? []).map(\.description)
                    + (plan.v6.variants.first ?? []).map(\.description),
                servfail: plan.servfail, members: members, windowSeconds: window.rounded(),
                allDown: pool.allDown.rawValue, answering: plan.answered, failingOpen: plan.failingOpen,
                summary: StatusReport.poolSummary(plan, linesUp: linesUp, held: held))
            if let map = pool.networkMap {
                let family = plan.v4.variants.isEmpty ? plan.v6 : plan.v4
                status.networks = map.lists.indices.dropFirst().map { k in
                    let v = k - 1 < family.networkVariants.count ? family.networkVariants[k - 1] : -1
                    let label = map.label(k)
                    return ControlAPI.PoolNetworkStatus(
                        network: label, lines: map.lists[k], serving: v >= 0 ? family.firstLine[v] : nil,
                        answers: networkCounts.filter { $0.pool == key && $0.network == label }.reduce(0) {
                            $0 + $1.count
                        })
                }
            }
            return status
        }
        let secondaries = transfer.secondaryStates
        let notifies = notifier.records
        let zones: [ControlAPI.ZoneStatus] = snapshot.origins.sorted().map { origin in
            let name = origin.lowercased().description
            var rows: [String: ControlAPI.SecondaryStatus] = [:]
            // The configured NOTIFY targets from the start, before any NOTIFY to them has ended.
            // A secondary is one row, by its address: its transfers come from it, its NOTIFYs go to ADDRESS:PORT.
            for t in config.zones.first(where: { $0.origin == origin })?.notify ?? [] {
                var row = ControlAPI.SecondaryStatus(secondary: t.host)
                row.notifyTarget = "\(t)"
                row.notifyResult = "none yet"
                rows[t.host] = row
            }
            for s in secondaries where s.zone == name {
                let host = s.secondary
                var row = rows[host] ?? ControlAPI.SecondaryStatus(secondary: host)
                row.serial = Int(s.serial)
                row.lastTransfer = iso.string(from: s.lastTransfer)
                row.lastKind = s.lastKind
                rows[host] = row
            }
            for n in notifies where n.zone == name {
                let host = ListenAddress(n.secondary)?.host ?? n.secondary
                var row = rows[host] ?? ControlAPI.SecondaryStatus(secondary: host)
                row.notifyTarget = n.secondary
                row.notifyAcknowledged = n.acknowledged
                row.notifyFailed = n.failed
                row.notifySerial = Int(n.lastSerial)
                row.notifyResult = n.lastResult
                if let at = n.lastAt { row.lastNotify = iso.string(from: at) }
                rows[host] = row
            }
            return ControlAPI.ZoneStatus(
                zone: name, serial: Int(snapshot.serial(origin) ?? 0),
                signed: config.zones.first { $0.origin == origin }?.dnssec != nil,
                secondaries: rows.keys.sorted().compactMap { rows[$0] })
        }
        let reloads = reloadRecord.withLock { $0 }
        let reload = ControlAPI.ReloadStatus(
            ok: reloads.ok, failed: reloads.failed, lastSuccessful: reloads.lastSucceeded,
            lastSuccess: iso.string(from: reloads.lastSuccess), lastAttempt: reloads.lastAttempt.map(iso.string(from:)),
            errors: reloads.lastErrors)
        var queries: [String: UInt64] = [:]
        for c in queryStats.counts { queries[c.rcode, default: 0] += c.count }
        return ControlAPI.Status(
            version: Config.softwareVersion, now: iso.string(from: now),
            uptimeSeconds: Int(now.timeIntervalSince(startedAt)), generation: store.generation, links: links,
            pools: pools, zones: zones, reload: reload, querylog: ControlAPI.QueryLogState(queryLog.status),
            queries: queries, tcpOpen: tcpTotals().open, listen: boundAddresses.map(\.description),
            routing: routingStatus(config: config, iso: iso), realServers: realServerDetails(now: now, iso: iso),
            director: directorStatus(iso: iso))
    }

    /// The outbound default route as `routing.apply` keeps it (or would, when off).
    func routingStatus(config: Config, iso: ISO8601DateFormatter) -> ControlAPI.RoutingStatus {
        let r = routing.current
        let desired = r.desired ?? OutboundRoute.desired(config.uplinks, up: health.up)
        return ControlAPI.RoutingStatus(
            apply: r.enabled, outbound: desired.kind.rawValue, description: desired.description,
            lines: desired.kind == .held ? (r.applied?.lines ?? []) : desired.lines, out: desired.out,
            applied: r.applied?.arguments, since: r.since.map(iso.string(from:)), error: r.error ?? r.gatewayError,
            changes: r.changes, failures: r.failures, gatewayCommand: r.gatewayCommand,
            gatewayLines: r.gatewayLines.map { lines in config.uplinks.links.map(\.name).filter(lines.contains) })
    }
}
