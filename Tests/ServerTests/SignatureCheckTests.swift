// SignatureCheckTests: `check` on a zone that comes signed in its file — signatures verified against the apex's
// DNSKEYs, tampered data and expired signatures refused with their lines, signatures about to expire warned about,
// an authoritative RRset without a signature refused, glue and a delegation's NS left unsigned.

import DNSSEC
import DNSWire
import Foundation
import Testing
import Zones

@testable import Server

@Suite struct SignatureCheckTests {
    static let now: UInt32 = 1_800_000_000
    static let day: UInt32 = 86400

    /// The zone's text signed by `key` for `validity`, one record a line (so line n is `lines[n - 1]`), with the
    /// line of `www.example.com. A`. `tamper` changes the records after signing; `unsigned` leaves RRsets out.
    static func signedText(
        key: SigningKey, validity: Validity, unsigned: Set<RRType> = [], tamper: Bool = false
    ) throws -> (text: String, wwwLine: Int, mxLine: Int) {
        let cut = try DomainName("sub.example.com.")
        let wwwName = try DomainName("www.example.com.")
        let records =
            try [
                "example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 1 3600 900 1209600 300",
                "example.com. 3600 IN NS ns1.example.com.",
                "example.com. 600 IN MX 10 mail.example.com.",
                "ns1.example.com. 3600 IN A 192.0.2.1",
                "mail.example.com. 300 IN A 192.0.2.2",
                "www.example.com. 60 IN A 192.0.2.10",
                "www.example.com. 60 IN A 192.0.2.11",
                "*.pages.example.com. 60 IN TXT \"wildcard\"",
                "sub.example.com. 3600 IN NS ns.sub.example.com.",
                "ns.sub.example.com. 3600 IN A 192.0.2.53",
            ].map { try ZoneFileLoader.parseRecord($0) } + [key.dnskey(ttl: 3600)]
        var sets: [(DomainName, RRType, [ResourceRecord])] = []
        for r in records {
            if let i = sets.firstIndex(where: { $0.0 == r.name && $0.1 == r.type }) {
                sets[i].2.append(r)
            } else {
                sets.append((r.name, r.type, [r]))
            }
        }
        var lines: [String] = []
        var www = 0
        var mx = 0
        for (name, type, set) in sets {
            var shown = set
            if name == wwwName && type == .a {
                www = lines.count + 1
                if tamper { shown[0].rdata = [192, 0, 2, 99] }
            }
            if type == .mx { mx = lines.count + 1 }
            lines += shown.map(ZoneText.line)
            // A delegation's NS and the glue below it are not signed (RFC 4035 §2.2).
            guard !name.isSubdomain(of: cut), !unsigned.contains(type) else { continue }
            lines.append(ZoneText.line(try Signer.sign(set, key: key, validity: validity)))
        }
        return (lines.joined(separator: "\n") + "\n", www, mx)
    }

    static func check(_ text: String, margin: UInt32 = 7 * day) throws -> SignatureFindings {
        let zone = try ZoneFileLoader.load(text: text, origin: DomainName("example.com."), displayPath: "s.zone")
        #expect(zone.warnings.isEmpty, "\(zone.warnings)")
        return SignatureCheck.check(zone, now: now, margin: margin)
    }

    static let fresh = Validity(inception: now - 3600, expiration: now + 14 * day)

    @Test(arguments: SigningAlgorithm.allCases)
    func aCorrectlySignedZonePasses(algorithm: SigningAlgorithm) throws {
        let key = SigningKey.generate(zone: try DomainName("example.com."), algorithm: algorithm)
        let found = try Self.check(try Self.signedText(key: key, validity: Self.fresh).text)
        #expect(found == SignatureFindings(), "\(found)")
    }

