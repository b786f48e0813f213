// RoutingCheck: compares a live system (ip -j addr/rule/route) with what the emitter would set up.

import Foundation
import Uplinks

/// Reports every difference between the routing a line needs on the server and what the kernel has: the inside
/// address on its interface, the rule sending it to the line's table, and that table's default route via the line's
/// firewall. An empty report means the return path of every line is in place.
public enum RoutingCheck {
    /// The drift of each line (only `only`, when given), from the JSON of `ip -j addr`, `ip -j rule` and
    /// `ip -j route show table all`.
    public static func drift(_ uplinks: Uplinks, addr: Data, rule: Data, route: Data, only: String? = nil) -> [String] {
        let addrs = (try? JSONSerialization.jsonObject(with: addr)) as? [[String: Any]] ?? []
        let rules = (try? JSONSerialization.jsonObject(with: rule)) as? [[String: Any]] ?? []
        let routes = (try? JSONSerialization.jsonObject(with: route)) as? [[String: Any]] ?? []
        var out: [String] = []
        let (links, _) = RoutingEmitter.usable(uplinks)
        for l in links where only == nil || l.name == only {
            let inside = l.inside!.description, gw = l.gateway!.description, dev = l.interface!
            let table = "\(l.table!)"
            let hasAddr = addrs.contains { i in
                (i["ifname"] as? String) == dev
                    && ((i["addr_info"] as? [[String: Any]]) ?? []).contains {
                        ($0["local"] as? String) == inside && ($0["prefixlen"] as? Int) == l.insidePrefix
                    }
            }
            if !hasAddr { out.append("line \(l.name): address \(inside)/\(l.insidePrefix) is not on \(dev)") }
            let hasRule = rules.contains { r in
                (r["src"] as? String) == inside && "\(r["table"] ?? "")" == table
                    && ((r["srclen"] as? Int) ?? 32) == 32
            }
            if !hasRule { out.append("line \(l.name): no rule 'from \(inside) lookup \(table)'") }
            let hasDefault = routes.contains { r in
                "\(r["table"] ?? "")" == table && (r["dst"] as? String) == "default" && (r["gateway"] as? String) == gw
            }
            if !hasDefault { out.append("line \(l.name): table \(table) has no default route via \(gw)") }
        }
        return out
    }

    /// The drift of the live system (runs `ip -j …`); a line name limits it to that line.
    public static func live(_ uplinks: Uplinks, only: String? = nil) -> [String] {
        func ip(_ args: [String]) -> Data {
            let p = Process()
            p.executableURL = URL(
                fileURLWithPath: FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")
                    ? "/usr/sbin/ip" : "/sbin/ip")
            p.arguments = ["-j"] + args
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = FileHandle.nullDevice
            guard (try? p.run()) != nil else { return Data() }
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return data
        }
        return drift(
            uplinks, addr: ip(["addr"]), rule: ip(["rule"]), route: ip(["route", "show", "table", "all"]), only: only)
    }
}
