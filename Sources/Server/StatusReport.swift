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

    /// The health of `pools` with the lines in `up` in answers.
    public static func health(pools: [Pool], lines: [Line]) -> Health {
        let up = Set(lines.filter { $0.state == "up" }.map(\.name))
        var worst = Health.allUp
        for pool in pools {
            let inAnswers = pool.members.filter { up.contains($0.link) }.count
            if inAnswers == 0 { return .poolDown }
            if inAnswers < pool.members.count { worst = .degraded }
        }
        if lines.contains(where: { $0.state != "up" }) && worst == .allUp { worst = .degraded }
        return worst
    }

    /// The lines as a table (columns as wide as their widest entry), then a line per pool.
    public static func text(lines: [Line], pools: [Pool]) -> String {
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
            let inAnswers = pool.members.filter { byName[$0.link]?.state == "up" }.count
            out.append(
                "pool \(pool.name) (\(pool.policy.rawValue)): \(members.joined(separator: ", ")) — "
                    + "\(inAnswers) of \(pool.members.count) line(s) in answers")
        }
        return out.joined(separator: "\n")
    }
}