    /// A record changed after signing: its RRset's signature does not verify, reported at the RRset's line.
    @Test(arguments: SigningAlgorithm.allCases)
    func tamperedDataIsAnErrorAtItsLine(algorithm: SigningAlgorithm) throws {
        let key = SigningKey.generate(zone: try DomainName("example.com."), algorithm: algorithm)
        let (text, www, _) = try Self.signedText(key: key, validity: Self.fresh, tamper: true)
        let found = try Self.check(text)
        #expect(found.errors.count == 1, "\(found)")
        #expect(found.errors.first?.line == www)
        #expect(
            found.errors.first?.description.hasPrefix(
                "s.zone:\(www): www.example.com. A: its RRSIG by key \(key.keyTag) (\(algorithm)) does not verify")
                == true, "\(found.errors)")
        #expect(found.warnings.isEmpty)
    }

    /// A TTL changed after signing: the signature was made for the old one (its original TTL), and kzonecheck
    /// refuses it; an error at the RRset's line.
    @Test func aTTLChangedAfterSigningIsAnError() throws {
        let key = SigningKey.generate(zone: try DomainName("example.com."), algorithm: .ecdsaP256SHA256)
        let (text, www, _) = try Self.signedText(key: key, validity: Self.fresh)
        let changed = text.replacingOccurrences(
            of: "www.example.com.\t60\tIN\tA\t", with: "www.example.com.\t120\tIN\tA\t")
        #expect(changed != text)
        let found = try Self.check(changed)
        #expect(found.errors.map(\.line) == [www], "\(found.errors)")
        #expect(
            found.errors.first?.message.contains("was made for TTL 60, but the RRset has TTL 120") == true,
            "\(found.errors)")
    }

    /// Expired signatures are errors (every signed RRset); one that expires within the margin is a warning; one
    /// not valid yet is an error.
    @Test func expiredAndExpiringSignatures() throws {
        let key = SigningKey.generate(zone: try DomainName("example.com."), algorithm: .ecdsaP256SHA256)
        let expired = try Self.check(
            try Self.signedText(
                key: key, validity: Validity(inception: Self.now - 30 * Self.day, expiration: Self.now - 60)
            )
            .text)
        #expect(expired.errors.count == 8, "\(expired.errors)")  // SOA, NS, MX, DNSKEY, ns1, mail, www, *.pages
        #expect(expired.errors.allSatisfy { $0.message.contains(" expired on ") && $0.line != nil }, "\(expired)")
        let (text, www, _) = try Self.signedText(
            key: key, validity: Validity(inception: Self.now - Self.day, expiration: Self.now + 3 * Self.day))
        let soon = try Self.check(text)
        #expect(soon.errors.isEmpty, "\(soon.errors)")
        #expect(soon.warnings.count == 8, "\(soon.warnings)")
        #expect(
            soon.warnings.contains {
                $0.line == www && $0.message.contains("within the refresh margin (7 days): sign the zone anew")
            }, "\(soon.warnings)")
        // A shorter margin (a zone's own dnssec.refresh): no warning.
        #expect(try Self.check(text, margin: 2 * Self.day) == SignatureFindings())
        let future = try Self.check(
            try Self.signedText(
                key: key, validity: Validity(inception: Self.now + 60, expiration: Self.now + 9 * Self.day)
            )
            .text)
        #expect(future.errors.count == 8 && future.errors.allSatisfy { $0.message.contains("is not valid before") })
    }

    /// A signed zone with an authoritative RRset that has no signature: an error at that RRset.
    @Test func anUnsignedRRsetInASignedZoneIsAnError() throws {
        let key = SigningKey.generate(zone: try DomainName("example.com."), algorithm: .ed25519)
        let (text, _, mx) = try Self.signedText(key: key, validity: Self.fresh, unsigned: [.mx])
        let found = try Self.check(text)
        #expect(found.errors.map(\.line) == [mx], "\(found.errors)")
        #expect(found.errors.first?.message.contains("example.com. MX: no RRSIG covers it") == true)
    }

    /// A signature by a key that is not in the DNSKEY RRset, and a zone with signatures but no keys.
    @Test func signaturesWithoutTheirKey() throws {
        let origin = try DomainName("example.com.")
        let key = SigningKey.generate(zone: origin, algorithm: .ecdsaP256SHA256)
        let other = SigningKey.generate(zone: origin, algorithm: .ecdsaP256SHA256)
        // The DNSKEY record replaced by another key's: every signature names a key the zone does not publish.
        let text = try Self.signedText(key: key, validity: Self.fresh).text.replacingOccurrences(
            of: ZoneText.line(key.dnskey(ttl: 3600)), with: ZoneText.line(other.dnskey(ttl: 3600)))
        let found = try Self.check(text)
        #expect(found.errors.count == 8, "\(found.errors)")
        #expect(found.errors.allSatisfy { $0.message.contains("which the DNSKEY RRset at example.com. does not hold") })
        let keyless = text.split(separator: "\n").filter { !$0.contains("DNSKEY") }.joined(separator: "\n")
        let none = try Self.check(keyless)
        #expect(none.errors.count == 1 && none.errors.first?.message.contains("no DNSKEY at the apex") == true)
    }

    /// A zone without signatures is not a signed zone: nothing to check.
    @Test func anUnsignedZoneHasNothingToCheck() throws {
        let zone = try ZoneFileLoader.load(
            text: "@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n", origin: DomainName("example.com."))
        #expect(SignatureCheck.check(zone, now: Self.now, margin: 7 * Self.day) == SignatureFindings())
    }
}
