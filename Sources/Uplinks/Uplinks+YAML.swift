// Uplinks+YAML: reads `links:` and `pools:` from the configuration, reporting every mistake with its line.

import DNSWire
import Foundation
import Yams

extension Uplinks {
    /// Reads the `links` and `pools` nodes (either may be absent), every key through its declaration
    /// (`Uplinks+Schema.swift`). Problems go to `r`; zone-dependent checks (a pool inside a served zone, no static
    /// A/AAAA at its name) are the caller's, who has the zones.
    package static func read(
        links: Node?, pools: Node?, networks: Node? = nil, base: String = ".", _ r: inout YAMLReader
    ) -> Uplinks {
        var out = Uplinks()
        out.networks = readNetworks(networks, base: base, &r)
        var linkLines: [String: Int] = [:]
        for item in links.map({ r.sequence($0, what: "links") }) ?? [] {
            let entry = r.section(item, path: "links[]", label: "a links entry", keys: linkSchema)
            let line = item.mark?.line
            guard let name = r.string(entry, "name"), !name.isEmpty else {
                r.fail(item, "each links entry needs a 'name' (e.g. unicom)")
                continue
            }
            let m = entry.labeled("links[\(name)]")
            if let first = linkLines[name] {
                r.fail(m.values["name"], "link '\(name)' is defined twice (first on line \(first))")
                continue
            }
            linkLines[name] = line ?? 0
            var link = Link(name: name, publicAddresses: [], line: line)
            let publicNode = r.value(m, "public")
            var badPublic = false
            if let p = publicNode {
                let before = r.errors.count
                link.publicAddresses = addresses(p, what: m.what("public"), &r)
                badPublic = r.errors.count > before
            }
            if link.publicAddresses.isEmpty && !badPublic {
                r.fail(publicNode ?? item, "link '\(name)' needs 'public': the site's address(es) on this line")
            }
            if let node = r.value(m, "inside"), let text = r.string(node, what: m.what("inside")) {
                let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
                if let a = parts.first.flatMap({ IPAddress($0) }) {
                    link.inside = a
                    link.insidePrefix = a.isIPv6 ? 64 : 24
                    if parts.count == 2 {
                        if let p = Int(parts[1]), (1...(a.isIPv6 ? 128 : 32)).contains(p) {
                            link.insidePrefix = p
                        } else {
                            r.fail(node, "\(m.what("inside")): '\(parts[1])' is not a prefix length")
                        }
                    }
                } else {
                    r.fail(node, "\(m.what("inside")): '\(text)' is not an address (optionally /prefix)")
                }
            }
            link.gateway = address(r.value(m, "gateway"), what: m.what("gateway"), &r)
            link.interface = r.string(m, "interface")
            link.table = r.int(m, "table")
            if let b = r.value(m, "bandwidth") {
                if let text = r.string(b, what: m.what("bandwidth")), let bits = parseBandwidth(text) {
                    link.bandwidth = bits
                } else {
                    r.fail(
                        b,
                        "\(m.what("bandwidth")) is a rate such as 2mbit, 512kbit or 1gbit (at least 1 bit/s, at most 1024tbit)"
                    )
                }
            }
            link.explicitWeight = r.int(m, "weight")
            link.health = healthSpec(m, link: link, &r)
            out.links.append(link)
        }

        let poolItems = pools.map { r.sequence($0, what: "pools") } ?? []
        var poolLines: [DomainName: Int] = [:]
        poolLines.reserveCapacity(poolItems.count)
        out.pools.reserveCapacity(poolItems.count)
        for item in poolItems {
            let entry = r.section(item, path: "pools[]", label: "a pools entry", keys: poolSchema)
            let line = item.mark?.line
            let names = poolNames(entry, item: item, base: base, &r)
            guard let name = names.first?.name else { continue }
            let m = entry.labeled(names.count > 1 ? "pools[\(name) and \(names.count - 1) more]" : "pools[\(name)]")
            var pool = Pool(name: name, members: [], line: line)
            for member in r.list(m, "links") {
                var entry: PoolMember?
                switch member {
                case .scalar:
                    entry = r.string(member, what: "\(m.what("links")) entry").map { PoolMember(link: $0) }
                case .mapping:
                    // `{link: cnc, addresses: [...]}`: several servers behind one line.
                    let mm = r.section(
                        member, path: "pools[].links[]", label: "a \(m.what("links")) entry", keys: memberSchema)
                    if let l = r.string(mm, "link") {
                        let addrs = r.value(mm, "addresses").map {
                            addresses($0, what: "\(m.label).links[\(l)].addresses", &r)
                        }
                        entry = PoolMember(link: l, addresses: addrs)
                    } else {
                        r.fail(member, "a \(m.what("links")) entry needs 'link'")
                    }
                default:
                    r.fail(member, "\(m.what("links")) entries are link names or {link, addresses}")
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
            if !m.has("links") {
                r.fail(item, "pool \(name) needs 'links': the lines whose addresses it answers with")
            }
            if let policy = r.choice(m, "policy", as: PoolPolicy.self) { pool.policy = policy }
            if let a = r.value(m, "answers") {
                if a.string == "all" {
                    pool.answers = nil
                } else {
                    pool.answers = r.int(a, what: "\(m.what("answers")) ('all' or a count)", range: 1...64)
                }
            }
            if let t = r.int(m, "ttl") { pool.ttl = UInt32(t) }
            if let t = r.int(m, "ttl-degraded") { pool.ttlDegraded = UInt32(t) }
            if let v = r.choice(m, "all-down", as: AllDownPolicy.self) { pool.allDown = v }
            if let node = r.value(m, "by-network") {
                pool.byNetwork = byNetwork(node, pool: pool, networks: out.networks, what: m.what("by-network"), &r)
            }
            // One pool per name, the same definition (a host's customers on the same lines).
            for n in names {
                if let first = poolLines[n.name] {
                    r.fail(
                        file: n.file ?? r.file, line: n.line ?? line,
                        "pool \(n.name) is defined twice (first on line \(first))")
                    continue
                }
                poolLines[n.name] = n.line ?? line ?? 0
                pool.name = n.name
                pool.line = n.file == nil ? (n.line ?? line) : line
                out.pools.append(pool)
            }
        }
        compileNetworks(&out, &r)
        out.assignShareKeys()
        return out
    }

    /// A pool entry's names: `name`, `names` and the lines of `names-file` (relative to the config's directory), each
    /// with where it is written; a name that does not parse is an error there. None at all is an error.
    private static func poolNames(_ entry: ConfigSection, item: Node, base: String, _ r: inout YAMLReader) -> [(
        name: DomainName, line: Int?, file: String?
    )] {
        var out: [(name: DomainName, line: Int?, file: String?)] = []
        func parse(_ text: String) -> DomainName? { try? DomainName(text.hasSuffix(".") ? text : text + ".") }
        if let node = r.value(entry, "name"), let text = r.string(node, what: "pools[].name") {
            if let n = parse(text) {
                out.append((n, node.mark?.line, nil))
            } else {
                r.fail(node, "pools[].name: '\(text)' is not a domain name (e.g. www.example.com.)")
            }
        }
        for node in r.list(entry, "names") {
            guard let text = r.string(node, what: "pools[].names entry") else { continue }
            if let n = parse(text) {
                out.append((n, node.mark?.line, nil))
            } else {
                r.fail(node, "pools[].names: '\(text)' is not a domain name")
            }
        }
        if let node = r.value(entry, "names-file"), let file = r.string(node, what: "pools[].names-file") {
            let path = file.hasPrefix("/") ? file : base + "/" + file
            readList(path, node: node, what: "pools[].names-file", of: "names", &r) { bytes, line in
                let text = String(decoding: bytes, as: UTF8.self)
                guard let n = parse(text) else { return "'\(text)' is not a domain name" }
                out.append((n, line, path))
                return nil
            }
        }
        if out.isEmpty && !entry.has("name") && !entry.has("names") && !entry.has("names-file") {
            r.fail(item, "each pools entry needs a 'name' inside a served zone (e.g. www.example.com.), or names")
        }
        return out
    }

    /// `networks:`: each entry's name (unique), and its prefixes from `file` (relative to the config's directory)
    /// and/or `prefixes`; a bad prefix is an error at its file and line.
    private static func readNetworks(_ node: Node?, base: String, _ r: inout YAMLReader) -> [ClientNetwork] {
        var out: [ClientNetwork] = []
        var seen: [String: Int] = [:]
        for item in node.map({ r.sequence($0, what: "networks") }) ?? [] {
            let entry = r.section(item, path: "networks[]", label: "a networks entry", keys: networkSchema)
            guard let name = r.string(entry, "name"), !name.isEmpty else {
                r.fail(item, "each networks entry needs a 'name' (e.g. unicom-clients)")
                continue
            }
            let m = entry.labeled("networks[\(name)]")
            if let first = seen[name] {
                r.fail(m.values["name"], "network '\(name)' is defined twice (first on line \(first))")
                continue
            }
            // The line of its name (a block mapping's own mark can be the end of what came before it).
            let line = m.values["name"]?.mark?.line ?? item.mark?.line
            seen[name] = line ?? 0
            var network = ClientNetwork(name: name, line: line)
            if let fileNode = r.value(m, "file"), let file = r.string(fileNode, what: m.what("file")) {
                network.file = file
                let path = file.hasPrefix("/") ? file : base + "/" + file
                readList(path, node: fileNode, what: m.what("file"), of: "prefixes", &r) { bytes, _ in
                    network.prefixes.add(bytes)
                }
            }
            for p in r.list(m, "prefixes") {
                guard let text = r.string(p, what: m.what("prefixes")) else { continue }
                if let problem = network.prefixes.add(Array(text.utf8)) {
                    r.fail(p, "\(m.what("prefixes")): \(problem)")
                }
            }
            if !m.has("file") && !m.has("prefixes") {
                r.fail(item, "network '\(name)' needs 'file' (a prefix list) or 'prefixes'")
            }
            out.append(network)
        }
        if out.count > maxNetworks {
            r.fail(node, "at most \(maxNetworks) networks (\(out.count) defined)")
            return []
        }
        return out
    }

    /// The largest names or prefix list read (an ISP's full table is a few MiB; a device or a runaway file is not).
    static let maxListFile = 256 << 20

    /// A list file's bytes, or why it cannot be read: missing, not a regular file (`/dev/zero` would never end), or
    /// larger than `maxListFile`.
    private static func readFile(_ path: String) -> Result<[UInt8], ListFileError> {
        guard let f = fopen(path, "rb") else { return .failure(ListFileError("cannot read \(path)")) }
        defer { fclose(f) }
        var st = stat()
        guard fstat(fileno(f), &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            return .failure(ListFileError("\(path) is not a regular file"))
        }
        guard Int(st.st_size) <= maxListFile else {
            return .failure(ListFileError("\(path) is larger than \(maxListFile >> 20) MiB"))
        }
        var out: [UInt8] = []
        out.reserveCapacity(Int(st.st_size))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
            if n > 0 { out.append(contentsOf: chunk[0..<n]) }
            if out.count > maxListFile {
                return .failure(ListFileError("\(path) is larger than \(maxListFile >> 20) MiB"))
            }
            if n < chunk.count {
                if ferror(f) != 0 { return .failure(ListFileError("cannot read \(path)")) }
                return .success(out)
            }
        }
    }

    /// Reads the list file at `path` (`ListFile`), handing each entry to `entry`, and reports the entries' problems at
    /// the file's lines (the first 20, then how many more `of`) and a file that cannot be read at `node`.
    private static func readList(
        _ path: String, node: Node, what: String, of noun: String, _ r: inout YAMLReader,
        _ entry: (UnsafeBufferPointer<UInt8>, Int) -> String?
    ) {
        switch readFile(path) {
        case .success(let bytes):
            let (errors, more) = ListFile.read(bytes, entry)
            for e in errors { r.fail(file: path, line: e.line, e.message) }
            if more > 0 { r.fail(file: path, line: nil, "and \(more) more bad \(noun)") }
        case .failure(let e):
            r.fail(node, "\(what): \(e.message)")
        }
    }

    struct ListFileError: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }

