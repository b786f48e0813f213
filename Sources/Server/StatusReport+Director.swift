// StatusReport+Director: the director's real servers in `uplinkdns status`, as the lines are shown.

extension StatusReport {
    /// The real servers as a table (`SERVICE/ADDRESS`, in or out of new connections, since, why, the last probes),
    /// then where the table stands (`director.apply`, the real servers out of it, the last failure); nil without a
    /// director.
    public static func director(_ status: ControlAPI.Status) -> String? {
        guard let servers = status.realServers, !servers.isEmpty else { return nil }
        let rows: [[String]] =
            [["REAL SERVER", "STATE", "PROBED", "SINCE", "WHY", "LAST PROBES"]]
            + servers.map { r in
                let last = r.checks.compactMap { c in c.results.first.map { "\(c.check) \($0.detail)" } }
                return [r.name, r.state, r.probed, r.since, r.reason, last.joined(separator: "; ")]
            }
        var out = [table(rows)]
        if let d = status.director {
            var line =
                d.apply == "none"
                ? "director: table not kept (director.apply: none)"
                : "director: \(d.apply) table, real servers out: \(d.out.isEmpty ? "none" : d.out.joined(separator: ", "))"
            if let e = d.error { line += "; failing: \(e)" }
            out.append(line)
        }
        return out.joined(separator: "\n")
    }

    /// `status --check` with a director: a real server out of new connections is degraded (1), as a line out is.
    public static func health(_ status: ControlAPI.Status) -> Health {
        (status.realServers ?? []).contains { $0.state != "up" } ? .degraded : .allUp
    }
}
