// SignedPoolAnswerTests: DO answers of a signed zone's pool through the server's builds, without a network — here a
// pool with no line in answers, which dnsviz found answered from the apex wildcard with NSEC3 (ValidatorTests).

import DNSSEC
import DNSWire
import Foundation
import Logging
import Responder
import Server
import TestSupport
import Testing
import Uplinks

@Suite struct SignedPoolAnswerTests {
    /// A pool whose lines the operator took out has no address to give, but its name stays: a query without DO
    /// gets NODATA, and so must one with DO, with the name's own NSEC or NSEC3 (no A, no AAAA) as the proof
    /// (RFC 4035 §3.1.3.1, RFC 5155 §7.2.3). The zone's wildcard does not apply to a name that exists (RFC 4592
    /// §2.2.1; the chain has an NSEC3 matching it). With NSEC3 the DO answer was the wildcard's TXT, and its NODATA
    /// for A proved "no closer match" with the NSEC3 ending at the pool's own hash, which covers nothing: dnsviz's
    /// NO_NSEC3_MATCHING_SNAME.
    @Test(arguments: [false, true])
    func aPoolWithNoLineInAnswersIsNODATAWithItsOwnProofNotTheWildcard(nsec3: Bool) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try """
        $ORIGIN example.com.
        @ 3600 IN SOA ns1 hostmaster 1 3600 900 1209600 300
        @ IN NS ns1
        ns1 IN A 192.0.2.1
        * IN TXT "no such host"
        """.write(to: dir.appendingPathComponent("a.zone"), atomically: true, encoding: .utf8)
        try """
        zones: [{origin: example.com., file: a.zone, dnssec: \(nsec3 ? "{nsec3: true}" : "true")}]
        links:
          - {name: unicom, public: [192.0.2.10]}
          - {name: cnc, public: ["2001:db8::10"]}
        pools:
          - {name: www.example.com., links: [unicom, cnc]}
        health: {state-dir: state}
        """.write(to: dir.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        let server = try DNSServer(
            config: try Config.load(path: dir.appendingPathComponent("c.yaml").path), logger: Logger(label: "test"))
        server.buildAnswers()
        func ask(_ type: RRType, dnssec: Bool) throws -> Message {
            let (snapshot, _) = server.store.current()
            let query = queryBytes("www.example.com.", type, id: 1, edns: EDNSQuery(dnssecOK: dnssec))
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 65535, alignment: 8)
            defer { out.deallocate() }
            let n = query.withUnsafeBytes {
                QueryProcessor.respond(
                    snapshot: snapshot, query: $0, transport: .udp, scratch: QueryScratch(), into: out)
            }
            return try Message(bytes: Array(out[0..<n]))
        }
        let www = try DomainName("www.example.com.")
        let origin = try DomainName("example.com.")
        let denialOwner = nsec3 ? NSEC3Chain.owner(of: www, origin: origin) : www
        let denialType: RRType = nsec3 ? .nsec3 : .nsec
        #expect(try ask(.a, dnssec: true).answers.contains { $0.type == .a })
        server.lines([])  // both lines out by the operator: nothing to answer
        for type in [RRType.a, .aaaa, .txt] {
            let plain = try ask(type, dnssec: false)
            #expect(plain.rcode == .noError && plain.answers.isEmpty, "\(type) without DO: \(plain.answers)")
            let signed = try ask(type, dnssec: true)
            #expect(signed.rcode == .noError, "\(type) with DO")
            #expect(signed.answers.isEmpty, "\(type) with DO, nothing from the wildcard: \(signed.answers)")
            // The proof is the pool's own denial record, whose bitmap has neither A nor AAAA now.
            let own = signed.authority.filter { $0.type == denialType && $0.name == denialOwner }
            #expect(own.count == 1, "\(type) with DO: \(signed.authority.map(\.name))")
            #expect(signed.authority.contains { $0.type == .soa })
            if let record = own.first {
                // The fixed fields before the bitmap: NSEC's next name, NSEC3's 26 octets (SHA-1, no salt).
                var head = 26
                if !nsec3 {
                    head = 0
                    while head < record.rdata.count && record.rdata[head] != 0 { head += Int(record.rdata[head]) + 1 }
                    head += 1
                }
                let types = NSECChain.types(fromBitmap: record.rdata[head...])
                #expect(!types.contains(.a) && !types.contains(.aaaa) && !types.contains(.txt), "\(types)")
            }
        }
    }
}
