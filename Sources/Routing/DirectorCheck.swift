// DirectorCheck: compares the live nft table of the director (nft -j) with the slots it should hold now.

import Foundation
import Uplinks

/// Reports every difference between the director's nft maps on this host and what the running server's real
/// servers in and out call for: a missing table or map, or a slot that sends new connections elsewhere.
public enum DirectorCheck {
    /// The drift of the director's NAT services, from the JSON of `nft -j list table ip uplinkdns_director`; `out`:
    /// the real servers out now (`SERVICE/ADDRESS`).
    public static func drift(_ d: Director, out: Set<String>, json: Data) -> [String] {
        let services = d.services.enumerated().filter { $0.element.mode == .nat && !$0.element.address.isIPv6 }
        guard !services.isEmpty else { return [] }
        guard let root = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
            let items = root["nftables"] as? [[String: Any]]
        else {
            return ["director: no nft table ip \(DirectorEmitter.table) (load `routing --for director --format nft`)"]
        }
        var maps: [String: [Int: String]] = [:]
        for item in items {
            guard let map = item["map"] as? [String: Any], let name = map["name"] as? String else { continue }
            var slots: [Int: String] = [:]
            for pair in map["elem"] as? [[Any]] ?? [] where pair.count == 2 {
                if let k = pair[0] as? Int, let v = pair[1] as? String { slots[k] = v }
            }
            maps[name] = slots
        }
        var problems: [String] = []
        for (i, s) in services {
            let name = DirectorEmitter.mapName(s, index: i)
            guard let live = maps[name] else {
                problems.append("director service \(s.name): no map \(name) in table ip \(DirectorEmitter.table)")
                continue
            }
            let want = DirectorEmitter.slots(s, out: out)
            let wrong = want.indices.filter { live[$0] != want[$0].description }
            if !wrong.isEmpty || live.count != want.count {
                var shares: [String: Int] = [:]
                for v in live.values { shares[v, default: 0] += 1 }
                let now = shares.keys.sorted().map { "\($0) \(shares[$0]!)" }.joined(separator: ", ")
                problems.append(
                    "director service \(s.name): map \(name) differs in \(wrong.count + abs(live.count - want.count)) "
                        + "of \(want.count) slots (live: \(now.isEmpty ? "empty" : now))")
            }
        }
        return problems
    }

    /// The drift of the live system (runs `nft -j list table ip uplinkdns_director`).
    public static func live(_ d: Director, out: Set<String>) -> [String] {
        let p = Process()
        p.executableURL = URL(
            fileURLWithPath: FileManager.default.isExecutableFile(atPath: "/usr/sbin/nft")
                ? "/usr/sbin/nft" : "/sbin/nft")
        p.arguments = ["-j", "list", "table", "ip", DirectorEmitter.table]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return drift(d, out: out, json: Data()) }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return drift(d, out: out, json: data)
    }
}
