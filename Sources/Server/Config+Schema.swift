// Config+Schema: every key of the configuration file, declared once (type, range, default, reload, doc line).

import DNSSEC
import Responder
import Uplinks

extension Config {
    /// `server.tcp`.
    static let tcpSchema: [ConfigKey] = [
        ConfigKey(
            "max-connections", .int(1...100_000), default: "1024",
            doc: "concurrent TCP connections (RFC 7766 §6.2.2); from nine tenths full a new one closes the longest-idle"
        ),
        ConfigKey(
            "max-per-client", .int(1...100_000), default: "16", doc: "concurrent TCP connections from one address"),
        ConfigKey(
            "idle-timeout", .number(0.1...3600), default: "10",
            doc: "seconds without a completed query before a connection is closed (RFC 7766 §6.2.3)"),
        ConfigKey(
            "message-timeout", .number(0.1...60), default: "2",
            doc: "seconds a message may take from its first octet to its last"),
    ]

    /// `server.rrl`.
    static let rrlSchema: [ConfigKey] = [
        ConfigKey(
            "responses-per-second", .int(0...1_000_000), default: "\(RateLimitSettings().responsesPerSecond)",
            doc: "identical responses per second per client network; 0 = off"),
        ConfigKey(
            "slip", .int(0...100), default: "\(RateLimitSettings().slip)",
            doc: "every Nth limited response goes out truncated (TC)"),
        ConfigKey(
            "ipv4-prefix", .int(8...32), default: "\(RateLimitSettings().ipv4Prefix)", doc: "the IPv4 client network"),
        ConfigKey(
            "ipv6-prefix", .int(16...64), default: "\(RateLimitSettings().ipv6Prefix)", doc: "the IPv6 client network"),
        ConfigKey(
            "exempt", .list(.prefix),
            default: "[" + RateLimitSettings().exempt.map { "\"\($0)\"" }.joined(separator: ", ") + "]",
            doc: "networks never limited (at most \(RateLimiter.maxExempt))"),
    ]

    /// `server.query-log`.
    static let queryLogSchema: [ConfigKey] = [
        ConfigKey(
            "path", .path,
            doc: "the log file, or unix:PATH for a dnstap reader (default <state-dir>/queries.dnstap, .log for text)"),
        ConfigKey(
            "format", .choice(QueryLogSettings.Format.allCases.map(\.rawValue)), default: "dnstap",
            doc: "dnstap (kdig -G, dnstap-read) or text (a line per query)"),
        ConfigKey(
            "enabled", .bool, default: "false", reload: .restart,
            doc: "on from the start; while running, `uplinkdns querylog on|off` switches it"),
    ]

    /// `server`.
    static let serverSchema: [ConfigKey] = [
        ConfigKey(
            "listen", .list(.hostPort), default: "[\"127.0.0.1:5300\"]", reload: .restart,
            doc: "the addresses answered on, UDP and TCP on each"),
        ConfigKey(
            "freebind", .bool, default: "false", reload: .restart,
            doc: "bind listen addresses not (yet) on this host (IP_FREEBIND)"),
        ConfigKey(
            "identity", .text,
            doc: "CHAOS id.server / hostname.bind and dnstap identity (default: the host name; \"\" = none)"),
        ConfigKey(
            "version", .text,
            doc: "CHAOS version.bind / version.server (default \"UplinkDNS \(softwareVersion)\"; \"\" = none)"),
        ConfigKey("chaos", .bool, default: "true", doc: "false: no CHAOS query is answered (REFUSED)"),
        ConfigKey("nsid", .form("text, or hex after 0x"), doc: "EDNS NSID (RFC 5001), 1–128 octets (default: none)"),
        ConfigKey(
            "edns-udp-size", .int(512...4096), default: "1232",
            doc: "the EDNS payload size advertised and never exceeded over UDP"),
        ConfigKey(
            "udp-workers", .int(0...64), default: "0", reload: .restart,
            doc: "UDP threads, one SO_REUSEPORT socket each; 0 = one per core"),
        ConfigKey("tcp", .section(tcpSchema), doc: "TCP limits"),
        ConfigKey("pid-file", .path, reload: .restart, doc: "written at start, removed at stop (default: none)"),
        ConfigKey(
            "control", .either([.choice(["off"]), .hostPort]), default: "127.0.0.1:5380", reload: .restart,
            doc: "the control API's address, or off"),
        ConfigKey(
            "control-token", .text, reload: .restart,
            doc: "bearer token for changes (default: generated into <state-dir>/control.token)"),
        ConfigKey("control-token-file", .path, reload: .restart, doc: "a file holding the control token"),
        ConfigKey(
            "control-hosts", .list(.text), default: "[]", reload: .restart,
            doc: "host names the control API answers to besides localhost and IP literals"),
        ConfigKey("rrl", .section(rrlSchema), doc: "response rate limiting for UDP (docs/security.md)"),
        ConfigKey("user", .text, reload: .restart, doc: "the user to switch to after binding (default: stay)"),
        ConfigKey("query-log", .section(queryLogSchema), doc: "the query log (docs/console.md)"),
    ]

