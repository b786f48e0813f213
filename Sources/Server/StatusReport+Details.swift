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

    /// JSON text, sorted keys, as the API writes it.
    public static func json(_ object: Any) -> String {
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// One line (`/v1/links/NAME`): its state, then each check's recent results newest first, then its transitions.
    public static func history(_ line: [String: Any]) -> String {
        let name = line["name"] as? String ?? "?"
        let parsed = Line(json: line)
        var out = [
            "\(name): \(parsed?.label ?? "?") since \(line["since"] as? String ?? "?") (\(line["reason"] as? String ?? ""))"
                + ", probes say \(line["probed"] as? String ?? "?")"
        ]
        if let until = line["override_until"] as? String { out.append("  override until \(until)") }
        let checks = line["checks"] as? [[String: Any]] ?? []
        if checks.isEmpty { out.append("  no checks (or none has run yet)") }
        for c in checks {
            let results = c["results"] as? [[String: Any]] ?? []
            let failed = results.filter { ($0["ok"] as? Bool) == false }.count
            out.append("")
            out.append("check \(c["check"] as? String ?? "?"): last \(results.count), \(failed) failed")
            var rows = [["TIME", "RESULT", "MS", "DETAIL"]]
            for r in results {
                rows.append([
                    r["at"] as? String ?? "", (r["ok"] as? Bool) == true ? "ok" : "FAILED",
                    "\(r["ms"] ?? "")", r["detail"] as? String ?? "",
                ])
            }
            out.append(table(rows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        }
        let transitions = line["transitions"] as? [[String: Any]] ?? []
        out.append("")
        if transitions.isEmpty {
            out.append("no transitions since the server started")
        } else {
            out.append("transitions (newest first):")
            var rows = [["TIME", "TO", "WHY"]]
            for t in transitions {
                rows.append([t["at"] as? String ?? "", t["to"] as? String ?? "", t["reason"] as? String ?? ""])
            }
            out.append(table(rows).split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        }
        return out.joined(separator: "\n")
    }

    /// The zones (`/v1/status`'s `zones`): serial and signing, then a row per secondary.
    public static func zones(_ zones: [[String: Any]]) -> String {
        var rows = [["ZONE", "SERIAL", "SIGNED", "SECONDARY", "ITS SERIAL", "LAST TRANSFER", "LAST NOTIFY"]]
        for z in zones {
            let serial = z["serial"] as? Int ?? 0
            let base = [z["zone"] as? String ?? "?", "\(serial)", (z["signed"] as? Bool) == true ? "yes" : "no"]
            let secondaries = z["secondaries"] as? [[String: Any]] ?? []
            if secondaries.isEmpty { rows.append(base + ["-", "-", "-", "-"]) }
            for s in secondaries {
                let theirs = (s["serial"] as? Int).map { $0 == serial ? "\($0) (current)" : "\($0) (behind)" } ?? "-"
                let transfer = (s["last_transfer"] as? String).map { "\(s["last_kind"] as? String ?? "") \($0)" } ?? "-"
                var notify = "-"
                if let target = s["notify_target"] as? String {
                    let at = (s["last_notify"] as? String).map { " \($0)" } ?? ""
                    notify = "\(s["notify_result"] as? String ?? "")\(at) (to \(target))"
                }
                rows.append(base + [s["secondary"] as? String ?? "?", theirs, transfer, notify])
            }
        }
        return table(rows)
    }

    /// The counters (`/v1/stats`).
    public static func stats(_ s: [String: Any]) -> String {
        var out: [String] = ["uptime: \(s["uptime_seconds"] as? Int ?? 0) s", ""]
        let queries = s["queries"] as? [[String: Any]] ?? []
        func total(_ key: String) -> [(String, Int)] {
            var sums: [String: Int] = [:]
            for q in queries { sums[q[key] as? String ?? "?", default: 0] += q["count"] as? Int ?? 0 }
            return sums.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
        }
        let all = queries.reduce(0) { $0 + ($1["count"] as? Int ?? 0) }
        out.append("queries: \(all)")
        for (title, key) in [
            ("by transport", "transport"), ("by zone", "zone"), ("by type", "type"), ("by rcode", "rcode"),
        ] {
            out.append("  \(title): " + total(key).map { "\($0.0) \($0.1)" }.joined(separator: ", "))
        }
        if let tcp = s["tcp"] as? [String: Any] {
            let closed = (tcp["closed"] as? [String: Int] ?? [:]).sorted { $0.key < $1.key }.map {
                "\($0.key) \($0.value)"
            }
            out.append(
                "tcp: \(tcp["open"] ?? 0) open, \(tcp["accepted"] ?? 0) accepted, \(tcp["refused"] ?? 0) refused; "
                    + "closed: \(closed.joined(separator: ", "))")
        }
        if let rrl = s["rrl"] as? [String: Any] {
            out.append("rate limiting: \(rrl["dropped"] ?? 0) dropped, \(rrl["slipped"] ?? 0) slipped")
        }
        let transfers = s["transfers"] as? [[String: Any]] ?? []
        out.append(
            "transfers: "
                + (transfers.isEmpty
                    ? "none"
                    : transfers.map {
                        "\($0["secondary"] ?? "?") \($0["kind"] ?? "?") \($0["transfers"] ?? 0) (\($0["octets"] ?? 0) octets)"
                    }.joined(separator: ", ")))
        if let n = s["notify"] as? [String: Any] {
            out.append("notify: \(n["acknowledged"] ?? 0) acknowledged, \(n["failed"] ?? 0) failed")
        }
        if let r = s["reloads"] as? [String: Any] {
            let last = (r["last_successful"] as? Bool) == false ? " (the last one FAILED)" : ""
            out.append("reloads: \(r["ok"] ?? 0) ok, \(r["failed"] ?? 0) failed\(last)")
        }
        let firsts = s["first_places"] as? [[String: Any]] ?? []
        if !firsts.isEmpty {
            out.append(
                "first places: "
                    + firsts.map { "\($0["pool"] ?? "?") \($0["link"] ?? "?") \($0["count"] ?? 0)" }.joined(
                        separator: ", "))
        }
        return out.joined(separator: "\n")
    }
}
