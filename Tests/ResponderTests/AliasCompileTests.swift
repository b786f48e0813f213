// AliasCompileTests: aliases compiled straight from the arenas (issue 27) answer byte for byte as the resolver's
// compile of the same zone (`ResponderOptions.fromArenas` off), in every shape the fast path takes or leaves.

import DNSWire
import Responder
import TestSupport
import Testing
import Uplinks
import Zones

/// A host's zone without cuts: aliases to the pool `www` (some in other cases, one below `www`, one whose target is a
/// suffix of its name, a row of them alike but for their first label's length), to a plain name with A and TXT
/// (also a row, followed by names whose one RRset is MX or SRV, which are no aliases), to a name below the alias
/// itself, to an empty non-terminal, to a name with MX (left to the
/// resolver), to an alias, to the apex, to a name that does not exist, out of the zone, to the pool with TXT beside
/// it; the SOA's MNAME is the pool's name and its RNAME lies below an alias, so that the NODATA's names compress
/// against the alias's target as well as the question.
private let zoneText = """
    $ORIGIN example.com.
    @ 300 IN SOA www hostmaster.a3 1 3600 900 1209600 120
    @ IN NS ns1.example.net.
    a0 IN CNAME www
    A1 IN CNAME WWW.Example.COM.
    a2 IN CNAME www
    a3 7200 IN CNAME www
    x.www IN CNAME www
    deep.down.www IN CNAME down.www
    down.www IN TXT "down"
    b0 IN CNAME plain
    b1 IN CNAME plain
    bbbbbbbbbb2 IN CNAME plain
    bc IN MX 10 plain
    bd IN SRV 0 0 80 plain
    c0 IN CNAME www
    c2 IN CNAME www
    ccc1 IN CNAME www
    su IN CNAME x.sub
    sub IN CNAME x.sub
    x.sub IN TXT "below"
    plain 600 IN A 192.0.2.7
    plain 600 IN A 192.0.2.8
    plain IN TXT "plain" "two"
    e0 IN CNAME ent
    x.ent IN A 192.0.2.9
    m0 IN CNAME mail
    mail IN MX 10 www
    chain IN CNAME a0
    apex IN CNAME @
    gone IN CNAME nowhere
    out IN CNAME www.example.net.
    t0 IN CNAME txtpool
    txtpool IN TXT "beside"
    s0 IN CNAME sticky
    very.long.label.names.here IN CNAME b0.very.long.label.names.here
    b0.very.long.label.names.here IN CNAME plain.example.com.
    """

/// The pools: www and txtpool of one definition, `sticky` alone.
private func plans(up: Set<String>, allDown: AllDownPolicy) -> PoolPlans {
    let links = [unicom, cnc]
    func pool(_ name: String, _ policy: PoolPolicy = .weighted) -> Pool {
        Pool(
            name: try! DomainName(name), members: links.map { PoolMember(link: $0.name) }, policy: policy, ttl: 60,
            allDown: allDown)
    }
    let uplinks = Uplinks(
        links: links,
        pools: [pool("www.example.com."), pool("txtpool.example.com."), pool("sticky.example.com.", .sticky)])
    return PoolPlan.plans(uplinks, up: up, held: [])
}

private func snapshot(fromArenas: Bool, up: Set<String>, allDown: AllDownPolicy) throws -> Snapshot {
    try compiled(zoneText, plans: plans(up: up, allDown: allDown), fromArenas: fromArenas)
}

private let names = [
    "a0", "A1", "a2", "a3", "x.www", "deep.down.www", "b0", "b1", "e0", "m0", "chain", "apex", "gone", "out", "t0",
    "s0", "bbbbbbbbbb2", "bc", "bd", "c0", "c2", "ccc1", "su", "sub", "very.long.label.names.here",
    "b0.very.long.label.names.here",
    "www", "plain", "nx",
]
private let types: [RRType] = [.a, .aaaa, .any, .cname, .txt, .mx, .soa, .ns, .srv, .nsec, RRType(65280)]

@Suite struct AliasCompileTests {
    /// Every question, over UDP and TCP, with and without EDNS, in four line states: the same bytes both ways.
    @Test func fromArenasIsTheResolversCompile() throws {
        // The shapes the fast path takes: a0, A1, a2, a3, x.www, deep.down.www, b0, b1, bbbbbbbbbb2, c0, c2, ccc1, su,
        // sub (whose target lies below it: not shaped as su before it), e0, t0, s0 (a sticky pool has a class of its
        // own) and the long alias's target; the others are left to the resolver.
        try expectFastCompileIsTheResolvers(
            states: [(["unicom", "cnc"], .all), (["unicom"], .all), ([], .none), ([], .servfail)],
            count: \.aliasesFromArenas, expected: 18, names: names, types: types,
            compile: snapshot(fromArenas:up:allDown:))
    }

    /// The answers themselves, as a resolver reads them: the alias then the pool's addresses, the alias then the
    /// target's records, the alias and the NODATA with the served serial.
    @Test func aliasesAnswerThroughTheirChain() throws {
        let fast = try snapshot(fromArenas: true, up: ["unicom", "cnc"], allDown: .all)
        let pool = try ask(fast, "a1.example.com.", .a)
        #expect(pool.answers.map(\.type) == [.cname, .a, .a])
        #expect(pool.answers.dropFirst().allSatisfy { $0.name == (try! DomainName("www.example.com.")) })
        let plain = try ask(fast, "b0.example.com.", .txt)
        #expect(plain.answers.map(\.type) == [.cname, .txt] && plain.answers[1].ttl == 3600)
        let none = try ask(fast, "b0.example.com.", .mx)
        #expect(none.answers.map(\.type) == [.cname] && none.authority.map(\.type) == [.soa])
        #expect(none.authority.first?.soaSerial == 42 && none.authority.first?.ttl == 120)
        let alone = try ask(fast, "a3.example.com.", .cname)
        #expect(alone.answers.count == 1 && alone.answers[0].ttl == 7200)
    }
}
