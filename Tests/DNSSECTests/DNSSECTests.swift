// DNSSECTests: keys, DS, RRSIGs and the NSEC chain, checked against BIND's own tools — dnssec-keygen's files read
// back with the same key tag, dnssec-dsfromkey's DS, and dnssec-verify accepting a zone this module signed.

import DNSSEC
import DNSWire
import Foundation
import TestSupport
import Testing
import Zones

let bindTools =
    FileManager.default.isExecutableFile(atPath: "/usr/bin/dnssec-keygen")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/dnssec-verify")

func scratch() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dnssec-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

@Suite struct DNSSECTests {
    let origin = try! DomainName("example.com.")

    @Test(arguments: SigningAlgorithm.allCases)
    func keysRoundTripThroughTheirFilesAndSign(_ algorithm: SigningAlgorithm) throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = SigningKey.generate(zone: origin, algorithm: algorithm)
        try key.write(to: dir.path)
        let attributes = try FileManager.default.attributesOfItem(
            atPath: dir.appendingPathComponent(key.fileStem + ".private").path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let back = try SigningKey.read(stem: dir.appendingPathComponent(key.fileStem).path)
        #expect(back.dnskeyRDATA == key.dnskeyRDATA && back.keyTag == key.keyTag && back.isKSK)
        #expect(key.publicKey.count == (algorithm == .ecdsaP256SHA256 ? 64 : 32))
        let rrset = [
            ResourceRecord(name: try DomainName("WWW.example.com."), type: .a, ttl: 60, rdata: [192, 0, 2, 1]),
            ResourceRecord(name: try DomainName("www.example.com."), type: .a, ttl: 60, rdata: [192, 0, 2, 2]),
        ]
        let window = Validity(inception: 1_800_000_000, expiration: 1_801_000_000)
        let sig = try Signer.sign(rrset, key: back, validity: window)
        #expect(sig.type == .rrsig && sig.rdata[2] == algorithm.rawValue && sig.rdata[3] == 3)
        #expect(Signer.verify(sig, over: rrset.reversed(), key: key))
        var changed = rrset
        changed[1].rdata = [192, 0, 2, 3]
        #expect(!Signer.verify(sig, over: changed, key: key))
    }

