// VerifierTests: RRSIGs read and verified against DNSKEY RDATA alone (what `check` does with a zone signed
// elsewhere) — a signature over the RRset in any order and case verifies; changed records, a changed signature, the
// wrong key and an unknown algorithm do not; a wildcard's signature verifies under an expanded name.

import DNSSEC
import DNSWire
import Testing

@Suite struct VerifierTests {
    static let window = Validity(inception: 1_800_000_000, expiration: 1_801_000_000)

    static func rrset(_ owner: String) throws -> [ResourceRecord] {
        [
            ResourceRecord(name: try DomainName(owner), type: .a, ttl: 60, rdata: [192, 0, 2, 1]),
            ResourceRecord(name: try DomainName(owner), type: .a, ttl: 60, rdata: [192, 0, 2, 2]),
        ]
    }

    @Test(arguments: SigningAlgorithm.allCases)
    func signaturesVerifyAgainstTheDNSKEYAlone(algorithm: SigningAlgorithm) throws {
        let zone = try DomainName("Example.COM.")
        let key = SigningKey.generate(zone: zone, algorithm: algorithm, flags: 256)
        let set = try Self.rrset("www.example.com.")
        let rrsig = try Signer.sign(set, key: key, validity: Self.window)
        let sig = try #require(RRSIGData(rdata: rrsig.rdata))
        #expect(sig.typeCovered == .a && sig.algorithm == algorithm.rawValue && sig.labels == 3)
        #expect(sig.originalTTL == 60 && sig.inception == Self.window.inception)
        #expect(sig.expiration == Self.window.expiration && sig.keyTag == key.keyTag && sig.signer == zone)
        let dnskey = try #require(DNSKEYData(rdata: key.dnskeyRDATA))
        #expect(dnskey.isZoneKey && dnskey.keyTag == key.keyTag)
        let owner = try DomainName("WWW.Example.com.")
        // Any order, any case of the owner.
        let rdatas = set.reversed().map(\.rdata)
        #expect(Verifier.verify(sig, owner: owner, type: .a, rdatas: rdatas, key: dnskey) == .valid)
        // Changed records, a changed signature, another key: no.
        #expect(Verifier.verify(sig, owner: owner, type: .a, rdatas: [[192, 0, 2, 1]], key: dnskey) == .invalid)
        var flipped = sig
        flipped.signature[0] ^= 1
        #expect(Verifier.verify(flipped, owner: owner, type: .a, rdatas: rdatas, key: dnskey) == .invalid)
        let other = try #require(
            DNSKEYData(rdata: SigningKey.generate(zone: zone, algorithm: algorithm).dnskeyRDATA))
        #expect(Verifier.verify(sig, owner: owner, type: .a, rdatas: rdatas, key: other) == .invalid)
        // An algorithm this build does not verify (Ed448) is no verdict.
        var ed448 = sig
        ed448.algorithm = 16
        #expect(Verifier.verify(ed448, owner: owner, type: .a, rdatas: rdatas, key: dnskey) == .unsupportedAlgorithm)
    }

    /// RFC 4035 §5.3.2: a signature over a wildcard (labels 2 for `*.example.com.`) verifies for the name it was
    /// expanded to, as a validator sees it in an answer.
    @Test func aWildcardSignatureVerifiesUnderAnExpandedName() throws {
        let key = SigningKey.generate(zone: try DomainName("example.com."), algorithm: .ecdsaP256SHA256)
        let rrsig = try Signer.sign(try Self.rrset("*.example.com."), key: key, validity: Self.window)
        let sig = try #require(RRSIGData(rdata: rrsig.rdata))
        #expect(sig.labels == 2)
        let dnskey = try #require(DNSKEYData(rdata: key.dnskeyRDATA))
        let rdatas = try Self.rrset("x").map(\.rdata)
        for owner in ["*.example.com.", "a.example.com.", "b.a.example.com."] {
            #expect(
                Verifier.verify(sig, owner: try DomainName(owner), type: .a, rdatas: rdatas, key: dnskey) == .valid,
                "\(owner)")
        }
    }

    /// RDATA that cannot be an RRSIG or a DNSKEY is refused, not misread.
    @Test func shortOrBrokenRDATAIsNotRead() {
        #expect(RRSIGData(rdata: [UInt8](repeating: 0, count: 18)) == nil)
        // A compression pointer where the signer's name goes.
        #expect(RRSIGData(rdata: [UInt8](repeating: 0, count: 18) + [0xC0, 0x0C, 1, 2]) == nil)
        #expect(DNSKEYData(rdata: [1, 1, 3, 13]) == nil)
    }
}
