// QueryViewTests: the in-place query parse and its documented outcomes for malformed input.

import DNSWire
import Testing

/// Builds query bytes: header fields, then raw sections.
func rawQuery(
    flags: UInt16 = 0, qd: UInt16 = 1, an: UInt16 = 0, ns: UInt16 = 0, ar: UInt16 = 0, body: [UInt8]
) -> [UInt8] {
    Header(id: 0xBEEF, flags: flags, qdCount: qd, anCount: an, nsCount: ns, arCount: ar).bytes + body
}

let wwwQuestion: [UInt8] =
    [3] + Array("WwW".utf8) + [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0, 0, 1, 0, 1]
/// An OPT record: root owner, size 1232, version `version`, DO as given, with `options`.
func optRecord(version: UInt8 = 0, dnssecOK: Bool = false, options: [UInt8] = []) -> [UInt8] {
    [0, 0, 41, 0x04, 0xD0, 0, version, dnssecOK ? 0x80 : 0, 0, UInt8(options.count >> 8), UInt8(options.count & 0xFF)]
        + options
}

func parse(_ bytes: [UInt8]) -> (QueryView.Outcome, QueryView, [UInt8]) {
    var q = QueryView()
    let lower = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
    let labels = UnsafeMutablePointer<UInt8>.allocate(capacity: 128)
    defer { lower.deallocate(); labels.deallocate() }
    let outcome = bytes.withUnsafeBytes { q.parse($0, lowerName: lower, labelOffsets: labels) }
    let name = outcome == .ok ? Array(UnsafeBufferPointer(start: lower, count: q.qnameLength)) : []
    return (outcome, q, name)
}

@Suite struct QueryViewTests {
    @Test func parsesQuestionAndOPT() {
        let nsid: [UInt8] = [0, 3, 0, 0]
        let unknown: [UInt8] = [0xFD, 0xE9, 0, 2, 0xAB, 0xCD]
        let (outcome, q, lower) = parse(
            rawQuery(
                flags: Header.Flag.rd, ar: 1,
                body: wwwQuestion + optRecord(dnssecOK: true, options: nsid + unknown)))
        #expect(outcome == .ok)
        #expect(q.id == 0xBEEF)
        #expect(q.qtype == 1 && q.qclass == 1)
        #expect(q.labelCount == 3)
        #expect(q.hasEDNS && q.ednsUDPSize == 1232 && q.dnssecOK && q.wantsNSID)
        #expect(lower == [3] + Array("www".utf8) + [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0])
    }

    /// Every malformed shape and the outcome documented in QueryView.
    @Test(
        arguments: [
            ("shorter than a header", [UInt8](repeating: 0, count: 11), QueryView.Outcome.drop),
            ("a response (QR=1)", rawQuery(flags: Header.Flag.qr, body: wwwQuestion), .drop),
            ("no question", rawQuery(qd: 0, body: []), .formErr(withQuestion: false)),
            ("two questions", rawQuery(qd: 2, body: wwwQuestion + wwwQuestion), .formErr(withQuestion: false)),
            ("pointer in the question", rawQuery(body: [0xC0, 12, 0, 1, 0, 1]), .formErr(withQuestion: false)),
            (
                "label of 64", rawQuery(body: [64] + [UInt8](repeating: 97, count: 64) + [0, 0, 1, 0, 1]),
                .formErr(withQuestion: false)
            ),
            (
                "name over 255",
                rawQuery(
                    body: Array(repeating: [63] + [UInt8](repeating: 97, count: 63), count: 5).flatMap { $0 } + [
                        0, 0, 1, 0, 1,
                    ]),
                .formErr(withQuestion: false)
            ),
            ("question cut short", rawQuery(body: Array(wwwQuestion.dropLast(2))), .formErr(withQuestion: false)),
            (
                "answer records in a query",
                rawQuery(an: 1, body: wwwQuestion + [0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]),
                .formErr(withQuestion: true)
            ),
            (
                "two OPT records", rawQuery(ar: 2, body: wwwQuestion + optRecord() + optRecord()),
                .formErr(withQuestion: true)
            ),
            (
                "OPT not owned by the root", rawQuery(ar: 1, body: wwwQuestion + [1, 97] + optRecord()),
                .formErr(withQuestion: true)
            ),
            (
                "option running past the OPT", rawQuery(ar: 1, body: wwwQuestion + optRecord(options: [0, 3, 0, 9])),
                .formErr(withQuestion: true)
            ),
            (
                "RDLENGTH past the end", rawQuery(ar: 1, body: wwwQuestion + [0, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 20]),
                .formErr(withQuestion: true)
            ),
            (
                "record after TSIG",
                rawQuery(ar: 2, body: wwwQuestion + [0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0] + optRecord()),
                .formErr(withQuestion: true)
            ),
            ("trailing octets", rawQuery(body: wwwQuestion + [1, 2, 3]), .ok),
        ] as [(String, [UInt8], QueryView.Outcome)])
    func malformedInput(_ what: String, _ bytes: [UInt8], _ expected: QueryView.Outcome) {
        #expect(parse(bytes).0 == expected, "\(what)")
    }

    @Test func otherOpcodesSkipTheirRecordsAndStillReadOPT() {
        let notify = rawQuery(
            flags: UInt16(OpCode.notify.rawValue) << 11, an: 1, ar: 1,
            body: wwwQuestion + [0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 0, 0, 0] + optRecord())
        let (outcome, q, _) = parse(notify)
        #expect(outcome == .ok)
        #expect(q.opcode == 4 && q.hasEDNS)
    }
}
