// OverlayTests: a health change builds only the pools' overlay; its answers equal a full recompile's, byte for byte.

import DNSWire
import Responder
import TestSupport
import Testing
import Uplinks
import Zones

@Suite struct OverlayTests {
    /// Every place a pool's records can show up: the pool itself (beside other data), CNAME chains to it (also from
    /// a wildcard), MX and SRV additional data, a delegation whose name server is the pool, ANY.
    static let zoneText = """
        $ORIGIN example.com.
        @ 300 IN SOA ns1 h 7 3600 900 1209600 300
        @ IN NS ns1
        ns1 IN A 192.0.2.1
        @ IN MX 10 www
        www IN TXT "site"
        ftp IN CNAME www
        chain IN CNAME ftp
        *.wc IN CNAME www
        _http._tcp IN SRV 0 5 80 www
        sub IN NS www
        mail IN MX 5 www
        mail IN MX 10 ns1
        other IN A 192.0.2.77
        """

    static let names = [
        "www", "ftp", "chain", "x.wc", "deep.er.wc", "_http._tcp", "sub", "a.sub", "mail", "other", "", "nx",
    ].map { $0.isEmpty ? "example.com." : "\($0).example.com." }
    static let types: [RRType] = [.a, .aaaa, .txt, .mx, .srv, .ns, .soa, .cname, .any, .ds, RRType(65280)]
    static let subsets: [Set<String>] = [[], ["unicom"], ["cnc"], ["unicom", "cnc"], ["unicom", "cnc", "ctc"]]

    static func plans(_ policy: PoolPolicy, allDown: AllDownPolicy, up: Set<String>) throws -> PoolPlans {
        [poolPlan(policy, links: [unicom, cnc, ctc], up: up, allDown: allDown)]
    }

