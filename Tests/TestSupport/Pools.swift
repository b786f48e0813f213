// Pools: the test lines and the pool www.example.com. over them, planned without a config file.

import DNSWire
import Uplinks

/// Line unicom: 192.0.2.10 and 2001:db8::10, 2 Mbit/s (weight 4 beside cnc).
public let unicom = Link(
    name: "unicom", publicAddresses: [IPAddress("192.0.2.10")!, IPAddress("2001:db8::10")!],
    bandwidth: 2 << 20)
/// Line cnc: 198.51.100.10 alone, 512 kbit/s (weight 1).
public let cnc = Link(name: "cnc", publicAddresses: [IPAddress("198.51.100.10")!], bandwidth: 512 << 10)
/// Line ctc: 203.0.113.10 alone, 1 Mbit/s (weight 2).
public let ctc = Link(name: "ctc", publicAddresses: [IPAddress("203.0.113.10")!], bandwidth: 1 << 20)

/// The lines with their IPv4 addresses alone.
public func ipv4Only(_ links: [Link]) -> [Link] {
    links.map { link in
        var l = link
        l.publicAddresses = link.publicAddresses.filter { !$0.isIPv6 }
        return l
    }
}

/// The pool www.example.com. over every one of `links` in order (TTL 60), with `policy`, planned with the lines in
/// `up` (nil: all of them) up and those in `held` out by an operator.
public func poolPlan(
    _ policy: PoolPolicy, links: [Link] = [unicom, cnc], up: Set<String>? = nil, held: Set<String> = [],
    answers: Int? = nil, allDown: AllDownPolicy = .all
) -> PoolPlan {
    let pool = Pool(
        name: try! DomainName("www.example.com."), members: links.map { PoolMember(link: $0.name) },
        policy: policy, answers: answers, ttl: 60, allDown: allDown)
    return PoolPlan(
        pool: pool, uplinks: Uplinks(links: links, pools: [pool]), up: up ?? Set(links.map(\.name)), held: held)
}