    /// A pool's `by-network`: network names (defined in `networks:`) to lists of the pool's own lines.
    private static func byNetwork(
        _ node: Node, pool: Pool, networks: [ClientNetwork], what: String, _ r: inout YAMLReader
    ) -> [NetworkChoice] {
        guard case .mapping(let pairs) = node else {
            r.fail(node, "\(what) is a mapping of network names to lists of the pool's lines")
            return []
        }
        var out: [NetworkChoice] = []
        for (k, v) in pairs {
            guard let name = k.string else { continue }
            guard networks.contains(where: { $0.name == name }) else {
                let known = networks.map(\.name).joined(separator: ", ")
                r.fail(
                    k, "\(what): no network '\(name)' (networks: \(known.isEmpty ? "none defined" : known))")
                continue
            }
            var lines: [String] = []
            for item in r.sequence(v, what: "\(what).\(name)") {
                guard let line = r.string(item, what: "\(what).\(name) entry") else { continue }
                if !pool.members.contains(where: { $0.link == line }) {
                    let own = pool.members.map(\.link).joined(separator: ", ")
                    r.fail(item, "\(what).\(name): '\(line)' is not one of pool \(pool.name)'s lines (\(own))")
                } else if lines.contains(line) {
                    r.fail(item, "\(what).\(name) lists '\(line)' twice")
                } else {
                    lines.append(line)
                }
            }
            if lines.isEmpty {
                r.fail(v, "\(what).\(name) needs at least one of the pool's lines")
                continue
            }
            out.append(NetworkChoice(network: name, lines: lines))
        }
        return out
    }

