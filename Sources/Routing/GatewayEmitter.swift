// GatewayEmitter: `routing --for gateway` — a LAN gateway's clients spread over the lines in groups by a hash of
// their source address (seed 001's "dispatcher"), each group marked for its line, with a rule and a MASQUERADE per
// line; a line out of answers has its group dealt to the lines still in answers.

import Uplinks

extension RoutingEmitter {
    /// How many groups the clients' source addresses are hashed into (`jhash ip saddr mod 256`).
    public static let gatewayBuckets = 256

    /// The seed of the hash: fixed, so a client keeps its group across runs and restarts.
    static let gatewaySeed = "0x75706c6b"

    /// The rule priority of a line's mark: after the server's source rules (1000 + table), one per table.
    public static func markPriority(table: Int) -> Int { 2000 + table }

    /// The priority of the rule that keeps the main table's routes (the LAN, the gateway's own networks) for marked
    /// traffic, all but its default route.
    public static let mainFirstPriority = 1999

    /// Each group's line, in group order: the groups dealt to the routable lines by weight (largest remainder, in
    /// contiguous runs), then the groups of a line out of answers (`up`; nil: every line in) dealt to the lines in
    /// answers one by one by smooth weighted round robin; only a line out's groups move. Empty without a routable line.
    public static func groups(_ uplinks: Uplinks, up: Set<String>? = nil) -> [Link] {
        let links = usable(uplinks).links
        guard !links.isEmpty else { return [] }
        let weights = uplinks.weights
        let w = links.map { Double(max(1, weights[$0.name] ?? 1)) }
        let total = w.reduce(0, +)
        let n = gatewayBuckets
        // Largest remainder: each line's floor share, then the rest one each in order of the largest fraction.
        var counts = w.map { Int(($0 / total * Double(n)).rounded(.down)) }
        let order = w.indices.sorted { a, b in
            let fa = w[a] / total * Double(n) - Double(counts[a])
            let fb = w[b] / total * Double(n) - Double(counts[b])
            return fa != fb ? fa > fb : a < b
        }
        for i in order.prefix(n - counts.reduce(0, +)) { counts[i] += 1 }
        var out: [Link] = []
        for (i, c) in counts.enumerated() { out += Array(repeating: links[i], count: c) }
        let alive = links.indices.filter { up?.contains(links[$0].name) ?? true }
        guard !alive.isEmpty, alive.count < links.count else { return out }
        var current = [Double](repeating: 0, count: links.count)
        let aliveTotal = alive.map { w[$0] }.reduce(0, +)
        for b in out.indices where !(up?.contains(out[b].name) ?? true) {
            for i in alive { current[i] += w[i] }
            let pick = alive.max { a, c in current[a] != current[c] ? current[a] < current[c] : a > c }!
            current[pick] -= aliveTotal
            out[b] = links[pick]
        }
        return out
    }

