// Config: the server's YAML configuration (`server:` and `zones:`), loaded with file and line for every error.

import DNSSEC
import DNSWire
import Foundation
import Health
import Responder
import Uplinks
import Yams
import Zones

/// The configuration file, read and checked. Paths inside it are relative to the file's own directory.
public struct Config: Sendable {
    /// Where the server listens (UDP and TCP on each).
    public var listen: [ListenAddress]
    /// CHAOS `id.server`/`hostname.bind` text; nil = not answered.
    public var identity: String?
    /// CHAOS `version.bind`/`version.server` text; nil = not answered.
    public var version: String?
    /// NSID payload (RFC 5001); nil = not sent.
    public var nsid: [UInt8]?
    /// EDNS UDP payload size we advertise.
    public var ednsUDPSize: UInt16
    /// UDP worker threads (one socket each, SO_REUSEPORT); 0 = one per core.
    public var udpWorkers: Int
    /// Most TCP connections open at once (RFC 7766 §6.2.2: servers must limit them).
    public var tcpMaxConnections: Int
    /// Seconds a TCP connection may stay idle before we close it (RFC 7766 §6.2.3).
    public var tcpIdleTimeout: Double
    /// Where to write the server's PID, so `uplinkdns reload` can signal it; nil = none.
    public var pidFile: String?
    /// The control API's address (`server.control`); loopback by default.
    public var control: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 5380)
    /// The bearer token mutating control calls need (`server.control-token`, or read from `control-token-file`).
    public var controlToken: String?
    /// Host names the control API answers to besides `localhost` and IP literals (`server.control-hosts`).
    public var controlHosts: [String] = []
    /// The zones to serve.
    public var zones: [ZoneEntry]
    /// The ISP lines and the pools answered with their addresses.
    public var uplinks: Uplinks = Uplinks()
    /// Where the health module keeps its state (`health.state-dir`, relative to the config file; default `state`).
    public var stateDirectory: String = "state"
    /// Commands run when a line changes state, with LINK, STATE and REASON in the environment.
    public var onChange: [String] = []
    /// Persisted health older than this many seconds is ignored at start (`health.restore-max-age`).
    public var restoreMaxAge: Double = 3600
    /// The file this came from.
    public var path: String

    /// One `zones:` entry.
    public struct ZoneEntry: Sendable, Equatable {
        /// The zone's apex.
        public var origin: DomainName
        /// The zone file, resolved against the config file's directory.
        public var file: String
        /// The file name as written in the config (for messages).
        public var fileAsWritten: String
        /// The config line of this entry.
        public var line: Int?
        /// Who may transfer the zone (AXFR/IXFR); empty = nobody (`zones[].transfer`).
        public var transfer: [AddressPrefix] = []
        /// The TSIG key transfers must be signed with, and NOTIFY is signed with (`zones[].key`).
        public var key: TSIGKey?
        /// The secondaries told of every new serial (`zones[].notify`).
        public var notify: [ListenAddress] = []
        /// How the served serial moves (`zones[].serial-policy`).
        public var serialPolicy: SerialPolicy = .increment
        /// How much change history IXFR answers from (`zones[].journal`).
        public var journal = JournalLimits()
        /// DNSSEC signing (`zones[].dnssec`); nil: the zone is not signed.
        public var dnssec: DNSSECSettings?
    }

    /// The TSIG keys (`keys:`), by name.
    public var keys: [TSIGKey] = []
    /// Response rate limiting (`server.rrl`).
    public var rrl = RateLimitSettings()
    /// Concurrent TCP connections from one client address (`server.tcp.max-per-client`).
    public var tcpMaxPerClient = 16
    /// Seconds a TCP message may take to arrive whole once its first octet came (`server.tcp.message-timeout`).
    public var tcpMessageTimeout: Double = 2
    /// Bind listen addresses that are not (yet) on this host (`server.freebind`, IP_FREEBIND).
    public var freebind = false
    /// The user to run as after binding (`server.user`); nil = stay as started.
    public var user: String?
    /// The query log (`server.query-log`): where it goes, its format, and whether it is on at start.
    public var queryLog = QueryLogSettings()

    /// The version string printed by `--version` and answered to `version.bind` by default.
    public static let softwareVersion = "0.1.0"

    /// The responder settings this config implies.
    public var responderOptions: ResponderOptions {
        ResponderOptions(identity: identity, version: version, nsid: nsid, ednsUDPSize: ednsUDPSize)
    }

    /// Loads and checks `path`; every problem is reported with file and line.
    public static func load(path: String) throws(ConfigFailure) -> Config {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigFailure(errors: [ConfigError(file: path, line: nil, message: "cannot read the file")])
        }
        return try parse(text, path: path)
    }

    /// What the command line needs to reach the running server (control address, token, state directory) when the
    /// file has errors: the config as far as it reads, else the defaults (a config edited into a mistake must not
    /// lock the operator out of the server it is running).
    public static func controlSettings(path: String) -> Config {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        if let partial = try? parse(text, path: path, lenient: true) { return partial }
        // YAML that does not parse at all: the four keys read line by line (`key: value` on a line of its own).
        var server: [String] = []
        var health: [String] = []
        for line in text.split(separator: "\n") {
            let parts = line.trimmingCharacters(in: .whitespaces).split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = String(parts[0])
            let value = parts[1].split(separator: "#", maxSplits: 1).first?.trimmingCharacters(in: .whitespaces) ?? ""
            guard !value.isEmpty else { continue }
            if ["control", "control-token", "control-token-file"].contains(key) {
                server.append("\(key): \(value)")
            } else if key == "state-dir" {
                health.append("\(key): \(value)")
            }
        }
        let minimal =
            "server: {\(server.joined(separator: ", "))}\nhealth: {\(health.joined(separator: ", "))}\n"
        if let partial = try? parse(minimal, path: path, lenient: true) { return partial }
        return (try? parse("{}", path: path, lenient: true))
            ?? Config(
                listen: [], identity: nil, version: nil, nsid: nil, ednsUDPSize: 1232, udpWorkers: 0,
                tcpMaxConnections: 1024, tcpIdleTimeout: 10, pidFile: nil, zones: [], path: path)
    }

    /// Parses configuration text that came from `path` (used for messages and relative paths). `lenient`: return
    /// what could be read despite errors (only YAML that does not parse at all throws).
    public static func parse(_ text: String, path: String, lenient: Bool = false) throws(ConfigFailure) -> Config {
        var r = YAMLReader(file: path)
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigFailure(errors: [ConfigError(file: path, line: nil, message: "the file is empty")])
            }
            root = node
        } catch let e as ConfigFailure {
            throw e
        } catch let YamlError.duplicatedKeysInMapping(keys, context) {
            // Yams's message quotes the whole file; name the key and both lines instead.
            let key = keys.first ?? "?"
            let second = Self.repeatedKeyLine(key, in: text, after: context.mark)
            throw ConfigFailure(errors: [
                ConfigError(
                    file: path, line: second ?? context.mark.line,
                    message: "'\(key)' appears twice in the same mapping (first at line \(context.mark.line)): keep one"
                )
            ])
        } catch let e as YamlError {
            throw ConfigFailure(errors: [ConfigError(file: path, line: Self.line(of: e), message: "YAML: \(e)")])
        } catch {
            throw ConfigFailure(errors: [ConfigError(file: path, line: nil, message: "YAML: \(error)")])
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        var config = Config(
            listen: [ListenAddress(host: "127.0.0.1", port: 5300)], identity: Self.hostname(),
            version: "UplinkDNS \(softwareVersion)", nsid: nil, ednsUDPSize: 1232, udpWorkers: 0,
            tcpMaxConnections: 1024, tcpIdleTimeout: 10, pidFile: nil, zones: [], path: path)

        let top = r.mapping(
            root, what: "the configuration", known: ["server", "zones", "links", "pools", "health", "services", "keys"])
        config.stateDirectory = base.appendingPathComponent("state").standardizedFileURL.path
        if let health = top["health"] {
            let h = r.mapping(health, what: "health", known: ["state-dir", "on-change", "restore-max-age"])
            if let v = h["state-dir"], let dir = r.string(v, what: "health.state-dir") {
                config.stateDirectory =
                    dir.hasPrefix("/") ? dir : base.appendingPathComponent(dir).standardizedFileURL.path
            }
            if let v = h["on-change"] {
                config.onChange = r.sequence(v, what: "health.on-change").compactMap {
                    r.string($0, what: "health.on-change entry")
                }
            }
            if let v = r.double(h["restore-max-age"], what: "health.restore-max-age", range: 0...31_536_000) {
                config.restoreMaxAge = v
            }
        }
        if let server = top["server"] {
            let s = r.mapping(
                server, what: "server",
                known: [
                    "listen", "identity", "version", "nsid", "chaos", "edns-udp-size", "udp-workers", "tcp", "pid-file",
                    "control", "control-token", "control-token-file", "control-hosts", "rrl", "user", "freebind",
                    "query-log",
                ])
            if let listen = s["listen"] {
                var addrs: [ListenAddress] = []
                for item in r.sequence(listen, what: "server.listen") {
                    guard let text = r.string(item, what: "server.listen entry"), let a = ListenAddress(text) else {
                        r.fail(item, "server.listen entries are numeric HOST:PORT or [IPv6]:PORT, e.g. 127.0.0.1:5300")
                        continue
                    }
                    addrs.append(a)
                }
                if addrs.isEmpty { r.fail(listen, "server.listen needs at least one address") }
                config.listen = addrs
            }
            if let v = s["freebind"], let on = r.bool(v, what: "server.freebind") { config.freebind = on }
            if let v = s["identity"] { config.identity = r.string(v, what: "server.identity").flatMap(nonEmpty) }
            if let v = s["version"] { config.version = r.string(v, what: "server.version").flatMap(nonEmpty) }
            if let v = s["nsid"], let text = r.string(v, what: "server.nsid") {
                if let bytes = parseNSID(text) {
                    config.nsid = bytes
                } else {
                    r.fail(v, "server.nsid is text, or hex after 0x (e.g. 0x6e7331), of 1 to 128 octets")
                }
            }
            if let v = s["chaos"], let on = r.bool(v, what: "server.chaos"), !on {
                config.identity = nil
                config.version = nil
            }
            if let v = r.int(s["edns-udp-size"], what: "server.edns-udp-size", range: 512...4096) {
                config.ednsUDPSize = UInt16(v)
            }
            if let v = r.int(s["udp-workers"], what: "server.udp-workers", range: 0...64) { config.udpWorkers = v }
            if let v = s["pid-file"], let p = r.string(v, what: "server.pid-file") {
                config.pidFile = base.appendingPathComponent(p).standardizedFileURL.path
                if p.hasPrefix("/") { config.pidFile = p }
            }
            if let v = s["control"], let text = r.string(v, what: "server.control") {
                if text == "off" || text.isEmpty {
                    config.control = nil
                } else if let a = ListenAddress(text) {
                    config.control = a
                } else {
                    r.fail(v, "server.control is a numeric HOST:PORT (default 127.0.0.1:5380), or off")
                }
            }
            if let v = s["control-hosts"] {
                config.controlHosts = r.sequence(v, what: "server.control-hosts").compactMap {
                    r.string($0, what: "server.control-hosts entry")
                }
            }
            if let v = s["control-token"] { config.controlToken = r.string(v, what: "server.control-token") }
            if let v = s["control-token-file"], let f = r.string(v, what: "server.control-token-file") {
                let p = f.hasPrefix("/") ? f : base.appendingPathComponent(f).standardizedFileURL.path
                if let t = try? String(contentsOfFile: p, encoding: .utf8) {
                    config.controlToken = t.trimmingCharacters(in: .whitespacesAndNewlines)
                } else {
                    r.fail(v, "cannot read the control token from \(p)")
                }
            }
            if let tcp = s["tcp"] {
                let t = r.mapping(
                    tcp, what: "server.tcp",
                    known: ["max-connections", "max-per-client", "idle-timeout", "message-timeout"])
                if let v = r.int(t["max-connections"], what: "server.tcp.max-connections", range: 1...100_000) {
                    config.tcpMaxConnections = v
                }
                if let v = r.int(t["max-per-client"], what: "server.tcp.max-per-client", range: 1...100_000) {
                    config.tcpMaxPerClient = v
                }
                if let v = r.double(t["idle-timeout"], what: "server.tcp.idle-timeout", range: 0.1...3600) {
                    config.tcpIdleTimeout = v
                }
                if let v = r.double(t["message-timeout"], what: "server.tcp.message-timeout", range: 0.1...60) {
                    config.tcpMessageTimeout = v
                }
            }
            if let rrl = s["rrl"] { config.rrl = Config.readRRL(rrl, &r) }
            if let q = s["query-log"] {
                let m = r.mapping(q, what: "server.query-log", known: ["path", "format", "enabled"])
                if let v = m["path"], let path = r.string(v, what: "server.query-log.path") {
                    if path.isEmpty || path == "unix:" {
                        r.fail(v, "server.query-log.path: a file, or unix:/path/to/socket")
                    } else {
                        config.queryLog.path = path
                    }
                }
                if let v = m["format"], let f = r.string(v, what: "server.query-log.format") {
                    if let format = QueryLogSettings.Format(rawValue: f) {
                        config.queryLog.format = format
                    } else {
                        r.fail(v, "server.query-log.format is dnstap or text")
                    }
                }
                if let v = m["enabled"], let on = r.bool(v, what: "server.query-log.enabled") {
                    config.queryLog.enabled = on
                }
            }
            if let v = s["user"], let user = r.string(v, what: "server.user") {
                config.user = user.isEmpty ? nil : user
            }
        }
        if let keys = top["keys"] {
            config.keys = Config.readKeys(keys, base: base, &r)
        }
        if let zones = top["zones"] {
            var seen: [DomainName: Int] = [:]
            for item in r.sequence(zones, what: "zones") {
                let z = r.mapping(
                    item, what: "a zones entry",
                    known: ["origin", "file", "transfer", "key", "notify", "serial-policy", "journal", "dnssec"])
                guard let originText = r.string(z["origin"], what: "zones[].origin") else {
                    r.fail(item, "each zones entry needs 'origin' (the zone's name, e.g. example.com.)")
                    continue
                }
                guard let origin = try? DomainName(originText.hasSuffix(".") ? originText : originText + ".") else {
                    r.fail(z["origin"], "'\(originText)' is not a domain name")
                    continue
                }
                guard let file = r.string(z["file"], what: "zones[].file") else {
                    r.fail(item, "zones entry \(origin) needs 'file' (the zone file, relative to this config)")
                    continue
                }
                let line = item.mark?.line
                if let first = seen[origin] {
                    r.fail(item, "zone \(origin) is listed twice (first on line \(first))")
                    continue
                }
                seen[origin] = line ?? 0
                let resolved = file.hasPrefix("/") ? file : base.appendingPathComponent(file).standardizedFileURL.path
                var entry = ZoneEntry(origin: origin, file: resolved, fileAsWritten: file, line: line)
                if let v = z["serial-policy"], let text = r.string(v, what: "zones[].serial-policy") {
                    if let policy = SerialPolicy(rawValue: text) {
                        entry.serialPolicy = policy
                    } else {
                        r.fail(v, "serial-policy '\(text)' is not increment, unixtime or dateserial")
                    }
                }
                if let v = z["dnssec"] { entry.dnssec = Config.readDNSSEC(v, base: base, &r) }
                if let v = z["journal"] {
                    // `false`: no journal; a mapping: its bounds (docs/transfer.md).
                    if case .scalar = v {
                        if r.bool(v, what: "zones[].journal") == false { entry.journal.changes = 0 }
                    } else {
                        let j = r.mapping(v, what: "zones[].journal", known: ["max-changes", "max-size"])
                        if let n = r.int(j["max-changes"], what: "zones[].journal.max-changes", range: 0...100_000) {
                            entry.journal.changes = n
                        }
                        if let n = r.int(j["max-size"], what: "zones[].journal.max-size", range: 1024...(1 << 30)) {
                            entry.journal.bytes = n
                        }
                    }
                }
                for item in z["transfer"].map({ r.sequence($0, what: "zones[].transfer") }) ?? [] {
                    guard let text = r.string(item, what: "zones[].transfer entry") else { continue }
                    guard let prefix = AddressPrefix(text) else {
                        r.fail(item, "'\(text)' is not an address or prefix (e.g. 192.0.2.53 or 192.0.2.0/24)")
                        continue
                    }
                    entry.transfer.append(prefix)
                }
                if let v = z["key"], let name = r.string(v, what: "zones[].key") {
                    let wanted = try? DomainName(name.hasSuffix(".") ? name : name + ".")
                    if let key = config.keys.first(where: { $0.name == wanted }) {
                        entry.key = key
                    } else {
                        r.fail(v, "zone \(origin): no key named '\(name)' in 'keys:'")
                    }
                }
                for item in z["notify"].map({ r.sequence($0, what: "zones[].notify") }) ?? [] {
                    guard let text = r.string(item, what: "zones[].notify entry") else { continue }
                    guard let target = ListenAddress(text) ?? ListenAddress(text + ":53") else {
                        r.fail(
                            item, "'\(text)' is not ADDRESS or ADDRESS:PORT (e.g. 192.0.2.53:53 or [2001:db8::53]:53)")
                        continue
                    }
                    entry.notify.append(target)
                }
                config.zones.append(entry)
            }
        }
        config.uplinks = Uplinks.read(links: top["links"], pools: top["pools"], &r)
        if let services = top["services"] {
            config.uplinks.services = []
            for item in r.sequence(services, what: "services") {
                guard let text = r.string(item, what: "services entry") else { continue }
                let parts = text.split(separator: "/").map(String.init)
                var protos: [String] = []
                if parts.count == 2, let port = UInt16(parts[1]), port > 0 {
                    switch parts[0] {
                    case "tcp", "udp": protos = [parts[0]]
                    case "udp+tcp", "tcp+udp": protos = ["udp", "tcp"]
                    default: break
                    }
                    for p in protos { config.uplinks.services.append(Service(proto: p, port: port)) }
                }
                if protos.isEmpty {
                    r.fail(item, "services entries are tcp/PORT, udp/PORT or udp+tcp/PORT (e.g. tcp/80)")
                }
            }
        }
        if config.zones.isEmpty && r.errors.isEmpty {
            r.fail(top["zones"] ?? root, "no zones: add a 'zones:' list of {origin, file}")
        }
        guard r.errors.isEmpty || lenient else { throw ConfigFailure(errors: r.errors) }
        return config
    }

    /// Loads every zone; all errors of all zones are reported together.
    public func loadZones() throws(ConfigFailure) -> ZoneSet {
        var zones: [Zone] = []
        var errors: [ConfigError] = []
        for entry in self.zones {
            do {
                // Pool names get their addresses from the lines: an NS target among them needs none in the file.
                let pools = Set(uplinks.pools.map(\.name).filter { $0.isSubdomain(of: entry.origin) })
                zones.append(try ZoneFileLoader.load(path: entry.file, origin: entry.origin, addressed: pools))
            } catch {
                errors += error.errors.map { ConfigError(file: $0.file, line: $0.line, message: $0.message) }
            }
        }
        guard errors.isEmpty else { throw ConfigFailure(errors: errors) }
        let set = ZoneSet(zones)
        // A pool's name must lie in a served zone, and its addresses come from the lines alone: static A or AAAA
        // records at the same name would make two sources of truth, so they are refused.
        for pool in uplinks.pools {
            guard let zone = set.zone(for: pool.name, qtype: .a) else {
                let origins = self.zones.map(\.origin.description).joined(separator: ", ")
                errors.append(
                    ConfigError(
                        file: path, line: pool.line,
                        message: "pool \(pool.name) is outside every served zone (\(origins))"))
                continue
            }
            if let cut = zone.enclosingCut(of: pool.name) {
                errors.append(
                    ConfigError(
                        file: path, line: pool.line,
                        message: "pool \(pool.name) is at or below the delegation \(cut) in \(zone.file): "
                            + "it would never be answered (a referral wins)"))
            }
            if zone.rrset(pool.name, .cname) != nil
                || pool.name.ancestors(upTo: zone.origin).dropFirst().contains(where: { zone.rrset($0, .dname) != nil })
            {
                errors.append(
                    ConfigError(
                        file: path, line: pool.line,
                        message: "pool \(pool.name) is an alias (CNAME, or below a DNAME) in \(zone.file): "
                            + "point the alias at the pool instead"))
            }
            for type in [RRType.a, .aaaa] where zone.rrset(pool.name, type) != nil {
                let at = zone.line(pool.name, type).map { "\(zone.file):\($0)" } ?? zone.file
                errors.append(
                    ConfigError(
                        file: path, line: pool.line,
                        message:
                            "pool \(pool.name) also has static \(type) records at \(at): remove them from the zone "
                            + "file (the pool answers \(type) from its lines)"))
            }
        }
        guard errors.isEmpty else { throw ConfigFailure(errors: errors) }
        return set
    }

    /// The pools planned with the lines in `up` healthy (every line when nil).
    public func plans(up: Set<String>? = nil) -> [PoolPlan] {
        let healthy = up ?? Set(uplinks.links.map(\.name))
        return uplinks.pools.map { PoolPlan(pool: $0, uplinks: uplinks, up: healthy) }
    }

    /// Loads the zones and compiles the snapshot the query path serves, with every line up unless `up` says
    /// otherwise; `counters` carries the per-line answer counts across snapshots.
    public func buildSnapshot(up: Set<String>? = nil, counters: AnswerCounters = AnswerCounters())
        throws(ConfigFailure) -> Snapshot
    {
        Snapshot(zoneSet: try loadZones(), options: responderOptions, plans: plans(up: up), counters: counters)
    }

    private static func nonEmpty(_ s: String) -> String? { s.isEmpty ? nil : s }

    /// `server.rrl`: `{responses-per-second, slip, ipv4-prefix, ipv6-prefix, exempt}`; `responses-per-second: 0`
    /// turns it off.
    static func readRRL(_ node: Node, _ r: inout YAMLReader) -> RateLimitSettings {
        var out = RateLimitSettings()
        let m = r.mapping(
            node, what: "server.rrl",
            known: ["responses-per-second", "slip", "ipv4-prefix", "ipv6-prefix", "exempt"])
        if let v = r.int(m["responses-per-second"], what: "server.rrl.responses-per-second", range: 0...1_000_000) {
            out.responsesPerSecond = v
        }
        if let v = r.int(m["slip"], what: "server.rrl.slip", range: 0...100) { out.slip = v }
        if let v = r.int(m["ipv4-prefix"], what: "server.rrl.ipv4-prefix", range: 8...32) { out.ipv4Prefix = v }
        if let v = r.int(m["ipv6-prefix"], what: "server.rrl.ipv6-prefix", range: 16...64) { out.ipv6Prefix = v }
        if let v = m["exempt"] {
            out.exempt = []
            for item in r.sequence(v, what: "server.rrl.exempt") {
                guard let text = r.string(item, what: "server.rrl.exempt entry") else { continue }
                guard let p = AddressPrefix(text) else {
                    r.fail(item, "'\(text)' is not an address or prefix (e.g. 127.0.0.0/8 or 2001:db8::/32)")
                    continue
                }
                out.exempt.append(p)
            }
        }
        return out
    }

    /// `keys:`: a list of `{name, algorithm: hmac-sha256, secret: BASE64}` or `secret-file: PATH` (a file holding
    /// the base64 secret, so the config itself can be world-readable).
    static func readKeys(_ node: Node, base: URL, _ r: inout YAMLReader) -> [TSIGKey] {
        var keys: [TSIGKey] = []
        for item in r.sequence(node, what: "keys") {
            let k = r.mapping(item, what: "a keys entry", known: ["name", "algorithm", "secret", "secret-file"])
            guard let nameText = r.string(k["name"], what: "keys[].name"),
                let name = try? DomainName(nameText.hasSuffix(".") ? nameText : nameText + ".")
            else {
                r.fail(item, "each keys entry needs 'name', a domain name both ends use (e.g. transfer.example.com.)")
                continue
            }
            var algorithm = TSIGKey.hmacSHA256
            if let v = k["algorithm"], let alg = r.string(v, what: "keys[].algorithm") {
                guard let known = TSIGKey.algorithm(alg) else {
                    r.fail(
                        v,
                        "key \(name): algorithm '\(alg)' is not supported; use one of "
                            + "\(TSIGKey.algorithms.joined(separator: ", ")) (RFC 8945 §6)")
                    continue
                }
                algorithm = known
            }
            var text: String?
            if let v = k["secret"] { text = r.string(v, what: "keys[].secret") }
            if let v = k["secret-file"], let f = r.string(v, what: "keys[].secret-file") {
                let p = f.hasPrefix("/") ? f : base.appendingPathComponent(f).standardizedFileURL.path
                guard let t = try? String(contentsOfFile: p, encoding: .utf8) else {
                    r.fail(v, "key \(name): cannot read secret-file \(p)")
                    continue
                }
                text = t
            }
            guard let text else {
                r.fail(item, "key \(name) needs 'secret' (base64) or 'secret-file'")
                continue
            }
            guard let secret = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
                secret.count >= 16
            else {
                r.fail(
                    k["secret"] ?? k["secret-file"] ?? item,
                    "key \(name): the secret must be base64 of at least 16 octets (e.g. from `openssl rand -base64 32`)"
                )
                continue
            }
            if keys.contains(where: { $0.name == name }) {
                r.fail(item, "key \(name) is defined twice")
                continue
            }
            keys.append(TSIGKey(name: name, algorithm: algorithm, secret: Array(secret)))
        }
        return keys
    }

    private static func parseNSID(_ text: String) -> [UInt8]? {
        var bytes: [UInt8]
        if text.hasPrefix("0x") {
            let hex = Array(text.dropFirst(2))
            guard hex.count % 2 == 0 else { return nil }
            bytes = []
            for i in stride(from: 0, to: hex.count, by: 2) {
                guard let b = UInt8(String(hex[i...i + 1]), radix: 16) else { return nil }
                bytes.append(b)
            }
        } else {
            bytes = Array(text.utf8)
        }
        return (1...128).contains(bytes.count) ? bytes : nil
    }

    private static func hostname() -> String? {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count) == 0 else { return nil }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The line of the next `key:` at the same indentation as the one at `first` (1-based line and column), before
    /// the mapping ends (a line indented less); nil when the repeat is on the same line (a flow mapping).
    static func repeatedKeyLine(_ key: String, in text: String, after first: Mark) -> Int? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let indent = first.column - 1
        guard first.line >= 1, first.line <= lines.count else { return nil }
        for n in first.line..<lines.count {
            let line = lines[n]
            let body = line.drop { $0 == " " }
            if body.isEmpty || body.hasPrefix("#") { continue }
            let depth = line.count - body.count
            if depth < indent { return nil }
            let bare = body.hasPrefix("- ") ? body.dropFirst(2) : body
            if depth == indent, bare.hasPrefix(key + ":") || bare.hasPrefix("\"\(key)\":") { return n + 1 }
        }
        return nil
    }

    private static func line(of e: YamlError) -> Int? {
        switch e {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: nil
        }
    }
}

