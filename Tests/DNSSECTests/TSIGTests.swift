// TSIGTests: the TSIG HMACs (swift-crypto) against RFC 4231's and RFC 2202's vectors, and TSIG against libldns's own
// implementation both ways, for every algorithm.

import CLDNS
import DNSSEC
import DNSWire
import Foundation
import TestSupport
import Testing

@Suite struct HMACTests {
    func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = s.startIndex
        while i < s.endIndex {
            let j = s.index(i, offsetBy: 2)
            out.append(UInt8(s[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    func mac(_ algorithm: String, key: [UInt8], _ message: String) -> [UInt8] {
        TSIGKey(name: try! DomainName("k."), algorithm: TSIGKey.algorithm(algorithm)!, secret: key)
            .mac(Array(message.utf8))
    }

    /// RFC 4231 §4.2, §4.3, §4.7 (a key longer than the block) for SHA-256; §4.3 for SHA-384 and SHA-512;
    /// RFC 2202 §3 test 2 for SHA-1.
    @Test func hmacKnownAnswers() {
        #expect(
            mac("hmac-sha256", key: [UInt8](repeating: 0x0b, count: 20), "Hi There")
                == hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"))
        #expect(
            mac("hmac-sha256", key: Array("Jefe".utf8), "what do ya want for nothing?")
                == hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"))
        #expect(
            mac(
                "hmac-sha256", key: [UInt8](repeating: 0xaa, count: 131),
                "Test Using Larger Than Block-Size Key - Hash Key First")
                == hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"))
        #expect(
            mac("hmac-sha384", key: Array("Jefe".utf8), "what do ya want for nothing?")
                == hex(
                    "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"))
        #expect(
            mac("hmac-sha512", key: Array("Jefe".utf8), "what do ya want for nothing?")
                == hex(
                    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fd"
                        + "caeab1a34d4a6b4b636e070a38bce737"))
        #expect(
            mac("hmac-sha1", key: Array("Jefe".utf8), "what do ya want for nothing?")
                == hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"))
        #expect(TSIGKey.algorithm("HMAC-SHA512.") != nil && TSIGKey.algorithm("hmac-md5") == nil)
    }
}

@Suite struct TSIGTests {
    let secretBase64 = "c2VjcmV0LXNoYXJlZC1ieS1wcmltYXJ5LWFuZC1zZWNvbmRhcnk="
    var key: TSIGKey {
        TSIGKey(name: try! DomainName("transfer.example."), secret: Array(Data(base64Encoded: secretBase64)!))
    }

    /// A query for example.com SOA, as bytes.
    let query = queryBytes("example.com.", .soa, id: 0x1234)

    @Test(arguments: TSIGKey.algorithms)
    func signAndVerifyRoundTrip(_ algorithm: String) throws {
        let key = TSIGKey(name: self.key.name, algorithm: TSIGKey.algorithm(algorithm)!, secret: self.key.secret)
        let signed = TSIG.sign(query, key: key, time: 1_800_000_000)
        let verdict = try TSIG.verify(signed.message, keys: [key], now: 1_800_000_100)
        guard case .verified(let k, let record, let message) = verdict else {
            Issue.record("not verified: \(verdict)")
            return
        }
        #expect(k == key && message == query && record.mac == signed.mac)
        // Outside the fudge: BADTIME, answered signed with the key.
        #expect(
            try TSIG.verify(signed.message, keys: [key], now: 1_800_000_301)
                == .failed(error: .badTime, record: record, key: key))
        // Another secret: BADSIG. An unknown key name: BADKEY.
        var other = key
        other.secret[0] ^= 1
        #expect(
            try TSIG.verify(signed.message, keys: [other], now: 1_800_000_000)
                == .failed(error: .badSig, record: record, key: nil))
        var renamed = key
        renamed.name = try DomainName("other.example.")
        #expect(
            try TSIG.verify(signed.message, keys: [renamed], now: 1_800_000_000)
                == .failed(error: .badKey, record: record, key: nil))
        // A flipped bit in the signed part: BADSIG.
        var tampered = signed.message
        tampered[13] ^= 0x20
        guard case .failed(.badSig, _, _) = try TSIG.verify(tampered, keys: [key], now: 1_800_000_000) else {
            Issue.record("tampered message verified")
            return
        }
        #expect(try TSIG.verify(query, keys: [key], now: 0) == .unsigned)
        // A response signed with the request's MAC verifies as such, and not with another MAC.
        var response = query
        response[2] |= 0x84
        let answer = TSIG.sign(response, key: key, time: 1_800_000_000, previousMAC: signed.mac)
        #expect(TSIG.verifyResponse(answer.message, key: key, requestMAC: signed.mac))
        #expect(!TSIG.verifyResponse(answer.message, key: key, requestMAC: [UInt8](repeating: 0, count: key.macLength)))
    }

    /// libldns signs, we verify; we sign, libldns verifies (the same RFC 8945 digest, computed by two codebases),
    /// with every algorithm libldns has (it has no hmac-sha384; that one is covered by the known answers above and
    /// the round trip).
    @Test(arguments: ["hmac-sha256", "hmac-sha1", "hmac-sha512"])
    func agreesWithLibldns(_ algorithm: String) throws {
        let key = TSIGKey(name: self.key.name, algorithm: TSIGKey.algorithm(algorithm)!, secret: self.key.secret)
        // ldns signs a query.
        var pkt: UnsafeMutablePointer<ldns_pkt>? = nil
        #expect(
            ldns_pkt_query_new_frm_str(&pkt, "example.com.", LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, 0) == LDNS_STATUS_OK)
        defer { ldns_pkt_free(pkt) }
        ldns_pkt_set_id(pkt, 0x4242)
        #expect(
            ldns_pkt_tsig_sign(pkt, "transfer.example.", secretBase64, 300, algorithm + ".", nil) == LDNS_STATUS_OK)
        var wire: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        #expect(ldns_pkt2wire(&wire, pkt, &size) == LDNS_STATUS_OK)
        let bytes = Array(UnsafeBufferPointer(start: wire, count: size))
        free(wire)
        let now = UInt64(Date().timeIntervalSince1970)
        guard case .verified = try TSIG.verify(bytes, keys: [key], now: now) else {
            Issue.record("ldns's signature did not verify")
            return
        }

        // We sign a query; ldns verifies it.
        let ours = TSIG.sign(queryBytes("example.com.", .soa, id: 0x5151), key: key, time: now)
        var parsed: UnsafeMutablePointer<ldns_pkt>? = nil
        #expect(ldns_wire2pkt(&parsed, ours.message, ours.message.count) == LDNS_STATUS_OK)
        defer { ldns_pkt_free(parsed) }
        #expect(
            ldns_pkt_tsig_verify(parsed, ours.message, ours.message.count, "transfer.example.", secretBase64, nil) != 0)
        var wrong = ours.message
        wrong[wrong.count - 10] ^= 1  // inside the MAC
        var parsedWrong: UnsafeMutablePointer<ldns_pkt>? = nil
        #expect(ldns_wire2pkt(&parsedWrong, wrong, wrong.count) == LDNS_STATUS_OK)
        defer { ldns_pkt_free(parsedWrong) }
        #expect(ldns_pkt_tsig_verify(parsedWrong, wrong, wrong.count, "transfer.example.", secretBase64, nil) == 0)
    }
}