    @Test(
        .enabled(if: bindTools, "needs BIND's dnssec-keygen and dnssec-dsfromkey (bind9-utils; make test installs it)"),
        arguments: SigningAlgorithm.allCases)
    func dnssecKeygenFilesReadWithTheirTagAndDS(_ algorithm: SigningAlgorithm) throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try tool(
            "/usr/bin/dnssec-keygen", ["-q", "-a", algorithm.description, "-f", "KSK", "-K", dir.path, "example.com"])
        #expect(made.status == 0, "\(made.out)")
        let stem = made.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let key = try SigningKey.read(stem: dir.appendingPathComponent(stem).path)
        #expect(stem.hasSuffix(String(format: "+%05d", key.keyTag)), "\(stem) vs \(key.keyTag)")
        #expect(key.fileStem == stem)
        let ds = try tool("/usr/bin/dnssec-dsfromkey", ["-2", dir.appendingPathComponent(stem + ".key").path])
        #expect(ds.out.contains(key.dsPresentation), "\(ds.out) vs \(key.dsPresentation)")
    }

    @Test func nsecChainSkipsGlueAndEmptyNonTerminalsAndListsTheDelegationsTypes() throws {
        let nodes: [(name: DomainName, types: Set<RRType>)] = [
            (try DomainName("example.com."), [.soa, .ns, .mx]),
            (try DomainName("a.example.com."), [.a]),
            (try DomainName("b.example.com."), []),  // an empty non-terminal
            (try DomainName("x.b.example.com."), [.txt]),
            (try DomainName("sub.example.com."), [.ns, .ds, .a]),
            (try DomainName("ns.sub.example.com."), [.a]),  // glue
        ]
        let chain = NSECChain.records(origin: origin, nodes: nodes, ttl: 300)
        #expect(
            chain.map(\.name.description) == ["example.com.", "a.example.com.", "x.b.example.com.", "sub.example.com."])
        // Each points to the next, the last back to the apex.
        #expect(chain[0].rdata.starts(with: try DomainName("a.example.com.").wire))
        #expect(chain[3].rdata.starts(with: origin.wire))
        // sub: NS, DS, RRSIG, NSEC — not the A that sits at the cut.
        let bitmap = Array(chain[3].rdata.dropFirst(origin.wire.count))
        #expect(bitmap == NSECChain.bitmap([.ns, .ds, .rrsig, .nsec]))
        // RFC 4034 §4.3's example: A MX RRSIG NSEC TYPE1234.
        let window0: [UInt8] = [0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03]
        let window4: [UInt8] = [0x04, 0x1b] + [UInt8](repeating: 0, count: 26) + [0x20]
        #expect(NSECChain.bitmap([.a, .mx, .rrsig, .nsec, RRType(1234)]) == window0 + window4)
    }

    @Test func signaturesAreCachedByContentAndWindow() throws {
        let signer = ZoneSigner()
        let key = SigningKey.generate(zone: origin, algorithm: .ecdsaP256SHA256)
        let rrset = [
            ResourceRecord(name: try DomainName("www.example.com."), type: .a, ttl: 60, rdata: [192, 0, 2, 1])
        ]
        let now: UInt32 = 1_800_000_000
        let a = try signer.signature(rrset, key: key, validity: signer.validity(at: now))
        let b = try signer.signature(rrset, key: key, validity: signer.validity(at: now + 3600))
        #expect(a == b && signer.signaturesMade == 1)
        // The next window (a refresh) signs anew; the window's signatures outlive the refresh margin.
        let later = signer.validity(at: now + signer.policy.refresh)
        _ = try signer.signature(rrset, key: key, validity: later)
        #expect(signer.signaturesMade == 2)
        let w = signer.validity(at: now)
        #expect(w.inception < now && w.expiration >= now + signer.policy.refresh)
        // Jitter: each RRset's expiration a little later, by an amount of its own, within the jitter.
        let expirations = try (1...20).map { i -> UInt32 in
            let set = [
                ResourceRecord(name: try DomainName("h\(i).example.com."), type: .a, ttl: 60, rdata: [192, 0, 2, 1])
            ]
            let rd = try signer.signature(set, key: key, validity: w).rdata
            return rd[8...11].reduce(0) { $0 << 8 | UInt32($1) }
        }
        #expect(Set(expirations).count > 10)
        #expect(expirations.allSatisfy { $0 >= w.expiration && $0 < w.expiration + signer.policy.jitter })
    }

    /// The whole zone, as a secondary would receive it: dnssec-verify (BIND) checks every signature and the chain.
    @Test(
        .enabled(if: bindTools, "needs BIND's dnssec-verify (bind9-utils; make test installs it)"),
        arguments: SigningAlgorithm.allCases, ZoneSigner.Denial.allCases)
    func aSignedZoneVerifiesWithDnssecVerify(_ algorithm: SigningAlgorithm, _ denial: ZoneSigner.Denial) throws {
        let zone = try loadZone(
            exampleZone + """

                deep.b  IN TXT "below an empty non-terminal"
                Mixed   IN A 192.0.2.88
                """)
        let key = SigningKey.generate(zone: origin, algorithm: algorithm)
        let signer = ZoneSigner()
        let records = zone.records
        // A pool's name (not in the file) joins the chain; its A RRset is signed by the caller, as here.
        let pool = try DomainName("pool.example.com.")
        let poolSet = [ResourceRecord(name: pool, type: .a, ttl: 60, rdata: [198, 51, 100, 10])]
        let now = UInt32(Date().timeIntervalSince1970)
        let added = try signer.additions(
            origin: origin, records: records, keys: [key], extraNames: [pool: [.a]], unsignedNames: [pool],
            denial: denial, now: now)
        let poolSig = try signer.signature(poolSet, key: key, validity: signer.validity(at: now))
        #expect(Signer.verify(poolSig, over: poolSet, key: key))
        // The pool's name's NSEC (NSEC3) is left unsigned too: the caller signs it per build, with its bitmap.
        let poolOwner = denial == .nsec3 ? NSEC3Chain.owner(of: pool, origin: origin) : pool
        let poolDenial = added.filter { ($0.type == .nsec || $0.type == .nsec3) && $0.name == poolOwner }
        #expect(poolDenial.count == 1 && !added.contains { $0.type == .rrsig && $0.name == poolOwner })
        let denialSig = try signer.signature(poolDenial, key: key, validity: signer.validity(at: now))
        let text =
            (records + poolSet + added + [poolSig, denialSig]).map { ZoneText.line($0) }.joined(separator: "\n")
            + "\n"
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("example.com.signed")
        try text.write(to: file, atomically: true, encoding: .utf8)
        // -z: the one key is a combined signing key (flag 257), which signs the zone as well as the DNSKEY RRset.
        let verify = try tool("/usr/bin/dnssec-verify", ["-z", "-o", "example.com.", file.path])
        #expect(verify.status == 0, "\(verify.out)\n\(text)")
        #expect(verify.out.contains("Zone fully signed"), "\(verify.out)")
        #expect(added.contains { $0.type == (denial == .nsec3 ? .nsec3param : .nsec) })
        #expect(added.contains { $0.type == .cds } && added.contains { $0.type == .cdnskey })
    }

    /// NSEC3 owner hashes (SHA-1, no salt, no extra iterations: RFC 9276) as Knot's knsec3hash computes them.
    @Test(
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/bin/knsec3hash"),
            "needs Knot's knsec3hash (knot-dnssecutils; make test installs it)"))
    func nsec3HashesMatchKnots() throws {
        #expect(NSEC3Chain.base32hex(NSEC3Chain.hash(origin)) == "onib9mgub9h0rml3cdf5bgrj59dkjhvk")
        for name in ["www.example.com.", "A.B.Example.COM.", "*.wild.example.com."] {
            let knot = try tool("/usr/bin/knsec3hash", ["-", "1", "0", name])
            let ours = NSEC3Chain.base32hex(NSEC3Chain.hash(try DomainName(name)))
            #expect(knot.out.hasPrefix(ours + " "), "\(name): \(knot.out) vs \(ours)")
        }
    }

    /// RFC 4035 §3.1's rules on a signed zone, record by record; every signature included verifies.
    @Test func secureResolutionCarriesSignaturesAndProofs() throws {
        let plain = try loadZone(exampleZone)
        let key = SigningKey.generate(zone: origin, algorithm: .ecdsaP256SHA256)
        let added = try ZoneSigner().additions(
            origin: origin, records: plain.records, keys: [key], now: UInt32(Date().timeIntervalSince1970))
        let zone = try Zone.build(origin: origin, records: plain.records + added)
        func check(_ res: Resolution, _ what: String) {
            let all = res.answer + res.authority + res.additional
            for sig in all where sig.type == .rrsig {
                let covered = RRType(UInt16(sig.rdata[0]) << 8 | UInt16(sig.rdata[1]))
                let set = all.filter { $0.name == sig.name && $0.type == covered }
                #expect(!set.isEmpty && Signer.verify(sig, over: set, key: key), "\(what): \(sig)")
            }
        }
        func types(_ rs: [ResourceRecord]) -> [String] { rs.map { "\($0.name) \($0.type)" } }

        let www = zone.resolveSecure(try DomainName("www.example.com."), .a)
        #expect(types(www.answer) == Array(repeating: "www.example.com. A", count: 2) + ["www.example.com. RRSIG"])
        check(www, "positive")

        let nx = zone.resolveSecure(try DomainName("nothing.example.com."), .a)
        #expect(nx.rcode == .nxDomain)
        #expect(nx.authority.filter { $0.type == .nsec }.count == 2, "\(types(nx.authority))")  // name, wildcard
        #expect(nx.authority.contains { $0.type == .rrsig && $0.rdata[1] == UInt8(RRType.soa.rawValue) })
        check(nx, "NXDOMAIN")

        let nodata = zone.resolveSecure(try DomainName("www.example.com."), .mx)
        #expect(types(nodata.authority.filter { $0.type == .nsec }) == ["www.example.com. NSEC"])
        check(nodata, "NODATA")

        // Wildcard: the synthesised RRset with the wildcard's signature under the query name (labels 3: the
        // wildcard's, so a validator knows) and the NSEC proving the name itself does not exist.
        let wild = zone.resolveSecure(try DomainName("host.wild.example.com."), .a)
        let wsig = try #require(wild.answer.first { $0.type == .rrsig })
        #expect(wsig.name == (try DomainName("host.wild.example.com.")) && wsig.rdata[3] == 3)
        #expect(wild.authority.contains { $0.type == .nsec })

        // Referrals: a DS with its signature at a secure delegation; an insecure one would carry the cut's NSEC.
        let referral = zone.resolveSecure(try DomainName("www.sub.example.com."), .a)
        #expect(referral.outcome == .referral)
        #expect(types(referral.authority).contains("sub.example.com. DS"))
        #expect(referral.authority.contains { $0.type == .rrsig && $0.rdata[1] == UInt8(RRType.ds.rawValue) })
        check(referral, "referral")

        // An empty non-terminal (b.ent, above a.b.ent) has no NSEC of its own: the NSEC covering it proves NODATA.
        let ent = zone.resolveSecure(try DomainName("b.ent.example.com."), .a)
        #expect(ent.outcome == .noData && ent.authority.contains { $0.type == .nsec }, "\(types(ent.authority))")
        check(ent, "empty non-terminal")

        // A CNAME chain: each step signed.
        let chain = zone.resolveSecure(try DomainName("chain.example.com."), .a)
        #expect(chain.answer.filter { $0.type == .rrsig }.count == 3, "\(types(chain.answer))")
        check(chain, "chain")
    }
}