extension Config {
    /// The settings a running server applies only at its next start (sockets bound, privileges dropped, files
    /// chosen at start), by their config key, where `new` differs from this config.
    public func restartOnlyChanges(to new: Config) -> [String] {
        var out: [String] = []
        if new.listen != listen { out.append("server.listen") }
        if new.udpWorkers != udpWorkers { out.append("server.udp-workers") }
        if new.freebind != freebind { out.append("server.freebind") }
        if new.control != control { out.append("server.control") }
        if new.controlToken != controlToken { out.append("server.control-token") }
        if new.controlHosts != controlHosts { out.append("server.control-hosts") }
        if new.pidFile != pidFile { out.append("server.pid-file") }
        if new.user != user { out.append("server.user") }
        if new.stateDirectory != stateDirectory { out.append("health.state-dir") }
        if new.restoreMaxAge != restoreMaxAge { out.append("health.restore-max-age") }
        return out
    }

    /// `new` as the running server applies it: everything from `new` except the settings that need a restart,
    /// which keep this config's values until then.
    public func applyingReloadable(from new: Config) -> Config {
        var applied = new
        applied.listen = listen
        applied.udpWorkers = udpWorkers
        applied.freebind = freebind
        applied.control = control
        applied.controlToken = controlToken
        applied.controlHosts = controlHosts
        applied.pidFile = pidFile
        applied.user = user
        applied.stateDirectory = stateDirectory
        applied.restoreMaxAge = restoreMaxAge
        return applied
    }
}

