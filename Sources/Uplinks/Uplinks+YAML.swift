// Uplinks+YAML: reads `links:` and `pools:` from the configuration, reporting every mistake with its line.

import DNSWire
import Foundation
import Yams

extension Uplinks {
    /// The keys of a `links:` entry.
    static let linkKeys = [
        "name", "public", "inside", "gateway", "interface", "table", "bandwidth", "weight", "checks", "require",
        "interval", "timeout", "rise", "fall",
    ]
    /// The keys of a `checks:` entry: one kind, and options.
    static let checkKinds = ["tcp", "http", "icmp", "exec", "file", "routing"]
    static let checkKeys = checkKinds + ["source", "expect", "interval", "timeout"]
    /// The keys of a `pools:` entry.
    static let poolKeys = ["name", "links", "policy", "answers", "ttl", "ttl-degraded", "all-down"]

    /// Reads the `links` and `pools` nodes (either may be absent). Problems go to `r`; zone-dependent checks (a pool
    /// inside a served zone, no static A/AAAA at its name) are the caller's, who has the zones.
    package static func read(links: Node?, pools: Node?, _ r: inout YAMLReader) -> Uplinks {
        var out = Uplinks()
        var linkLines: [String: Int] = [:]
        for item in links.map({ r.sequence($0, what: "links") }) ?? [] {
            let m = r.mapping(item, what: "a links entry", known: linkKeys)
            let line = item.mark?.line
            guard let name = r.string(m["name"], what: "links[].name"), !name.isEmpty else {
                r.fail(item, "each links entry needs a 'name' (e.g. unicom)")
                continue
            }
            if let first = linkLines[name] {
                r.fail(m["name"], "link '\(name)' is defined twice (first on line \(first))")
                continue
            }
            linkLines[name] = line ?? 0
            var link = Link(name: name, publicAddresses: [], line: line)
            if let p = m["public"] {
                link.publicAddresses = addresses(p, what: "links[\(name)].public", &r)
            }
            if link.publicAddresses.isEmpty {
                r.fail(m["public"] ?? item, "link '\(name)' needs 'public': the site's address(es) on this line")
            }
            if let node = m["inside"], let text = r.string(node, what: "links[\(name)].inside") {
                let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
                if let a = parts.first.flatMap({ IPAddress($0) }) {
                    link.inside = a
                    link.insidePrefix = a.isIPv6 ? 64 : 24
                    if parts.count == 2 {
                        if let p = Int(parts[1]), (1...(a.isIPv6 ? 128 : 32)).contains(p) {
                            link.insidePrefix = p
                        } else {
                            r.fail(node, "links[\(name)].inside: '\(parts[1])' is not a prefix length")
                        }
                    }
                } else {
                    r.fail(node, "links[\(name)].inside: '\(text)' is not an address (optionally /prefix)")
                }
            }
            link.gateway = address(m["gateway"], what: "links[\(name)].gateway", &r)
            link.interface = r.string(m["interface"], what: "links[\(name)].interface")
            link.table = r.int(m["table"], what: "links[\(name)].table", range: 1...0x7FFF_FFFF)
            if let b = m["bandwidth"] {
                if let text = r.string(b, what: "links[\(name)].bandwidth"), let bits = parseBandwidth(text) {
                    link.bandwidth = bits
                } else {
                    r.fail(
                        b,
                        "links[\(name)].bandwidth is a rate such as 2mbit, 512kbit or 1gbit (at least 1 bit/s, at most 1024tbit)"
                    )
                }
            }
            link.explicitWeight = r.int(
                m["weight"], what: "links[\(name)].weight (must be above 0)", range: 1...1_000_000)
            link.health = healthSpec(m, link: link, &r)
            out.links.append(link)
        }

        var poolLines: [DomainName: Int] = [:]
        for item in pools.map({ r.sequence($0, what: "pools") }) ?? [] {
            let m = r.mapping(item, what: "a pools entry", known: poolKeys)
            let line = item.mark?.line
            guard let text = r.string(m["name"], what: "pools[].name"),
                let name = try? DomainName(text.hasSuffix(".") ? text : text + ".")
            else {
                r.fail(
                    m["name"] ?? item, "each pools entry needs a 'name' inside a served zone (e.g. www.example.com.)")
                continue
            }
            if let first = poolLines[name] {
                r.fail(m["name"], "pool \(name) is defined twice (first on line \(first))")
                continue
            }
            poolLines[name] = line ?? 0
            var pool = Pool(name: name, members: [], line: line)
            for member in m["links"].map({ r.sequence($0, what: "pools[\(name)].links") }) ?? [] {
                var entry: PoolMember?
                switch member {
                case .scalar:
                    entry = r.string(member, what: "pools[\(name)].links entry").map { PoolMember(link: $0) }
                case .mapping:
                    // `{link: cnc, addresses: [...]}`: several servers behind one line.
                    let mm = r.mapping(member, what: "a pools[\(name)].links entry", known: ["link", "addresses"])
                    if let l = r.string(mm["link"], what: "pools[\(name)].links[].link") {
                        let addrs = mm["addresses"].map {
                            addresses($0, what: "pools[\(name)].links[\(l)].addresses", &r)
                        }
                        entry = PoolMember(link: l, addresses: addrs)
                    } else {
                        r.fail(member, "a pools[\(name)].links entry needs 'link'")
                    }
                default:
                    r.fail(member, "pools[\(name)].links entries are link names or {link, addresses}")
                }
                guard let entry else { continue }
                if !out.links.contains(where: { $0.name == entry.link }) {
                    let known = out.links.map(\.name).joined(separator: ", ")
                    r.fail(member, "pool \(name) names unknown link '\(entry.link)' (links: \(known))")
                } else if pool.members.contains(where: { $0.link == entry.link }) {
                    r.fail(member, "pool \(name) lists link '\(entry.link)' twice")
                } else {
                    pool.members.append(entry)
                }
            }
            if m["links"] == nil {
                r.fail(item, "pool \(name) needs 'links': the lines whose addresses it answers with")
            }
            if let p = m["policy"], let text = r.string(p, what: "pools[\(name)].policy") {
                if let policy = PoolPolicy(rawValue: text) {
                    pool.policy = policy
                } else {
                    let all = PoolPolicy.allCases.map(\.rawValue).joined(separator: " | ")
                    r.fail(p, "pools[\(name)].policy '\(text)' is not one of \(all)")
                }
            }
            if let a = m["answers"] {
                if a.string == "all" {
                    pool.answers = nil
                } else {
                    pool.answers = r.int(a, what: "pools[\(name)].answers ('all' or a count)", range: 1...64)
                }
            }
            if let t = r.int(m["ttl"], what: "pools[\(name)].ttl", range: 0...604_800) { pool.ttl = UInt32(t) }
            if let t = r.int(m["ttl-degraded"], what: "pools[\(name)].ttl-degraded", range: 0...604_800) {
                pool.ttlDegraded = UInt32(t)
            }
            if let d = m["all-down"], let text = r.string(d, what: "pools[\(name)].all-down") {
                if let v = AllDownPolicy(rawValue: text) {
                    pool.allDown = v
                } else {
                    r.fail(d, "pools[\(name)].all-down '\(text)' is not one of all | none | servfail")
                }
            }
            out.pools.append(pool)
        }
        return out
    }

