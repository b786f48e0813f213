// RoutingEmitter: the source-routing and firewall config that makes each reply leave by the line it came in on.

import Uplinks

/// Renders, from the same `links:` that drive the answers, the configuration that makes the return path symmetric
/// (seed 000): on the server, one routing table and one rule per line so that traffic from a line's inside address
/// leaves through that line's firewall; on each line's firewall, DNAT of its public address to the line's inside
/// address and SNAT of the replies. Output is deterministic, commented, and idempotent: running it twice changes
/// nothing the second time. IPv4 lines only (the seeds' world); IPv6 lines are listed in a comment and skipped.
public enum RoutingEmitter {
    /// The rule priority of a line's table: below the main table's 32766, one per table.
    public static func priority(table: Int) -> Int { 1000 + table }

    /// The names of the lines the server's routing covers (`usable`).
    public static func routable(_ uplinks: Uplinks) -> [String] { usable(uplinks).links.map(\.name) }

    /// The lines it leaves out, each with why (`cnc: needs inside, gateway, interface and table`).
    public static func skipped(_ uplinks: Uplinks) -> [String] { usable(uplinks).skipped }

    /// The lines the emitter can render (IPv4 inside and gateway addresses and a table), and why others are not.
    static func usable(_ uplinks: Uplinks) -> (links: [Link], skipped: [String]) {
        var links: [Link] = []
        var skipped: [String] = []
        for l in uplinks.links {
            guard let inside = l.inside, let gw = l.gateway, l.table != nil, l.interface != nil else {
                skipped.append("\(l.name): needs inside, gateway, interface and table")
                continue
            }
            guard !inside.isIPv6, !gw.isIPv6 else {
                skipped.append("\(l.name): IPv6 lines are not emitted yet")
                continue
            }
            links.append(l)
        }
        return (links, skipped)
    }

