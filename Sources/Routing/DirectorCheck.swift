// DirectorCheck: compares the live nft tables of the director (nft -j) with the slots they should hold now.

import Foundation
import Uplinks

/// Reports every difference between the director's nft maps on this host and what the running server's real
/// servers in and out call for: a missing table or map, or a slot that sends new connections elsewhere.
public enum DirectorCheck {
    /// The drift of the services nft forwards, from the JSON of `nft -j list table …` of each of the director's tables
    /// (`ip uplinkdns_director`, `netdev uplinkdns_director_dr`); `out`: the real servers out now (`SERVICE/ADDRESS`).
    public static func drift(_ d: Director, out: Set<String>, json: [Data]) -> [String] {
        var maps: [String: [Int: String]] = [:]
        for data in json {
            guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let items = root["nftables"] as? [[String: Any]]
            else { continue }
            for item in items {
                guard let map = item["map"] as? [String: Any], let name = map["name"] as? String,
                    let family = map["family"] as? String, let table = map["table"] as? String
                else { continue }
                var slots: [Int: String] = [:]
                for pair in map["elem"] as? [[Any]] ?? [] where pair.count == 2 {
                    if let k = pair[0] as? Int, let v = pair[1] as? String { slots[k] = v }
                }
                maps["\(family) \(table) \(name)"] = slots
            }
        }
        var problems: [String] = []
        for (i, s) in d.services.enumerated() {
            guard let table = DirectorEmitter.nftTable(s) else { continue }
            let name = DirectorEmitter.mapName(s, index: i)
            guard let live = maps["\(table) \(name)"] else {
                problems.append("director service \(s.name): no map \(name) in table \(table)")
                continue
            }
            let want = DirectorEmitter.slots(s, out: out)
            let wrong =
                want.indices.filter { live[$0] != want[$0].description }.count
                + live.keys.filter { !want.indices.contains($0) }.count
            if wrong > 0 {
                var shares: [String: Int] = [:]
                for v in live.values { shares[v, default: 0] += 1 }
                let now = shares.keys.sorted().map { "\($0) \(shares[$0]!)" }.joined(separator: ", ")
                problems.append(
                    "director service \(s.name): map \(name) differs in \(wrong) "
                        + "of \(want.count) slots (live: \(now.isEmpty ? "empty" : now))")
            }
        }
        return problems
    }

    /// The drift of the live system (runs `nft -j list table …` for each table the services use).
    public static func live(_ d: Director, out: Set<String>) -> [String] {
        let tables = Set(d.services.compactMap(DirectorEmitter.nftTable)).sorted()
        let json = tables.map {
            RoutingCheck.output("nft", ["-j", "list", "table"] + $0.split(separator: " ").map(String.init))
        }
        return drift(d, out: out, json: json)
    }
}
