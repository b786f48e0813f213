// NetworkAnswerTests: answers by the client's network over the wire — the ECS source prefix or the source address
// picks the line, the ECS scope says for which network, a line out of answers passes its clients on.

import DNSWire
import Responder
import TestSupport
import Testing
import Uplinks
import Zones

/// The pool www.example.com. (weighted over unicom and cnc, IPv4) with unicom's clients in 198.18.0.0/16 and a more
/// specific cnc /24 inside it, cnc's clients in 198.19.0.0/16.
func networkSnapshot(up: Set<String> = ["unicom", "cnc"], counters: AnswerCounters = AnswerCounters()) throws
    -> Snapshot
{
    var p = NetworkPrefixes()
    _ = p.add(Array("198.18.0.0/16".utf8))
    var q = NetworkPrefixes()
    _ = q.add(Array("198.19.0.0/16".utf8))
    _ = q.add(Array("198.18.200.0/24".utf8))
    let nets = [ClientNetwork(name: "unicom-clients", prefixes: p), ClientNetwork(name: "cnc-clients", prefixes: q)]
    let choices = [
        NetworkChoice(network: "unicom-clients", lines: ["unicom", "cnc"]),
        NetworkChoice(network: "cnc-clients", lines: ["cnc", "unicom"]),
    ]
    let links = ipv4Only([unicom, cnc])
    var pool = Pool(
        name: try DomainName("www.example.com."), members: links.map { PoolMember(link: $0.name) },
        policy: .weighted, ttl: 60)
    pool.byNetwork = choices
    pool.networkMap = ClientNetworkMap.build(nets, choices: choices)
    let plan = PoolPlan(pool: pool, uplinks: Uplinks(links: links, pools: [pool]), up: up)
    return Snapshot(zoneSet: ZoneSet([try loadZone(poolZone)]), plans: [plan], counters: counters)
}

/// An ECS option for IPv4 `address`/`source` (RFC 7871 §6).
func ecs(_ address: String, _ source: UInt8) -> [UInt8] {
    let octets = IPAddress(address)!.octets.prefix(Int(source + 7) / 8)
    return [0, 8, 0, UInt8(4 + octets.count), 0, 1, source, 0] + octets
}

@Suite struct NetworkAnswerTests {
    /// The A addresses and the ECS scope of an answer to a query with `option`.
    func answer(_ s: Snapshot, _ option: [UInt8]) throws -> ([String], UInt8?) {
        let m = try ask(s, "www.example.com.", .a, edns: EDNSQuery(options: option))
        let addresses = m.answers.filter { $0.type == .a }.map { IPAddress(octets: $0.rdata)!.description }
        let opt = m.opt?.rdata ?? []
        return (addresses, opt.count >= 8 ? opt[7] : nil)
    }

    @Test func eachNetworkGetsItsLineWithItsScope() throws {
        let s = try networkSnapshot()
        #expect(try answer(s, ecs("198.18.1.0", 24)) == (["192.0.2.10"], 17))  // 198.18.0.0/17 holds no cnc /24
        #expect(try answer(s, ecs("198.18.200.0", 24)) == (["198.51.100.10"], 24))
        #expect(try answer(s, ecs("198.19.7.0", 24)) == (["198.51.100.10"], 16))
        // Everyone else: the pool's policy (weighted, both addresses), scoped to the largest block without a network.
        let other = try answer(s, ecs("203.0.113.0", 24))
        #expect(other.0.count == 2 && other.1 == 5)
        // Source /0: nothing is known of the client; the policy, scope 0 (RFC 7871 §7.1.2).
        let none = try answer(s, [0, 8, 0, 4, 0, 1, 0, 0])
        #expect(none.0.count == 2 && none.1 == 0)
    }

    @Test func withoutECSTheSourceAddressDecides() throws {
        let s = try networkSnapshot()
        let inUnicom = try firstAddresses(s, "www.example.com.", 5, client: ClientAddress(IPAddress("198.18.3.4")!))
        #expect(Set(inUnicom) == ["192.0.2.10"])
        let inCnc = try firstAddresses(s, "www.example.com.", 5, client: ClientAddress(IPAddress("198.18.200.4")!))
        #expect(Set(inCnc) == ["198.51.100.10"])
        let r = try #require(
            respond(s, queryBytes("www.example.com.", .a), client: ClientAddress(IPAddress("198.19.0.1")!)))
        #expect(try Message(bytes: r).answers.count == 1)
    }

    @Test func aLineOutOfAnswersPassesItsClientsToTheNextInTheirList() throws {
        let s = try networkSnapshot(up: ["unicom"])
        #expect(try answer(s, ecs("198.19.7.0", 24)).0 == ["192.0.2.10"])
        #expect(try answer(s, ecs("198.18.1.0", 24)).0 == ["192.0.2.10"])
        // The scope follows the lists, not the health: it does not flap with a line.
        #expect(try answer(s, ecs("198.19.7.0", 24)).1 == 16)
    }

    @Test func countersNameTheNetwork() throws {
        let counters = AnswerCounters()
        let s = try networkSnapshot(counters: counters)
        _ = try firstAddresses(s, "www.example.com.", 3, client: ClientAddress(IPAddress("198.19.0.1")!))
        _ = try firstAddresses(s, "www.example.com.", 5, client: ClientAddress(IPAddress("203.0.113.1")!))
        let byNetwork = counters.networkCounts.filter { $0.count > 0 }.map { "\($0.line)@\($0.network)=\($0.count)" }
        #expect(byNetwork == ["cnc@=1", "cnc@cnc-clients=3", "unicom@=4"])
        #expect(counters.counts.map(\.count) == [4, 4])
    }
}