    /// `--for gateway`: a bash script for the site's LAN gateway. Each routable line gets its table (default via the
    /// line's firewall or router), a mark (its table number) and `ip rule fwmark MARK table TABLE`; new connections
    /// from the LAN are marked by `jhash ip saddr mod 256` into the lines' groups (nftables, table
    /// `ip uplinkdns_gateway`), the mark kept in the connection's conntrack mark so a connection stays on its line,
    /// and each line's traffic is masqueraded on its interface. `up`: the lines in answers (the running server's;
    /// nil: every line): the groups of a line out go to the lines in. Idempotent; loading it replaces the whole nft
    /// table in one transaction, so no packet sees half a change.
    public static func gateway(_ uplinks: Uplinks, up: Set<String>? = nil) -> String {
        let (links, skipped) = usable(uplinks)
        var out = """
            #!/usr/bin/env bash
            # UplinkDNS outbound groups for the site's LAN gateway (seed 001's dispatcher), generated from the config's
            # links. Each client is put in a group by a hash of its source address, each group leaves by one line
            # (its mark, rule and table) and is masqueraded there; the groups follow the lines' weights. A line out of
            # answers has its groups dealt to the lines in answers; the others' groups stay where they are.
            # Idempotent: running it again changes nothing; the nft table is replaced in one transaction.
            set -euo pipefail

            """
        for s in skipped { out += "# skipped: \(s)\n" }
        guard !links.isEmpty else {
            return out + "# No line has the routing facts (inside, gateway, interface, table): nothing to set.\n"
        }
        let lineIn = links.filter { up?.contains($0.name) ?? true }.map(\.name)
        let lineOut = links.filter { !(up?.contains($0.name) ?? true) }.map(\.name)
        if !lineOut.isEmpty {
            out += "# Out of answers now: \(lineOut.joined(separator: ", "))"
            out +=
                lineIn.isEmpty
                ? " — every line: the groups stay where the weights put them.\n"
                : "; their groups go to \(lineIn.joined(separator: ", ")).\n"
        }
        out += """

            sysctl -qw net.ipv4.ip_forward=1
            # Loose reverse-path filtering: a client's replies come back by the line its group leaves by.
            sysctl -qw net.ipv4.conf.all.rp_filter=2
            sysctl -qw net.ipv4.conf.default.rp_filter=2
            sysctl -qw net.ipv4.conf.all.src_valid_mark=1
            # Marked traffic still reaches the LAN and the gateway's own networks: the main table first, without its
            # default route.
            while ip rule del lookup main suppress_prefixlength 0 priority \(mainFirstPriority) 2>/dev/null; do :; done
            ip rule add lookup main suppress_prefixlength 0 priority \(mainFirstPriority)

            """
        for l in links {
            let t = l.table!
            out += """
                # Line \(l.name): mark \(t), table \(t), out by \(l.gateway!) on \(l.interface!).
                ip route replace default via \(l.gateway!) dev \(l.interface!) table \(t)
                while ip rule del fwmark \(t) table \(t) priority \(markPriority(table: t)) 2>/dev/null; do :; done
                ip rule add fwmark \(t) table \(t) priority \(markPriority(table: t))

                """
        }
        // The groups as runs of consecutive buckets with the same line.
        let groups = self.groups(uplinks, up: up)
        var runs: [(from: Int, to: Int, mark: Int)] = []
        for (b, l) in groups.enumerated() {
            if let last = runs.last, last.mark == l.table!, last.to == b - 1 {
                runs[runs.count - 1].to = b
            } else {
                runs.append((b, b, l.table!))
            }
        }
        let map = runs.map { $0.from == $0.to ? "\($0.from) : \($0.mark)" : "\($0.from)-\($0.to) : \($0.mark)" }
        let shares = links.map { l in "\(l.name) \(groups.filter { $0.name == l.name }.count)" }
        let interfaces = Set(links.map(\.interface!)).sorted().map { "\"\($0)\"" }.joined(separator: ", ")
        let masquerade = links.map { "        meta mark \($0.table!) oifname \"\($0.interface!)\" masquerade\n" }
            .joined()
        out += """
            # Groups of \(gatewayBuckets) by line: \(shares.joined(separator: ", ")).
            nft -f - <<'NFT'
            table ip uplinkdns_gateway
            delete table ip uplinkdns_gateway
            table ip uplinkdns_gateway {
                chain prerouting {
                    type filter hook prerouting priority mangle; policy accept;
                    # A connection keeps the line it started on, its replies included (the reverse-path check
                    # finds their source through that line's table: src_valid_mark).
                    ct mark != 0 meta mark set ct mark return
                    # Not a client's: what comes in from the lines, and what is for the gateway itself.
                    iifname { \(interfaces) } return
                    fib daddr type local return
                    meta mark set jhash ip saddr mod \(gatewayBuckets) seed \(gatewaySeed) map { \(map.joined(separator: ", ")) }
                    ct mark set meta mark
                }
                chain postrouting {
                    type nat hook postrouting priority srcnat; policy accept;
            \(masquerade)    }
            }
            NFT
            ip route flush cache 2>/dev/null || true

            """
        return out
    }
}