    private static func address(_ node: Node?, what: String, _ r: inout YAMLReader) -> IPAddress? {
        guard let node, let text = r.string(node, what: what) else { return nil }
        guard let a = IPAddress(text) else {
            r.fail(node, "\(what): '\(text)' is not an IPv4 or IPv6 address")
            return nil
        }
        return a
    }

    private static func addresses(_ node: Node, what: String, _ r: inout YAMLReader) -> [IPAddress] {
        var out: [IPAddress] = []
        for item in r.sequence(node, what: what) {
            if let a = address(item, what: what, &r) {
                if out.contains(a) { r.fail(item, "\(what): \(a) is listed twice") } else { out.append(a) }
            }
        }
        return out
    }

    /// `2mbit`, `512kbit`, `1gbit`, `100000bit` or a plain number of bits per second. Prefixes are binary, as the
    /// seeds count leased lines (a 2M line is four 512K lines: 2mbit : 512kbit = 4 : 1).
    /// Rates above `maxBandwidth` (1 Pbit/s) are refused: no line is that fast, and a larger number would not fit
    /// the arithmetic (a fuzzer found `57777…777kbit`, which used to trap converting to an integer).
    package static func parseBandwidth(_ text: String) -> UInt64? {
        let t = text.lowercased().filter { $0 != " " }
        let units: [(String, UInt64)] = [
            ("tbit", 1 << 40), ("gbit", 1 << 30), ("mbit", 1 << 20), ("kbit", 1 << 10),
            ("bit", 1),
        ]
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            guard let v = Double(t.dropLast(suffix.count)), v.isFinite, v > 0 else { return nil }
            let bits = v * Double(factor)
            guard bits >= 1, bits <= Double(maxBandwidth) else { return nil }
            return UInt64(bits)
        }
        guard let v = UInt64(t), v > 0, v <= maxBandwidth else { return nil }
        return v
    }

    /// The largest rate a `bandwidth` may give: 1 Pbit/s.
    package static let maxBandwidth: UInt64 = 1 << 50
    /// A link's `checks` and timing: `interval` (default 5 s) and `timeout` (default half the interval) per link,
    /// overridable per check; `rise` (2) and `fall` (3); `require` all (default), any, or a count.
    private static func healthSpec(_ m: [String: Node], link line: Link, _ r: inout YAMLReader) -> HealthSpec {
        let link = line.name
        var spec = HealthSpec()
        let interval = r.double(m["interval"], what: "links[\(link)].interval", range: 0.1...3600) ?? 5
        let timeout = r.double(m["timeout"], what: "links[\(link)].timeout", range: 0.05...3600)
        spec.rise = r.int(m["rise"], what: "links[\(link)].rise", range: 1...100) ?? 2
        spec.fall = r.int(m["fall"], what: "links[\(link)].fall", range: 1...100) ?? 3
        if let req = m["require"] {
            switch req.string {
            case "all": spec.require = .all
            case "any": spec.require = .any
            default:
                if let n = r.int(req, what: "links[\(link)].require (all, any or a count)", range: 1...64) {
                    spec.require = .atLeast(n)
                }
            }
        }
        for item in m["checks"].map({ r.sequence($0, what: "links[\(link)].checks") }) ?? [] {
            let c = r.mapping(item, what: "a links[\(link)].checks entry", known: checkKeys)
            let kinds = checkKinds.filter { c[$0] != nil }
            guard kinds.count == 1, let key = kinds.first,
                let value = r.string(c[key], what: "links[\(link)].checks.\(key)")
            else {
                r.fail(
                    item, "each links[\(link)].checks entry has exactly one of \(checkKinds.joined(separator: ", "))")
                continue
            }
            if key == "routing" {
                guard value == "true" else {
                    r.fail(c[key], "routing: true is the only form of the routing check")
                    continue
                }
                guard line.inside != nil, line.gateway != nil, line.interface != nil, line.table != nil else {
                    r.fail(c[key], "a routing check needs the link's inside, gateway, interface and table")
                    continue
                }
            }
            guard let kind = key == "routing" ? .routing(link: line) : checkKind(key, value, c, &r) else { continue }
            let ci = r.double(c["interval"], what: "links[\(link)].checks.interval", range: 0.1...3600) ?? interval
            let ct =
                r.double(c["timeout"], what: "links[\(link)].checks.timeout", range: 0.05...3600) ?? timeout ?? ci / 2
            let source = address(c["source"], what: "links[\(link)].checks.source", &r)
            spec.checks.append(CheckSpec(kind: kind, source: source, interval: ci, timeout: ct, line: item.mark?.line))
        }
        return spec
    }

    private static func checkKind(_ key: String, _ value: String, _ c: [String: Node], _ r: inout YAMLReader)
        -> CheckKind?
    {
        switch key {
        case "tcp":
            guard let colon = value.lastIndex(of: ":"), let port = UInt16(value[value.index(after: colon)...]), port > 0
            else {
                r.fail(c[key], "tcp check '\(value)' is HOST:PORT (e.g. 203.0.113.80:80)")
                return nil
            }
            return .tcp(host: value[..<colon].trimmingCharacters(in: ["[", "]"]), port: port)
        case "http":
            var expect = 200...200
            if let e = c["expect"], let text = r.string(e, what: "expect") {
                let parts = text.split(separator: "-").compactMap { Int($0) }
                if parts.count == 1, (100...599).contains(parts[0]) {
                    expect = parts[0]...parts[0]
                } else if parts.count == 2, (100...599).contains(parts[0]), parts[0] <= parts[1], parts[1] <= 599 {
                    expect = parts[0]...parts[1]
                } else {
                    r.fail(e, "expect is a status (200) or a range (200-399)")
                }
            }
            guard value.hasPrefix("http://") else {
                r.fail(c[key], "http check '\(value)' must be an http:// URL (HTTPS is not supported)")
                return nil
            }
            return .http(url: value, expect: expect)
        case "icmp": return .icmp(host: value)
        case "exec": return .exec(command: value)
        default: return .file(path: value)
        }
    }
}