@Suite struct BatchSigningTests {
    let origin = try! DomainName("example.com.")

    /// A zone signed in many small batches — each signed on every core while the next is gathered — gets what one
    /// batch gives: the same chain, one signature per RRset, and every signature verifies over its RRset.
    @Test func aZoneSignedInBatchesOnEveryCoreIsWholeAndVerifies() throws {
        var text = exampleZone + "\n"
        for i in 0..<150 { text += "n\(i) IN A 10.0.\(i >> 8).\(i & 255)\n" }
        let zone = try loadZone(text)
        let key = SigningKey.generate(zone: origin, algorithm: .ecdsaP256SHA256)
        let now = UInt32(Date().timeIntervalSince1970)
        let batched = try ZoneSigner(batch: 16).additions(origin: origin, records: zone.records, keys: [key], now: now)
        let whole = try ZoneSigner().additions(origin: origin, records: zone.records, keys: [key], now: now)
        #expect(Set(batched.filter { $0.type != .rrsig }) == Set(whole.filter { $0.type != .rrsig }))
        func covered(_ sigs: [ResourceRecord]) -> [String] {
            sigs.filter { $0.type == .rrsig }.map { "\($0.name.lowercased()) \($0.rdata[0]) \($0.rdata[1])" }.sorted()
        }
        #expect(covered(batched) == covered(whole) && covered(batched).count > 300)
        let signed = try Zone.build(origin: origin, records: zone.records + batched)
        for sig in batched where sig.type == .rrsig {
            let type = RRType(UInt16(sig.rdata[0]) << 8 | UInt16(sig.rdata[1]))
            let set = try #require(signed.rrset(sig.name, type))
            #expect(Signer.verify(sig, over: set.records, key: key), "\(sig.name) \(type)")
        }
    }