    /// The network of an IPv4 address with a prefix length (`192.168.168.0/24`).
    static func network(_ a: IPAddress, prefix: Int) -> String {
        let v = a.octets.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefix)
        let n = v & mask
        return "\(n >> 24).\(n >> 16 & 255).\(n >> 8 & 255).\(n & 255)/\(prefix)"
    }

    /// `--for server --format iproute2`: a bash script for the server. `up`: the lines in answers now (the running
    /// server's), which decide the main table's default route (`OutboundRoute`); nil: every line.
    public static func server(_ uplinks: Uplinks, weights: [String: Int]? = nil, up: Set<String>? = nil) -> String {
        let (links, skipped) = usable(uplinks)
        var out = """
            #!/usr/bin/env bash
            # UplinkDNS source routing for the server, generated from the config's links.
            # A reply must leave by the line its request came in on, or that line's stateful firewall drops it (seed
            # 000). Each line gets a routing table whose default route is its own firewall, and a rule sending traffic
            # from the line's inside address to that table. Idempotent: running it again changes nothing.
            set -euo pipefail

            """
        for s in skipped { out += "# skipped: \(s)\n" }
        if links.isEmpty {
            out += "# No line has the routing facts (inside, gateway, interface, table): nothing to set.\n"
        } else {
            out += """

                # Loose reverse-path filtering (2): with several lines, packets legitimately arrive on one path and their
                # replies or probes leave by another; strict mode (1) would drop them.
                sysctl -qw net.ipv4.conf.all.rp_filter=2
                sysctl -qw net.ipv4.conf.default.rp_filter=2

                """
        }
        for interface in Set(links.compactMap(\.interface)).sorted() {
            out += "sysctl -qw net.ipv4.conf.\(interface.replacingOccurrences(of: ".", with: "/")).rp_filter=2\n"
        }
        for l in links {
            let inside = l.inside!, gw = l.gateway!, table = l.table!, dev = l.interface!
            let net = network(inside, prefix: l.insidePrefix)
            let prio = priority(table: table)
            out += """

                # Line \(l.name): public \(l.publicAddresses.map(\.description).joined(separator: ", ")), DNATed by its firewall \(gw) to \(inside) on \(dev).
                ip addr replace \(inside)/\(l.insidePrefix) dev \(dev)
                # Table \(table): the line's subnet, and its firewall as the default route.
                ip route replace \(net) dev \(dev) src \(inside) table \(table)
                ip route replace default via \(gw) dev \(dev) table \(table)
                # Traffic from \(inside) (replies to requests that came in on this line, and its health probes) uses table \(table).
                while ip rule del from \(inside) table \(table) priority \(prio) 2>/dev/null; do :; done
                ip rule add from \(inside) table \(table) priority \(prio)

                """
        }
        let outbound = OutboundRoute.desired(uplinks, up: up, weights: weights)
        switch outbound.kind {
        case .multipath:
            out += """

                # REPLACES THE MAIN TABLE'S DEFAULT ROUTE: outbound traffic from the server itself is spread over the
                # lines by weight (seed 001). To leave the host's own default route alone, set
                # `routing: {default-route: keep}` in the config.

                """
            out += "ip route replace \(outbound.arguments!)\n"
        case .single:
            out += """

                # REPLACES THE MAIN TABLE'S DEFAULT ROUTE: out of answers now: \(outbound.out.joined(separator: ", ")).
                # The server's own outbound traffic leaves by \(outbound.lines.joined()), from its inside address (docs/routing.md).

                """
            out += "ip route replace \(outbound.arguments!)\n"
        case .held:
            out += "\n# No line is in answers: the main table's default route is left as it is.\n"
        case .keep:
            out += "\n# The main table's default route is left as the host has it (routing.default-route: keep).\n"
        case .none:
            break
        }
        out += "ip route flush cache 2>/dev/null || true\n"
        return out
    }

    /// A comment naming each IPv6 public address of `l` the firewall rules leave out, and why: its inside address is
    /// IPv4, and translating IPv6 to IPv4 (NAT46) is not what a line's firewall does; such an address is answered in
    /// AAAA records and must reach the server by IPv6 routing of its own. Empty when there is none.
    static func skippedIPv6(_ l: Link, _ inside: IPAddress) -> String {
        l.publicAddresses.filter(\.isIPv6).map {
            "# skipped: public address \($0): IPv6, not translated to the IPv4 inside address \(inside) (route it to the "
                + "server over IPv6)\n"
        }.joined()
    }

    /// Services grouped by protocol, in a stable order.
    static func ports(_ services: [Service], _ proto: String) -> [UInt16] {
        Array(Set(services.filter { $0.proto == proto }.map(\.port))).sorted()
    }

    /// `--for firewall:LINK --format nft`: a complete file for `nft -f`, in a table of its own.
    public static func nft(_ uplinks: Uplinks, link name: String) -> String? {
        guard let l = uplinks.link(name), let inside = l.inside, !inside.isIPv6 else { return nil }
        let table = "uplinkdns_\(name.filter { $0.isLetter || $0.isNumber || $0 == "_" })"
        let publics = l.publicAddresses.filter { !$0.isIPv6 }
        var pre = ""
        var post = ""
        for proto in ["tcp", "udp"] {
            let p = ports(uplinks.services, proto)
            guard !p.isEmpty else { continue }
            let set = p.count == 1 ? "\(p[0])" : "{ \(p.map(String.init).joined(separator: ", ")) }"
            for pub in publics {
                pre += "        ip daddr \(pub) \(proto) dport \(set) dnat to \(inside)\n"
                post += "        ip saddr \(inside) \(proto) sport \(set) snat to \(pub)\n"
            }
        }
        return """
            #!/usr/sbin/nft -f
            # UplinkDNS: the firewall of line \(name). Requests to its public address go to the server's inside address
            # \(inside); replies from there leave with the public address (seed 000 steps 1 and 2).
            # Its own table: loading this file replaces only that table, never other rules.
            \(skippedIPv6(l, inside))table ip \(table)
            delete table ip \(table)
            table ip \(table) {
                chain prerouting {
                    type nat hook prerouting priority dstnat; policy accept;
            \(pre)    }
                chain postrouting {
                    type nat hook postrouting priority srcnat; policy accept;
            \(post)    }
            }

            """
    }

    /// `--for firewall:LINK --format iptables`: a bash script of iptables commands, in chains of its own.
    public static func iptables(_ uplinks: Uplinks, link name: String) -> String? {
        guard let l = uplinks.link(name), let inside = l.inside, !inside.isIPv6 else { return nil }
        let suffix = name.uppercased().filter { $0.isLetter || $0.isNumber || $0 == "_" }
        let pre = "UPLINKDNS_PRE_\(suffix)", post = "UPLINKDNS_POST_\(suffix)"
        var out = """
            #!/usr/bin/env bash
            # UplinkDNS: the firewall of line \(name), as iptables commands (seed 000 steps 1 and 2). Its own chains,
            # flushed and refilled, so running it again changes nothing.
            set -euo pipefail
            iptables -t nat -N \(pre) 2>/dev/null || iptables -t nat -F \(pre)
            iptables -t nat -N \(post) 2>/dev/null || iptables -t nat -F \(post)
            iptables -t nat -C PREROUTING -j \(pre) 2>/dev/null || iptables -t nat -A PREROUTING -j \(pre)
            iptables -t nat -C POSTROUTING -j \(post) 2>/dev/null || iptables -t nat -A POSTROUTING -j \(post)
            \(skippedIPv6(l, inside))
            """
        for pub in l.publicAddresses where !pub.isIPv6 {
            for proto in ["tcp", "udp"] {
                for port in ports(uplinks.services, proto) {
                    out +=
                        "iptables -t nat -A \(pre) -p \(proto) -d \(pub)/32 --dport \(port) -j DNAT --to-destination \(inside)\n"
                    out +=
                        "iptables -t nat -A \(post) -p \(proto) -s \(inside)/32 --sport \(port) -j SNAT --to-source \(pub)\n"
                }
            }
        }
        return out
    }
}