    /// `zones[].journal` as a mapping.
    static let journalSchema: [ConfigKey] = [
        ConfigKey(
            "max-changes", .int(0...100_000), default: "\(JournalLimits().changes)",
            doc: "steps kept (the oldest go first)"),
        ConfigKey(
            "max-size", .int(1024...(1 << 30)), default: "\(JournalLimits().bytes)", doc: "octets of records kept"),
    ]

    /// A signing policy's default duration, as the schema writes it (`14d`).
    private static func duration(_ field: KeyPath<ZoneSigner.Policy, UInt32>) -> String {
        ConfigKey.formatDuration(Int(ZoneSigner.Policy()[keyPath: field]))
    }

    /// `zones[].dnssec` as a mapping.
    static let dnssecSchema: [ConfigKey] = [
        ConfigKey(
            "algorithm", .choice(["ECDSAP256SHA256", "13", "ED25519", "15"]), default: "ECDSAP256SHA256",
            doc: "the algorithm of keys made here"),
        ConfigKey(
            "signature-validity", .duration(min: 3600, max: 366 * 86400), default: duration(\.validity),
            doc: "how long a signature is valid"),
        ConfigKey(
            "refresh", .duration(min: 3600, max: 366 * 86400), default: duration(\.refresh),
            doc: "signatures are made anew this long before they expire (shorter than signature-validity)"),
        ConfigKey(
            "jitter", .duration(min: 0, max: 366 * 86400), default: duration(\.jitter),
            doc: "each RRset's expiration is later by up to this much, so they do not all expire at once"),
        ConfigKey(
            "backdate", .duration(min: 0, max: 366 * 86400), default: duration(\.backdate),
            doc: "inception this long before signing, for resolvers whose clocks are behind"),
        ConfigKey("key-directory", .path, doc: "where the keys are (default <state-dir>/keys, made at first start)"),
        ConfigKey("nsec3", .bool, default: "false", doc: "NSEC3 with RFC 9276's parameters instead of NSEC"),
    ]

    /// A `zones:` entry.
    static let zoneSchema: [ConfigKey] = [
        ConfigKey("origin", .form("domain name"), doc: "the zone's apex"),
        ConfigKey("file", .path, doc: "the RFC 1035 master file"),
        ConfigKey("transfer", .list(.prefix), default: "[]", doc: "who may AXFR/IXFR (default: nobody)"),
        ConfigKey("key", .form("a name in keys:"), doc: "the TSIG key transfers must be signed with, and NOTIFY is"),
        ConfigKey(
            "notify", .list(.form("ADDRESS or ADDRESS:PORT")), default: "[]",
            doc: "secondaries told of every new serial"),
        ConfigKey(
            "serial-policy", .choice(SerialPolicy.allCases.map(\.rawValue)), default: "increment",
            doc: "how the served serial moves (docs/transfer.md)"),
        ConfigKey(
            "journal", .either([.bool, .section(journalSchema)]),
            doc: "the change history IXFR answers from; false = none"),
        ConfigKey(
            "dnssec", .either([.bool, .section(dnssecSchema)]), default: "false",
            doc: "sign the zone: true, or a mapping (docs/dnssec.md)"),
    ]

    /// A `keys:` entry.
    static let keySchema: [ConfigKey] = [
        ConfigKey("name", .form("domain name"), doc: "the key's name, the same at both ends"),
        ConfigKey(
            "algorithm", .choice(TSIGKey.algorithms), default: "hmac-sha256", doc: "the HMAC (RFC 8945 §6)"),
        ConfigKey("secret", .form("base64, ≥ 16 octets"), doc: "the shared secret"),
        ConfigKey("secret-file", .path, doc: "a file holding the base64 secret (keeps it out of the config)"),
    ]

    /// `health`.
    static let healthSchema: [ConfigKey] = [
        ConfigKey(
            "state-dir", .path, default: "state", reload: .restart,
            doc: "where line states, serials, journals and keys persist"),
        ConfigKey(
            "on-change", .list(.text), default: "[]",
            doc: "commands run on every change of a line, with LINK, STATE, REASON in the environment"),
        ConfigKey(
            "restore-max-age", .number(0...31_536_000), default: "3600", reload: .restart,
            doc: "seconds: older persisted state is ignored at start"),
    ]

    /// `routing` (what `uplinkdns routing --for server` emits).
    static let routingSchema: [ConfigKey] = [
        ConfigKey(
            "default-route", .choice(Uplinks.DefaultRoute.allCases.map(\.rawValue)), default: "multipath",
            doc: "the server script replaces the main table's default route with a weighted multipath one, or keeps it"),
        ConfigKey(
            "apply", .bool, default: "false",
            doc:
                "true: `serve` applies the server script at start and moves the main default route off lines out of "
                + "answers (needs CAP_NET_ADMIN; docs/routing.md)"),
        ConfigKey(
            "gateway-command", .text,
            doc:
                "a shell command the LAN gateway's script (`routing --for gateway`) is piped into at start and at every "
                + "change of the lines in answers, e.g. `ssh root@gw bash`; default: none"),
    ]

