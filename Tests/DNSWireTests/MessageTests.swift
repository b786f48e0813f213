// MessageTests: encode/parse round trips with compression, and hostile names.

import DNSWire
import Testing

@Suite struct MessageTests {
    func sample() throws -> Message {
        let www = try DomainName("www.example.com.")
        let apex = try DomainName("example.com.")
        return Message(
            header: Header(id: 0x1234, flags: Header.Flag.qr | Header.Flag.aa),
            questions: [Question(name: www, type: .a)],
            answers: [
                ResourceRecord(name: www, type: .a, ttl: 60, rdata: [192, 0, 2, 10]),
                ResourceRecord(name: www, type: .cname, ttl: 60, rdata: try DomainName("host.example.com.").wire),
            ],
            authority: [
                ResourceRecord(name: apex, type: .ns, ttl: 3600, rdata: try DomainName("ns1.example.com.").wire)
            ],
            additional: [
                ResourceRecord(name: try DomainName("ns1.example.com."), type: .a, ttl: 3600, rdata: [192, 0, 2, 1])
            ])
    }

    @Test func roundTripsThroughCompression() throws {
        let m = try sample()
        let bytes = m.encode()
        let back = try Message(bytes: bytes)
        #expect(back.answers == m.answers)
        #expect(back.authority == m.authority)
        #expect(back.additional == m.additional)
        #expect(back.questions == m.questions)
        #expect(back.encode() == bytes)
        // Compression makes it much smaller than the names written in full.
        #expect(bytes.count < 120)
    }

    @Test func rejectsPointerLoopsAndForwardPointers() {
        // Question name is a pointer to itself.
        var loop = Header(id: 1, qdCount: 1).bytes
        loop += [0xC0, 12, 0, 1, 0, 1]
        #expect(throws: DNSWireError.self) { try Message(bytes: loop) }
        var forward = Header(id: 1, qdCount: 1).bytes
        forward += [0xC0, 20, 0, 1, 0, 1, 0, 0, 0]
        #expect(throws: DNSWireError.self) { try Message(bytes: forward) }
    }

    @Test func rejectsTruncatedAndBadLabelTypes() {
        #expect(throws: DNSWireError.self) { try Message(bytes: [0, 1, 0]) }
        var bad = Header(id: 1, qdCount: 1).bytes
        bad += [0x40, 0, 0, 1, 0, 1]
        #expect(throws: DNSWireError.badLabelType(offset: 12)) { try Message(bytes: bad) }
        var rdlen = Header(id: 1, anCount: 1).bytes
        rdlen += [0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 9, 1, 2]
        #expect(throws: DNSWireError.self) { try Message(bytes: rdlen) }
    }
}
