// StatusReport+Details: what `uplinkdns status LINK`, `zones` and `stats` print, from the control API's JSON.

import Foundation

extension StatusReport {
    /// Rows as columns as wide as their widest cell (the last column unpadded).
    static func table(_ rows: [[String]]) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        let widths = (0..<columns).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in
                c == row.count - 1 ? cell : cell.padding(toLength: widths[c] + 2, withPad: " ", startingAt: 0)
            }.joined()
        }.joined(separator: "\n")
    }

    /// One line (`/v1/links/NAME`): its state, then each check's recent results newest first, then its transitions.
    public static func history(_ line: ControlAPI.LinkDetail) -> String {
        let label =
            Line(
                name: line.name, state: line.state, probed: line.probed,
                override: line.override == "auto" ? nil : line.override, since: line.since, reason: line.reason
            ).label
        var out = ["\(line.name): \(label) since \(line.since) (\(line.reason)), probes say \(line.probed)"]
        if let until = line.overrideUntil { out.append("  override until \(until)") }
        if line.checks.isEmpty { out.append("  no checks (or none has run yet)") }
        for c in line.checks {
            let failed = c.results.filter { !$0.ok }.count
            out.append("")
            out.append("check \(c.check): last \(c.results.count), \(failed) failed")
            var rows = [["TIME", "RESULT", "MS", "DETAIL"]]
            for r in c.results { rows.append([r.at, r.ok ? "ok" : "FAILED", "\(r.ms)", r.detail]) }
            out.append(table(rows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        }
        out.append("")
        if line.transitions.isEmpty {
            out.append("no transitions since the server started")
        } else {
            out.append("transitions (newest first):")
            var rows = [["TIME", "TO", "WHY"]]
            for t in line.transitions { rows.append([t.at, t.to, t.reason]) }
            out.append(table(rows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        }
        return out.joined(separator: "\n")
    }

    /// The zones (`/v1/status`'s `zones`): serial and signing, then a row per secondary.
    public static func zones(_ zones: [ControlAPI.ZoneStatus]) -> String {
        var rows = [["ZONE", "SERIAL", "SIGNED", "SECONDARY", "ITS SERIAL", "LAST TRANSFER", "LAST NOTIFY"]]
        for z in zones {
            let base = [z.zone, "\(z.serial)", z.signed ? "yes" : "no"]
            if z.secondaries.isEmpty { rows.append(base + ["-", "-", "-", "-"]) }
            for s in z.secondaries {
                let theirs = s.serial.map { $0 == z.serial ? "\($0) (current)" : "\($0) (behind)" } ?? "-"
                let transfer = s.lastTransfer.map { "\(s.lastKind ?? "") \($0)" } ?? "-"
                var notify = "-"
                if let target = s.notifyTarget {
                    let at = s.lastNotify.map { " \($0)" } ?? ""
                    notify = "\(s.notifyResult ?? "")\(at) (to \(target))"
                }
                rows.append(base + [s.secondary, theirs, transfer, notify])
            }
        }
        return table(rows)
    }

    /// The counters (`/v1/stats`).
    public static func stats(_ s: ControlAPI.Stats) -> String {
        var out: [String] = ["uptime: \(s.uptimeSeconds) s", ""]
        func total(_ key: KeyPath<ControlAPI.Stats.Queries, String>) -> [(String, UInt64)] {
            var sums: [String: UInt64] = [:]
            for q in s.queries { sums[q[keyPath: key], default: 0] += q.count }
            return sums.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        }
        let all = s.queries.reduce(0) { $0 + $1.count }
        out.append("queries: \(all)")
        for (title, key) in [
            ("by transport", \ControlAPI.Stats.Queries.transport), ("by zone", \.zone), ("by type", \.type),
            ("by rcode", \.rcode),
        ] {
            out.append("  \(title): " + total(key).map { "\($0.0) \($0.1)" }.joined(separator: ", "))
        }
        let closed = s.tcp.closed.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        out.append(
            "tcp: \(s.tcp.open) open, \(s.tcp.accepted) accepted, \(s.tcp.refused) refused; "
                + "closed: \(closed.joined(separator: ", "))")
        out.append("rate limiting: \(s.rrl.dropped) dropped, \(s.rrl.slipped) slipped")
        out.append(
            "transfers: "
                + (s.transfers.isEmpty
                    ? "none"
                    : s.transfers.map { "\($0.secondary) \($0.kind) \($0.transfers) (\($0.octets) octets)" }.joined(
                        separator: ", ")))
        out.append("notify: \(s.notify.acknowledged) acknowledged, \(s.notify.failed) failed")
        let last = s.reloads.lastSuccessful ? "" : " (the last one FAILED)"
        out.append("reloads: \(s.reloads.ok) ok, \(s.reloads.failed) failed\(last)")
        if !s.firstPlaces.isEmpty {
            out.append(
                "first places: " + s.firstPlaces.map { "\($0.pool) \($0.link) \($0.count)" }.joined(separator: ", "))
        }
        return out.joined(separator: "\n")
    }
}
