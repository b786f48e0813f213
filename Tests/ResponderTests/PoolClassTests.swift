// PoolClassTests: many names on the same lines (issue 27) — pools of one definition compiled once per class, aliases
// to a pool joined at query time, and both answering byte for byte as when every name is compiled on its own.

import DNSWire
import Responder
import TestSupport
import Testing
import Uplinks
import Zones

/// A host's zone: customers' own pools (c0…), aliases to the service pool `www` (a0…), an alias to a customer pool,
/// a chain of two aliases, a wildcard alias, MX and NS pointing at pools, a pool with other data beside it, and a
/// pool in a second served zone.
private let hostZone = """
    $ORIGIN example.com.
    @ 300 IN SOA ns1 h 1 3600 900 1209600 300
    @ IN NS ns1
    ns1 IN A 192.0.2.1
    @ IN MX 10 www
    a0 IN CNAME www
    a1 IN CNAME www
    a2 IN CNAME c3
    chain IN CNAME a0
    *.wild IN CNAME www
    mx IN MX 5 c1
    txtpool IN TXT "beside"
    sub IN NS c2
    other IN CNAME www.example.net.
    x.www IN CNAME www
    apex IN CNAME @
    """

private let netZone = """
    $ORIGIN example.net.
    @ 300 IN SOA ns1.example.com. h 7 3600 900 1209600 300
    @ IN NS ns1.example.com.
    """

/// The pools: www and five customer pools with one definition, `txtpool` with the same definition, `odd` alone (a
/// sticky pool), www.example.net. like www. `shared`: classes numbered (as a config read from YAML has them); else
/// every pool compiled on its own (the path before classes).
private func hostPlans(up: Set<String>, held: Set<String> = [], allDown: AllDownPolicy = .all, shared: Bool)
    -> PoolPlans
{
    let links = [unicom, cnc]
    func pool(_ name: String, _ policy: PoolPolicy = .weighted) -> Pool {
        Pool(
            name: try! DomainName(name), members: links.map { PoolMember(link: $0.name) }, policy: policy, ttl: 60,
            allDown: allDown)
    }
    var pools = [
        pool("www.example.com."), pool("www.example.net."), pool("txtpool.example.com."),
        pool("odd.example.com.", .sticky),
    ]
    pools += (0..<5).map { pool("c\($0).example.com.") }
    var uplinks = Uplinks(links: links, pools: pools)
    if !shared {
        for i in uplinks.pools.indices { uplinks.pools[i].shareKey = -1 }
    }
    return PoolPlan.plans(uplinks, up: up, held: held)
}

private func hostSnapshot(
    up: Set<String> = ["unicom", "cnc"], allDown: AllDownPolicy = .all, shared: Bool,
    counters: AnswerCounters = AnswerCounters()
) throws -> Snapshot {
    Snapshot(
        zoneSet: ZoneSet([try loadZone(hostZone), try loadZone(netZone, origin: "example.net.")]),
        plans: hostPlans(up: up, allDown: allDown, shared: shared), counters: counters)
}

/// Every question the differential test asks.
private let questions: [(String, RRType)] = {
    let names = [
        "www.example.com.", "WwW.Example.COM.", "a0.example.com.", "A1.example.com.", "a2.example.com.",
        "chain.example.com.", "x.wild.example.com.", "mx.example.com.", "example.com.", "txtpool.example.com.",
        "odd.example.com.", "c0.example.com.", "c4.example.com.", "sub.example.com.", "x.sub.example.com.",
        "other.example.com.", "www.example.net.", "nx.example.com.", "x.www.example.com.", "X.WWW.example.com.",
        "apex.example.com.",
    ]
    return names.flatMap { n in [RRType.a, .aaaa, .any, .mx, .txt, .cname, .ns].map { (n, $0) } }
}()

@Suite struct PoolClassTests {
    /// Classes and joins answer exactly as every name compiled alone: the same bytes for every question, with
    /// every line up, one line drained, every line down (failing open, NODATA, SERVFAIL), over UDP and TCP, and
    /// through a rotation (one worker's counter from the same seed on both sides).
    @Test func sharedAnswersAreTheSameBytes() throws {
        let states: [(Set<String>, AllDownPolicy)] = [
            (["unicom", "cnc"], .all), (["unicom"], .all), (["cnc"], .all), ([], .all), ([], .none), ([], .servfail),
        ]
        for (up, allDown) in states { try sameBytes(up: up, allDown: allDown) }
    }

