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
///
/// Every key is declared once in `Config+Schema.swift` (and `Uplinks+Schema.swift`) with its kind, range, default
/// and reload class; `parse` reads each value through its declaration, so the initial values below are placeholders
/// that `parse` always overwrites (a key left out takes its declared default).
public struct Config: Sendable {
    /// Where the server listens (UDP and TCP on each).
    public var listen: [ListenAddress] = []
    /// CHAOS `id.server`/`hostname.bind` text; nil = not answered.
    public var identity: String?
    /// CHAOS `version.bind`/`version.server` text; nil = not answered.
    public var version: String?
    /// NSID payload (RFC 5001); nil = not sent.
    public var nsid: [UInt8]?
    /// EDNS UDP payload size we advertise.
    public var ednsUDPSize: UInt16 = 0
    /// UDP worker threads (one socket each, SO_REUSEPORT); 0 = one per core.
    public var udpWorkers = 0
    /// Most TCP connections open at once (RFC 7766 §6.2.2: servers must limit them).
    public var tcpMaxConnections = 0
    /// Seconds a TCP connection may stay idle before we close it (RFC 7766 §6.2.3).
    public var tcpIdleTimeout: Double = 0
    /// Where to write the server's PID, so `uplinkdns reload` can signal it; nil = none.
    public var pidFile: String?
    /// The control API's address (`server.control`); nil: off.
    public var control: ListenAddress?
    /// The bearer token mutating control calls need (`server.control-token`, or read from `control-token-file`).
    public var controlToken: String?
    /// The file the token was read from (`server.control-token-file`), as resolved.
    public var controlTokenFile: String?
    /// Host names the control API answers to besides `localhost` and IP literals (`server.control-hosts`).
    public var controlHosts: [String] = []
    /// The zones to serve.
    public var zones: [ZoneEntry] = []
    /// The ISP lines and the pools answered with their addresses.
    public var uplinks: Uplinks = Uplinks()
    /// Where the health module keeps its state (`health.state-dir`, resolved against the config file's directory).
    public var stateDirectory: String = ""
    /// Commands run when a line changes state, with LINK, STATE and REASON in the environment.
    public var onChange: [String] = []
    /// Persisted health older than this many seconds is ignored at start (`health.restore-max-age`).
    public var restoreMaxAge: Double = 0
    /// The file this came from.
    public var path: String

    /// A config with no key read yet (`parse` fills it in).
    init(path: String) { self.path = path }

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
    public var tcpMaxPerClient = 0
    /// Seconds a TCP message may take to arrive whole once its first octet came (`server.tcp.message-timeout`).
    public var tcpMessageTimeout: Double = 0
    /// Bind listen addresses that are not (yet) on this host (`server.freebind`, IP_FREEBIND).
    public var freebind = false
    /// `routing.apply`: the running server applies its routing at start and keeps the main table's default route on
    /// the lines in answers (docs/routing.md).
    public var routingApply = false
    /// `routing.gateway-command`: a shell command the LAN gateway's script (`routing --for gateway`) is piped into at
    /// start and at every change of the lines in answers; nil = none.
    public var routingGateway: String?
    /// The user to run as after binding (`server.user`); nil = stay as started.
    public var user: String?
    /// The query log (`server.query-log`): where it goes, its format, and whether it is on at start.
    public var queryLog = QueryLogSettings()
    /// The LVS director's services and real servers (`director`; docs/director.md).
    public var director = Director()

    /// The version string printed by `--version` and answered to `version.bind` by default.
    public static let softwareVersion = "0.1.0"

    /// The responder settings this config implies.
    public var responderOptions: ResponderOptions {
        ResponderOptions(
            identity: identity, version: version, nsid: nsid, ednsUDPSize: ednsUDPSize,
            signedZones: Set(zones.filter { $0.dnssec != nil }.map(\.origin)))
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
        return defaults(path: path)
    }

