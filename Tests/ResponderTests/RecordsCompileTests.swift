// RecordsCompileTests: names with MX, PTR or SRV compiled straight from the arenas, a pool in their additional data
// joined at query time (issue 27), answer byte for byte as the resolver's compile of the same zone
// (`ResponderOptions.fromArenas` off), in every shape the fast path takes or leaves.

import DNSWire
import Responder
import TestSupport
import Testing
import Uplinks
import Zones

/// A zone without cuts: MX to a dual-stack pool (`www`), to a v4 pool (`mail`), to a sticky pool, to a plain name
/// before and after a pool, to two pools, to a name out of the zone, to one that does not exist, to an alias, to a
/// wildcard's name, to itself, to the same exchange twice (in another case); MX beside A and TXT; PTR in and out of
/// the zone; SRV to a plain name, to a pool (whose name SRV does not compress, RFC 2782: the first address's owner
/// is written at the prefix's end), to a plain name and a pool, below the pool to the pool, to a pool and a name that
/// does not exist, to one pool twice (in another case); MX to a pool of another's class and to an IPv6 pool; long MX
/// and SRV sets that fit in 512 octets without their additional data, not with it; a wildcard with MX (left to the
/// resolver).
private let zoneText = """
    $ORIGIN example.com.
    @ 300 IN SOA ns1 hostmaster 1 3600 900 1209600 120
    @ IN NS ns1
    ns1 IN A 192.0.2.53
    m0 IN MX 10 www
    m1 IN MX 10 mail
    M2 IN MX 10 MAIL.Example.COM.
    m3 IN MX 10 plain
    m3 IN MX 20 mail
    m4 IN MX 10 mail
    m4 IN MX 20 plain
    m5 IN MX 10 mail
    m5 IN MX 20 www
    m6 IN MX 10 mx.example.net.
    m7 IN MX 10 nowhere
    m8 IN MX 10 alias
    m9 IN MX 10 host.w
    m10 IN MX 10 m10
    m10 IN A 192.0.2.77
    m11 IN MX 10 plain
    m11 IN MX 20 PLAIN
    m12 IN MX 10 sticky
    m13 IN MX 10 mail
    m13 IN A 192.0.2.78
    m13 IN TXT "beside"
    x.m1 IN MX 10 m1
    big IN MX 1 mail
    big IN MX 2 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1
    big IN MX 3 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2
    big IN MX 4 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3
    big IN MX 5 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa4
    big IN MX 6 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa5
    big IN MX 7 bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
    p0 IN PTR www.example.com.
    p1 IN PTR host.example.net.
    p2 IN PTR p2.example.com.
    s0 IN SRV 0 5 5060 plain
    s1 IN SRV 0 5 5060 www
    s2 IN SRV 0 5 5060 nowhere
    s3 IN SRV 0 5 5060 MAIL
    s4 IN SRV 0 5 5060 plain
    s4 IN SRV 1 5 5060 mail
    _sip._tcp.mail IN SRV 0 5 5060 mail
    bigs IN SRV 0 5 5060 mail
    bigs IN SRV 1 5 5060 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1
    bigs IN SRV 2 5 5060 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2
    bigs IN SRV 3 5 5060 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3
    bigs IN SRV 4 5 5060 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa4
    bigs IN SRV 5 5 5060 bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
    s5 IN SRV 0 5 5060 mail
    s5 IN SRV 1 5 5060 nowhere
    s6 IN SRV 0 5 5060 mail
    s6 IN SRV 1 5 5060 MAIL
    m14 IN MX 10 mail2
    m15 IN MX 10 mail6
    *.wm IN MX 10 mail
    plain 600 IN A 192.0.2.7
    plain IN AAAA 2001:db8::7
    alias IN CNAME plain
    *.w IN A 192.0.2.9
    """

/// The pools: `www` over both lines (unicom has IPv6), `mail` and `mail2` (one class) over their IPv4 addresses,
/// `mail6` over unicom's IPv6 address alone, `sticky` alone.
private func plans(up: Set<String>, allDown: AllDownPolicy) -> PoolPlans {
    func pool(_ name: String, _ policy: PoolPolicy = .weighted) -> Pool {
        let members =
            name.hasPrefix("mail6")
            ? [PoolMember(link: unicom.name, addresses: unicom.publicAddresses.filter(\.isIPv6))]
            : [unicom, cnc].map { link in
                PoolMember(
                    link: link.name,
                    addresses: name.hasPrefix("mail") ? link.publicAddresses.filter { !$0.isIPv6 } : nil)
            }
        return Pool(name: try! DomainName(name), members: members, policy: policy, ttl: 60, allDown: allDown)
    }
    let uplinks = Uplinks(
        links: [unicom, cnc],
        pools: [
            pool("www.example.com."), pool("mail.example.com."), pool("mail2.example.com."),
            pool("mail6.example.com."), pool("sticky.example.com.", .sticky),
        ])
    return PoolPlan.plans(uplinks, up: up, held: [])
}

private func snapshot(fromArenas: Bool, up: Set<String>, allDown: AllDownPolicy) throws -> Snapshot {
    try compiled(zoneText, plans: plans(up: up, allDown: allDown), fromArenas: fromArenas)
}

private let names = [
    "m0", "m1", "M2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10", "m11", "m12", "m13", "x.m1", "big", "p0", "p1",
    "p2", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "m14", "m15", "M1", "S4", "_sip._tcp.mail", "bigs", "a.wm", "www",
    "mail", "plain", "nx",
]
private let types: [RRType] = [.a, .aaaa, .any, .mx, .ptr, .srv, .txt, .cname, .soa, RRType(65280)]

