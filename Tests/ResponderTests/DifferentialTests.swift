// DifferentialTests: the compiled wire answers equal the reference resolver's, for every name and type.

import DNSWire
import Responder
import TestSupport
import Testing
import Zones

@Suite struct DifferentialTests {
    static let zone = try! loadZone(exampleZone)
    static let snapshot = Snapshot(zoneSet: ZoneSet([zone]))

    /// Every name of the zone, plus names below wildcards, cuts, DNAMEs and empty non-terminals, and names
    /// that do not exist, with one to three extra labels so shared bodies are relocated to other lengths.
    static var names: [String] {
        var out = zone.nodes.keys.map(\.description)
        for base in ["wild", "wcname", "sub", "ns.sub", "d", "dlocal", "ent", "b.ent", "exists.wild", "www", ""] {
            let suffix = base.isEmpty ? "example.com." : "\(base).example.com."
            out += ["x.\(suffix)", "a-longer-label.y.\(suffix)", "q.r.s.\(suffix)"]
        }
        return out.sorted()
    }

    static let types: [RRType] = [.a, .aaaa, .ns, .soa, .cname, .mx, .txt, .srv, .ds, .dname, .any, RRType(65280)]

    @Test(arguments: [Transport.udp, .tcp])
    func wireAnswersEqualTheResolver(transport: Transport) throws {
        var checked = 0
        for name in Self.names {
            for type in Self.types {
                let expected = Self.zone.resolve(try DomainName(name), type)
                let m = try ask(Self.snapshot, name, type, edns: EDNSQuery(), transport: transport)
                let what = "\(name) \(type)"
                #expect(m.rcode == expected.rcode, "\(what)")
                #expect(m.header.aa == expected.authoritative, "\(what)")
                #expect(m.answers == expected.answer, "\(what)")
                #expect(m.authority == expected.authority, "\(what)")
                #expect(m.additional.filter { $0.type != .opt } == expected.glue + expected.additional, "\(what)")
                checked += 1
            }
        }
        #expect(checked > 500)
    }

    @Test func parentServesDSAtAHostedChildApex() throws {
        let child = try loadZone(
            """
            $ORIGIN sub.example.com.
            @ 300 IN SOA ns h 1 2 3 4 5
            @ IN NS ns
            ns IN A 192.0.2.53
            www IN A 192.0.2.99
            """, origin: "sub.example.com.")
        let s = Snapshot(zoneSet: ZoneSet([Self.zone, child]))
        let ds = try ask(s, "sub.example.com.", .ds)
        #expect(ds.answers.map(\.type) == [.ds])
        #expect(ds.header.aa)
        let www = try ask(s, "www.sub.example.com.", .a)
        #expect(www.answers.count == 1 && www.header.aa)
        let soa = try ask(s, "sub.example.com.", .soa)
        #expect(soa.answers.first?.soaSerial == 1)
        // The parent's glue below the child apex is not served: the child answers for its own names.
        let nx = try ask(s, "nothing.sub.example.com.", .a)
        let childApex = try DomainName("sub.example.com.")
        #expect(nx.rcode == .nxDomain && nx.authority.first?.name == childApex)
    }
}
