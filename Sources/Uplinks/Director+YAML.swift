// Director+YAML: reads `director:` through its declared keys, every mistake with its line.

import Yams

extension Director {
    /// Reads the `director` node (absent: no services). `links`: the config's lines, whose names a service's
    /// `address` may use for their public address.
    package static func read(_ node: Node?, links: [Link], _ r: inout YAMLReader) -> Director {
        var out = Director()
        guard let node else { return out }
        let d = r.section(node, path: "director", keys: schema)
        if let apply = r.choice(d, "apply", as: Apply.self) { out.apply = apply }
        var names: [String: Int] = [:]
        var endpoints: [String: String] = [:]
        for item in r.list(d, "services") {
            let entry = r.section(
                item, path: "director.services[]", label: "a director.services entry", keys: serviceSchema)
            guard let name = r.string(entry, "name"), !name.isEmpty else {
                r.fail(item, "each director.services entry needs a 'name' (e.g. web)")
                continue
            }
            let m = entry.labeled("director.services[\(name)]")
            let line = m.values["name"]?.mark?.line ?? item.mark?.line
            if let first = names[name] {
                r.fail(m.values["name"], "director service '\(name)' is defined twice (first on line \(first))")
                continue
            }
            names[name] = line ?? 0
            guard let vip = virtualAddress(m, links: links, &r) else { continue }
            var service = VirtualService(name: name, address: vip.address, line: line)
            service.link = vip.link
            service.port = r.int(m, "port").map(UInt16.init)
            service.fwmark = r.int(m, "fwmark")
            for p in r.list(m, "ports") {
                guard let port = r.int(p, what: m.what("ports"), range: 1...65535) else { continue }
                if service.ports.contains(UInt16(port)) {
                    r.fail(p, "\(m.what("ports")) lists \(port) twice")
                } else {
                    service.ports.append(UInt16(port))
                }
            }
            endpoint(service, m, item: item, &r)
            if let p = r.choice(m, "protocol", as: Transport.self) { service.proto = p.rawValue }
            if let v = r.choice(m, "mode", as: ForwardingMode.self) { service.mode = v }
            if let v = r.choice(m, "scheduler", as: Scheduler.self) { service.scheduler = v }
            service.persistence = r.int(m, "persistence")
            service.interface = r.string(m, "interface").flatMap { $0.isEmpty ? nil : $0 }
            if service.interface != nil && service.mode != .dr {
                r.fail(m.values["interface"], "\(m.what("interface")) is for mode dr (nft's netdev fwd)")
            }
            let key = service.fwmark.map { "fwmark \($0)" } ?? "\(service.proto) \(vip.address):\(service.port ?? 0)"
            if let other = endpoints[key] {
                r.fail(item, "director services '\(other)' and '\(name)' are both \(key)")
            }
            endpoints[key] = name
            let (timing, interval, timeout) = Uplinks.healthTiming(m, &r)
            for s in r.list(m, "real-servers") {
                let rs = r.section(
                    s, path: "director.services[].real-servers[]", label: "a \(m.what("real-servers")) entry",
                    keys: realServerSchema)
                guard let addressNode = r.value(rs, "address") else {
                    r.fail(s, "each \(m.what("real-servers")) entry needs an 'address' (e.g. 198.18.1.12)")
                    continue
                }
                guard let address = Uplinks.address(addressNode, what: rs.what("address"), &r) else { continue }
                let label = "director.services[\(name)].real-servers[\(address)]"
                if service.realServers.contains(where: { $0.address == address }) {
                    r.fail(addressNode, "director service '\(name)' lists real server \(address) twice")
                    continue
                }
                if address.isIPv6 != vip.address.isIPv6 {
                    r.fail(
                        addressNode,
                        "\(label): an \(address.isIPv6 ? "IPv6" : "IPv4") real server behind "
                            + "the \(vip.address.isIPv6 ? "IPv6" : "IPv4") virtual address \(vip.address)")
                }
                var server = RealServer(address: address, weight: r.int(rs, "weight"), line: s.mark?.line)
                server.health = timing
                server.health.checks = Uplinks.checks(
                    r.list(rs, "checks"), path: "director.services[].real-servers[].checks[]",
                    what: "\(label).checks", kinds: checkKinds, schema: checkSchema, link: nil,
                    interval: interval, timeout: timeout, &r)
                service.realServers.append(server)
            }
            if service.realServers.isEmpty && !m.has("real-servers") {
                r.fail(item, "director service '\(name)' needs 'real-servers': at least one {address}")
            }
            out.services.append(service)
        }
        if out.apply == .nft {
            for s in out.services where s.mode == .tun || (s.mode == .dr && s.interface == nil) {
                r.fail(
                    d.values["apply"],
                    "director.apply: nft forwards NAT services, and DR with an interface; service '\(s.name)' (line "
                        + "\(s.line ?? 0)) is \(s.mode.rawValue)\(s.mode == .dr ? " without one: add interface" : ""): "
                        + "use apply: ipvs, or none and keepalived (docs/director.md)")
            }
            for s in out.services where s.address.isIPv6 {
                r.fail(d.values["apply"], "director.apply: nft writes an IPv4 table; service '\(s.name)' is IPv6")
            }
        }
        return out
    }

    /// A service's `protocol`.
    private enum Transport: String {
        case tcp, udp
    }

    /// A service's `address`: an address, or a line's name standing for its first IPv4 public address.
    private static func virtualAddress(_ m: ConfigSection, links: [Link], _ r: inout YAMLReader) -> (
        address: IPAddress, link: String?
    )? {
        guard let node = r.value(m, "address") else {
            r.fail(m.node, "\(m.label) needs 'address': the virtual address (VIP), or a line's name")
            return nil
        }
        guard let text = r.string(node, what: m.what("address")) else { return nil }
        if let a = IPAddress(text) { return (a, nil) }
        guard let link = links.first(where: { $0.name == text }) else {
            let known = links.map(\.name).joined(separator: ", ")
            r.fail(
                node,
                "\(m.what("address")): '\(text)' is neither an address nor a line's name "
                    + "(lines: \(known.isEmpty ? "none" : known))")
            return nil
        }
        guard let a = link.publicAddresses.first(where: { !$0.isIPv6 }) ?? link.publicAddresses.first else {
            r.fail(node, "\(m.what("address")): line '\(text)' has no public address")
            return nil
        }
        return (a, link.name)
    }

    /// A service is a port, or a firewall mark with its ports: one or the other, written whole.
    private static func endpoint(_ s: VirtualService, _ m: ConfigSection, item: Node, _ r: inout YAMLReader) {
        switch (m.has("port"), m.has("fwmark")) {
        case (true, true):
            r.fail(m.values["fwmark"], "\(m.label): set port, or fwmark with ports, not both")
        case (false, false):
            r.fail(
                item, "\(m.label) needs 'port' (e.g. 80), or 'fwmark' with 'ports' (e.g. fwmark: 6, ports: [80, 443])")
        case (true, false):
            if m.has("ports") {
                r.fail(m.values["ports"], "\(m.label): ports are for a fwmark service; this one has port")
            }
        case (false, true):
            if s.ports.isEmpty && !m.has("ports") {
                r.fail(
                    m.values["fwmark"],
                    "\(m.label): a fwmark service needs 'ports', the ports it marks (e.g. [80, 443])")
            }
        }
    }
}