    /// The networks flattened once, and each pool's map from it (one per distinct `by-network` and default); a
    /// prefix in two networks is a warning (the first network keeps it).
    private static func compileNetworks(_ out: inout Uplinks, _ r: inout YAMLReader) {
        guard !out.networks.isEmpty else { return }
        let partition = NetworkPartition(out.networks)
        for d in partition.duplicates.prefix(20) {
            let line = out.networks.first { $0.name == d.other }?.line
            out.networkWarnings.append(
                ConfigError(
                    file: r.file, line: line,
                    message: "\(d.prefix) is in networks '\(d.kept)' and '\(d.other)': '\(d.kept)' (the first) keeps it"
                ))
        }
        if partition.duplicates.count > 20 {
            out.networkWarnings.append(
                ConfigError(
                    file: r.file, line: nil,
                    message: "and \(partition.duplicates.count - 20) more prefixes in two networks"))
        }
        struct Key: Hashable {
            var choices: [NetworkChoice]
            var defaultList: [String]?
        }
        var maps: [Key: ClientNetworkMap] = [:]
        for i in out.pools.indices where !out.pools[i].byNetwork.isEmpty {
            let pool = out.pools[i]
            let key = Key(
                choices: pool.byNetwork, defaultList: pool.policy == .failover ? pool.members.map(\.link) : nil)
            if let map = maps[key] {
                out.pools[i].networkMap = map
            } else {
                let map = partition.map(out.networks, choices: key.choices, defaultList: key.defaultList)
                maps[key] = map
                out.pools[i].networkMap = map
            }
        }
    }

