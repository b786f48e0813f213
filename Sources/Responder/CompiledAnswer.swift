// CompiledAnswer: a response body precompiled to wire bytes, ready to be copied after the question.

import DNSWire
import Zones

/// Where a body's bytes and fixups live in the snapshot's arenas, and the header values that go with it.
///
/// A body is the part of a response after the question: answer, authority and additional records, compressed
/// against the question name at offset 12. Bodies used for one exact name are final bytes. Bodies shared by many
/// query names (wildcard synthesis, negative answers, referrals) are compiled against a template name, and every
/// compression pointer whose target moves with the query name's length is listed as a fixup: its value at query
/// time is `12 + qnameLength + delta` (for a suffix of the question name, or a name earlier in the body). A
/// pointer to the whole question name (an owner that is the query name) is always `0xC00C` and needs no fixup.
public struct CompiledAnswer: Sendable {
    /// Header flag bits to set: AA and the rcode's low 4 bits.
    public var flags: UInt16
    /// Extended rcode bits for the OPT record (rcode >> 4), e.g. none for every answer the zone gives.
    public var answerCount: UInt16
    /// Records in the authority section.
    public var authorityCount: UInt16
    /// Additional records when the whole body fits.
    public var additionalCountFull: UInt16
    /// Additional records when only the required part fits (glue below a cut).
    public var additionalCountMin: UInt16
    /// Offset of the body in the byte arena.
    public var offset: Int32
    /// Length of the whole body.
    public var length: Int32
    /// Length of the required part (answer, authority, required glue).
    public var minLength: Int32
    /// Range of this body's fixups in the fixup arena.
    public var fixupStart: Int32
    /// Number of fixups.
    public var fixupCount: Int32
}

/// One patch applied at query time at body offset `at`. With `zone` negative, a compression pointer: write
/// `0xC000 | (12 + qnameLength + delta)`. With `zone` ≥ 0, an SOA serial: write the served serial of zone number
/// `zone` (its 4 octets), so that a serial that moves with a health change costs no body that holds the SOA.
public struct Fixup: Sendable {
    /// Offset of the pointer (or the serial) within the body.
    public var at: UInt16
    /// Distance of the target from the end of the question name.
    public var delta: Int16
    /// The zone whose serial goes here, or -1 for a pointer.
    public var zone: Int32 = -1
}

/// Owns the arenas that compiled answers point into while a snapshot is being built.
struct AnswerArena {
    var bytes: [UInt8] = []
    var fixups: [Fixup] = []
    var answers: [CompiledAnswer] = []

    /// Compiles the answer of one RRset whose RDATA holds no name to compress (A, AAAA, TXT…), owned by the query
    /// name: each record is `0xC00C`, type, class IN, TTL, length, RDATA. The bytes `add` would write for it,
    /// without a `Resolution`, a `MessageWriter` or a record value (what compiling a million names costs).
    mutating func addRRset<C: Collection>(type: RRType, ttl: UInt32, rdatas: C) -> AnswerRef
    where C.Element == UnsafeRawBufferPointer {
        let start = bytes.count
        AnswerArena.appendRecords(to: &bytes, owner: 0xC00C, type: type, ttl: ttl, rdatas: rdatas)
        let length = Int32(bytes.count - start)
        answers.append(
            CompiledAnswer(
                flags: Header.Flag.aa, answerCount: UInt16(rdatas.count), authorityCount: 0, additionalCountFull: 0,
                additionalCountMin: 0, offset: Int32(start), length: length, minLength: length,
                fixupStart: Int32(fixups.count), fixupCount: 0))
        return .body(answers.count - 1)
    }

    /// Appends one record per RDATA owned by the compression pointer `owner`: owner, type, class IN, TTL, RDATA length,
    /// RDATA, octet by octet (an array literal here would be an allocation per record).
    static func appendRecords<C: Collection>(
        to out: inout [UInt8], owner: UInt16, type: RRType, ttl: UInt32, rdatas: C
    ) where C.Element: Collection, C.Element.Element == UInt8 {
        for rd in rdatas {
            out.append(UInt8(owner >> 8))
            out.append(UInt8(owner & 0xFF))
            out.append(UInt8(type.rawValue >> 8))
            out.append(UInt8(type.rawValue & 0xFF))
            out.append(0)
            out.append(1)
            out.append(UInt8(ttl >> 24))
            out.append(UInt8(ttl >> 16 & 0xFF))
            out.append(UInt8(ttl >> 8 & 0xFF))
            out.append(UInt8(ttl & 0xFF))
            out.append(UInt8(rd.count >> 8))
            out.append(UInt8(rd.count & 0xFF))
            out.append(contentsOf: rd)
        }
    }