    /// Every response of `snapshot` to every name and type, over UDP and TCP, for several rotation steps and
    /// sticky clients (with and without a client subnet): the bytes, in order.
    static func responses(_ snapshot: Snapshot) throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        let ecs: [UInt8] = [0, 8, 0, 7, 0, 1, 24, 0, 198, 51, 100]
        for name in names {
            for type in types {
                for transport in [Transport.udp, .tcp] {
                    let scratch = QueryScratch(rotationSeed: 3)
                    for client in ["192.0.2.200", "198.51.100.3", "2001:db8::99"] {
                        let q = queryBytes(name, type, edns: EDNSQuery())
                        out.append(
                            respond(
                                snapshot, q, transport: transport, scratch: scratch,
                                client: ClientAddress(IPAddress(client)!)) ?? [])
                    }
                    let withECS = queryBytes(name, type, edns: EDNSQuery(options: ecs))
                    out.append(respond(snapshot, withECS, transport: transport, scratch: scratch) ?? [])
                    let plain = queryBytes(name, type)
                    for _ in 0..<4 {
                        out.append(respond(snapshot, plain, transport: transport, scratch: scratch) ?? [])
                    }
                }
            }
        }
        return out
    }

    @Test(arguments: [PoolPolicy.roundRobin, .weighted, .failover, .sticky])
    func overlayAnswersEqualAFullRecompile(policy: PoolPolicy) throws {
        let zones = ZoneSet([try loadZone(Self.zoneText)])
        let origin = try DomainName("example.com.")
        let start = Snapshot(
            zoneSet: zones, plans: try Self.plans(policy, allDown: .all, up: ["unicom", "cnc", "ctc"]),
            serials: [origin: 7])
        var serial: UInt32 = 7
        var compared = 0
        for allDown in [AllDownPolicy.all, .none, .servfail] {
            for up in Self.subsets {
                serial += 1
                let plans = try Self.plans(policy, allDown: allDown, up: up)
                let full = Snapshot(zoneSet: zones, plans: plans, serials: [origin: serial])
                let overlay = start.updating(plans: plans, serials: [origin: serial], counters: AnswerCounters())
                let expected = try Self.responses(full)
                let got = try Self.responses(overlay)
                #expect(got.count == expected.count)
                for (i, (g, e)) in zip(got, expected).enumerated() where g != e {
                    Issue.record("\(policy) all-down \(allDown) up \(up.sorted()): response \(i) differs")
                    break
                }
                compared += got.count
                // The serial moved in every answer that carries the SOA, though no zone body was rebuilt.
                let soa = try Message(bytes: try #require(respond(overlay, queryBytes("example.com.", .soa))))
                #expect(soa.answers.first?.soaSerial == serial)
                let nx = try Message(bytes: try #require(respond(overlay, queryBytes("nx.example.com.", .a))))
                #expect(nx.authority.first?.soaSerial == serial)
            }
        }
        #expect(compared > 10_000)
    }

    /// The reference: the resolver on the zone with the pool's records put in as ordinary data. A response must
    /// hold one of the plan's variants for the pool, and otherwise exactly what the resolver says.
    @Test(arguments: [PoolPolicy.roundRobin, .weighted, .sticky])
    func overlayAnswersEqualTheResolverForEveryVariant(policy: PoolPolicy) throws {
        let zone = try loadZone(Self.zoneText)
        let www = try DomainName("www.example.com.")
        let start = Snapshot(
            zoneSet: ZoneSet([zone]), plans: try Self.plans(policy, allDown: .all, up: ["unicom", "cnc", "ctc"]))
        var checked = 0
        for allDown in [AllDownPolicy.all, .none, .servfail] {
            for up in Self.subsets {
                let plan = try Self.plans(policy, allDown: allDown, up: up)[0]
                let s = start.updating(plans: [plan], serials: [:], counters: AnswerCounters())
                var sets: [RRset] = []
                for (type, family) in [(RRType.a, plan.v4), (.aaaa, plan.v6)] where !plan.servfail {
                    guard let first = family.variants.first else { continue }
                    sets.append(RRset(name: www, type: type, ttl: plan.ttl, rdatas: first.map(\.octets)))
                }
                let reference = zone.adding(sets, names: [www])
                for name in Self.names {
                    for type in Self.types {
                        let what = "\(policy) \(allDown) \(up.sorted()) \(name) \(type)"
                        let scratch = QueryScratch(rotationSeed: 1)
                        for _ in 0..<3 {
                            let q = queryBytes(name, type, edns: EDNSQuery())
                            let m = try Message(bytes: try #require(respond(s, q, scratch: scratch)))
                            let qname = try DomainName(name)
                            if plan.servfail && qname == www && (type == .a || type == .aaaa) {
                                #expect(m.rcode == .servFail && !m.header.aa, "\(what)")
                                continue
                            }
                            var expected = reference.resolve(qname, type)
                            // The pool's records in the response: one of the plan's variants, in its order.
                            for (t, family) in [(RRType.a, plan.v4), (.aaaa, plan.v6)] {
                                let all = m.answers + m.authority + m.additional
                                let mine = all.filter { $0.type == t && $0.name == www }
                                guard !mine.isEmpty else { continue }
                                let addresses = mine.map { IPAddress(octets: $0.rdata)! }
                                #expect(family.variants.contains(addresses), "\(what): \(addresses)")
                                expected = Self.substitute(expected, www, t, mine)
                            }
                            #expect(m.rcode == expected.rcode, "\(what)")
                            #expect(m.header.aa == expected.authoritative, "\(what)")
                            #expect(m.answers == expected.answer, "\(what)")
                            #expect(m.authority == expected.authority, "\(what)")
                            let additional = m.additional.filter { $0.type != .opt }
                            #expect(additional == expected.glue + expected.additional, "\(what)")
                            checked += 1
                        }
                    }
                }
            }
        }
        #expect(checked > 1000)
    }

    /// `res` with the run of `type` records owned by `pool` replaced by `records` (where the first one was).
    static func substitute(_ res: Resolution, _ pool: DomainName, _ type: RRType, _ records: [ResourceRecord])
        -> Resolution
    {
        func replace(_ section: [ResourceRecord]) -> [ResourceRecord] {
            guard let first = section.firstIndex(where: { $0.type == type && $0.name == pool }) else { return section }
            var out = section.filter { !($0.type == type && $0.name == pool) }
            out.insert(contentsOf: records, at: min(first, out.count))
            return out
        }
        var r = res
        r.answer = replace(r.answer)
        r.authority = replace(r.authority)
        r.glue = replace(r.glue)
        r.additional = replace(r.additional)
        return r
    }

    @Test func aHealthChangeRebuildsOnlyThePoolsAnswers() throws {
        let zones = ZoneSet([try loadZone(Self.zoneText)])
        let all = try Self.plans(.weighted, allDown: .all, up: ["unicom", "cnc", "ctc"])
        let start = Snapshot(zoneSet: zones, plans: all)
        // The pool's own A, AAAA and ANY; the chains' A and AAAA (ftp, chain, the wildcard) and ANY at none of
        // them (ANY at an alias is the alias); MX at the apex and at mail, SRV, the referral to sub.
        #expect(start.poolAnswerCount > 5 && start.poolAnswerCount < 30)
        let drained = start.updating(
            plans: try Self.plans(.weighted, allDown: .all, up: ["unicom"]), serials: [:], counters: AnswerCounters())
        #expect(drained.nameCount == start.nameCount)
        #expect(!start.canUpdate(to: []))
        let a = try Message(bytes: try #require(respond(drained, queryBytes("www.example.com.", .a))))
        #expect(a.answers.map { IPAddress(octets: $0.rdata)!.description } == ["192.0.2.10"])
        let ftp = try Message(bytes: try #require(respond(drained, queryBytes("chain.example.com.", .a))))
        #expect(ftp.answers.map(\.type) == [.cname, .cname, .a])
        // The old snapshot still answers as before: snapshots are immutable.
        let before = try Message(bytes: try #require(respond(start, queryBytes("www.example.com.", .a))))
        #expect(before.answers.count == 3)
    }
}