extension Config {
    /// Why the state directory (`health.state-dir`) cannot hold the server's state, or nil when it can. `missing`:
    /// it cannot even be made (a file is in its place, a parent is not writable) — `serve` refuses to start; else a
    /// file in it cannot be written (a full or read-only disk) — `serve` starts and says so, `check` fails.
    public func stateDirectoryProblem() -> (message: String, missing: Bool)? {
        let dir = stateDirectory
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            return ("health.state-dir \(dir) cannot be made: \(HealthChecker.reason(error))", true)
        }
        let probe = (dir as NSString).appendingPathComponent(".write-check-\(getpid())")
        let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let written = fd >= 0 && write(fd, "ok\n", 3) == 3
        let why = String(cString: strerror(errno))
        if fd >= 0 { close(fd) }
        unlink(probe)
        return written ? nil : ("health.state-dir \(dir) is not writable: \(why)", false)
    }

}

/// How a zone is signed (`zones[].dnssec`, docs/dnssec.md).
public struct DNSSECSettings: Sendable, Equatable {
    /// The algorithm of keys generated here (13, ECDSAP256SHA256, by default; 15, ED25519).
    public var algorithm: SigningAlgorithm = .ecdsaP256SHA256
    /// Signature validity, refresh margin and inception back-dating.
    public var policy = ZoneSigner.Policy()
    /// NSEC (the default) or NSEC3 with RFC 9276's parameters (`nsec3: true`).
    public var denial = ZoneSigner.Denial.nsec
    /// Where the keys are (BIND's `K<zone>+<alg>+<tag>` files); nil: `<state-dir>/keys`, generated there at first
    /// start.
    public var keyDirectory: String?
    public init() {}
}

