// Director: the web servers behind the lines — an LVS director's virtual services and their real servers (seeds
// 002–004), from the same config as the lines.

/// The `director:` section: virtual services, each spread over real servers by a scheduler, and what the running
/// server keeps true on this host (`apply`). `routing --for director` renders it for ipvsadm, keepalived or nftables,
/// and `routing --for real-server:ADDRESS` what a DR or TUN real server needs.
public struct Director: Sendable, Equatable {
    /// What `serve` keeps true on this host.
    public enum Apply: String, Sendable, CaseIterable {
        /// An nftables table of its own whose maps follow the real servers' health.
        case nft
        /// The kernel's IPVS table through `ipvsadm` (a failed real server gets weight 0).
        case ipvs
        /// Nothing: the config is only emitted.
        case none
    }

    /// What the running server keeps true (`director.apply`).
    public var apply: Apply = .none
    /// The virtual services, in config order.
    public var services: [VirtualService] = []

    /// An empty director (no services).
    public init(apply: Apply = .none, services: [VirtualService] = []) {
        self.apply = apply
        self.services = services
    }

    /// The real servers of every service, each with its service, in config order.
    public var realServers: [(service: VirtualService, server: RealServer)] {
        services.flatMap { s in s.realServers.map { (s, $0) } }
    }

    /// Every real server as the health module sees it: a `Link` named `SERVICE/ADDRESS` whose checks are the real
    /// server's (no inside address: probes leave by the host's routing). One health module watches lines and real
    /// servers alike.
    public var healthTargets: Uplinks {
        Uplinks(
            links: realServers.map { s, r in
                var l = Link(name: RealServer.name(service: s.name, address: r.address), publicAddresses: [r.address])
                l.health = r.health
                l.line = r.line
                return l
            })
    }
}

/// How a virtual service forwards to its real servers (LVS's three modes, seed 003).
public enum ForwardingMode: String, Sendable, CaseIterable {
    /// The director rewrites the destination (`-m`); replies come back through it (the real servers' gateway).
    case nat
    /// Direct routing (`-g`): the frame goes to the real server's MAC, which holds the VIP on `lo` and replies itself.
    case dr
    /// IP-in-IP tunnelling (`-i`): real servers elsewhere, holding the VIP on `tunl0`.
    case tun
}

/// How a virtual service picks a real server for a new connection (ipvsadm's `-s`).
public enum Scheduler: String, Sendable, CaseIterable {
    /// Round robin.
    case rr
    /// Weighted round robin.
    case wrr
    /// Source hashing: a client address always gets the same real server.
    case sh
    /// Least connections.
    case lc
    /// Weighted least connections.
    case wlc
}

/// One virtual service: a VIP and port (or a firewall mark over several ports), spread over real servers.
public struct VirtualService: Sendable, Equatable {
    /// A unique name (`web`), for messages, the nft map and the real servers' health names.
    public var name: String
    /// The virtual address (VIP).
    public var address: IPAddress
    /// The line whose public address the VIP is, when written as a line's name.
    public var link: String?
    /// The port (nil for a firewall-mark service).
    public var port: UInt16?
    /// The firewall mark (`-f`), with the ports it marks.
    public var fwmark: Int?
    /// The ports a firewall-mark service marks (seed 004: 80 and 443 of one client to one real server).
    public var ports: [UInt16] = []
    /// `tcp` or `udp`.
    public var proto: String = "tcp"
    /// How it forwards.
    public var mode: ForwardingMode = .nat
    /// How it schedules.
    public var scheduler: Scheduler = .wlc
    /// DR with nft: the director's interface the VIP's traffic arrives on and the real servers are reached by.
    public var interface: String?
    /// Seconds a client keeps its real server (`-p`); nil: no persistence.
    public var persistence: Int?
    /// The real servers, in config order.
    public var realServers: [RealServer] = []
    /// The config line.
    @SourceLine public var line: Int?

    /// Makes a service.
    public init(name: String, address: IPAddress, port: UInt16? = nil, line: Int? = nil) {
        self.name = name
        self.address = address
        self.port = port
        self.line = line
    }

    /// The ports its traffic arrives on: its port, or the ports of its mark.
    public var allPorts: [UInt16] { port.map { [$0] } ?? ports }
}

/// One real server behind a virtual service.
public struct RealServer: Sendable, Equatable {
    /// Its address (RIP).
    public var address: IPAddress
    /// Its weight as written (nil: not written, ipvsadm's default 1).
    public var weight: Int?
    /// How its health is probed (none: always in).
    public var health = HealthSpec()
    /// The config line.
    @SourceLine public var line: Int?

    /// Makes a real server.
    public init(address: IPAddress, weight: Int? = nil, line: Int? = nil) {
        self.address = address
        self.weight = weight
        self.line = line
    }

    /// Its weight in the schedule (1 when not written).
    public var effectiveWeight: Int { weight ?? 1 }

    /// The health module's name for a real server: `web/198.18.1.12`.
    public static func name(service: String, address: IPAddress) -> String { "\(service)/\(address)" }
}
