// Uplinks+Schema: the keys of `links:`, their `checks:` and `pools:`, declared once (docs/config.md is made from them).

extension Uplinks {
    /// The kinds of probe a `checks:` entry names, one per entry.
    package static let checkKinds = ["tcp", "http", "icmp", "exec", "file", "routing"]

    /// The keys of a `checks:` entry.
    package static let checkSchema: [ConfigKey] = [
        ConfigKey(
            "tcp", .form("HOST:PORT (numeric)"),
            doc: "connect to this numeric address and port, the source bound to the line's inside address"),
        ConfigKey(
            "http", .form("http:// URL (numeric host)"),
            doc: "GET this URL through the line; the status must be in `expect`"),
        ConfigKey("expect", .form("status or range, e.g. 200-399"), doc: "http checks: the statuses that pass (200)"),
        ConfigKey("icmp", .text, doc: "ping this host through the line (the system `ping -I`, which resolves a name)"),
        ConfigKey("exec", .text, doc: "run this command (`sh -c`); exit 0 is up"),
        ConfigKey("file", .path, doc: "read this file: its first word `up` or `down` (a ppp ip-up/ip-down hook)"),
        ConfigKey(
            "routing", .choice(["true"]),
            doc: "the line's return path on this host (inside address, table, rule), as `routing --check` sees it"),
        ConfigKey("source", .address, doc: "the probe's source address (default: the line's `inside`)"),
        ConfigKey(
            "interval", .number(0.1...3600),
            doc:
                "seconds between this check's probes (default: the line's `interval`); its last result counts in between"
        ),
        ConfigKey(
            "timeout", .number(0.05...3600),
            doc: "seconds a probe may take (default: the line's `timeout`, else half the check's interval)"),
    ]

    /// The keys of a `links:` entry.
    package static let linkSchema: [ConfigKey] = [
        ConfigKey("name", .text, doc: "the line's name, unique (free text: the API and CLI percent-encode it)"),
        ConfigKey("public", .list(.address), doc: "the site's address(es) on this line: what DNS answers. Required"),
        ConfigKey(
            "inside", .form("address[/prefix]"),
            doc: "where this line's firewall DNATs to, on the server (default prefix /24, /64 for IPv6)"),
        ConfigKey("gateway", .address, doc: "this line's firewall or router, seen from the server"),
        ConfigKey("interface", .text, doc: "the server's interface towards the gateway"),
        ConfigKey("table", .int(1...0x7FFF_FFFF), doc: "the policy-routing table (rule priority 1000 + table)"),
        ConfigKey("bandwidth", .rate, doc: "the line's rate (2mbit, 512kbit; binary prefixes): its weight"),
        ConfigKey("weight", .int(1...1_000_000), doc: "the line's weight; overrides bandwidth (default 1)"),
        ConfigKey("checks", .entries(checkSchema), doc: "probes through this line (docs/health.md); none: always up"),
        ConfigKey(
            "require", .either([.choice(["all", "any"]), .int(1...64)]), default: "all",
            doc: "how many checks must pass in a round: all, any or a count"),
        ConfigKey("interval", .number(0.1...3600), default: "5", doc: "seconds between rounds of probes"),
        ConfigKey("timeout", .number(0.05...3600), doc: "seconds a probe may take (default: half its interval)"),
        ConfigKey(
            "rise", .int(1...100), default: "\(HealthSpec().rise)",
            doc: "good rounds in a row that bring a down line up"),
        ConfigKey(
            "fall", .int(1...100), default: "\(HealthSpec().fall)", doc: "bad rounds in a row that take an up line down"
        ),
    ]

    /// The keys of a `pools[].links` entry written as a mapping.
    package static let memberSchema: [ConfigKey] = [
        ConfigKey("link", .text, doc: "the line"),
        ConfigKey("addresses", .list(.address), doc: "the addresses behind this line (default: its `public`)"),
    ]

    /// The keys of a `pools:` entry.
    package static let poolSchema: [ConfigKey] = [
        ConfigKey("name", .form("domain name"), doc: "the name answered, inside a served zone"),
        ConfigKey(
            "names", .list(.form("domain name")),
            doc: "more names answered the same way (a host's customers on the same lines), with or instead of name"),
        ConfigKey(
            "names-file", .path,
            doc: "a file of such names, one a line, `#` comments; read at start and on reload"),
        ConfigKey(
            "links", .either([.list(.text), .entries(memberSchema)]),
            doc: "the lines whose addresses it answers with, in failover order; or {link, addresses} per line"),
        ConfigKey(
            "policy", .choice(PoolPolicy.allCases.map(\.rawValue)), default: "round-robin",
            doc: "how the addresses are ordered (docs/answers.md)"),
        ConfigKey(
            "answers", .either([.choice(["all"]), .int(1...64)]), default: "all",
            doc: "addresses per response: all, or a count"),
        ConfigKey("ttl", .int(0...604_800), default: "60", doc: "TTL of the A/AAAA records"),
        ConfigKey("ttl-degraded", .int(0...604_800), doc: "TTL while any of its lines is down (default: half of ttl)"),
        ConfigKey(
            "all-down", .choice(AllDownPolicy.allCases.map(\.rawValue)), default: "all",
            doc: "when no line is up: all (fail open), none (NODATA) or servfail"),
        ConfigKey(
            "by-network", .map(.list(.text)),
            doc:
                "per network (of `networks:`): its clients' lines in order; the first in answers serves them (docs/answers.md)"
        ),
    ]

    /// The keys of a `networks:` entry.
    package static let networkSchema: [ConfigKey] = [
        ConfigKey("name", .text, doc: "the network's name, unique: pools' `by-network` name it"),
        ConfigKey(
            "file", .path,
            doc: "a prefix list: one IPv4 or IPv6 prefix a line, `#` comments; read at start and on reload"),
        ConfigKey("prefixes", .list(.prefix), doc: "prefixes written here, with or instead of `file`"),
    ]

    /// The most networks a config may define (a class number is 16 bits).
    package static let maxNetworks = 65_000
}
