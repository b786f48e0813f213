// DirectorEmitter: the LVS director's config from `director:` — ipvsadm-restore, keepalived.conf, nftables, the
// firewall marks, and what each DR or TUN real server needs (seeds 002, 003, 004).

import Uplinks

/// Renders the director's services. The kernel forwards; these files tell it how. Output is deterministic and
/// commented (but the ipvsadm file: `ipvsadm-restore` reads commands only); the nft file replaces its own table
/// whole, so loading it again changes nothing.
public enum DirectorEmitter {
    /// The nft table the director's file and the running server use.
    public static let table = "uplinkdns_director"

    /// `VIP:PORT` as ipvsadm writes it (`[2001:db8::1]:80` for IPv6).
    static func endpoint(_ a: IPAddress, _ port: UInt16) -> String {
        a.isIPv6 ? "[\(a)]:\(port)" : "\(a):\(port)"
    }

    /// `-t VIP:PORT`, `-u VIP:PORT` or `-f MARK`: the service as ipvsadm names it.
    public static func ipvsService(_ s: VirtualService) -> [String] {
        if let mark = s.fwmark { return ["-f", "\(mark)"] }
        return [s.proto == "udp" ? "-u" : "-t", endpoint(s.address, s.port ?? 0)]
    }

    /// ipvsadm's forwarding flag: `-m` (masquerading, NAT), `-g` (gatewaying, DR), `-i` (ipip, TUN).
    static func methodFlag(_ m: ForwardingMode) -> String {
        switch m {
        case .nat: "-m"
        case .dr: "-g"
        case .tun: "-i"
        }
    }

    /// The `-a` (or, with `edit`, `-e`) arguments of one real server; `weight` overrides the configured one (0: a
    /// failed server keeps its open connections but gets no new ones).
    public static func ipvsRealServer(_ s: VirtualService, _ r: RealServer, weight: Int? = nil, edit: Bool = false)
        -> [String]
    {
        var out = [edit ? "-e" : "-a"] + ipvsService(s) + ["-r", r.address.isIPv6 ? "[\(r.address)]" : "\(r.address)"]
        out.append(methodFlag(s.mode))
        if let w = weight ?? r.weight { out += ["-w", "\(w)"] }
        return out
    }

    /// `--for director --format ipvsadm`: an `ipvsadm-restore` file (`ipvsadm -C; ipvsadm-restore < FILE`), the
    /// seeds' commands without `ipvsadm` in front. `out`: real servers the health module has out (`SERVICE/ADDRESS`),
    /// written with weight 0.
    public static func ipvsadm(_ d: Director, out: Set<String> = []) -> String {
        var text = ""
        for s in d.services {
            var add = ["-A"] + ipvsService(s) + ["-s", s.scheduler.rawValue]
            if let p = s.persistence { add += ["-p", "\(p)"] }
            text += add.joined(separator: " ") + "\n"
            for r in s.realServers {
                let down = out.contains(RealServer.name(service: s.name, address: r.address))
                text += ipvsRealServer(s, r, weight: down ? 0 : nil).joined(separator: " ") + "\n"
            }
        }
        return text
    }

    /// `--for director --format iptables`: the firewall marks of the fwmark services, as seed 004 writes them
    /// (`iptables -t mangle -A PREROUTING -d VIP -p tcp --dport 80 -j MARK --set-mark 6`), each added once.
    public static func marks(_ d: Director) -> String {
        var text = """
            #!/usr/bin/env bash
            # UplinkDNS: the director's firewall marks (seed 004): ipvsadm -A -f MARK services schedule the marked
            # packets. Each rule is added only when it is not there yet, so running this again changes nothing.
            set -euo pipefail

            """
        let marked = d.services.filter { $0.fwmark != nil }
        if marked.isEmpty { text += "# No fwmark service: nothing to mark.\n" }
        for s in marked {
            text += "# service \(s.name): ports \(s.ports.map(String.init).joined(separator: ", ")) of \(s.address)\n"
            let tool = s.address.isIPv6 ? "ip6tables" : "iptables"
            for port in s.ports {
                let rule = "PREROUTING -d \(s.address) -p \(s.proto) --dport \(port) -j MARK --set-mark \(s.fwmark!)"
                text += "\(tool) -t mangle -C \(rule) 2>/dev/null || \(tool) -t mangle -A \(rule)\n"
            }
        }
        return text
    }