    func sameBytes(up: Set<String>, allDown: AllDownPolicy) throws {
        let shared = try hostSnapshot(up: up, allDown: allDown, shared: true)
        let alone = try hostSnapshot(up: up, allDown: allDown, shared: false)
        #expect(shared.poolAnswerCount < alone.poolAnswerCount)
        for transport in [Transport.udp, .tcp] {
            let a = QueryScratch(rotationSeed: 3)
            let b = QueryScratch(rotationSeed: 3)
            for (name, type) in questions + questions {
                let q = queryBytes(name, type, edns: EDNSQuery(options: []))
                let got = respond(shared, q, transport: transport, scratch: a)
                let want = respond(alone, q, transport: transport, scratch: b)
                #expect(got == want, "\(name) \(type) over \(transport) with \(up.sorted()) up")
            }
        }
        // The alias carries the pool's addresses (RFC 1034 §3.6.2: the chain, then the target's records).
        let alias = try ask(shared, "a0.example.com.", .a)
        if !up.isEmpty || allDown == .all {
            #expect(alias.answers.first?.type == .cname && alias.answers.dropFirst().allSatisfy { $0.type == .a })
            #expect(alias.answers.count > 1)
        } else {
            #expect(alias.answers.map(\.type) == [.cname] && alias.authority.first?.type == .soa)
        }
    }

    /// Metrics still see each name: a pool's answers count for the pool, an alias's for its target.
    @Test func eachNameCountsApart() throws {
        let counters = AnswerCounters()
        let shared = try hostSnapshot(shared: true, counters: counters)
        let s = QueryScratch(rotationSeed: 0)
        for _ in 0..<5 { _ = respond(shared, queryBytes("a0.example.com.", .a), scratch: s) }
        for _ in 0..<5 { _ = respond(shared, queryBytes("c1.example.com.", .a), scratch: s) }
        // Each name counts apart: the alias's answers count for its target, the pool's for itself.
        let www = counters.counts.filter { $0.pool == "www.example.com." }.reduce(0) { $0 + $1.count }
        let c1 = counters.counts.filter { $0.pool == "c1.example.com." }.reduce(0) { $0 + $1.count }
        #expect(www == 5 && c1 == 5)
        #expect(counters.counts.allSatisfy { $0.pool != "c2.example.com." })
    }

    /// A health change compiles each class once: a thousand pools of one definition and a thousand aliases to one
    /// pool cost the same groups as one of each, before and after a drain (counted, not timed).
    @Test func aDrainCompilesEachClassOnce() throws {
        let links = [unicom, cnc]
        func pool(_ name: String) -> Pool {
            Pool(name: try! DomainName(name), members: links.map { PoolMember(link: $0.name) }, policy: .weighted)
        }
        func snapshot(_ n: Int) throws -> (Snapshot, Uplinks) {
            var text = hostZone
            for i in 0..<n { text += "\nalias\(i) IN CNAME www" }
            let uplinks = Uplinks(
                links: links, pools: [pool("www.example.com.")] + (0..<n).map { pool("p\($0).example.com.") })
            let s = Snapshot(
                zoneSet: ZoneSet([try loadZone(text)]), plans: PoolPlan.plans(uplinks, up: ["unicom", "cnc"]))
            return (s, uplinks)
        }
        let (one, _) = try snapshot(1)
        let (many, uplinks) = try snapshot(1000)
        #expect(many.compiledGroups == one.compiledGroups)
        #expect(many.poolAnswerCount == one.poolAnswerCount)
        // Plans are made once per class, and compared once per class.
        let now = PoolPlan.plans(uplinks, up: ["unicom", "cnc"])
        #expect(PoolPlan.sameAnswers(now, PoolPlan.plans(uplinks, up: ["unicom", "cnc"])))
        #expect(!PoolPlan.sameAnswers(now, PoolPlan.plans(uplinks, up: ["unicom"])))
        #expect(try now[1].v4 == now[1000].v4 && now[1000].pool.name == DomainName("p999.example.com."))
        let drained = many.updating(
            plans: PoolPlan.plans(uplinks, up: ["unicom"]), serials: [:], counters: AnswerCounters())
        #expect(drained.compiledGroups == one.compiledGroups)
        // And the answers follow the drain, for pools and aliases alike.
        for name in ["p500.example.com.", "alias999.example.com.", "www.example.com."] {
            let m = try ask(drained, name, .a)
            #expect(
                m.answers.filter { $0.type == .a }.map { IPAddress(octets: $0.rdata)!.description } == ["192.0.2.10"])
        }
    }
}
