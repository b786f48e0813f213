// StatusReport: what `uplinkdns status` prints for people, and the exit code `status --check` gives monitoring.

import Uplinks

/// The lines and pools of a running server, as text with aligned columns, and their health as a monitoring code.
public enum StatusReport {
    /// One line as the control API lists it.
    public struct Line: Sendable, Equatable {
        public var name: String
        /// In answers (`up`) or not (`down`), overrides included.
        public var state: String
        /// What the probes say.
        public var probed: String
        /// `drain`, `force-up`, `force-down`, or nil (auto).
        public var override: String?
        public var overrideUntil: String?
        public var since: String
        public var reason: String
        /// The last round's result per check.
        public var lastResults: [String]

        public init(
            name: String, state: String, probed: String, override: String?, overrideUntil: String? = nil,
            since: String, reason: String, lastResults: [String] = []
        ) {
            (self.name, self.state, self.probed, self.override) = (name, state, probed, override)
            (self.overrideUntil, self.since, self.reason, self.lastResults) = (
                overrideUntil, since, reason, lastResults
            )
        }

        /// The line as `/v1/links` lists it.
        public init(_ l: ControlAPI.LinkSummary) {
            self.init(
                name: l.name, state: l.state, probed: l.probed, override: l.override == "auto" ? nil : l.override,
                overrideUntil: l.overrideUntil, since: l.since, reason: l.reason, lastResults: l.lastResults)
        }

        /// What the line is, in a word or two: an override says itself (`drained`, `forced up`, `forced down`).
        public var label: String {
            switch override {
            case "drain": "drained"
            case "force-up": "forced up"
            case "force-down": "forced down"
            default: state
            }
        }
    }

    /// The health `status --check` reports, as its exit code (the usual monitoring plugin codes).
    public enum Health: Int32, Sendable {
        /// Every line of every pool is in answers.
        case allUp = 0
        /// Some line is out of answers, but every pool has one in.
        case degraded = 1
        /// A pool has no line in answers (it answers with `all-down`'s choice).
        case poolDown = 2
    }

    /// With `routing.apply` (or a gateway command), a line saying where the host's outbound route leaves now and the
    /// last failure; nil when the server keeps no routing.
    public static func routing(_ r: ControlAPI.RoutingStatus) -> String? {
        guard r.apply || r.gatewayCommand != nil else { return nil }
        var out = r.apply ? "outbound route: \(r.description)" : "outbound route: not kept (routing.apply off)"
        if let lines = r.gatewayLines {
            out += "; gateway groups for: \(lines.isEmpty ? "no line" : lines.joined(separator: ", "))"
        }
        if let error = r.error { out += "; FAILING: \(error)" }
        return out
    }

    /// A line saying the last reload failed (when, its first error), or nil when it succeeded.
    public static func failedReload(_ r: ControlAPI.ReloadStatus) -> String? {
        guard !r.lastSuccessful else { return nil }
        return "last reload FAILED at \(r.lastAttempt ?? "?"), serving the previous config: \(r.errors.first ?? "")"
            + (r.errors.count > 1 ? " (and \(r.errors.count - 1) more)" : "")
    }

    /// The health of the running server's `pools` (as `/v1/status` gives them) and its `lines`.
    public static func health(pools: [ControlAPI.PoolStatus], lines: [Line]) -> Health {
        if pools.contains(where: { $0.linesUp == 0 }) { return .poolDown }
        if pools.contains(where: { $0.linesUp < $0.lines }) || lines.contains(where: { $0.state != "up" }) {
            return .degraded
        }
        return .allUp
    }

    /// What a pool answers now, in words: how many of its lines are up, then, when that is not simply all of them,
    /// which lines the answers carry, and with none up what `all-down` makes of it (failing open: every line the
    /// probes took out; a line an operator took out stays out). `held` names those lines with their label
    /// (`drained`, `forced down`). `uplinkdns status`, the status page's banner and its pool card say this, from
    /// `/v1/status`'s `summary`.
    public static func poolSummary(_ plan: PoolPlan, linesUp: Int, held: [String: String] = [:]) -> String {
        let pool = plan.pool
        let n = pool.members.count
        let head = "\(linesUp) of \(n) \(n == 1 ? "line" : "lines") up"
        let answering = plan.answered.count == n ? "all lines" : plan.answered.joined(separator: ", ")
        if linesUp > 0 {
            if plan.answered.count == n { return head }
            return head + "; answering " + (plan.answered.isEmpty ? "no address (none of theirs)" : answering)
        }
        let stayOut = pool.members.compactMap { m in held[m.link].map { "\(m.link) (\($0))" } }
        let holds =
            stayOut.isEmpty ? "" : "; \(stayOut.joined(separator: ", ")) stay\(stayOut.count == 1 ? "s" : "") out"
        if plan.servfail { return head + "; all-down: servfail, answering SERVFAIL" + holds }
        if plan.failingOpen { return head + "; failing open: answering " + answering + holds }
        if pool.allDown == .none { return head + "; all-down: none, answering NODATA" + holds }
        return head + "; every line taken out by an operator, nothing to fail open to: answering NODATA"
    }

    /// The lines as a table (columns as wide as their widest entry), then a line per pool with what it answers
    /// (its `summary` from the server).
    public static func text(lines: [Line], pools: [ControlAPI.PoolStatus]) -> String {
        let rows: [[String]] =
            [["LINE", "STATE", "PROBED", "SINCE", "WHY", "LAST PROBES"]]
            + lines.map { l in
                let state = l.label + (l.overrideUntil.map { " until \($0)" } ?? "")
                return [l.name, state, l.probed, l.since, l.reason, l.lastResults.joined(separator: "; ")]
            }
        var out = [table(rows)]
        let byName = Dictionary(lines.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for pool in pools {
            let members = pool.members.map { m in "\(m.link) \(byName[m.link]?.label ?? "?")" }
            out.append("pool \(pool.name) (\(pool.policy)): \(members.joined(separator: ", ")) — \(pool.summary)")
            // Its client networks (`by-network`): which line serves each now.
            for n in pool.networks {
                let serving = n.serving.map { "served by \($0)" } ?? "none of its lines in answers: the pool's policy"
                out.append(
                    "  clients of \(n.network) (\(n.lines.joined(separator: " > "))): \(serving), \(n.answers) answers")
            }
        }
        return out.joined(separator: "\n")
    }
}