    // MARK: keepalived

    /// `--for director --format keepalived`: a `keepalived.conf` with a `virtual_server` per service and a
    /// `real_server` per real server, its checks as keepalived's (`tcp` → TCP_CHECK, `http` → HTTP_GET, `icmp` →
    /// PING_CHECK, `exec` and `file` → MISC_CHECK). keepalived's `delay_loop` is the interval, and a server goes out
    /// after `retry` + 1 failed checks (fall); it has no `rise`: one good check puts a server back.
    public static func keepalived(_ d: Director) -> String {
        var text = """
            # UplinkDNS: the director as a keepalived.conf (check it with keepalived --config-test -f FILE).
            # keepalived probes the real servers itself; run it, or `uplinkdns serve` with director.apply, not both.

            global_defs {
                router_id uplinkdns
                script_user root
                enable_script_security
            }

            """
        for s in d.services {
            let head = s.fwmark.map { "fwmark \($0)" } ?? "\(s.address) \(s.port ?? 0)"
            let interval = s.realServers.first?.health.interval ?? 5
            text += "\n# service \(s.name)\(s.link.map { " (the public address of line \($0))" } ?? "")\n"
            text += "virtual_server \(head) {\n"
            text += "    delay_loop \(number(interval))\n"
            text += "    lb_algo \(s.scheduler.rawValue)\n"
            text += "    lb_kind \(s.mode == .nat ? "NAT" : s.mode == .dr ? "DR" : "TUN")\n"
            if let p = s.persistence { text += "    persistence_timeout \(p)\n" }
            // A mark says nothing of the transport: keepalived ignores (and warns of) a protocol beside fwmark.
            if s.fwmark == nil { text += "    protocol \(s.proto.uppercased())\n" }
            for r in s.realServers {
                text += "\n    real_server \(r.address) \(s.port ?? 0) {\n"
                text += "        weight \(r.effectiveWeight)\n"
                let h = r.health
                if h.checks.isEmpty { text += "        # no checks: always in\n" }
                if h.rise > 1 && !h.checks.isEmpty {
                    text += "        # rise \(h.rise): keepalived puts a server back after one good check\n"
                }
                for c in h.checks { text += keepalivedCheck(c, fall: h.fall) }
                text += "    }\n"
            }
            text += "}\n"
        }
        return text
    }