extension Config {
    /// Reads `zones[].dnssec`: `true`/`false`, or a mapping of algorithm, signature-validity, refresh and
    /// key-directory.
    static func readDNSSEC(_ v: Node, base: URL, _ r: inout YAMLReader) -> DNSSECSettings? {
        if case .scalar = v { return r.bool(v, what: "zones[].dnssec") == true ? DNSSECSettings() : nil }
        let m = r.mapping(
            v, what: "zones[].dnssec",
            known: ["algorithm", "signature-validity", "refresh", "jitter", "backdate", "key-directory", "nsec3"])
        var out = DNSSECSettings()
        if let a = m["algorithm"], let text = r.string(a, what: "zones[].dnssec.algorithm") {
            if let alg = SigningAlgorithm(text) {
                out.algorithm = alg
            } else {
                r.fail(a, "algorithm '\(text)' is not ECDSAP256SHA256 (13) or ED25519 (15)")
            }
        }
        func seconds(_ key: String) -> UInt32? {
            guard let n = m[key], let text = r.string(n, what: "zones[].dnssec.\(key)") else { return nil }
            guard let s = ControlServer.duration(text), s >= 3600 else {
                r.fail(n, "\(key) is a duration of at least an hour, e.g. 14d, 36h or 86400")
                return nil
            }
            return UInt32(s)
        }
        if let n = m["nsec3"], r.bool(n, what: "zones[].dnssec.nsec3") == true { out.denial = .nsec3 }
        if let s = seconds("signature-validity") { out.policy.validity = s }
        if let s = seconds("refresh") { out.policy.refresh = s }
        if out.policy.refresh >= out.policy.validity {
            r.fail(v, "zones[].dnssec.refresh must be shorter than signature-validity (defaults 7d and 14d)")
        }
        if let d = m["key-directory"], let p = r.string(d, what: "zones[].dnssec.key-directory") {
            out.keyDirectory = p.hasPrefix("/") ? p : base.appendingPathComponent(p).standardizedFileURL.path
        }
        return out
    }
}

