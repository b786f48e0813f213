// Uplinks: the site's ISP lines and the pools of names answered with their addresses.

import DNSWire

/// Where a definition is in the config file: for messages, not part of what it is. Two definitions that differ only
/// in their line compare equal, so a comment added above them, or a reordering, changes nothing on reload.
@propertyWrapper
public struct SourceLine: Sendable, Equatable {
    /// The config line (1-based), if known.
    public var wrappedValue: Int?
    /// Wraps a line.
    public init(wrappedValue: Int?) { self.wrappedValue = wrappedValue }
    /// Always equal: a line is where a definition is written, not what it defines.
    public static func == (_: SourceLine, _: SourceLine) -> Bool { true }
}

/// One ISP line: the site's public address(es) on it, and how the server reaches its firewall.
public struct Link: Sendable, Equatable {
    /// A short unique name (`unicom`, `cnc`).
    public var name: String
    /// The site's addresses on this line, which DNS hands out (IPv4 and/or IPv6).
    public var publicAddresses: [IPAddress]
    /// Where this line's firewall DNATs to on the server (used by the routing emitter).
    public var inside: IPAddress?
    /// The prefix length of the inside address's subnet (`inside: 192.168.168.1/24`; default 24, or 64 for IPv6).
    public var insidePrefix: Int = 24
    /// This line's firewall or router, seen from the server.
    public var gateway: IPAddress?
    /// The server's interface towards that gateway.
    public var interface: String?
    /// The policy-routing table for this line.
    public var table: Int?
    /// The line's capacity in bits per second, if given.
    public var bandwidth: UInt64?
    /// The weight given explicitly, if any (it overrides the bandwidth).
    public var explicitWeight: Int?
    /// The config line that defines it.
    @SourceLine public var line: Int?
    /// How its health is probed.
    public var health = HealthSpec()

    /// Makes a link.
    public init(
        name: String, publicAddresses: [IPAddress], inside: IPAddress? = nil, gateway: IPAddress? = nil,
        interface: String? = nil, table: Int? = nil, bandwidth: UInt64? = nil, weight: Int? = nil, line: Int? = nil
    ) {
        self.name = name
        self.publicAddresses = publicAddresses
        self.inside = inside
        self.gateway = gateway
        self.interface = interface
        self.table = table
        self.bandwidth = bandwidth
        self.explicitWeight = weight
        self.line = line
    }
}

/// How a pool orders the addresses of its healthy lines.
public enum PoolPolicy: String, Sendable, CaseIterable {
    /// Every healthy address, the order rotating from response to response (DNS round robin, LVS `rr`).
    case roundRobin = "round-robin"
    /// Every healthy address; the first one is line i's with probability weight_i / Σ weights (LVS `wrr`).
    case weighted
    /// The first healthy line in the listed order, alone.
    case failover
    /// The same client network gets the same first line while it is up (LVS persistence, stateless).
    case sticky
}

/// What a pool answers when none of its lines is up.
public enum AllDownPolicy: String, Sendable, CaseIterable {
    /// Fail open: answer as if every line were up (the default; never an empty answer by accident).
    case all
    /// NODATA.
    case none
    /// SERVFAIL.
    case servfail
}

/// One line of a pool, with the addresses the pool hands out for it.
public struct PoolMember: Sendable, Equatable {
    /// The link's name.
    public var link: String
    /// Addresses for this pool on that line (several servers behind one line); nil = the link's public ones.
    public var addresses: [IPAddress]?

    /// Makes a member.
    public init(link: String, addresses: [IPAddress]? = nil) {
        self.link = link
        self.addresses = addresses
    }
}

/// A name inside a served zone whose A and AAAA answers come from lines rather than from the zone file.
public struct Pool: Sendable, Equatable {
    /// The name (absolute).
    public var name: DomainName
    /// Its lines, in the listed order (failover order).
    public var members: [PoolMember]
    /// How the addresses are ordered.
    public var policy: PoolPolicy
    /// Addresses per response; nil = all.
    public var answers: Int?
    /// TTL of the A/AAAA records.
    public var ttl: UInt32
    /// TTL while any of its lines is down (nil: half of `ttl`, as gdnsd does), so resolvers come back sooner.
    public var ttlDegraded: UInt32?
    /// What to answer when every line is down.
    public var allDown: AllDownPolicy
    /// Per client network, its lines in order of preference (`by-network`), as written.
    public var byNetwork: [NetworkChoice] = []
    /// `byNetwork` compiled against the config's networks (nil without `by-network`); pools with the same
    /// `by-network` and policy share one.
    public var networkMap: ClientNetworkMap?
    /// The config line that defines it.
    @SourceLine public var line: Int?
    /// Its class (`Uplinks.assignShareKeys`): pools with the same definition but for the name share a number and
    /// are planned and compiled once (issue 27); -1 until assigned, which shares nothing.
    public var shareKey: Int = -1

