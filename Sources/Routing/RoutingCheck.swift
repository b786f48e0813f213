// RoutingCheck: compares a live system (ip -j addr/rule/route) with what the emitter would set up.

import Foundation
import Uplinks

/// Reports every difference between the routing a line needs on the server and what the kernel has: the inside
/// address on its interface, the rule sending it to the line's table, and that table's default route via the line's
/// firewall. An empty report means the return path of every line is in place.
public enum RoutingCheck {
    /// The drift of each line (only `only`, when given), from the JSON of `ip -j addr`, `ip -j rule` and
    /// `ip -j route show table all`; with `outbound`, also the main table's default route against it (the route as it
    /// should be now, for the lines in answers: `OutboundRoute.desired`). A line's health check (`only`) never
    /// compares the main default: it is not that line's return path, and a line out of it is not drift.
    public static func drift(
        _ uplinks: Uplinks, addr: Data, rule: Data, route: Data, only: String? = nil, outbound: OutboundRoute? = nil
    ) -> [String] {
        let decoder = JSONDecoder()
        let addrs = (try? decoder.decode([Interface].self, from: addr)) ?? []
        let rules = (try? decoder.decode([Rule].self, from: rule)) ?? []
        let routes = (try? decoder.decode([Route].self, from: route)) ?? []
        var out: [String] = []
        let (links, _) = RoutingEmitter.usable(uplinks)
        for l in links where only == nil || l.name == only {
            let inside = l.inside!.description, gw = l.gateway!.description, dev = l.interface!
            let table = "\(l.table!)"
            let hasAddr = addrs.contains { i in
                i.ifname == dev
                    && (i.addrInfo ?? []).contains { $0.local == inside && $0.prefixlen == l.insidePrefix }
            }
            if !hasAddr { out.append("line \(l.name): address \(inside)/\(l.insidePrefix) is not on \(dev)") }
            let hasRule = rules.contains { r in r.src == inside && r.table?.text == table && (r.srclen ?? 32) == 32 }
            if !hasRule { out.append("line \(l.name): no rule 'from \(inside) lookup \(table)'") }
            let hasDefault = routes.contains { r in r.table?.text == table && r.dst == "default" && r.gateway == gw }
            if !hasDefault { out.append("line \(l.name): table \(table) has no default route via \(gw)") }
        }
        if let outbound, only == nil { out += defaultDrift(outbound, routes: routes) }
        return out
    }

    /// How the main table's default route differs from `expected` (held, keep and none expect nothing).
    static func defaultDrift(_ expected: OutboundRoute, routes: [Route]) -> [String] {
        guard expected.kind == .multipath || expected.kind == .single else { return [] }
        let main = routes.filter { $0.table == nil && $0.dst == "default" && ($0.metric ?? 0) == 0 }
        let want = "the main table's default route should be \(expected.description): \(expected.arguments ?? "")"
        guard let route = main.first else { return ["no default route in the main table; \(want)"] }
        let live: [(gateway: String?, weight: Int?, source: String?)] =
            route.nexthops.map { hops in hops.map { ($0.gateway, $0.weight, route.prefsrc) } }
            ?? [(route.gateway, nil, route.prefsrc)]
        let same =
            live.count == expected.hops.count
            && zip(live, expected.hops).allSatisfy { l, e in
                l.gateway == e.gateway && (e.weight == nil || (l.weight ?? 1) == e.weight)
                    && (e.source == nil || l.source == e.source)
            }
        if same { return [] }
        let now = live.map { h in
            "via \(h.gateway ?? "?")" + (h.weight.map { " weight \($0)" } ?? "") + (h.source.map { " src \($0)" } ?? "")
        }
        return ["the main table's default route is \(now.joined(separator: ", ")); \(want)"]
    }

    /// An interface of `ip -j addr`, with the addresses on it.
    struct Interface: Decodable {
        struct Address: Decodable {
            var local: String?
            var prefixlen: Int?
        }
        var ifname: String?
        var addrInfo: [Address]?

        enum CodingKeys: String, CodingKey {
            case ifname
            case addrInfo = "addr_info"
        }
    }

    /// A rule of `ip -j rule`.
    struct Rule: Decodable {
        var src: String?
        var srclen: Int?
        var table: Table?
    }

    /// A route of `ip -j route show table all`.
    struct Route: Decodable {
        struct Hop: Decodable {
            var gateway: String?
            var weight: Int?
        }
        var dst: String?
        var gateway: String?
        var table: Table?
        var prefsrc: String?
        var metric: Int?
        var nexthops: [Hop]?
    }

    /// A routing table as `ip -j` names it: a number or a name (`main`), as a string or a JSON number.
    struct Table: Decodable {
        var text: String

        init(from decoder: Decoder) throws {
            let value = try decoder.singleValueContainer()
            if let n = try? value.decode(Int.self) {
                text = "\(n)"
            } else {
                text = try value.decode(String.self)
            }
        }
    }

    /// The drift of the live system (runs `ip -j …`); a line name limits it to that line; `outbound` as in `drift`.
    public static func live(_ uplinks: Uplinks, only: String? = nil, outbound: OutboundRoute? = nil) -> [String] {
        func ip(_ args: [String]) -> Data { output("ip", ["-j"] + args) }
        return drift(
            uplinks, addr: ip(["addr"]), rule: ip(["rule"]), route: ip(["route", "show", "table", "all"]), only: only,
            outbound: outbound)
    }

    /// The standard output of the system tool `name` (`ip`, `nft`, from /usr/sbin or /sbin) run with `arguments`;
    /// empty when it cannot run.
    static func output(_ name: String, _ arguments: [String]) -> Data {
        let p = Process()
        let path =
            FileManager.default.isExecutableFile(atPath: "/usr/sbin/\(name)") ? "/usr/sbin/\(name)" : "/sbin/\(name)"
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return Data() }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return data
    }
}