    /// Signing again in the same window keeps the signatures of the RRsets that did not change (`known`), and
    /// signs the changed ones anew.
    @Test func unchangedRRsetsKeepTheirSignaturesWhenKnown() throws {
        let key = SigningKey.generate(zone: origin, algorithm: .ecdsaP256SHA256)
        let now = UInt32(Date().timeIntervalSince1970)
        let signer = ZoneSigner(batch: 8)
        let zone = try loadZone(exampleZone)
        let first = try signer.additions(origin: origin, records: zone.records, keys: [key], now: now)
        let signed = try Zone.build(origin: origin, records: zone.records + first)
        let mail = try DomainName("mail.example.com.")
        let known: ZoneSigner.Known = { records, _ in
            let r = records[0]
            guard r.name != mail || r.type != .a else { return nil }
            let sigs = signed.rrset(r.name, .rrsig)?.rdatas ?? []
            return sigs.first { UInt16($0[0]) << 8 | UInt16($0[1]) == r.type.rawValue }.map {
                ResourceRecord(name: r.name, type: .rrsig, ttl: r.ttl, rdata: $0)
            }
        }
        let made = signer.signaturesMade
        let again = try signer.additions(origin: origin, records: zone.records, keys: [key], now: now, known: known)
        #expect(signer.signaturesMade == made + 1)
        let kept = Set(again.filter { $0.type == .rrsig && !($0.name == mail && $0.rdata[0...1] == [0, 1]) })
        #expect(kept.count > 20 && kept.subtracting(first).isEmpty)
        #expect(!Set(first).contains { $0 == again.first { $0.name == mail && $0.rdata[0...1] == [0, 1] } })
    }
}