    /// Parses configuration text that came from `path` (used for messages and relative paths). `lenient`: return
    /// what could be read despite errors (only YAML that does not parse at all throws).
    public static func parse(_ text: String, path: String, lenient: Bool = false) throws(ConfigFailure) -> Config {
        var r = YAMLReader(file: path)
        let config = try read(text, path: path, &r)
        guard r.errors.isEmpty || lenient else { throw ConfigFailure(errors: r.errors) }
        return config
    }

    /// Every key at its declared default (what `read` starts from: a key written wrong keeps its default, which is
    /// what a lenient parse returns for it).
    private static func defaults(path: String) -> Config {
        var r = YAMLReader(file: path)
        var config = Config(path: path)
        try? read("{}", path: path, &r, into: &config)
        // The two defaults that are not constants (the schema's doc lines say so).
        config.identity = Self.hostname()
        config.version = "UplinkDNS \(softwareVersion)"
        return config
    }

    /// Parses `text` as `parse` does, and says which declared keys the parser read (the schema tests' view).
    package static func parseReporting(_ text: String, path: String) -> (Config?, read: Set<String>, [ConfigError]) {
        var r = YAMLReader(file: path)
        do {
            let config = try read(text, path: path, &r)
            return (r.errors.isEmpty ? config : nil, r.read, r.errors)
        } catch {
            return (nil, r.read, error.errors)
        }
    }

    /// Reads every key of `text` through its declaration into a config; mistakes go to `r` (only YAML that does not
    /// parse at all throws).
    private static func read(_ text: String, path: String, _ r: inout YAMLReader) throws(ConfigFailure) -> Config {
        var config = defaults(path: path)
        try read(text, path: path, &r, into: &config)
        return config
    }

