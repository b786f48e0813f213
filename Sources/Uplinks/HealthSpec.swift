// HealthSpec: how a line's health is probed — its checks, how many must pass, timing and hysteresis (config).

/// One probe of a line.
public enum CheckKind: Sendable, Equatable, CustomStringConvertible {
    /// TCP connect to host:port, from the line's inside address.
    case tcp(host: String, port: UInt16)
    /// HTTP GET of a plain `http://` URL, expecting a status in `expect`.
    case http(url: String, expect: ClosedRange<Int>)
    /// ICMP echo to a host through the line (the system `ping -I SOURCE`).
    case icmp(host: String)
    /// A command: exit status 0 = up.
    case exec(command: String)
    /// A file whose first word is `up` or `down` (a ppp ip-up/ip-down script or an operator writes it).
    case file(path: String)
    /// The line's return path on this server (`routing: true`): its inside address, its table's default route via its
    /// gateway and the rule to that table, as `uplinkdns routing --check` verifies them.
    case routing(link: Link)

    /// `tcp 203.0.113.80:80`, as logs and the control API show it.
    public var description: String {
        switch self {
        case .tcp(let h, let p): "tcp \(h.contains(":") ? "[\(h)]" : h):\(p)"
        case .http(let u, _): "http \(u)"
        case .icmp(let h): "icmp \(h)"
        case .exec(let c): "exec \(c)"
        case .file(let p): "file \(p)"
        case .routing(let l): "routing \(l.name)"
        }
    }
}

/// A check with its timing.
public struct CheckSpec: Sendable, Equatable {
    /// What to probe.
    public var kind: CheckKind
    /// Source address to bind (default: the line's `inside` address), so policy routing sends it out of the line.
    public var source: IPAddress?
    /// Seconds between probes.
    public var interval: Double
    /// Seconds a probe may take before it counts as failed.
    public var timeout: Double
    /// The config line.
    @SourceLine public var line: Int?

    /// Makes a check.
    public init(
        kind: CheckKind, source: IPAddress? = nil, interval: Double = 5, timeout: Double = 2.5, line: Int? = nil
    ) {
        self.kind = kind
        self.source = source
        self.interval = interval
        self.timeout = timeout
        self.line = line
    }
}

/// How many of a line's checks must pass in a round for the round to count as good.
public enum Requirement: Sendable, Equatable, CustomStringConvertible {
    /// Every check.
    case all
    /// At least one.
    case any
    /// At least this many.
    case atLeast(Int)

    /// Whether `passed` of `total` satisfies the requirement.
    public func satisfied(passed: Int, total: Int) -> Bool {
        switch self {
        case .all: passed == total
        case .any: passed >= 1 || total == 0
        case .atLeast(let n): passed >= min(n, total)
        }
    }

    /// `all`, `any` or the count.
    public var description: String {
        switch self {
        case .all: "all"
        case .any: "any"
        case .atLeast(let n): "\(n)"
        }
    }
}

/// A line's probing: its checks and the hysteresis that turns rounds into up and down.
public struct HealthSpec: Sendable, Equatable {
    /// The checks (none: the line is always up unless an operator says otherwise).
    public var checks: [CheckSpec]
    /// How many must pass.
    public var require: Requirement
    /// Good rounds in a row that bring a down line up (gdnsd's and keepalived's `rise`).
    public var rise: Int
    /// Bad rounds in a row that take an up line down.
    public var fall: Int
    /// Seconds between rounds (the shortest check interval).
    public var interval: Double { checks.map(\.interval).min() ?? 5 }

    /// Makes a spec; defaults as gdnsd: rise 2, fall 3.
    public init(checks: [CheckSpec] = [], require: Requirement = .all, rise: Int = 2, fall: Int = 3) {
        self.checks = checks
        self.require = require
        self.rise = rise
        self.fall = fall
    }
}