    package static func address(_ node: Node?, what: String, _ r: inout YAMLReader) -> IPAddress? {
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
    private static func healthSpec(_ m: ConfigSection, link line: Link, _ r: inout YAMLReader) -> HealthSpec {
        var (spec, interval, timeout) = healthTiming(m, &r)
        spec.checks = checks(
            r.list(m, "checks"), path: "links[].checks[]", what: m.what("checks"), link: line, interval: interval,
            timeout: timeout, &r)
        return spec
    }

    /// The timing of a mapping's probes (a line's, a director service's): `rise`, `fall`, `require` where declared,
    /// and the `interval` and `timeout` its checks default to.
    package static func healthTiming(_ m: ConfigSection, _ r: inout YAMLReader) -> (
        spec: HealthSpec, interval: Double, timeout: Double?
    ) {
        var spec = HealthSpec()
        let interval = r.double(m, "interval") ?? 5
        let timeout = r.double(m, "timeout")
        spec.rise = r.int(m, "rise") ?? spec.rise
        spec.fall = r.int(m, "fall") ?? spec.fall
        if m.keys.contains(where: { $0.name == "require" }), let req = r.value(m, "require") {
            switch req.string {
            case "all": spec.require = .all
            case "any": spec.require = .any
            default:
                if let n = r.int(req, what: "\(m.what("require")) (all, any or a count)", range: 1...64) {
                    spec.require = .atLeast(n)
                }
            }
        }
        return (spec, interval, timeout)
    }

    /// The entries of a `checks:` list (schema path `path`): one kind each, of `kinds` (the routing check only with
    /// a `link` to check the return path of).
    package static func checks(
        _ items: [Node], path: String, what: String, kinds: [String] = checkKinds, schema: [ConfigKey] = checkSchema,
        link line: Link?, interval: Double, timeout: Double?, _ r: inout YAMLReader
    ) -> [CheckSpec] {
        var out: [CheckSpec] = []
        for item in items {
            let c = r.section(item, path: path, label: "a \(what) entry", keys: schema)
            let present = kinds.filter { c.has($0) }
            guard present.count == 1, let key = present.first, let value = r.string(c, key) else {
                r.fail(item, "each \(what) entry has exactly one of \(kinds.joined(separator: ", "))")
                continue
            }
            if c.has("expect") && key != "http" {
                r.fail(c.values["expect"], "expect is for http checks only (this is a \(key) check)")
            }
            var kind: CheckKind?
            if key == "routing", let line {
                guard value == "true" else {
                    r.fail(c.values[key], "routing: true is the only form of the routing check")
                    continue
                }
                guard line.inside != nil, line.gateway != nil, line.interface != nil, line.table != nil else {
                    r.fail(c.values[key], "a routing check needs the link's inside, gateway, interface and table")
                    continue
                }
                kind = .routing(link: line)
            } else {
                kind = checkKind(key, value, c, &r)
            }
            guard let kind else { continue }
            let ci = r.double(c, "interval") ?? interval
            let ct = r.double(c, "timeout") ?? timeout ?? ci / 2
            let source = address(r.value(c, "source"), what: c.what("source"), &r)
            out.append(CheckSpec(kind: kind, source: source, interval: ci, timeout: ct, line: item.mark?.line))
        }
        return out
    }

    /// A tcp or http probe's target host must be an address: probes go out through a line by their source address,
    /// and a name would need a resolver (through which line?) at every round — the prober refuses names, so `check`
    /// does. (icmp runs the system `ping`, which resolves a name itself.)
    private static func numericHost(_ host: String) -> Bool { IPAddress(host) != nil }

    private static func checkKind(_ key: String, _ value: String, _ c: ConfigSection, _ r: inout YAMLReader)
        -> CheckKind?
    {
        switch key {
        case "tcp":
            guard let colon = value.lastIndex(of: ":"), let port = UInt16(value[value.index(after: colon)...]), port > 0
            else {
                r.fail(c.values[key], "tcp check '\(value)' is HOST:PORT (e.g. 203.0.113.80:80)")
                return nil
            }
            let host = value[..<colon].trimmingCharacters(in: ["[", "]"])
            guard numericHost(host) else {
                r.fail(
                    c.values[key],
                    "tcp check '\(value)': '\(host)' is not a numeric address (probes do not resolve names; "
                        + "e.g. 203.0.113.80:80)")
                return nil
            }
            return .tcp(host: host, port: port)
        case "http":
            var expect = 200...200
            if let e = r.value(c, "expect"), let text = r.string(e, what: "expect") {
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
                r.fail(c.values[key], "http check '\(value)' must be an http:// URL (HTTPS is not supported)")
                return nil
            }
            let hostPort = value.dropFirst("http://".count).prefix { $0 != "/" }
            var host = String(hostPort)
            if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]") {
                host = String(hostPort[..<colon])
            }
            host = host.trimmingCharacters(in: ["[", "]"])
            guard numericHost(host) else {
                r.fail(
                    c.values[key],
                    "http check '\(value)': '\(host)' is not a numeric address (probes do not resolve names; "
                        + "e.g. http://203.0.113.80/health)")
                return nil
            }
            return .http(url: value, expect: expect)
        case "icmp": return .icmp(host: value)  // the system ping: a name is resolved by it
        case "exec": return .exec(command: value)
        default: return .file(path: value)
        }
    }
}