extension Config {
    /// The TCP connection limits (`server.tcp`).
    public var tcpLimits: TCPConnections.Limits {
        TCPConnections.Limits(
            total: tcpMaxConnections, perClient: tcpMaxPerClient, idle: tcpIdleTimeout, message: tcpMessageTimeout)
    }

    /// The types each pool in the zone at `origin` answers with: A where its lines have IPv4 addresses, AAAA
    /// where IPv6 (what the NSEC chain lists at its name, whatever the lines' state).
    public func poolTypes(in origin: DomainName) -> [DomainName: Set<RRType>] {
        var out: [DomainName: Set<RRType>] = [:]
        for pool in uplinks.pools where pool.name.isSubdomain(of: origin) {
            var types: Set<RRType> = []
            for m in pool.members {
                let addresses = m.addresses ?? uplinks.links.first { $0.name == m.link }?.publicAddresses ?? []
                for a in addresses { types.insert(a.isIPv6 ? .aaaa : .a) }
            }
            out[pool.name] = types
        }
        return out
    }

    /// Each zone's journal bounds, by origin.
    public var journalLimits: [DomainName: JournalLimits] {
        Dictionary(zones.map { ($0.origin, $0.journal) }, uniquingKeysWith: { a, _ in a })
    }

    /// Each zone's serial policy, by origin.
    public var serialPolicies: [DomainName: SerialPolicy] {
        Dictionary(zones.map { ($0.origin, $0.serialPolicy) }, uniquingKeysWith: { a, _ in a })
    }
}
