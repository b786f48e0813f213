// QueryProcessorTests: header rules, EDNS, truncation, CHAOS and every error path, without sockets.

import DNSWire
import Responder
import TestSupport
import Testing
import Zones

@Suite struct QueryProcessorTests {
    static let zone = try! loadZone(
        exampleZone + "\n" + """
            big     IN TXT "\(String(repeating: "a", count: 200))"
            big     IN TXT "\(String(repeating: "b", count: 200))"
            big     IN TXT "\(String(repeating: "c", count: 200))"
            manymx  IN MX 10 mx1
            manymx  IN MX 20 mx2
            mx1     IN AAAA 2001:db8::1
            mx1     IN AAAA 2001:db8::2
            mx1     IN AAAA 2001:db8::3
            mx1     IN AAAA 2001:db8::4
            mx1     IN AAAA 2001:db8::5
            mx1     IN AAAA 2001:db8::6
            mx1     IN AAAA 2001:db8::7
            mx1     IN AAAA 2001:db8::8
            mx1     IN AAAA 2001:db8::9
            mx1     IN AAAA 2001:db8::a
            mx1     IN AAAA 2001:db8::b
            mx1     IN AAAA 2001:db8::c
            mx1     IN AAAA 2001:db8::d
            mx1     IN AAAA 2001:db8::e
            mx1     IN AAAA 2001:db8::f
            mx2     IN AAAA 2001:db8::2:1
            """)
    static let options = ResponderOptions(identity: "ns-test", version: "UplinkDNS test", nsid: Array("ns-test".utf8))
    static let snapshot = Snapshot(zoneSet: ZoneSet([zone]), options: options)
    var s: Snapshot { Self.snapshot }

    @Test func echoesTheQuestionByteForByteAndAnswersInItsCase() throws {
        let q = queryBytes("WwW.ExAmPlE.cOm.", .a)
        let r = try #require(respond(s, q))
        #expect(Array(r[12..<q.count]) == Array(q[12...]))
        let m = try Message(bytes: r)
        #expect(m.answers.map(\.name.description) == ["WwW.ExAmPlE.cOm.", "WwW.ExAmPlE.cOm."])
        // Wildcard synthesis keeps the query's case too (RFC 4592 §3.3.1 owner = query name).
        let w = try ask(s, "HoSt.WILD.example.com.", .a)
        #expect(w.answers.first?.name.description == "HoSt.WILD.example.com.")
    }

    @Test func headerFlags() throws {
        // RD is copied; AA, TC, Z, AD, CD in the query are ignored; RA, AD, CD, Z are never set.
        let all = Header.Flag.rd | Header.Flag.aa | Header.Flag.tc | Header.Flag.z | Header.Flag.ad | Header.Flag.cd
        let m = try ask(s, "www.example.com.", .a, flags: all)
        #expect(m.header.qr && m.header.aa && m.header.rd)
        #expect(!m.header.ra && !m.header.tc && !m.header.ad && !m.header.cd && m.header.flags & Header.Flag.z == 0)
        #expect(m.header.id == 0x4242)
        let norec = try ask(s, "www.example.com.", .a)
        #expect(!norec.header.rd)
    }

    @Test func ednsAnswersWithOurSizeAndCopiesDO() throws {
        #expect(try ask(s, "www.example.com.", .a).opt == nil)
        let unknown: [UInt8] = [0xFD, 0xE9, 0, 2, 0xAB, 0xCD]
        let m = try ask(s, "www.example.com.", .a, edns: EDNSQuery(size: 4096, dnssecOK: true, options: unknown))
        let opt = try #require(m.opt)
        #expect(opt.rrClass.rawValue == 1232)
        #expect(opt.ttl == 0x8000)  // version 0, DO copied (RFC 3225)
        #expect(opt.rdata.isEmpty)  // unknown options are not echoed
    }

    @Test func nsidOnlyWhenAsked() throws {
        let asked = try ask(s, "www.example.com.", .a, edns: EDNSQuery(options: [0, 3, 0, 0]))
        #expect(asked.opt?.rdata == [0, 3, 0, 7] + Array("ns-test".utf8))
        let plain = try ask(s, "www.example.com.", .a, edns: EDNSQuery())
        #expect(plain.opt?.rdata == [])
        let unset = Snapshot(zoneSet: ZoneSet([Self.zone]))
        #expect(try ask(unset, "www.example.com.", .a, edns: EDNSQuery(options: [0, 3, 0, 0])).opt?.rdata == [])
    }

