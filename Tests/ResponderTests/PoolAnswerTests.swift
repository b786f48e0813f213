// PoolAnswerTests: pools answered from the wire — order per policy, chains through pools, ECS, counters.

import DNSWire
import Responder
import TestSupport
import Testing
import Uplinks
import Zones

let poolZone = """
    $ORIGIN example.com.
    @ 300 IN SOA ns1 h 1 3600 900 1209600 300
    @ IN NS ns1
    ns1 IN A 192.0.2.1
    ftp IN CNAME www
    @ IN MX 10 www
    www IN TXT "site"
    """

/// The pool over unicom and cnc with their IPv4 addresses alone (so AAAA is NODATA).
func poolSnapshot(
    _ policy: PoolPolicy, up: Set<String> = ["unicom", "cnc"], allDown: AllDownPolicy = .all,
    counters: AnswerCounters = AnswerCounters()
) throws -> Snapshot {
    let plan = poolPlan(policy, links: ipv4Only([unicom, cnc]), up: up, allDown: allDown)
    return Snapshot(zoneSet: ZoneSet([try loadZone(poolZone)]), plans: [plan], counters: counters)
}

/// The first A address of each of `n` responses from one worker.
func firstAddresses(
    _ s: Snapshot, _ name: String, _ n: Int, scratch: QueryScratch = QueryScratch(rotationSeed: 0),
    client: ClientAddress = .unknown
) throws -> [String] {
    try (0..<n).map { _ in
        let r = try #require(respond(s, queryBytes(name, .a), scratch: scratch, client: client))
        let a = try #require(try Message(bytes: r).answers.first { $0.type == .a })
        return IPAddress(octets: a.rdata)!.description
    }
}

@Suite struct PoolAnswerTests {
    @Test func weightedFirstPlacesFollowTheWeights() throws {
        let s = try poolSnapshot(.weighted)
        let got = try firstAddresses(s, "www.example.com.", 10)
        #expect(
            got == [
                "192.0.2.10", "192.0.2.10", "198.51.100.10", "192.0.2.10", "192.0.2.10",
                "192.0.2.10", "192.0.2.10", "198.51.100.10", "192.0.2.10", "192.0.2.10",
            ])
    }
}

extension PoolAnswerTests {
    @Test func roundRobinRotatesPerResponse() throws {
        let got = try firstAddresses(try poolSnapshot(.roundRobin), "www.example.com.", 4)
        #expect(got == ["192.0.2.10", "198.51.100.10", "192.0.2.10", "198.51.100.10"])
        let m = try ask(try poolSnapshot(.roundRobin), "www.example.com.", .a)
        #expect(m.answers.count == 2 && m.answers.allSatisfy { $0.ttl == 60 } && m.header.aa)
    }

    @Test func failoverAndADownLine() throws {
        #expect(Set(try firstAddresses(try poolSnapshot(.failover), "www.example.com.", 5)) == ["192.0.2.10"])
        let m = try ask(try poolSnapshot(.failover), "www.example.com.", .a)
        #expect(m.answers.count == 1)
        for policy in PoolPolicy.allCases {
            let s = try poolSnapshot(policy, up: ["cnc"])
            let answers = try ask(s, "www.example.com.", .a).answers
            #expect(answers.map { IPAddress(octets: $0.rdata)!.description } == ["198.51.100.10"], "\(policy)")
            #expect(answers.allSatisfy { $0.ttl == 30 })  // ttl-degraded: half the pool's 60 while a line is down
        }
    }

    @Test func aaaaWithoutIPv6AddressesIsNODATA() throws {
        let m = try ask(try poolSnapshot(.weighted), "www.example.com.", .aaaa)
        #expect(m.rcode == .noError && m.answers.isEmpty && m.authority.first?.type == .soa && m.header.aa)
    }

