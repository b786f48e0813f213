// ResolveTests: the RFC 1034 §4.3.2 lookup, table-driven, with expected records written as zone text.

import DNSWire
import TestSupport
import Testing
import Zones

/// One lookup and what it must return. Sections are zone-text lines (absolute names).
struct LookupCase: CustomTestStringConvertible, Sendable {
    var qname: String
    var qtype: RRType
    var outcome: Outcome
    var rcode: RCode = .noError
    var aa = true
    var answer: [String] = []
    var authority: [String] = []
    var glue: [String] = []
    var additional: [String] = []
    var testDescription: String { "\(qname) \(qtype)" }
}

let soaNeg = "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 1 3600 900 1209600 300"
let wwwA = ["www.example.com. 60 IN A 192.0.2.10", "www.example.com. 60 IN A 198.51.100.10"]
let subReferral = ["sub.example.com. 3600 IN NS ns.sub.example.com.", "sub.example.com. 3600 IN NS ns.other.net."]

let lookupCases: [LookupCase] = [
    // Exact matches keep the RRset's own TTL.
    LookupCase(qname: "www.example.com.", qtype: .a, outcome: .answer, answer: wwwA),
    LookupCase(
        qname: "WWW.Example.COM.", qtype: .aaaa, outcome: .answer,
        answer: ["WWW.Example.COM. 60 IN AAAA 2001:db8::10"]),
    LookupCase(
        qname: "txt.example.com.", qtype: .txt, outcome: .answer,
        answer: ["txt.example.com. 3600 IN TXT \"one\" \"two three\""]),
    // Additional data for MX and SRV targets and the apex NS hosts inside the zone; none for out-of-zone hosts.
    LookupCase(
        qname: "example.com.", qtype: .mx, outcome: .answer, answer: ["example.com. 3600 IN MX 10 mail.example.com."],
        additional: ["mail.example.com. 3600 IN A 192.0.2.25"]),
    LookupCase(
        qname: "_sip._udp.example.com.", qtype: .srv, outcome: .answer,
        answer: ["_sip._udp.example.com. 3600 IN SRV 10 5 5060 www.example.com."],
        additional: wwwA + ["www.example.com. 60 IN AAAA 2001:db8::10"]),
    LookupCase(
        qname: "example.com.", qtype: .ns, outcome: .answer,
        answer: ["example.com. 3600 IN NS ns1.example.com.", "example.com. 3600 IN NS ns2.other.net."],
        additional: ["ns1.example.com. 3600 IN A 192.0.2.1"]),
    // NODATA and NXDOMAIN carry the SOA with TTL min(SOA TTL, MINIMUM) (RFC 2308 §3).
    LookupCase(qname: "www.example.com.", qtype: .mx, outcome: .noData, authority: [soaNeg]),
    LookupCase(qname: "nope.example.com.", qtype: .a, outcome: .nxDomain, rcode: .nxDomain, authority: [soaNeg]),
    // Empty non-terminal: NODATA; below it: NXDOMAIN.
    LookupCase(qname: "b.ent.example.com.", qtype: .a, outcome: .noData, authority: [soaNeg]),
    LookupCase(qname: "ent.example.com.", qtype: .any, outcome: .noData, authority: [soaNeg]),
    LookupCase(qname: "x.b.ent.example.com.", qtype: .a, outcome: .nxDomain, rcode: .nxDomain, authority: [soaNeg]),
    // CNAME chains inside the zone are followed; out of zone: the CNAME alone; dangling: NXDOMAIN with the CNAME.
    LookupCase(
        qname: "chain.example.com.", qtype: .a, outcome: .cname,
        answer: [
            "chain.example.com. 3600 IN CNAME alias.example.com.",
            "alias.example.com. 3600 IN CNAME www.example.com.",
        ] + wwwA),
    LookupCase(
        qname: "alias.example.com.", qtype: .mx, outcome: .cname,
        answer: ["alias.example.com. 3600 IN CNAME www.example.com."], authority: [soaNeg]),
    LookupCase(
        qname: "outside.example.com.", qtype: .a, outcome: .cname,
        answer: ["outside.example.com. 3600 IN CNAME www.other.net."]),
    LookupCase(
        qname: "dangling.example.com.", qtype: .a, outcome: .cname, rcode: .nxDomain,
        answer: ["dangling.example.com. 3600 IN CNAME nothing.example.com."], authority: [soaNeg]),
    LookupCase(
        qname: "loop1.example.com.", qtype: .a, outcome: .cname,
        answer: [
            "loop1.example.com. 3600 IN CNAME loop2.example.com.",
            "loop2.example.com. 3600 IN CNAME loop1.example.com.",
        ]),
    // qtype CNAME and ANY at an alias return the CNAME alone.
    LookupCase(
        qname: "alias.example.com.", qtype: .cname, outcome: .answer,
        answer: ["alias.example.com. 3600 IN CNAME www.example.com."]),
    LookupCase(
        qname: "alias.example.com.", qtype: .any, outcome: .cname,
        answer: ["alias.example.com. 3600 IN CNAME www.example.com."]),
    // ANY: one RRset, the lowest type code (RFC 8482).
    LookupCase(qname: "www.example.com.", qtype: .any, outcome: .answer, answer: wwwA),
    // Wildcards (RFC 4592): owner = query name, several labels deep, NODATA, literal *, shadowing, CNAME.
    LookupCase(
        qname: "host.wild.example.com.", qtype: .a, outcome: .answer,
        answer: ["host.wild.example.com. 3600 IN A 192.0.2.77"]),
    LookupCase(
        qname: "a.b.c.wild.example.com.", qtype: .txt, outcome: .answer,
        answer: ["a.b.c.wild.example.com. 3600 IN TXT \"wild\""]),
    LookupCase(qname: "host.wild.example.com.", qtype: .mx, outcome: .noData, authority: [soaNeg]),
    LookupCase(
        qname: "*.wild.example.com.", qtype: .a, outcome: .answer,
        answer: ["*.wild.example.com. 3600 IN A 192.0.2.77"]),
    LookupCase(qname: "exists.wild.example.com.", qtype: .a, outcome: .noData, authority: [soaNeg]),
    LookupCase(
        qname: "below.exists.wild.example.com.", qtype: .a, outcome: .nxDomain, rcode: .nxDomain,
        authority: [soaNeg]),
    LookupCase(
        qname: "x.wcname.example.com.", qtype: .a, outcome: .cname,
        answer: ["x.wcname.example.com. 3600 IN CNAME www.example.com."] + wwwA),
    // Referrals: AA clear, NS in authority, in-bailiwick glue; DS at the cut answered by the parent.
    LookupCase(
        qname: "sub.example.com.", qtype: .a, outcome: .referral, aa: false, authority: subReferral,
        glue: ["ns.sub.example.com. 3600 IN A 192.0.2.53"]),
    LookupCase(
        qname: "deep.in.sub.example.com.", qtype: .mx, outcome: .referral, aa: false, authority: subReferral,
        glue: ["ns.sub.example.com. 3600 IN A 192.0.2.53"]),
    LookupCase(
        qname: "ns.sub.example.com.", qtype: .a, outcome: .referral, aa: false, authority: subReferral,
        glue: ["ns.sub.example.com. 3600 IN A 192.0.2.53"]),
    LookupCase(
        qname: "sub.example.com.", qtype: .ds, outcome: .answer,
        answer: [
            "sub.example.com. 3600 IN DS 12345 8 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
        ]),
    // DNAME (RFC 6672): the DNAME and a synthesised CNAME with its TTL; followed when the target is in the zone.
    LookupCase(
        qname: "www.d.example.com.", qtype: .a, outcome: .dname,
        answer: [
            "d.example.com. 3600 IN DNAME target.example.net.",
            "www.d.example.com. 3600 IN CNAME www.target.example.net.",
        ]),
    LookupCase(
        qname: "d.example.com.", qtype: .dname, outcome: .answer,
        answer: ["d.example.com. 3600 IN DNAME target.example.net."]),
    LookupCase(
        qname: "x.dlocal.example.com.", qtype: .a, outcome: .dname, rcode: .nxDomain,
        answer: [
            "dlocal.example.com. 3600 IN DNAME www.example.com.",
            "x.dlocal.example.com. 3600 IN CNAME x.www.example.com.",
        ], authority: [soaNeg]),
]