    @Test func badVersIsAnsweredWithVersionZero() throws {
        let m = try ask(s, "www.example.com.", .a, edns: EDNSQuery(version: 1))
        #expect(m.rcode == .badVers)
        #expect(m.header.rcodeLow == 0)
        #expect(m.answers.isEmpty && !m.header.aa)
        #expect((m.opt?.ttl ?? 0) >> 16 & 0xFF == 0)
        #expect(m.questions.count == 1)
    }

    @Test func truncatesOverUDPAndAnswersInFullOverTCP() throws {
        let small = try ask(s, "big.example.com.", .txt)
        #expect(small.header.tc && small.answers.isEmpty && small.questions.count == 1 && small.header.aa)
        let edns = try ask(s, "big.example.com.", .txt, edns: EDNSQuery(size: 4096))
        #expect(!edns.header.tc && edns.answers.count == 3)  // 620 octets fit our 1232
        let tcp = try ask(s, "big.example.com.", .txt, transport: .tcp)
        #expect(!tcp.header.tc && tcp.answers.count == 3)
        let tiny = try ask(s, "big.example.com.", .txt, edns: EDNSQuery(size: 100))  // below 512 counts as 512
        #expect(tiny.header.tc && tiny.opt != nil)
    }

    @Test func dropsOptionalAdditionalDataBeforeTruncating() throws {
        let full = try ask(s, "manymx.example.com.", .mx, transport: .tcp)
        #expect(full.additional.count == 16)
        let udp = try ask(s, "manymx.example.com.", .mx)
        #expect(!udp.header.tc && udp.answers.count == 2 && udp.additional.isEmpty)
        let bytes = try #require(respond(s, queryBytes("manymx.example.com.", .mx)))
        #expect(bytes.count <= 512)
    }

    @Test func chaosIdentityAndVersion() throws {
        for (name, text) in [
            ("version.bind.", "UplinkDNS test"), ("VERSION.server.", "UplinkDNS test"),
            ("id.server.", "ns-test"), ("hostname.bind.", "ns-test"),
        ] {
            let m = try ask(s, name, .txt, rrClass: .ch)
            #expect(m.rcode == .noError && !m.header.aa, "\(name)")
            #expect(m.answers.first?.rrClass == .ch && m.answers.first?.ttl == 0)
            #expect(m.answers.first?.rdata == [UInt8(text.utf8.count)] + Array(text.utf8))
        }
        #expect(try ask(s, "foo.bind.", .txt, rrClass: .ch).rcode == .refused)
        #expect(try ask(s, "version.bind.", .a, rrClass: .ch).rcode == .refused)
        let quiet = Snapshot(zoneSet: ZoneSet([Self.zone]), options: ResponderOptions())
        #expect(try ask(quiet, "version.bind.", .txt, rrClass: .ch).rcode == .refused)
    }

    @Test func refusalsAndNotImplemented() throws {
        let out = try ask(s, "www.example.org.", .a)
        #expect(out.rcode == .refused && !out.header.aa && out.answers.isEmpty && out.authority.isEmpty)
        #expect(try ask(s, "www.example.com.", .a, rrClass: RRClass(rawValue: 4)).rcode == .refused)
        #expect(try ask(s, "example.com.", .axfr).rcode == .notImp)
        #expect(try ask(s, "example.com.", .ixfr).rcode == .notImp)
        #expect(try ask(s, "example.com.", .axfr, transport: .tcp).rcode == .refused)
        let notify = try ask(s, "example.com.", .soa, flags: UInt16(OpCode.notify.rawValue) << 11, edns: EDNSQuery())
        #expect(notify.rcode == .notImp && notify.header.opcode == .notify && notify.opt != nil)
        // Meta types are ordinary lookups (NODATA), as NSD and Knot answer them.
        let mailb = try ask(s, "www.example.com.", .mailb)
        #expect(mailb.rcode == .noError && mailb.header.aa && mailb.authority.first?.type == .soa)
        // Class ANY: answered as IN, never authoritative (RFC 6895 §3.2).
        let anyClass = try ask(s, "www.example.com.", .a, rrClass: .any)
        #expect(anyClass.answers.count == 2 && !anyClass.header.aa)
    }