    @Test func allDownPolicies() throws {
        #expect(try ask(try poolSnapshot(.weighted, up: []), "www.example.com.", .a).answers.count == 2)
        let none = try ask(try poolSnapshot(.weighted, up: [], allDown: .none), "www.example.com.", .a)
        #expect(none.rcode == .noError && none.answers.isEmpty && none.authority.first?.type == .soa)
        let fail = try ask(try poolSnapshot(.weighted, up: [], allDown: .servfail), "www.example.com.", .a)
        #expect(fail.rcode == .servFail && fail.answers.isEmpty)
        // Other data at the name is unaffected.
        #expect(
            try ask(try poolSnapshot(.weighted, up: [], allDown: .servfail), "www.example.com.", .txt).answers.count
                == 1)
    }

    @Test func chainsAndAdditionalDataGoThroughThePool() throws {
        let s = try poolSnapshot(.roundRobin)
        let scratch = QueryScratch(rotationSeed: 0)
        let ftp = try (0..<2).map { _ in
            try Message(bytes: try #require(respond(s, queryBytes("ftp.example.com.", .a), scratch: scratch)))
        }
        #expect(ftp.map { $0.answers.map(\.type) } == [[.cname, .a, .a], [.cname, .a, .a]])
        #expect(ftp[0].answers[1].rdata != ftp[1].answers[1].rdata)  // the chain's end rotates too
        let mx = try ask(s, "example.com.", .mx)
        #expect(mx.additional.filter { $0.type == .a }.count == 2)
        let any = try ask(s, "www.example.com.", .any)
        #expect(any.answers.map(\.type) == [.a, .a])
    }

    @Test func stickyKeepsAClientNetworkOnOneLine() throws {
        let s = try poolSnapshot(.sticky)
        for last in [1, 77, 200] {
            let client = ClientAddress(IPAddress("203.0.113.\(last)")!)
            #expect(Set(try firstAddresses(s, "www.example.com.", 5, client: client)).count == 1)
        }
        // Different /24s spread over both lines.
        let firsts = try (0..<64).map { i in
            try firstAddresses(s, "www.example.com.", 1, client: ClientAddress(IPAddress("198.18.\(i).1")!))[0]
        }
        #expect(Set(firsts).count == 2)
    }

    @Test func ecsScopeIsZeroUnlessTheAnswerDependsOnTheClient() throws {
        // ECS option: family 1, source /24, scope 0, 203.0.113.0
        let ecs: [UInt8] = [0, 8, 0, 7, 0, 1, 24, 0, 203, 0, 113]
        let weighted = try ask(try poolSnapshot(.weighted), "www.example.com.", .a, edns: EDNSQuery(options: ecs))
        #expect(weighted.opt?.rdata == [0, 8, 0, 7, 0, 1, 24, 0, 203, 0, 113])
        let sticky = try ask(try poolSnapshot(.sticky), "www.example.com.", .a, edns: EDNSQuery(options: ecs))
        #expect(sticky.opt?.rdata == [0, 8, 0, 7, 0, 1, 24, 24, 203, 0, 113])
        // The ECS network, not the resolver's address, picks the line.
        let s = try poolSnapshot(.sticky)
        let viaECS = try (0..<3).map { _ in
            try ask(s, "www.example.com.", .a, edns: EDNSQuery(options: ecs)).answers[0].rdata
        }
        #expect(Set(viaECS).count == 1)
        // A malformed ECS (address longer than the prefix needs) is FORMERR (RFC 7871 §6).
        let bad: [UInt8] = [0, 8, 0, 8, 0, 1, 16, 0, 203, 0, 113, 0]
        #expect(try ask(s, "www.example.com.", .a, edns: EDNSQuery(options: bad)).rcode == .formErr)
    }

    @Test func countersCountFirstPlacesPerLine() throws {
        let counters = AnswerCounters()
        let s = try poolSnapshot(.weighted, counters: counters)
        _ = try firstAddresses(s, "www.example.com.", 500)
        let counts = Dictionary(uniqueKeysWithValues: counters.counts.map { ($0.line, $0.count) })
        #expect(counts == ["unicom": 400, "cnc": 100])
        let failover = AnswerCounters()
        _ = try firstAddresses(try poolSnapshot(.failover, counters: failover), "www.example.com.", 7)
        #expect(failover.counts.map { "\($0.line)=\($0.count)" } == ["unicom=7"])
    }
}

@Suite struct QueryStatsTests {
    @Test func countsByTransportZoneTypeAndRCodeWithBoundedLabels() {
        let stats = QueryStats()
        let a = stats.makeBlock(transport: "udp")
        let b = stats.makeBlock(transport: "udp")
        let t = stats.makeBlock(transport: "tcp")
        let zone = ZoneSlots.shared.slot(for: "stats-test.example.")
        #expect(ZoneSlots.shared.slot(for: "stats-test.example.") == zone)
        let noError: [UInt8] = [0, 1, 0x84, 0x00]
        let nx: [UInt8] = [0, 1, 0x84, 0x03]
        noError.withUnsafeBytes { a.count(qtype: 1, zone: zone, response: $0) }
        noError.withUnsafeBytes { b.count(qtype: 1, zone: zone, response: $0) }
        noError.withUnsafeBytes { t.count(qtype: 1, zone: zone, response: $0) }
        nx.withUnsafeBytes { a.count(qtype: 65280, zone: zone, response: $0) }
        [UInt8]().withUnsafeBytes { b.count(qtype: 0, zone: 0, response: $0) }
        // A slot past the table counts as `other`.
        noError.withUnsafeBytes { b.count(qtype: 6, zone: 200, response: $0) }
        let got = Dictionary(
            uniqueKeysWithValues: stats.counts.map { ("\($0.transport)/\($0.zone)/\($0.type)/\($0.rcode)", $0.count) })
        #expect(
            got == [
                "udp/stats-test.example./A/NOERROR": 2, "tcp/stats-test.example./A/NOERROR": 1,
                "udp/stats-test.example./other/NXDOMAIN": 1, "udp/none/other/dropped": 1, "udp/other/SOA/NOERROR": 1,
            ])
    }
}
