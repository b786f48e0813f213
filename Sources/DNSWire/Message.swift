// Message: a whole DNS message as values — for tests, the slow path and round-trip fuzzing.

/// A question entry (RFC 1035 §4.1.2).
public struct Question: Hashable, Sendable {
    /// The name asked for.
    public var name: DomainName
    /// The type asked for.
    public var type: RRType
    /// The class asked for.
    public var rrClass: RRClass
    /// Makes a question.
    public init(name: DomainName, type: RRType, rrClass: RRClass = .in) {
        self.name = name
        self.type = type
        self.rrClass = rrClass
    }
}

/// A parsed DNS message. The hot path never builds one; it works on `QueryView` instead.
public struct Message: Hashable, Sendable {
    /// The header; counts are recomputed by `encode()`.
    public var header: Header
    /// The question section.
    public var questions: [Question]
    /// The answer section.
    public var answers: [ResourceRecord]
    /// The authority section.
    public var authority: [ResourceRecord]
    /// The additional section, OPT included as a record.
    public var additional: [ResourceRecord]

    /// Makes a message.
    public init(
        header: Header, questions: [Question] = [], answers: [ResourceRecord] = [],
        authority: [ResourceRecord] = [], additional: [ResourceRecord] = []
    ) {
        self.header = header
        self.questions = questions
        self.answers = answers
        self.authority = authority
        self.additional = additional
    }

    /// Parses a whole message; throws on any malformation.
    public init(bytes: [UInt8]) throws(DNSWireError) {
        let header = try Header(bytes: bytes)
        var r = WireReader(bytes, offset: 12)
        var questions: [Question] = []
        for _ in 0..<header.qdCount {
            let n = try r.name()
            questions.append(Question(name: n, type: RRType(try r.u16()), rrClass: RRClass(rawValue: try r.u16())))
        }
        func records(_ n: UInt16) throws(DNSWireError) -> [ResourceRecord] {
            var out: [ResourceRecord] = []
            for _ in 0..<n { out.append(try r.record()) }
            return out
        }
        let an = try records(header.anCount)
        let ns = try records(header.nsCount)
        let ar = try records(header.arCount)
        self.init(header: header, questions: questions, answers: an, authority: ns, additional: ar)
    }

    /// Encodes with name compression; the header's counts are set from the sections.
    public func encode() -> [UInt8] {
        var w = MessageWriter()
        var h = header
        h.qdCount = UInt16(questions.count)
        h.anCount = UInt16(answers.count)
        h.nsCount = UInt16(authority.count)
        h.arCount = UInt16(additional.count)
        w.append(h.bytes)
        for q in questions { w.question(q.name, type: q.type, rrClass: q.rrClass) }
        for rr in answers + authority + additional { w.record(rr) }
        return w.bytes
    }

    /// The OPT record of the additional section, if any.
    public var opt: ResourceRecord? { additional.first { $0.type == .opt } }

    /// The full response code: header bits plus the OPT's extended bits (RFC 6891 §6.1.3).
    public var rcode: RCode {
        let ext = opt.map { UInt16($0.ttl >> 24) << 4 } ?? 0
        return RCode(rawValue: ext | header.rcodeLow)
    }
}
