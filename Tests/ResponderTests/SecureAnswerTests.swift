// SecureAnswerTests: DO queries to a signed zone through the query path — signatures only with DO, the per-worker
// cache giving the same bytes as a fresh answer, and never an answer of a snapshot the worker has left.

import DNSSEC
import DNSWire
import Foundation
import Responder
import TestSupport
import Testing
import Zones

@Suite struct SecureAnswerTests {
    let origin = try! DomainName("example.com.")

    /// The example zone signed, as the server's builder makes it, with www's second address optional.
    func signed(www: [UInt8]) throws -> Zone {
        let text = exampleZone.replacingOccurrences(of: "www  60 IN A   198.51.100.10\n", with: "")
        var zone = try loadZone(text)
        zone = zone.adding([
            RRset(name: try DomainName("www.example.com."), type: .a, ttl: 60, rdatas: [[192, 0, 2, 10], www])
        ])
        let key = SigningKey.generate(zone: origin, algorithm: .ed25519)
        let added = try ZoneSigner().additions(
            origin: origin, records: zone.records, keys: [key], now: UInt32(Date().timeIntervalSince1970))
        return try Zone.build(origin: origin, records: zone.records + added)
    }

    @Test func doQueriesGetSignaturesFromTheCacheAndNeverFromAnOldSnapshot() throws {
        let first = try signed(www: [198, 51, 100, 10])
        let s1 = Snapshot(zoneSet: ZoneSet([first]), secure: [origin: first])
        let scratch = QueryScratch()
        let q = queryBytes("WWW.example.com.", .a, edns: EDNSQuery(dnssecOK: true))
        let fresh = try #require(respond(s1, q, scratch: scratch))
        let cached = try #require(respond(s1, q, scratch: scratch))
        #expect(fresh == cached)
        let m = try Message(bytes: cached)
        #expect(m.answers.contains { $0.type == .rrsig } && m.opt.map { $0.ttl & 0x8000 != 0 } == true)
        #expect(m.questions.first?.name.description == "WWW.example.com.")  // the client's case, as always
        // Without DO: the compiled answer, no signatures.
        let plain = try Message(
            bytes: try #require(respond(s1, queryBytes("www.example.com.", .a), scratch: scratch)))
        #expect(!plain.answers.contains { $0.type == .rrsig })
        // A new snapshot (another address): the same worker answers from it, not from its cache.
        let second = try signed(www: [203, 0, 113, 10])
        let s2 = Snapshot(zoneSet: ZoneSet([second]), secure: [origin: second])
        let after = try Message(bytes: try #require(respond(s2, q, scratch: scratch)))
        #expect(after.answers.contains { $0.rdata == [203, 0, 113, 10] })
        #expect(!after.answers.contains { $0.rdata == [198, 51, 100, 10] })
        // NXDOMAIN with its proofs, twice the same.
        let nx = queryBytes("nothing.example.com.", .a, edns: EDNSQuery(dnssecOK: true))
        let n1 = try Message(bytes: try #require(respond(s2, nx, scratch: scratch)))
        #expect(n1.rcode == .nxDomain && n1.authority.filter { $0.type == .nsec }.count == 2)
        #expect(respond(s2, nx, scratch: scratch) == respond(s2, nx, scratch: QueryScratch()))
        // Another name between the same NSECs: the proofs' answer kept once serves it, with its own question, and
        // the same octets as a worker that never saw the first name gives.
        for other in ["nothing2.example.com.", "NOTHING3.example.com.", "x.y.nothing.example.com."] {
            let q2 = queryBytes(other, .mx, edns: EDNSQuery(dnssecOK: true))
            let reply = try #require(respond(s2, q2, scratch: scratch))
            #expect(reply == respond(s2, q2, scratch: QueryScratch()), "\(other)")
            let m2 = try Message(bytes: reply)
            #expect(m2.rcode == .nxDomain && m2.questions.first?.name.description == other)
            #expect(Set(m2.authority.filter { $0.type == .nsec }) == Set(n1.authority.filter { $0.type == .nsec }))
        }
    }

    /// The DS of a child zone served here too is the parent's answer (RFC 4035 §3.1.4.1): with DO, signed by the
    /// signed parent, not the child's NODATA.
    @Test func theDSOfAServedChildIsTheParentsSignedAnswer() throws {
        let parent = try signed(www: [198, 51, 100, 10])
        let child = try loadZone(
            "$ORIGIN sub.example.com.\n@ 300 IN SOA ns h 1 2 3 4 5\n@ IN NS ns\nns IN A 192.0.2.53\n",
            origin: "sub.example.com.")
        let s = Snapshot(zoneSet: ZoneSet([parent, child]), secure: [origin: parent])
        let q = queryBytes("sub.example.com.", .ds, edns: EDNSQuery(dnssecOK: true))
        let m = try Message(bytes: try #require(respond(s, q)))
        #expect(m.rcode == .noError && m.answers.map(\.type) == [.ds, .rrsig], "\(m.answers)")
        // Asked of the child itself, its own data answers (SOA with DO carries no signature: the child is not signed).
        let soa = try Message(
            bytes: try #require(respond(s, queryBytes("sub.example.com.", .soa, edns: EDNSQuery(dnssecOK: true)))))
        #expect(soa.answers.map(\.type) == [.soa])
    }

    /// The example zone as the server serves it: compiled from the file, which holds no DNSSEC records, with the
    /// zone signed (NSEC or NSEC3) beside it for DO answers and the zone named signed in the options.
    func served(nsec3: Bool) throws -> (Snapshot, Zone) {
        let zone = try loadZone(exampleZone)
        let key = SigningKey.generate(zone: origin, algorithm: .ed25519)
        let added = try ZoneSigner().additions(
            origin: origin, records: zone.records, keys: [key], denial: nsec3 ? .nsec3 : .nsec,
            now: UInt32(Date().timeIntervalSince1970))
        let signed = try Zone.build(origin: origin, records: zone.records + added)
        let snapshot = Snapshot(
            zoneSet: ZoneSet([zone]), options: ResponderOptions(signedZones: [origin]), secure: [origin: signed])
        return (snapshot, signed)
    }

    /// DNSSEC records asked for by type are answered with or without DO, as Knot, NSD and BIND answer them: DO
    /// decides whether RRSIGs come too (RFC 4035 §3.1.1), not whether the records are there.
    @Test(arguments: [false, true])
    func dnssecRecordsAskedForAreAnsweredWithoutDO(nsec3: Bool) throws {
        let (s, signed) = try served(nsec3: nsec3)
        var asked: [(String, RRType)] = [("example.com.", .dnskey), ("example.com.", .cds), ("example.com.", .cdnskey)]
        asked += [("sub.example.com.", .ds)]
        asked +=
            nsec3
            ? [("example.com.", .nsec3param)]
            : [("example.com.", .nsec), ("www.example.com.", .nsec), ("alias.example.com.", .nsec)]
        for (name, type) in asked {
            let want = try #require(signed.rrset(try DomainName(name), type), "\(name) \(type) in the signed zone")
            let plain = try ask(s, name, type, edns: EDNSQuery())
            #expect(plain.rcode == .noError && plain.header.flags & Header.Flag.aa != 0, "\(name) \(type)")
            #expect(plain.answers.allSatisfy { $0.type == type }, "\(name) \(type) without DO: \(plain.answers)")
            #expect(Set(plain.answers.map(\.rdata)) == Set(want.rdatas), "\(name) \(type) without DO")
            #expect(plain.answers.allSatisfy { $0.ttl == want.ttl }, "\(name) \(type) without DO")
            #expect(try ask(s, name, type).answers.count == want.rdatas.count, "\(name) \(type) without EDNS")
            let secure = try ask(s, name, type, edns: EDNSQuery(dnssecOK: true))
            #expect(secure.answers.filter { $0.type == type }.count == want.rdatas.count, "\(name) \(type) with DO")
            #expect(secure.answers.contains { $0.type == .rrsig }, "\(name) \(type) with DO: \(secure.answers)")
        }
        // Not there: NODATA as before (no NSEC3PARAM in an NSEC zone, no NSEC at an NSEC3 zone's names).
        let absent = try ask(s, "example.com.", nsec3 ? .nsec : .nsec3param, edns: EDNSQuery())
        #expect(absent.rcode == .noError && absent.answers.isEmpty)
        // A build over the same compiled zones whose signed zone has other keys (a signature window turned after a
        // key was added): the keys answered are the build's.
        let (_, other) = try served(nsec3: nsec3)
        let next = s.updating(plans: [], serials: [:], counters: AnswerCounters(), secure: [origin: other])
        let keys = try ask(next, "example.com.", .dnskey, edns: EDNSQuery())
        #expect(Set(keys.answers.map(\.rdata)) == Set(try #require(other.rrset(origin, .dnskey)).rdatas))
        #expect(Set(keys.answers.map(\.rdata)) != Set(try #require(signed.rrset(origin, .dnskey)).rdatas))
    }

    /// A negative answer's SOA goes out at the negative TTL (RFC 2308 §3: min of its TTL and MINIMUM, 300 here
    /// against 3600), and so do its RRSIG (RFC 4034 §3, RFC 4035 §2.2) and the NSEC or NSEC3 proofs with theirs.
    @Test(arguments: [false, true])
    func negativeAnswersSendEveryRRSIGAtItsRRsetsTTL(nsec3: Bool) throws {
        let (s, _) = try served(nsec3: nsec3)
        for (name, type) in [
            ("nothing.example.com.", RRType.a), ("www.example.com.", .mx), ("a.b.ent.example.com.", .txt),
            ("b.ent.example.com.", .a), ("dangling.example.com.", .a), ("x.wild.example.com.", .mx),
        ] {
            let m = try ask(s, name, type, edns: EDNSQuery(dnssecOK: true))
            let soa = try #require(m.authority.first { $0.type == .soa }, "\(name) \(type)")
            #expect(soa.ttl == 300, "\(name) \(type)")
            for sig in m.authority where sig.type == .rrsig {
                let covered = RRType(UInt16(sig.rdata[0]) << 8 | UInt16(sig.rdata[1]))
                let set = m.authority.filter { $0.name == sig.name && $0.type == covered }
                #expect(!set.isEmpty && set.allSatisfy { $0.ttl == sig.ttl }, "\(name) \(type): \(sig)")
            }
            #expect(m.authority.filter { $0.type == .nsec || $0.type == .nsec3 }.allSatisfy { $0.ttl == 300 })
            #expect(m.authority.contains { $0.type == (nsec3 ? .nsec3 : .nsec) }, "\(name) \(type): proofs")
        }
    }

    /// A query for an NSEC3 owner name is answered as if the name did not exist (RFC 5155 §7.2.8), as Knot does:
    /// NXDOMAIN with the closest encloser proof (the apex), the next closer name and the wildcard covered — not a
    /// NODATA. So is a name below one.
    @Test func nsec3OwnerNamesAreAnsweredAsIfTheyDidNotExist() throws {
        let (s, signed) = try served(nsec3: true)
        let owner = NSEC3Chain.owner(of: try DomainName("www.example.com."), origin: origin)
        #expect(signed.rrset(owner, .nsec3) != nil)
        let apexProof = NSEC3Chain.owner(of: origin, origin: origin)
        for name in [owner.description, "x." + owner.description] {
            for type in [RRType.a, .nsec3, .txt] {
                let m = try ask(s, name, type, edns: EDNSQuery(dnssecOK: true))
                #expect(m.rcode == .nxDomain && m.answers.isEmpty, "\(name) \(type): \(m.rcode)")
                let proofs = m.authority.filter { $0.type == .nsec3 }
                // (Two or three: one NSEC3 may cover both the next closer name and the wildcard.)
                #expect(proofs.count >= 2 && proofs.contains { $0.name == apexProof }, "\(name) \(type): \(proofs)")
                #expect(
                    m.authority.filter { $0.type == .rrsig }.count == 1 + proofs.count,
                    "\(name) \(type): the SOA's and the proofs' signatures")
                // Without DO: the NXDOMAIN a name that does not exist gets.
                #expect(try ask(s, name, type, edns: EDNSQuery()).rcode == .nxDomain, "\(name) \(type)")
            }
        }
    }
}