    /// The whole file.
    package static let schema: [ConfigKey] = [
        ConfigKey("server", .section(serverSchema), doc: "the server"),
        ConfigKey("zones", .entries(zoneSchema), doc: "the zones served (at least one)"),
        ConfigKey("keys", .entries(keySchema), doc: "TSIG keys (RFC 8945)"),
        ConfigKey("links", .entries(Uplinks.linkSchema), doc: "the site's ISP lines"),
        ConfigKey("pools", .entries(Uplinks.poolSchema), doc: "names answered with the lines' addresses"),
        ConfigKey(
            "networks", .entries(Uplinks.networkSchema),
            doc: "client networks that pools answer by (`by-network`; docs/answers.md)"),
        ConfigKey(
            "services", .list(.form("tcp/PORT, udp/PORT or udp+tcp/PORT")),
            default: "[tcp/80, tcp/443, udp+tcp/53]", doc: "what each line's firewall forwards, for `routing`"),
        ConfigKey("health", .section(healthSchema), doc: "the health module"),
        ConfigKey(
            "routing", .section(routingSchema),
            doc: "the source-routing config `uplinkdns routing` emits, and whether the server applies it"),
        ConfigKey(
            "director", .section(Director.schema),
            doc: "the LVS director's virtual services and real servers (`routing --for director`; docs/director.md)"),
    ]

    /// Every key by its path (`server.tcp.idle-timeout`, `links[].checks[].tcp`), in declaration order.
    package static var schemaPaths: [(path: String, key: ConfigKey)] { ConfigKey.flatten(schema) }

    /// The keys a running server applies only at its next start.
    package static var restartKeys: [String] { schemaPaths.filter { $0.key.reload == .restart }.map(\.path) }

    /// How a restart-only key's value is compared and kept while the server runs: by the field it sets.
    struct RestartField: Sendable {
        let differs: @Sendable (Config, Config) -> Bool
        let keep: @Sendable (inout Config, Config) -> Void

        init<T: Equatable & Sendable>(_ field: WritableKeyPath<Config, T> & Sendable) {
            differs = { $0[keyPath: field] != $1[keyPath: field] }
            keep = { $0[keyPath: field] = $1[keyPath: field] }
        }
    }

    /// The field of each key declared `.restart` (ConfigSchemaTests checks that these are exactly those keys).
    static let restartFields: [String: RestartField] = [
        "server.listen": RestartField(\.listen),
        "server.freebind": RestartField(\.freebind),
        "server.udp-workers": RestartField(\.udpWorkers),
        "server.pid-file": RestartField(\.pidFile),
        "server.control": RestartField(\.control),
        "server.control-token": RestartField(\.controlToken),
        "server.control-token-file": RestartField(\.controlTokenFile),
        "server.control-hosts": RestartField(\.controlHosts),
        "server.user": RestartField(\.user),
        "server.query-log.enabled": RestartField(\.queryLog.enabled),
        "health.state-dir": RestartField(\.stateDirectory),
        "health.restore-max-age": RestartField(\.restoreMaxAge),
    ]

    /// docs/config.md: every key with its kind, default, reload class and doc line, one table per top-level key
    /// (ConfigSchemaTests checks the committed file against this).
    package static func referenceMarkdown() -> String {
        var out = """
            # Configuration keys

            Made from the schema (`Sources/Server/Config+Schema.swift`, `Sources/Uplinks/Uplinks+Schema.swift`) by
            `UPLINKDNS_WRITE_DOCS=1 swift test --filter ConfigSchemaTests`; a test fails when this file and the schema
            differ. README.md's "Configuration reference" shows the keys in an annotated example. A key left out takes
            its default; a wrong value of any key is refused by `uplinkdns check` and `serve` with the file and line.
            "restart": a reload keeps the running value and says so (README, "What a reload applies").

            To add a key: declare it in the schema beside the type it configures (kind, range, default, reload, doc);
            read it in the parser through its declaration (`r.int(section, "name")`…), which records it as read; set it
            in `everyKey` (Tests/ServerTests/ConfigSchemaTests.swift), with wrong values in `formMistakes` if its kind
            is a free form; rewrite this file as above; add it to README's example where an operator would look for it.

            """
        for top in schema {
            out += "\n## `\(top.name)`\n\n\(top.doc.prefix(1).uppercased() + top.doc.dropFirst()).\n\n"
            out += "| key | value | default | reload | what |\n|---|---|---|---|---|\n"
            for (path, key) in ConfigKey.flatten([top]) {
                let value = key.kind.summary.replacingOccurrences(of: "|", with: "\\|")
                    .replacingOccurrences(of: "\\\\|", with: "\\|")
                let def = key.defaultValue.map { "`\($0)`" } ?? ""
                let doc = key.doc.replacingOccurrences(of: "|", with: "\\|")
                out += "| `\(path)` | \(value) | \(def) | \(key.reload.rawValue) | \(doc) |\n"
            }
        }
        return out
    }
}