    /// Stores a body written elsewhere (`BodyWriter`) as final bytes with `answers` records in the answer section,
    /// `authority` in the authority section and `additional` optional additional records after them, which a response
    /// too small for them leaves out (`minLength`: where they start); `serial`: the offset in the body of an SOA's
    /// serial and the number of its zone, which becomes a fixup (as `add` makes it).
    mutating func addBody(
        _ body: ArraySlice<UInt8>, answers answerCount: Int, authority: Int = 0, additional: Int = 0,
        minLength: Int? = nil, serial: (at: Int, zone: Int)? = nil
    ) -> AnswerRef {
        let fixStart = fixups.count
        if let serial { fixups.append(Fixup(at: UInt16(serial.at), delta: 0, zone: Int32(serial.zone))) }
        answers.append(
            CompiledAnswer(
                flags: Header.Flag.aa, answerCount: UInt16(answerCount), authorityCount: UInt16(authority),
                additionalCountFull: UInt16(additional), additionalCountMin: 0, offset: Int32(bytes.count),
                length: Int32(body.count), minLength: Int32(minLength ?? body.count), fixupStart: Int32(fixStart),
                fixupCount: Int32(fixups.count - fixStart)))
        bytes.append(contentsOf: body)
        return .body(answers.count - 1)
    }

    /// Stores the body `writer` wrote (`BodyWriter`) for a question that may be longer than the one it was written
    /// for (a referral, anchored at its cut, serving every name below): each compression pointer becomes a fixup
    /// measured from the end of the question's name, as `add` with an anchor makes them. Not authoritative, NOERROR;
    /// `authority` records, then `glue` required and `additional` optional additional records (from `minLength`).
    mutating func addAnchoredBody(
        _ writer: BodyWriter, authority: Int, glue: Int, additional: Int, minLength: Int
    ) -> AnswerRef {
        let fixStart = fixups.count
        let questionEnd = writer.bodyStart - 4
        for p in writer.pointers {
            let target = Int(writer.bytes[p] & 0x3F) << 8 | Int(writer.bytes[p + 1])
            fixups.append(Fixup(at: UInt16(p - writer.bodyStart), delta: Int16(target - questionEnd)))
        }
        answers.append(
            CompiledAnswer(
                flags: 0, answerCount: 0, authorityCount: UInt16(authority),
                additionalCountFull: UInt16(glue + additional), additionalCountMin: UInt16(glue),
                offset: Int32(bytes.count), length: Int32(writer.body.count), minLength: Int32(minLength),
                fixupStart: Int32(fixStart), fixupCount: Int32(fixups.count - fixStart)))
        bytes.append(contentsOf: writer.body)
        return .body(answers.count - 1)
    }

    /// Compiles a resolution. `template` is the question name the body is built against. With `anchor` set, the
    /// body serves every query name that ends in `anchor` and its pointers are stored as fixups; with
    /// `ownerIsQuery` too (wildcard synthesis), names equal to the template stand for the query name itself and
    /// point to offset 12. `serialZone` numbers the zone of an SOA owner: its serial becomes a fixup.
    mutating func add(
        _ res: Resolution, template: DomainName, anchor: DomainName? = nil, ownerIsQuery: Bool = false,
        serialZone: (DomainName) -> Int? = { _ in nil }
    ) -> AnswerRef {
        var w = MessageWriter()
        w.append([UInt8](repeating: 0, count: 12))
        w.append(template.wire)
        if let anchor {
            w.register(template, at: 12, floor: anchor)
            if ownerIsQuery { w.register(template, at: 12, floor: anchor, wholeOnly: true) }
        } else {
            w.register(template, at: 12)
        }
        w.u16(0)
        w.u16(0)
        let bodyStart = w.bytes.count
        var serials: [Fixup] = []
        for rr in res.answer + res.authority + res.glue {
            w.record(rr)
            // The serial is the first of the five 32-bit fields that end an SOA's RDATA (RFC 1035 §3.3.13).
            if rr.type == .soa, rr.rdata.count >= 20, let zone = serialZone(rr.name) {
                serials.append(Fixup(at: UInt16(w.bytes.count - 20 - bodyStart), delta: 0, zone: Int32(zone)))
            }
        }
        let minEnd = w.bytes.count
        for rr in res.additional { w.record(rr) }

        var body = Array(w.bytes[bodyStart...])
        let fixStart = fixups.count
        let qlen = template.wire.count
        for p in w.pointers where p.at >= bodyStart {
            let delta = p.target - 12 - qlen
            if anchor != nil && !p.whole {
                fixups.append(Fixup(at: UInt16(p.at - bodyStart), delta: Int16(delta)))
            } else {
                // Final value: whole-name pointers are 0xC00C; with a fixed template, targets are where they are.
                let v = 0xC000 | UInt16(p.target)
                body[p.at - bodyStart] = UInt8(v >> 8)
                body[p.at - bodyStart + 1] = UInt8(v & 0xFF)
            }
        }
        fixups += serials
        let aa: UInt16 = res.authoritative ? Header.Flag.aa : 0
        let answer = CompiledAnswer(
            flags: aa | (res.rcode.rawValue & 0xF),
            answerCount: UInt16(res.answer.count),
            authorityCount: UInt16(res.authority.count),
            additionalCountFull: UInt16(res.glue.count + res.additional.count),
            additionalCountMin: UInt16(res.glue.count),
            offset: Int32(bytes.count),
            length: Int32(body.count),
            minLength: Int32(minEnd - bodyStart),
            fixupStart: Int32(fixStart),
            fixupCount: Int32(fixups.count - fixStart))
        bytes += body
        answers.append(answer)
        return .body(answers.count - 1)
    }
}