    /// `read` over `config`: each key written replaces its value.
    private static func read(_ text: String, path: String, _ r: inout YAMLReader, into config: inout Config)
        throws(ConfigFailure)
    {
        let root: Node
        do {
            // `.basic`: no implicit tags. Scalars are read as text by `YAMLReader` (numbers, booleans, durations), so
            // Yams's regular expressions that tag every plain scalar (int, float, null…) would only cost time: 100,000
            // pool blocks took 3.6 s to check with them, mostly matching keys against those patterns.
            guard let node = try Yams.compose(yaml: text, .basic) else {
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
            throw ConfigFailure(errors: [ConfigError(file: path, line: Self.line(of: e), message: Self.words(e))])
        } catch {
            throw ConfigFailure(errors: [ConfigError(file: path, line: nil, message: "YAML: \(error)")])
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()

        let top = r.section(root, path: "", label: "the configuration", keys: Config.schema)
        let health = r.section(r.value(top, "health"), path: "health", keys: Config.healthSchema)
        if let dir = r.string(health, "state-dir") {
            config.stateDirectory =
                dir.hasPrefix("/") ? dir : base.appendingPathComponent(dir).standardizedFileURL.path
        }
        config.onChange = r.list(health, "on-change").compactMap { r.string($0, what: "health.on-change entry") }
        if let v = r.double(health, "restore-max-age") { config.restoreMaxAge = v }

        let s = r.section(r.value(top, "server"), path: "server", keys: Config.serverSchema)
        var addrs: [ListenAddress] = []
        for item in r.list(s, "listen") {
            guard let text = r.string(item, what: "server.listen entry"), let a = ListenAddress(text) else {
                r.fail(item, "server.listen entries are numeric HOST:PORT or [IPv6]:PORT, e.g. 127.0.0.1:5300")
                continue
            }
            addrs.append(a)
        }
        if addrs.isEmpty { r.fail(s.values["listen"], "server.listen needs at least one address") }
        if !addrs.isEmpty { config.listen = addrs }
        if let on = r.bool(s, "freebind") { config.freebind = on }
        if s.has("identity") { config.identity = r.string(s, "identity").flatMap(nonEmpty) }
        if s.has("version") { config.version = r.string(s, "version").flatMap(nonEmpty) }
        if let v = r.value(s, "nsid"), let text = r.string(v, what: "server.nsid") {
            if let bytes = parseNSID(text) {
                config.nsid = bytes
            } else {
                r.fail(v, "server.nsid is text, or hex after 0x (e.g. 0x6e7331), of 1 to 128 octets")
            }
        }
        if r.bool(s, "chaos") == false {
            config.identity = nil
            config.version = nil
        }
        if let v = r.int(s, "edns-udp-size") { config.ednsUDPSize = UInt16(v) }
        if let v = r.int(s, "udp-workers") { config.udpWorkers = v }
        if let p = r.string(s, "pid-file") {
            config.pidFile = p.hasPrefix("/") ? p : base.appendingPathComponent(p).standardizedFileURL.path
        }
        if let v = r.value(s, "control"), let text = r.string(v, what: "server.control") {
            if text == "off" || text.isEmpty {
                config.control = nil
            } else if let a = ListenAddress(text) {
                config.control = a
            } else {
                r.fail(v, "server.control is a numeric HOST:PORT (default 127.0.0.1:5380), or off")
            }
        }
        config.controlHosts = r.list(s, "control-hosts").compactMap {
            r.string($0, what: "server.control-hosts entry")
        }
        if s.has("control-token") { config.controlToken = r.string(s, "control-token") }
        if s.has("control-token") && s.has("control-token-file") {
            r.fail(s.values["control-token-file"], "server: set control-token or control-token-file, not both")
        }
        if let v = r.value(s, "control-token-file"), let f = r.string(v, what: "server.control-token-file") {
            let p = f.hasPrefix("/") ? f : base.appendingPathComponent(f).standardizedFileURL.path
            config.controlTokenFile = p
            if let t = try? String(contentsOfFile: p, encoding: .utf8) {
                config.controlToken = t.trimmingCharacters(in: .whitespacesAndNewlines)
            } else {
                r.fail(v, "cannot read the control token from \(p)")
            }
        }
        let t = r.section(r.value(s, "tcp"), path: "server.tcp", keys: Config.tcpSchema)
        if let v = r.int(t, "max-connections") { config.tcpMaxConnections = v }
        if let v = r.int(t, "max-per-client") { config.tcpMaxPerClient = v }
        if let v = r.double(t, "idle-timeout") { config.tcpIdleTimeout = v }
        if let v = r.double(t, "message-timeout") { config.tcpMessageTimeout = v }
        config.rrl = Config.readRRL(r.section(r.value(s, "rrl"), path: "server.rrl", keys: Config.rrlSchema), &r)
        let q = r.section(r.value(s, "query-log"), path: "server.query-log", keys: Config.queryLogSchema)
        if let v = r.value(q, "path"), let path = r.string(v, what: "server.query-log.path") {
            if path.isEmpty || path == "unix:" {
                r.fail(v, "server.query-log.path: a file, or unix:/path/to/socket")
            } else {
                config.queryLog.path = path
            }
        }
        if let format = r.choice(q, "format", as: QueryLogSettings.Format.self) { config.queryLog.format = format }
        if let on = r.bool(q, "enabled") { config.queryLog.enabled = on }
        if let user = r.string(s, "user") { config.user = user.isEmpty ? nil : user }

        if let keys = r.value(top, "keys") {
            config.keys = Config.readKeys(keys, base: base, &r)
        }
        var seen: [DomainName: Int] = [:]
        for item in r.list(top, "zones") {
            let z = r.section(item, path: "zones[]", label: "a zones entry", keys: Config.zoneSchema)
            guard let originText = r.string(z, "origin") else {
                r.fail(item, "each zones entry needs 'origin' (the zone's name, e.g. example.com.)")
                continue
            }
            guard let origin = try? DomainName(originText.hasSuffix(".") ? originText : originText + ".") else {
                r.fail(z.values["origin"], "'\(originText)' is not a domain name")
                continue
            }
            guard let file = r.string(z, "file") else {
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
            if let policy = r.choice(z, "serial-policy", as: SerialPolicy.self) { entry.serialPolicy = policy }
            if let v = r.value(z, "dnssec") { entry.dnssec = Config.readDNSSEC(v, base: base, &r) }
            if let v = r.value(z, "journal") {
                // `false`: no journal; a mapping: its bounds (docs/transfer.md).
                if case .scalar = v {
                    if r.bool(v, what: "zones[].journal") == false { entry.journal.changes = 0 }
                } else {
                    let j = r.section(v, path: "zones[].journal", keys: Config.journalSchema)
                    if let n = r.int(j, "max-changes") { entry.journal.changes = n }
                    if let n = r.int(j, "max-size") { entry.journal.bytes = n }
                }
            }
            for item in r.list(z, "transfer") {
                guard let text = r.string(item, what: "zones[].transfer entry") else { continue }
                guard let prefix = AddressPrefix(text) else {
                    r.fail(item, "'\(text)' is not an address or prefix (e.g. 192.0.2.53 or 192.0.2.0/24)")
                    continue
                }
                entry.transfer.append(prefix)
            }
            if let v = r.value(z, "key"), let name = r.string(v, what: "zones[].key") {
                let wanted = try? DomainName(name.hasSuffix(".") ? name : name + ".")
                if let key = config.keys.first(where: { $0.name == wanted }) {
                    entry.key = key
                } else {
                    r.fail(v, "zone \(origin): no key named '\(name)' in 'keys:'")
                }
            }
            for item in r.list(z, "notify") {
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
        config.uplinks = Uplinks.read(
            links: r.value(top, "links"), pools: r.value(top, "pools"), networks: r.value(top, "networks"),
            base: base.path, &r)
        let routing = r.section(r.value(top, "routing"), path: "routing", keys: Config.routingSchema)
        if let v = r.choice(routing, "default-route", as: Uplinks.DefaultRoute.self) { config.uplinks.defaultRoute = v }
        if let command = r.string(routing, "gateway-command"), !command.isEmpty { config.routingGateway = command }
        if let on = r.bool(routing, "apply") {
            config.routingApply = on
            if on, config.user != nil {
                r.fail(
                    r.value(routing, "apply"),
                    "routing.apply changes routes, which needs CAP_NET_ADMIN; server.user drops every capability "
                        + "after binding: leave server.user out (with systemd, give the unit CAP_NET_ADMIN; "
                        + "docs/routing.md)")
            }
        }
        config.director = Director.read(r.value(top, "director"), links: config.uplinks.links, &r)
        config.uplinks.services = []
        for item in r.list(top, "services") {
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
        if config.zones.isEmpty && r.errors.isEmpty {
            r.fail(top.values["zones"] ?? root, "no zones: add a 'zones:' list of {origin, file}")
        }
    }

    /// The names `zones` (loaded for this config) answer for: those the zone files have (empty non-terminals
    /// included), and those the pools add where the files have no name (a pool's name and the empty non-terminals
    /// above it), each pool in the deepest zone that holds it. Signing's NSEC3 names are not counted. `check`
    /// prints it and `serve` logs it at start and at each reload: the same count for the same files.
    public func nameCount(_ zones: ZoneSet) -> NameCount {
        var count = NameCount()
        for zone in zones.zones.values {
            let mine = uplinks.pools.map(\.name).filter { name in
                name.isSubdomain(of: zone.origin)
                    && !zones.zones.keys.contains {
                        $0 != zone.origin && $0.isSubdomain(of: zone.origin) && name.isSubdomain(of: $0)
                    }
            }
            count.files += zone.nodeCount
            count.pools += zone.adding([], names: mine).nodeCount - zone.nodeCount
        }
        return count
    }

    /// Loads every zone; all errors of all zones are reported together.
    public func loadZones() throws(ConfigFailure) -> ZoneSet {
        var zones: [Zone] = []
        var errors: [ConfigError] = []
        // The warnings of every zone, loaded or not: a failure carries them, so that `check` shows them with the
        // errors.
        var warnings: [ConfigError] = []
        func configErrors(_ list: [ZoneError]) -> [ConfigError] {
            list.map { ConfigError(file: $0.file, line: $0.line, message: $0.message) }
        }
        for entry in self.zones {
            do {
                // Pool names get their addresses from the lines: an NS target among them needs none in the file.
                let pools = Set(uplinks.pools.map(\.name).filter { $0.isSubdomain(of: entry.origin) })
                let zone = try ZoneFileLoader.load(path: entry.file, origin: entry.origin, addressed: pools)
                zones.append(zone)
                warnings += configErrors(zone.warnings)
            } catch {
                errors += configErrors(error.errors)
                warnings += configErrors(error.warnings)
            }
        }
        guard errors.isEmpty else { throw ConfigFailure(errors: errors, warnings: warnings) }
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
        guard errors.isEmpty else { throw ConfigFailure(errors: errors, warnings: warnings) }
        return set
    }

    /// The pools planned with the lines in `up` healthy (every line when nil) and those in `held` out by an operator.
    public func plans(up: Set<String>? = nil, held: Set<String> = []) -> PoolPlans {
        let healthy = up ?? Set(uplinks.links.map(\.name))
        return PoolPlan.plans(uplinks, up: healthy, held: held)
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
    static func readRRL(_ m: ConfigSection, _ r: inout YAMLReader) -> RateLimitSettings {
        var out = RateLimitSettings()
        if let v = r.int(m, "responses-per-second") { out.responsesPerSecond = v }
        if let v = r.int(m, "slip") { out.slip = v }
        if let v = r.int(m, "ipv4-prefix") { out.ipv4Prefix = v }
        if let v = r.int(m, "ipv6-prefix") { out.ipv6Prefix = v }
        out.exempt = []
        let exempt = r.list(m, "exempt")
        for item in exempt {
            guard let text = r.string(item, what: "server.rrl.exempt entry") else { continue }
            guard let p = AddressPrefix(text) else {
                r.fail(item, "'\(text)' is not an address or prefix (e.g. 127.0.0.0/8 or 2001:db8::/32)")
                continue
            }
            out.exempt.append(p)
        }
        // The limiter keeps a fixed table of exempt networks (lock-free on the query path): more would be ignored.
        if exempt.count > RateLimiter.maxExempt {
            r.fail(
                m.values["exempt"],
                "server.rrl.exempt lists \(exempt.count) networks; at most \(RateLimiter.maxExempt) (merge them into "
                    + "wider prefixes)")
        }
        return out
    }

    /// `keys:`: a list of `{name, algorithm: hmac-sha256, secret: BASE64}` or `secret-file: PATH` (a file holding
    /// the base64 secret, so the config itself can be world-readable).
    static func readKeys(_ node: Node, base: URL, _ r: inout YAMLReader) -> [TSIGKey] {
        var keys: [TSIGKey] = []
        for item in r.sequence(node, what: "keys") {
            let k = r.section(item, path: "keys[]", label: "a keys entry", keys: Config.keySchema)
            guard let nameText = r.string(k, "name"),
                let name = try? DomainName(nameText.hasSuffix(".") ? nameText : nameText + ".")
            else {
                r.fail(item, "each keys entry needs 'name', a domain name both ends use (e.g. transfer.example.com.)")
                continue
            }
            var algorithm = TSIGKey.hmacSHA256
            if let v = r.value(k, "algorithm"), let alg = r.string(v, what: "keys[].algorithm") {
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
            if k.has("secret") && k.has("secret-file") {
                r.fail(k.values["secret-file"], "key \(name): set secret or secret-file, not both")
                continue
            }
            if k.has("secret") { text = r.string(k, "secret") }
            if let v = r.value(k, "secret-file"), let f = r.string(v, what: "keys[].secret-file") {
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
                    k.values["secret"] ?? k.values["secret-file"] ?? item,
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

    /// This host's name (the default `server.identity`; the query log's identity when that is empty).
    static func hostname() -> String? {
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

    /// A YAML syntax error in plain words, with its column (the line is the error's own): libyaml's problem and what
    /// it was reading, not Yams's text with three positions and the file quoted.
    static func words(_ e: YamlError) -> String {
        switch e {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let reading = context.map { " (\($0.text) that starts at line \($0.mark.line))" } ?? ""
            let hint =
                problem.contains("did not find expected") || problem.contains("mapping values are not allowed")
                ? ": check the indentation of this line and the one above" : ""
            return "YAML syntax, column \(mark.column): \(problem)\(reading)\(hint)"
        default:
            return "YAML: \(e)"
        }
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
    /// chosen at start), by their config key, where `new` differs from this config: the keys the schema declares
    /// `.restart` (`Config.restartKeys`), compared by the field each sets.
    public func restartOnlyChanges(to new: Config) -> [String] {
        Config.restartKeys.filter { Config.restartFields[$0]?.differs(self, new) ?? false }
    }

    /// `new` as the running server applies it: everything from `new` except the settings that need a restart,
    /// which keep this config's values until then.
    public func applyingReloadable(from new: Config) -> Config {
        var applied = new
        for key in Config.restartKeys { Config.restartFields[key]?.keep(&applied, self) }
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
        let m = r.section(v, path: "zones[].dnssec", keys: Config.dnssecSchema)
        var out = DNSSECSettings()
        if let a = r.value(m, "algorithm"), let text = r.string(a, what: "zones[].dnssec.algorithm") {
            if let alg = SigningAlgorithm(text) {
                out.algorithm = alg
            } else {
                r.fail(a, "algorithm '\(text)' is not ECDSAP256SHA256 (13) or ED25519 (15)")
            }
        }
        if r.bool(m, "nsec3") == true { out.denial = .nsec3 }
        if let s = r.duration(m, "signature-validity") { out.policy.validity = UInt32(s) }
        if let s = r.duration(m, "refresh") { out.policy.refresh = UInt32(s) }
        if out.policy.refresh >= out.policy.validity {
            r.fail(v, "zones[].dnssec.refresh must be shorter than signature-validity (defaults 7d and 14d)")
        }
        // Each RRset's expiration is later by up to `jitter`, so a zone's signatures do not all expire together.
        if let s = r.duration(m, "jitter") { out.policy.jitter = UInt32(s) }
        if out.policy.jitter >= out.policy.validity {
            r.fail(m.values["jitter"] ?? v, "zones[].dnssec.jitter must be shorter than signature-validity")
        }
        if let s = r.duration(m, "backdate") { out.policy.backdate = UInt32(s) }
        if let d = r.value(m, "key-directory"), let p = r.string(d, what: "zones[].dnssec.key-directory") {
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

/// The names a config's zones answer for (`Config.nameCount`): in the zone files, and added by the pools.
public struct NameCount: Sendable, Equatable, CustomStringConvertible {
    /// Names in the zone files (empty non-terminals included).
    public var files = 0
    /// Names the pools add where the files have none (a pool's name, the empty non-terminals above it).
    public var pools = 0

    public init(files: Int = 0, pools: Int = 0) { (self.files, self.pools) = (files, pools) }

    /// `15 names (12 in the zone files, 3 added by the pools)`, or `12 names in the zone files`.
    public var description: String {
        pools == 0
            ? "\(files) names in the zone files"
            : "\(files + pools) names (\(files) in the zone files, \(pools) added by the pools)"
    }
}
