// Director+Schema: the keys of `director:`, its services and their real servers, declared once.

extension Director {
    /// The check kinds a real server takes: a line's, but the routing check (a line's return path).
    package static let checkKinds = Uplinks.checkKinds.filter { $0 != "routing" }

    /// The keys of a real server's `checks:` entry.
    package static let checkSchema: [ConfigKey] = Uplinks.checkSchema.filter { $0.name != "routing" }.map { key in
        key.name == "source"
            ? ConfigKey("source", .address, doc: "the probe's source address (default: the host's choice)") : key
    }

    /// The keys of a `real-servers:` entry.
    package static let realServerSchema: [ConfigKey] = [
        ConfigKey("address", .address, doc: "the real server's address (RIP). Required"),
        ConfigKey(
            "weight", .int(0...65535),
            doc: "its share for wrr and wlc (ipvsadm's -w; default 1); 0 takes it out of new connections"),
        ConfigKey(
            "checks", .entries(checkSchema),
            doc: "probes of the real server, the kinds lines have but routing; none: always in"),
    ]

    /// The keys of a `director.services` entry.
    package static let serviceSchema: [ConfigKey] = [
        ConfigKey("name", .text, doc: "the service's name, unique (`web`)"),
        ConfigKey(
            "address", .form("address, or a line's name"),
            doc: "the virtual address (VIP); a line's name stands for its (first IPv4) public address. Required"),
        ConfigKey("port", .int(1...65535), doc: "the virtual port; or `fwmark` with `ports`"),
        ConfigKey(
            "fwmark", .int(1...0x7FFF_FFFF),
            doc: "a firewall-mark service (ipvsadm -f): the packets to `address` on `ports` are marked with it"),
        ConfigKey("ports", .list(.int(1...65535)), doc: "the ports a fwmark service marks (seed 004: [80, 443])"),
        ConfigKey("protocol", .choice(["tcp", "udp"]), default: "tcp", doc: "the transport"),
        ConfigKey(
            "mode", .choice(ForwardingMode.allCases.map(\.rawValue)), default: "nat",
            doc: "nat (-m), dr (-g: direct routing) or tun (-i: IP-in-IP)"),
        ConfigKey(
            "scheduler", .choice(Scheduler.allCases.map(\.rawValue)), default: "wlc",
            doc: "rr, wrr, sh (source hashing), lc or wlc (least connections), as ipvsadm -s"),
        ConfigKey(
            "persistence", .int(1...31_536_000),
            doc: "seconds a client keeps its real server (ipvsadm -p; default: none)"),
        ConfigKey(
            "interface", .text,
            doc:
                "mode dr with nft: the director's interface the VIP's traffic comes in on and the real servers are on "
                + "(netdev ingress, fwd)"),
        ConfigKey("real-servers", .entries(realServerSchema), doc: "the real servers. At least one"),
        ConfigKey(
            "interval", .number(0.1...3600), default: "5", doc: "seconds between rounds of the real servers' probes"),
        ConfigKey(
            "timeout", .number(0.05...3600), doc: "seconds a probe may take (default: half its interval)"),
        ConfigKey(
            "rise", .int(1...100), default: "\(HealthSpec().rise)",
            doc: "good rounds in a row that put a failed real server back"),
        ConfigKey(
            "fall", .int(1...100), default: "\(HealthSpec().fall)",
            doc: "bad rounds in a row that take a real server out of new connections"),
    ]

    /// The keys of `director`.
    package static let schema: [ConfigKey] = [
        ConfigKey(
            "apply", .choice(Apply.allCases.map(\.rawValue)), default: "none",
            doc:
                "what `serve` keeps true on this host: nft (an nftables table whose maps follow the real servers' "
                + "health), ipvs (ipvsadm) or none (only emitted)"),
        ConfigKey("services", .entries(serviceSchema), doc: "the virtual services (docs/director.md)"),
    ]
}