@Suite struct ResolveTests {
    static let zone: Zone = try! loadZone(exampleZone)

    @Test(arguments: lookupCases)
    func lookup(_ c: LookupCase) throws {
        let res = Self.zone.resolve(try DomainName(c.qname), c.qtype)
        #expect(res.outcome == c.outcome)
        #expect(res.rcode == c.rcode)
        #expect(res.authoritative == c.aa)
        #expect(res.answer == (try records(c.answer)))
        #expect(res.authority == (try records(c.authority)))
        #expect(res.glue == (try records(c.glue)))
        #expect(Set(res.additional) == Set(try records(c.additional)))
    }

    @Test func answerOwnersKeepTheQueryCase() throws {
        let res = Self.zone.resolve(try DomainName("HoSt.WiLd.example.com."), .a)
        #expect(res.answer.first?.name.description == "HoSt.WiLd.example.com.")
    }

    @Test func tooLongDNAMESubstitutionIsYXDOMAIN() throws {
        let zone = try loadZone(
            """
            $ORIGIN example.com.
            @ 300 IN SOA ns1 h 1 2 3 4 5
            @ IN NS ns1
            ns1 IN A 192.0.2.1
            d IN DNAME \(String(repeating: "a", count: 63)).\(String(repeating: "b", count: 63)).\(String(repeating: "c", count: 63)).
            """)
        let long = String(repeating: "x", count: 60) + "." + String(repeating: "y", count: 60) + ".d.example.com."
        let res = zone.resolve(try DomainName(long), .a)
        #expect(res.rcode == RCode(rawValue: 6))
        #expect(res.answer.map(\.type) == [.dname])
    }

    @Test func zoneSetPicksTheLongestSuffixAndTheParentForDS() throws {
        let parent = try loadZone(exampleZone)
        let child = try loadZone(
            """
            $ORIGIN sub.example.com.
            @ 300 IN SOA ns h 1 2 3 4 5
            @ IN NS ns
            ns IN A 192.0.2.53
            www IN A 192.0.2.99
            """, origin: "sub.example.com.")
        let set = ZoneSet([parent, child])
        #expect(set.zone(for: try DomainName("www.sub.example.com."), qtype: .a)?.origin == child.origin)
        #expect(set.zone(for: try DomainName("sub.example.com."), qtype: .ds)?.origin == parent.origin)
        #expect(set.zone(for: try DomainName("www.example.com."), qtype: .a)?.origin == parent.origin)
        #expect(set.zone(for: try DomainName("example.org."), qtype: .a) == nil)
        #expect(set.resolve(try DomainName("www.sub.example.com."), .a)?.answer.count == 1)
    }
}