@Suite struct RecordsCompileTests {
    /// Every question, over UDP and TCP, with and without EDNS, in four line states: the same bytes both ways.
    @Test func fromArenasIsTheResolversCompile() throws {
        // Left to the resolver: m4 (the pool's addresses before another's), m5 (two pools) and the wildcard.
        try expectFastCompileIsTheResolvers(
            states: [(["unicom", "cnc"], .all), (["unicom"], .all), (["cnc"], .all), ([], .servfail)],
            count: \.recordsFromArenas, expected: 28, names: names, types: types,
            compile: snapshot(fromArenas:up:allDown:))
    }

    /// A drain reaches an MX's additional data through the pool's class, and the answers read as a resolver reads
    /// them: the MX, then the pool's addresses owned by the exchange.
    @Test func anMXCarriesThePoolsAddresses() throws {
        let both = try snapshot(fromArenas: true, up: ["unicom", "cnc"], allDown: .all)
        let mx = try ask(both, "m1.example.com.", .mx)
        #expect(mx.answers.map(\.type) == [.mx])
        #expect(Set(mx.additional.map(\.name)) == [try DomainName("mail.example.com.")])
        #expect(
            Set(mx.additional.map { IPAddress(octets: $0.rdata)! }) == [
                IPAddress("192.0.2.10")!, IPAddress("198.51.100.10")!,
            ])
        let drained = try snapshot(fromArenas: true, up: ["unicom"], allDown: .all)
        let after = try ask(drained, "m1.example.com.", .mx)
        #expect(after.additional.map { IPAddress(octets: $0.rdata)! } == [IPAddress("192.0.2.10")!])
        let plain = try ask(drained, "m3.example.com.", .mx)
        #expect(plain.additional.map(\.type) == [.a, .aaaa, .a])
    }
}

/// A zone of delegations: name servers out of the zone, below the cut (glue, IPv4 and IPv6), beside it in the zone
/// (optional additional data), below another cut, a pool (left to the resolver), one written in capitals; a DS at a
/// cut; a cut below an empty non-terminal; a cut below a cut; a DNAME; referrals too long for 512 octets with their
/// glue (TC) and with their optional additional data (left out).
private let delegations = """
    $ORIGIN example.com.
    @ 300 IN SOA ns1 hostmaster 1 3600 900 1209600 120
    @ IN NS ns1
    ns1 IN A 192.0.2.53
    d0 IN NS ns1.hoster.example.net.
    d0 IN NS ns2.hoster.example.net.
    d1 IN NS ns1.d1
    d1 IN NS ns2.d1
    ns1.d1 IN A 192.0.2.101
    ns2.d1 IN A 192.0.2.102
    ns2.d1 IN AAAA 2001:db8::102
    x.d1 IN NS ns.example.net.
    d2 IN NS ns1
    d2 IN NS ns1.d1
    d3 IN NS www
    d4 IN NS NS1.D4.EXAMPLE.COM.
    ns1.d4 IN A 192.0.2.104
    d5 IN NS ns1.d5
    ns1.d5 IN A 192.0.2.105
    d5 IN DS 12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    a.b.d6 86400 IN NS ns.example.net.
    dn IN DNAME example.net.

    """
    + (0..<20).map {
        "d8 IN NS ns\($0).aaaaaaaaaaaaaaaaaaaa.d8\nns\($0).aaaaaaaaaaaaaaaaaaaa.d8 IN A 192.0.2.\($0 + 10)\n"
            + "ns\($0).aaaaaaaaaaaaaaaaaaaa.d8 IN AAAA 2001:db8::\($0 + 10)\n"
    }
    .joined()
    + (0..<10).map { "d9 IN NS h\($0)\nh\($0) IN A 192.0.2.\($0 + 30)\nh\($0) IN AAAA 2001:db8::\($0 + 30)\n" }.joined()

extension RecordsCompileTests {
    /// Every referral and DS answer of the delegations' zone, as the resolver compiles them.
    @Test func referralsAreTheResolvers() throws {
        func compile(_ fromArenas: Bool, _ up: Set<String>, _ allDown: AllDownPolicy) throws -> Snapshot {
            try compiled(delegations, plans: plans(up: up, allDown: allDown), fromArenas: fromArenas)
        }
        // Every cut but d3 (a pool serves it) and x.d1 (below d1, never referred to).
        try expectFastCompileIsTheResolvers(
            states: [(["unicom", "cnc"], .all)], count: \.referralsFromArenas, expected: 8,
            names: [
                "d0", "x.d0", "d1", "ns1.d1", "x.d1", "y.x.d1", "d2", "d3", "d4", "ns1.d4", "d5", "b.d6", "a.b.d6",
                "z.a.b.d6", "d8", "d9", "h1", "dn", "x.dn", "ns1", "nx",
            ], types: [.a, .aaaa, .ns, .ds, .any, .mx, .txt, .soa], compile: compile)
        let referral = try ask(try compile(true, ["unicom", "cnc"], .all), "www.d1.example.com.", .a)
        #expect(referral.authority.map(\.type) == [.ns, .ns] && referral.additional.map(\.type) == [.a, .a, .aaaa])
        #expect(referral.header.flags & Header.Flag.aa == 0)
    }
}