    @Test func tsigWithoutKeysIsNotAuth() throws {
        var q = queryBytes("www.example.com.", .a)
        q[11] = 1
        q += [3] + Array("key".utf8) + [0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0]
        let m = try Message(bytes: try #require(respond(s, q)))
        #expect(m.rcode == .notAuth && m.answers.isEmpty)
    }

    @Test func malformedInputIsDroppedOrFORMERR() throws {
        #expect(respond(s, [0, 1, 2]) == nil)
        var response = queryBytes("www.example.com.", .a)
        response[2] |= 0x80
        #expect(respond(s, response) == nil)
        let noQuestion = Header(id: 7).bytes
        let formerr = try Message(bytes: try #require(respond(s, noQuestion)))
        #expect(formerr.rcode == .formErr && formerr.header.id == 7 && formerr.questions.isEmpty)
        var loop = Header(id: 8, qdCount: 1).bytes
        loop += [0xC0, 12, 0, 1, 0, 1]
        #expect(try Message(bytes: try #require(respond(s, loop))).rcode == .formErr)
        // Random bytes never crash the processor and never produce a malformed response.
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let len = Int.random(in: 0..<80, using: &rng)
            var junk = (0..<len).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if junk.count > 5 { junk[4] = 0; junk[5] = 1; junk[2] &= 0x7F }
            if let r = respond(s, junk, transport: .tcp) {
                let m = try Message(bytes: r)
                #expect(m.header.id == UInt16(junk[0]) << 8 | UInt16(junk[1]))
            }
        }
    }

    /// A header-only message (QDCOUNT 0) with an OPT: RFC 6891 §7 has the responder include one; the opcode is
    /// checked first, so a header-only DSO message (opcode 6, RFC 8490) gets NOTIMP as from NSD and Knot.
    @Test func headerOnlyMessagesGetOPTAndTheOpcodeComesFirst() throws {
        let opt: [UInt8] = [0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0]  // size 1232, DO set
        let formerr = try Message(bytes: try #require(respond(s, Header(id: 9, arCount: 1).bytes + opt)))
        #expect(formerr.rcode == .formErr && formerr.questions.isEmpty)
        #expect(formerr.opt?.rrClass.rawValue == s.options.ednsUDPSize)
        #expect(formerr.opt.map { $0.ttl & 0x8000 != 0 } == true)  // DO copied (RFC 3225 §3)
        let dsoFlags = UInt16(6) << 11
        let dso = try Message(bytes: try #require(respond(s, Header(id: 10, flags: dsoFlags).bytes)))
        #expect(dso.rcode == .notImp && dso.header.id == 10 && dso.opt == nil)
        #expect(UInt16(dso.header.flags) >> 11 & 0xF == 6)
        let dsoOPT = try Message(
            bytes: try #require(respond(s, Header(id: 11, flags: dsoFlags, arCount: 1).bytes + opt)))
        #expect(dsoOPT.rcode == .notImp && dsoOPT.opt != nil)
        // Two questions with another opcode: NOTIMP too (the opcode before the question count).
        var two = Header(id: 12, flags: UInt16(OpCode.notify.rawValue) << 11, qdCount: 2).bytes
        two += [0, 0, 6, 0, 1, 0, 0, 6, 0, 1]
        #expect(try Message(bytes: try #require(respond(s, two))).rcode == .notImp)
        // A malformed record after the header: FORMERR without OPT (nothing trustworthy was read).
        let broken = try Message(bytes: try #require(respond(s, Header(id: 13, arCount: 2).bytes + opt)))
        #expect(broken.rcode == .formErr && broken.opt == nil)
    }

    @Test func referralWhoseGlueDoesNotFitIsTruncated() throws {
        var text = exampleZone + "\n"
        for i in 0..<40 { text += "big-sub IN NS ns\(i).big-sub\nns\(i).big-sub IN A 192.0.2.\(i + 1)\n" }
        let s = Snapshot(zoneSet: ZoneSet([try loadZone(text)]))
        let udp = try ask(s, "www.big-sub.example.com.", .a)
        #expect(udp.header.tc && !udp.header.aa)
        let tcp = try ask(s, "www.big-sub.example.com.", .a, transport: .tcp)
        #expect(tcp.authority.count == 40 && tcp.additional.count == 40)
    }
}