    /// Makes a pool.
    public init(
        name: DomainName, members: [PoolMember], policy: PoolPolicy = .roundRobin, answers: Int? = nil,
        ttl: UInt32 = 60, allDown: AllDownPolicy = .all, line: Int? = nil
    ) {
        self.name = name
        self.members = members
        self.policy = policy
        self.answers = answers
        self.ttl = ttl
        self.allDown = allDown
        self.line = line
    }
}

extension Pool {
    /// True when `other` answers exactly as this pool does but for the name: the same lines and addresses, policy,
    /// answer count, TTLs, all-down behaviour and client networks.
    public func sameDefinition(_ other: Pool) -> Bool {
        members == other.members && policy == other.policy && answers == other.answers && ttl == other.ttl
            && ttlDegraded == other.ttlDegraded && allDown == other.allDown && networkMap === other.networkMap
    }
}

/// A published service: what each line's firewall forwards to the server.
public struct Service: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// `tcp` or `udp`.
    public var proto: String
    /// The port.
    public var port: UInt16

    /// Makes a service.
    public init(proto: String, port: UInt16) {
        self.proto = proto
        self.port = port
    }

    /// tcp/80, tcp/443 and DNS over both transports: the server itself is reached over both lines, so its own
    /// replies need the same symmetric routing.
    public static let defaults = [
        Service(proto: "tcp", port: 80), Service(proto: "tcp", port: 443), Service(proto: "udp", port: 53),
        Service(proto: "tcp", port: 53),
    ]

    /// `tcp/80`.
    public var description: String { "\(proto)/\(port)" }
}

/// The lines and pools of a configuration.
public struct Uplinks: Sendable, Equatable {
    /// The lines, in config order.
    public var links: [Link]
    /// The pools, in config order.
    public var pools: [Pool]
    /// The client networks (`networks:`), in config order.
    public var networks: [ClientNetwork] = []
    /// What reading the networks found worth a warning (a prefix in two networks): `check` prints them.
    public var networkWarnings: [ConfigError] = []
    /// What the lines' firewalls forward to the server (`services:`).
    public var services: [Service] = Service.defaults
    /// What the server's routing script does with the main table's default route (`routing.default-route`).
    public var defaultRoute: DefaultRoute = .multipath

    /// The main table's default route in the server's routing script.
    public enum DefaultRoute: String, Sendable, CaseIterable {
        /// Replaced by a multipath route over the routable lines, weighted as the answers (seed 001).
        case multipath
        /// Left as the host has it.
        case keep
    }

    /// Makes a set of lines and pools.
    public init(links: [Link] = [], pools: [Pool] = []) {
        self.links = links
        self.pools = pools
        assignShareKeys()
    }

    /// Numbers the pools' classes (`Pool.shareKey`): pools whose definitions are the same but for the name and the
    /// line that wrote it share one. Called once the pools are read; a pool changed afterwards is checked against
    /// its class before it shares (`Pool.sameDefinition`).
    public mutating func assignShareKeys() {
        struct Key: Hashable {
            var members: [String]
            var addresses: [[IPAddress]?]
            var policy: PoolPolicy
            var answers: Int?
            var ttl: UInt32
            var ttlDegraded: UInt32?
            var allDown: AllDownPolicy
            var networks: ObjectIdentifier?
        }
        var keys: [Key: Int] = [:]
        for i in pools.indices {
            let p = pools[i]
            let key = Key(
                members: p.members.map(\.link), addresses: p.members.map(\.addresses), policy: p.policy,
                answers: p.answers, ttl: p.ttl, ttlDegraded: p.ttlDegraded, allDown: p.allDown,
                networks: p.networkMap.map(ObjectIdentifier.init))
            if let k = keys[key] {
                pools[i].shareKey = k
            } else {
                keys[key] = keys.count
                pools[i].shareKey = keys.count - 1
            }
        }
    }

    /// The link called `name`.
    public func link(_ name: String) -> Link? { links.first { $0.name == name } }

    /// Each link's weight: its explicit `weight`; else its bandwidth relative to the others' (2mbit : 512kbit =
    /// 4 : 1, reduced by the greatest common divisor); else 1.
    public var weights: [String: Int] {
        let bandwidths = links.compactMap { $0.explicitWeight == nil ? $0.bandwidth : nil }.filter { $0 > 0 }
        let divisor = bandwidths.reduce(0) { gcd($0, $1) }
        var out: [String: Int] = [:]
        for l in links {
            if let w = l.explicitWeight {
                out[l.name] = w
            } else if let b = l.bandwidth, b > 0, divisor > 0 {
                out[l.name] = Int(min(b / divisor, 1_000_000))
            } else {
                out[l.name] = 1
            }
        }
        return out
    }
}

func gcd(_ a: UInt64, _ b: UInt64) -> UInt64 { b == 0 ? a : gcd(b, a % b) }