    /// One check as a keepalived checker block, indented for a `real_server`.
    static func keepalivedCheck(_ c: CheckSpec, fall: Int) -> String {
        var lines: [String] = []
        var common = [
            "connect_timeout \(number(c.timeout))", "retry \(fall - 1)", "delay_before_retry \(number(c.interval))",
            "delay_loop \(number(c.interval))",
        ]
        if let source = c.source { common.insert("bindto \(source)", at: 0) }
        func quoted(_ command: String) -> String {
            "\"/bin/sh -c '"
                + command.replacingOccurrences(of: "'", with: "'\\''")
                .replacingOccurrences(of: "\"", with: "\\\"") + "'\""
        }
        switch c.kind {
        case .tcp(let host, let p):
            lines =
                ["TCP_CHECK {", "    connect_ip \(host)", "    connect_port \(p)"] + common.map { "    " + $0 } + ["}"]
        case .http(let url, let expect):
            let parsed = HTTPTarget(url)
            let status =
                expect.lowerBound == expect.upperBound
                ? "\(expect.lowerBound)" : "\(expect.lowerBound)-\(expect.upperBound)"
            lines =
                [
                    "HTTP_GET {", "    url {", "        path \(parsed.path)", "        status_code \(status)", "    }",
                    "    connect_ip \(parsed.host)", "    connect_port \(parsed.port)",
                ] + common.map { "    " + $0 } + ["}"]
        case .icmp(let host):
            lines =
                ["PING_CHECK {", "    connect_ip \(host)"]
                + common.filter { !$0.hasPrefix("bindto") }.map { "    " + $0 }
                + ["}"]
        case .exec(let command):
            lines = [
                "MISC_CHECK {", "    misc_path \(quoted(command))",
                "    misc_timeout \(max(1, Int(c.timeout.rounded(.up))))",
                "    retry \(fall - 1)", "    delay_before_retry \(number(c.interval))", "}",
            ]
        case .file(let path):
            // The file's first word is up or down (a ppp hook or an operator writes it).
            let plain = path.allSatisfy { $0.isLetter || $0.isNumber || "/._-".contains($0) }
            let command = "read w rest < \(plain ? path : shellQuote(path)) && [ \"$w\" = up ]"
            lines = [
                "MISC_CHECK {", "    misc_path \(quoted(command))",
                "    misc_timeout \(max(1, Int(c.timeout.rounded(.up))))",
                "    retry \(fall - 1)", "    delay_before_retry \(number(c.interval))", "}",
            ]
        case .routing:
            lines = ["# a routing check is a line's, not a real server's"]
        }
        return lines.map { "        " + $0 + "\n" }.joined()
    }

    /// `'…'` for a shell.
    static func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// `1`, `0.5`: a number of seconds as keepalived and nft read it.
    static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e9 ? String(Int(v)) : String(v)
    }

    /// An `http://HOST[:PORT]/PATH` check's parts.
    struct HTTPTarget {
        var host: String
        var port: UInt16 = 80
        var path = "/"

        init(_ url: String) {
            let rest = url.dropFirst("http://".count)
            let hostPort = rest.prefix { $0 != "/" }
            let tail = rest.dropFirst(hostPort.count)
            path = tail.isEmpty ? "/" : String(tail)
            host = String(hostPort)
            if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]"),
                let p = UInt16(hostPort[hostPort.index(after: colon)...])
            {
                host = String(hostPort[..<colon])
                port = p
            }
            host = host.trimmingCharacters(in: ["[", "]"])
        }
    }

    // MARK: nftables

    /// The fewest slots a service's nft map has: enough that a failed server's slots spread over the others within
    /// 1 % of their weights, and a multiple of the weights' sum, so that the shares are exact while all are in.
    static let minimumSlots = 100

    /// The slots of a service's nft map, in order: each slot's real server. `numgen inc mod N` walks them one new
    /// connection after another, `jhash ip saddr mod N` picks one per client. They are dealt by smooth weighted round
    /// robin (rr and lc: equal weights), so any run of Σweights connections is exact. A slot whose server is `out`
    /// goes to the servers still in, dealt the same way, so only that server's connections (or clients, when hashed)
    /// move; when it comes back it gets its own slots again. With every server out, every slot stays as configured
    /// (fail open, as pools do: a check that is wrong must not take the whole service down). Empty when every
    /// weight is 0.
    public static func slots(_ s: VirtualService, out: Set<String> = []) -> [IPAddress] {
        let weights = s.realServers.map { weighted(s.scheduler) ? $0.effectiveWeight : 1 }
        let sum = weights.reduce(0, +)
        guard sum > 0 else { return [] }
        let count = sum >= minimumSlots ? sum : sum * ((minimumSlots + sum - 1) / sum)
        let all = deal(weights, count: count).map { s.realServers[$0].address }
        let inside = s.realServers.indices.filter {
            !out.contains(RealServer.name(service: s.name, address: s.realServers[$0].address)) && weights[$0] > 0
        }
        let down = Set(s.realServers.map(\.address).enumerated().filter { !inside.contains($0.offset) }.map(\.element))
        guard !inside.isEmpty, !down.isEmpty else { return all }
        let orphans = all.indices.filter { down.contains(all[$0]) }
        let spare = deal(inside.map { weights[$0] }, count: orphans.count).map { s.realServers[inside[$0]].address }
        var out = all
        for (slot, address) in zip(orphans, spare) { out[slot] = address }
        return out
    }

    /// Whether a scheduler uses the weights (wrr, wlc and sh do, as in IPVS).
    static func weighted(_ s: Scheduler) -> Bool { s == .wrr || s == .wlc || s == .sh }

    /// `count` picks among `weights` by smooth weighted round robin (nginx's): the indices, in order.
    static func deal(_ weights: [Int], count: Int) -> [Int] {
        let total = weights.reduce(0, +)
        guard total > 0 else { return [] }
        var current = [Int](repeating: 0, count: weights.count)
        var out: [Int] = []
        out.reserveCapacity(count)
        for _ in 0..<count {
            var best = 0
            for i in weights.indices {
                current[i] += weights[i]
                if current[i] > current[best] { best = i }
            }
            current[best] -= total
            out.append(best)
        }
        return out
    }

    /// The nft map of service number `index`: `svc0_web`.
    public static func mapName(_ s: VirtualService, index: Int) -> String {
        "svc\(index)_" + String(s.name.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" }.prefix(40))
    }

    /// The map's elements, `0 : 198.18.1.12, 1 : 198.18.1.13, …`.
    static func elements(_ slots: [IPAddress]) -> String {
        stride(from: 0, to: slots.count, by: 8).map { start in
            (start..<min(start + 8, slots.count)).map { "\($0) : \(slots[$0])" }.joined(separator: ", ")
        }.joined(separator: ",\n" + String(repeating: " ", count: 12))
    }

    /// How a service picks a slot: per client address with persistence or sh (`jhash ip saddr`), else the next slot
    /// per new connection (`numgen inc`). IPVS's lc and wlc count connections, which nft cannot: they go as rr and wrr.
    static func picker(_ s: VirtualService, slots: Int) -> String {
        s.persistence != nil || s.scheduler == .sh ? "jhash ip saddr mod \(slots)" : "numgen inc mod \(slots)"
    }

    /// The nft table a service's map is in: `ip uplinkdns_director` (NAT), `netdev uplinkdns_director_dr` (DR); nil
    /// when nft does not forward it (TUN, IPv6, DR without `interface`).
    public static func nftTable(_ s: VirtualService) -> String? {
        guard !s.address.isIPv6 else { return nil }
        switch s.mode {
        case .nat: return "ip \(table)"
        case .dr: return s.interface == nil ? nil : "netdev \(drTable)"
        case .tun: return nil
        }
    }

    /// The netdev table of the DR services.
    public static let drTable = "uplinkdns_director_dr"

    /// How a DR service picks a slot in the netdev ingress hook, which has no connection tracking: per flow (client
    /// address and port), so every packet of a connection goes to one real server; per client address with
    /// persistence or sh.
    static func drPicker(_ s: VirtualService, slots: Int) -> String {
        s.persistence != nil || s.scheduler == .sh
            ? "jhash ip saddr mod \(slots)" : "jhash ip saddr . \(s.proto) sport mod \(slots)"
    }

    /// One service's map, with its comment.
    static func nftMap(_ s: VirtualService, name: String, slots: [IPAddress], how: String) -> String {
        let ports = s.allPorts.map(String.init).joined(separator: ", ")
        return """
                # service \(s.name): \(s.proto) \(s.address) port \(ports); \(how)
                map \(name) {
                    typeof numgen inc mod 2 : ip daddr
            \(slots.isEmpty ? "" : "        elements = { \(elements(slots)) }\n")    }

            """
    }

    /// `--for director --format nft`: a file for `nft -f` with tables of its own (loading it replaces them whole): for
    /// NAT services a mark rule per fwmark service, a map of slots per service and a `dnat` through it; for DR services
    /// with an `interface`, a netdev table whose ingress hook forwards the frame unchanged to the slot's real server
    /// (`fwd ip to … device`: direct routing, the replies go straight to the client). TUN is ipvs's and keepalived's.
    /// `out`: real servers the health module has out.
    public static func nft(_ d: Director, out: Set<String> = []) -> String {
        var maps = ""
        var marks = ""
        var dnat = ""
        var notes = ""
        var drMaps = ""
        var drRules: [String: String] = [:]
        for (i, s) in d.services.enumerated() {
            guard let family = nftTable(s) else {
                let why =
                    s.address.isIPv6
                    ? "IPv6" : s.mode == .dr ? "dr without interface" : s.mode.rawValue
                notes +=
                    "# skipped: service \(s.name) (\(why)): nft forwards IPv4 NAT, and DR with an interface; use "
                    + "ipvsadm or keepalived\n"
                continue
            }
            let slots = slots(s, out: out)
            let name = mapName(s, index: i)
            let ports = s.allPorts.map(String.init)
            let portMatch = ports.count == 1 ? ports[0] : "{ \(ports.joined(separator: ", ")) }"
            if family.hasPrefix("netdev") {
                let dev = s.interface!
                let how =
                    s.persistence != nil || s.scheduler == .sh
                    ? "dr, by client address (jhash)"
                    : "dr, \(s.scheduler.rawValue) as a hash of each connection (jhash)"
                drMaps += nftMap(s, name: name, slots: slots, how: how)
                drRules[dev, default: ""] +=
                    slots.isEmpty
                    ? "        # service \(s.name): every weight is 0, nothing to forward to\n"
                    : "        ip daddr \(s.address) \(s.proto) dport \(portMatch) fwd ip to "
                        + "\(drPicker(s, slots: slots.count)) map @\(name) device \"\(dev)\"\n"
                continue
            }
            let how =
                s.persistence != nil
                ? "persistence \(s.persistence!) s: by client address (jhash; a client keeps its server while it is in)"
                : s.scheduler == .sh
                    ? "sh: by client address (jhash)"
                    : s.scheduler == .lc || s.scheduler == .wlc
                        ? "\(s.scheduler.rawValue) as \(s.scheduler == .lc ? "rr" : "wrr") (nft counts no connections)"
                        : "\(s.scheduler.rawValue): the next slot per new connection (numgen)"
            maps += nftMap(s, name: name, slots: slots, how: how)
            let match: String
            if let mark = s.fwmark {
                marks += "        ip daddr \(s.address) \(s.proto) dport \(portMatch) meta mark set \(mark)\n"
                match = "meta mark \(mark)"
            } else {
                match = "ip daddr \(s.address) \(s.proto) dport \(portMatch)"
            }
            if slots.isEmpty {
                dnat += "        # service \(s.name): every weight is 0, nothing to forward to\n"
            } else {
                dnat += "        \(match) dnat to \(picker(s, slots: slots.count)) map @\(name)\n"
            }
        }
        var text = """
            #!/usr/sbin/nft -f
            # UplinkDNS: the director's NAT services in nftables (kernels without IPVS). Needs net.ipv4.ip_forward=1;
            # the real servers' default route goes via this host (seed 002), which undoes the DNAT of their replies.
            # Each service's map holds its slots: the running server (director.apply: nft) rewrites the elements of a
            # map when a real server fails or returns; connections already open keep their server (conntrack).
            # Its own table: loading this file replaces only that table, never other rules.
            \(notes)table ip \(table)
            delete table ip \(table)
            table ip \(table) {
            \(maps)    chain marks {
                    type filter hook prerouting priority mangle; policy accept;
            \(marks)    }
                chain prerouting {
                    type nat hook prerouting priority dstnat; policy accept;
            \(dnat)    }
            }

            """
        guard !drRules.isEmpty else { return text }
        text += """
            # The DR services: in the ingress hook of the interface their traffic arrives on, each frame for the VIP goes
            # out unchanged to its real server's MAC address (seed 002's DR; the real servers hold the VIP on lo, from
            # `routing --for real-server:ADDRESS`). No connection tracking here: a connection keeps its real server by
            # its hash, while that server is in (one coming back takes its slots back, and the connections the others
            # took over on them).
            table netdev \(drTable)
            delete table netdev \(drTable)
            table netdev \(drTable) {
            \(drMaps)
            """
        for dev in drRules.keys.sorted() {
            let chain = "ingress_" + String(dev.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
            text += """
                    chain \(chain) {
                        type filter hook ingress device "\(dev)" priority filter; policy accept;
                \(drRules[dev]!)    }

                """
        }
        return text + "}\n"
    }

    /// An `nft -f` batch that sets service `index`'s map to `slots` in one transaction (the map is never seen
    /// half-written); empty for a service nft does not forward.
    public static func nftUpdate(_ s: VirtualService, index: Int, slots: [IPAddress]) -> String {
        guard let table = nftTable(s) else { return "" }
        let name = mapName(s, index: index)
        var text = "flush map \(table) \(name)\n"
        if !slots.isEmpty { text += "add element \(table) \(name) { \(elements(slots)) }\n" }
        return text
    }

    // MARK: real servers

    /// `--for real-server:ADDRESS`: a bash script of what the real server at `address` needs for its DR and TUN
    /// services (seed 002's DR steps, seed 003's TUN): the VIP on `lo` (DR) or `tunl0` (TUN), ARP kept to the director
    /// (`arp_ignore=1`, `arp_announce=2`), and for TUN loose reverse-path filtering. Nil when no service has it.
    public static func realServer(_ d: Director, address: IPAddress) -> String? {
        let mine = d.services.filter { s in s.realServers.contains { $0.address == address } }
        guard !mine.isEmpty else { return nil }
        var text = """
            #!/usr/bin/env bash
            # UplinkDNS: real server \(address) of the director's services. Idempotent: running it again changes nothing.
            set -euo pipefail

            """
        let direct = mine.filter { $0.mode != .nat }
        if !direct.isEmpty {
            text += """
                # DR and TUN: this host holds the VIP itself and replies to the client directly, so it must never answer
                # ARP for the VIP (only the director may): reply only for addresses on the asking interface, and
                # announce only addresses of the outgoing interface's network.
                sysctl -qw net.ipv4.conf.lo.arp_ignore=1
                sysctl -qw net.ipv4.conf.all.arp_ignore=1
                sysctl -qw net.ipv4.conf.lo.arp_announce=2
                sysctl -qw net.ipv4.conf.all.arp_announce=2

                """
        }
        if mine.contains(where: { $0.mode == .tun }) {
            text += """
                # TUN: the director's packets arrive inside IP-in-IP on tunl0; they leave by the host's own route, so
                # reverse-path filtering must not drop them (the kernel uses the larger of all and tunl0).
                modprobe ipip 2>/dev/null || true
                ip link set tunl0 up
                sysctl -qw net.ipv4.conf.tunl0.rp_filter=0
                sysctl -qw net.ipv4.conf.all.rp_filter=0

                """
        }
        var done: Set<String> = []
        for s in mine {
            let ports = s.allPorts.map(String.init).joined(separator: ", ")
            text += "# service \(s.name): \(s.proto) \(s.address) port \(ports), \(s.mode.rawValue)\n"
            switch s.mode {
            case .nat:
                text +=
                    "# NAT: nothing to set here but the default route via the director, which undoes the DNAT of the replies\n"
            case .dr, .tun:
                let dev = s.mode == .dr ? "lo" : "tunl0"
                let prefix = s.address.isIPv6 ? 128 : 32
                let line = "ip addr replace \(s.address)/\(prefix) dev \(dev)"
                if done.insert(line).inserted { text += line + "\n" }
            }
        }
        return text
    }
}
