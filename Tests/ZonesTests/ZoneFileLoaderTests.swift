// ZoneFileLoaderTests: master-file features through ldns, and validation errors with file and line.

import DNSWire
import TestSupport
import Testing
import Zones

@Suite struct ZoneFileLoaderTests {
    @Test func readsDirectivesRelativeNamesMultiLineAndComments() throws {
        let zone = try loadZone(
            """
            $ORIGIN example.com.
            $TTL 1h
            @ IN SOA ns1 hostmaster (
                   7      ; serial
                   3600 900 1209600
                   300 )  ; minimum
              IN NS ns1
            ns1 IN A 192.0.2.1
            $ORIGIN sub2.example.com.
            host 120 IN AAAA 2001:db8::1   ; relative to the new origin
            """)
        #expect(zone.soa.soaSerial == 7)
        #expect(zone.soa.soaMinimum == 300)
        #expect(zone.soa.ttl == 3600)
        let host = try #require(zone.rrset(DomainName("host.sub2.example.com."), .aaaa))
        #expect(host.ttl == 120)
        // The empty non-terminal between the apex and host.sub2 exists (RFC 4592 §2.2.2).
        #expect(zone.node(try DomainName("sub2.example.com."))?.isEmptyNonTerminal == true)
    }

    @Test func readsCommonAndUnknownTypes() throws {
        let zone = try loadZone(
            """
            $ORIGIN example.com.
            @ 3600 IN SOA ns1 hostmaster 1 3600 900 1209600 300
            @ IN NS ns1
            ns1 IN A 192.0.2.1
            t IN TXT "one" "two three"
            c IN CAA 0 issue "letsencrypt.org"
            s IN SRV 10 60 80 www
            p IN PTR www
            u IN TYPE65280 \\# 3 010203
            """)
        #expect(
            zone.rrset(try DomainName("t.example.com."), .txt)?.rdatas == [
                [3] + Array("one".utf8) + [9] + Array("two three".utf8)
            ])
        #expect(zone.rrset(try DomainName("c.example.com."), .caa) != nil)
        #expect(
            zone.rrset(try DomainName("s.example.com."), .srv)?.records.first?.target
                == (try DomainName("www.example.com.")))
        #expect(zone.rrset(try DomainName("p.example.com."), .ptr) != nil)
        #expect(zone.rrset(try DomainName("u.example.com."), RRType(65280))?.rdatas == [[1, 2, 3]])
    }

    @Test func duplicateRecordsCollapseAndTheFirstTTLWins() throws {
        let zone = try loadZone(
            """
            @ 3600 IN SOA ns1 hostmaster 1 3600 900 1209600 300
            @ IN NS ns1
            ns1 IN A 192.0.2.1
            x 60 IN A 192.0.2.2
            x 90 IN A 192.0.2.3
            x 60 IN A 192.0.2.2
            """)
        let x = try #require(zone.rrset(DomainName("x.example.com."), .a))
        #expect(x.rdatas.count == 2)
        #expect(x.ttl == 60)
    }

    /// Each broken zone gives the expected message at the expected line.
    @Test(arguments: [
        ("@ IN NS ns1\nns1 IN A 192.0.2.1\n", nil as Int?, "no SOA record at the apex"),
        ("@ IN SOA ns1 h 1 2 3 4 5\nns1 IN A 192.0.2.1\n", 1, "no NS records at the apex"),
        (
            "@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\nwww.other.org. IN A 192.0.2.9\n", 4,
            "outside the zone"
        ),
        (
            "@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\nx IN CNAME ns1\nx IN A 192.0.2.2\n", 4,
            "has a CNAME and other data (A)"
        ),
        (
            "@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\nx IN CNAME ns1\nx IN CNAME www\n", 4,
            "has 2 CNAME records"
        ),
        (
            "@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\nsub IN NS ns.sub\n", 4,
            "delegation sub.example.com. NS ns.sub.example.com. needs glue"
        ),
        (
            "@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n$INCLUDE other.zone\n", 4,
            "$INCLUDE is not supported"
        ),
        ("@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\n\n; comment\nns1 IN A 192.0.2.300\n", 5, "ns1 IN A 192.0.2.300"),
        ("@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\nx CH TXT \"hi\"\n", 4, "only class IN"),
        (
            "@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\nx IN SOA ns1 h 1 2 3 4 5\n", 4,
            "only the apex"
        ),
        // RFC 2181 §10.3, as named-checkzone: an NS points at a name, not an alias (an MX too: a warning, below).
        (
            "@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\n@ IN NS nsalias\nns1 IN A 192.0.2.1\nnsalias IN CNAME ns1\n", 2,
            "example.com. NS nsalias.example.com.: the target is an alias (CNAME)"
        ),
        // An in-zone name server without an address cannot be reached.
        (
            "@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\n@ IN NS ns2\nns1 IN A 192.0.2.1\n", 2,
            "example.com. NS ns2.example.com.: the name server is in the zone but has no A or AAAA record"
        ),
        // Two SOA records: the second one's line.
        (
            "@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n@ IN SOA ns1 h 2 2 3 4 5\n", 4,
            "a second SOA record for example.com. (the first is at line 3)"
        ),
    ])
    func reportsEveryMistakeWithItsLine(text: String, line: Int?, message: String) {
        let errors = zoneErrors("$ORIGIN example.com.\n$TTL 300\n" + text)
        let shifted = line.map { $0 + 2 }
        #expect(
            errors.contains { $0.line == shifted && $0.description.contains(message) && $0.file == "test.zone" },
            "got: \(errors)")
    }

    /// What loads but deserves a look (printed by `check`, logged by `serve`): a TTL that differs inside an RRset,
    /// data hidden below a delegation or a DNAME. Glue below a delegation is no such thing.
    @Test func warningsForTTLMismatchAndOccludedData() throws {
        let zone = try loadZone(
            """
            @ 3600 IN SOA ns1 hostmaster 1 3600 900 1209600 300
            @ IN NS ns1
            ns1 IN A 192.0.2.1
            www 300 IN A 192.0.2.2
            www 600 IN A 192.0.2.3
            sub IN NS ns.sub
            ns.sub IN A 192.0.2.4
            deep.sub IN TXT "hidden"
            sub2 IN NS ns1
            d IN DNAME other.example.
            x.d IN A 192.0.2.5
            after IN A 192.0.2.6
            @ IN MX 10 mx
            mx IN CNAME ns1
            """)
        let warnings = zone.warnings.map { "\($0.line ?? 0): \($0.message)" }
        #expect(warnings.count == 4, "\(warnings)")
        #expect(
            warnings.contains { $0.hasPrefix("13: example.com. MX mx.example.com.: the target is an alias (CNAME)") })
        #expect(
            warnings.contains { $0.hasPrefix("5: www.example.com. A has TTL 600") && $0.contains("served with 300") })
        #expect(
            warnings.contains { $0.hasPrefix("8: deep.sub.example.com. TXT is below the delegation sub.example.com.") })
        #expect(warnings.contains { $0.hasPrefix("11: x.d.example.com. A is below the DNAME at d.example.com.") })
        #expect(zone.warnings.first?.warning.contains(": warning: ") == true)
    }

    /// RFC 4034 §3: the RRSIGs at a name are grouped by the type they cover when it comes to TTLs. A signed zone
    /// has signatures over several types at one name, each with its RRset's TTL: no warning. Two signatures over
    /// one type with different TTLs: one.
    @Test func signatureTTLsAreComparedPerCoveredType() throws {
        let sig = "13 2 %d 20270101000000 20260101000000 12345 example.com. AAECAwQFBgcICQ=="
        func rrsig(_ type: String, _ ttl: Int) -> String {
            "\(type) " + sig.replacingOccurrences(of: "%d", with: "\(ttl)")
        }
        let zone = try loadZone(
            """
            @ 3600 IN SOA ns1 hostmaster 1 3600 900 1209600 300
            @ 3600 IN RRSIG \(rrsig("SOA", 3600))
            @ 3600 IN NS ns1
            @ 3600 IN RRSIG \(rrsig("NS", 3600))
            @ 600 IN MX 10 ns1
            @ 600 IN RRSIG \(rrsig("MX", 600))
            @ 300 IN NSEC ns1 NS SOA MX RRSIG NSEC
            @ 300 IN RRSIG \(rrsig("NSEC", 300))
            ns1 IN A 192.0.2.1
            www 60 IN TXT "x"
            www 60 IN RRSIG \(rrsig("TXT", 60))
            www 120 IN RRSIG TXT 13 3 60 20270101000000 20260101000000 54321 example.com. AAECAwQFBgcICQ==
            """)
        let warnings = zone.warnings.map { "\($0.line ?? 0): \($0.message)" }
        #expect(warnings.count == 1, "\(warnings)")
        #expect(
            warnings.first?.hasPrefix(
                "12: www.example.com. RRSIG covering TXT has TTL 120, the first RRSIG covering TXT here (line 11) 60")
                == true, "\(warnings)")
    }

    /// Below a delegation only the addresses of name servers are glue (RFC 1034 §4.2.1, RFC 9471): the cut's own,
    /// or a sibling delegation's. Any other address there is never answered, and is warned about.
    @Test func anAddressBelowADelegationThatNoNSNamesIsNotGlue() throws {
        let zone = try loadZone(
            """
            @ 3600 IN SOA ns1 hostmaster 1 3600 900 1209600 300
            @ IN NS ns1
            ns1 IN A 192.0.2.1
            sub IN NS ns.sub
            ns.sub IN A 192.0.2.2
            ns.sub IN AAAA 2001:db8::2
            www.sub IN A 192.0.2.3
            other IN NS host.sub
            host.sub IN A 192.0.2.4
            """)
        let warnings = zone.warnings.map { "\($0.line ?? 0): \($0.message)" }
        #expect(warnings.count == 1, "\(warnings)")
        #expect(
            warnings.first?.hasPrefix(
                "7: www.sub.example.com. A is below the delegation sub.example.com. and is not glue (no NS record "
                    + "names it)") == true, "\(warnings)")
    }

    /// A zone that fails to load still says what else deserves a look: its warnings come with its errors.
    @Test func warningsComeWithTheErrors() throws {
        let text = """
            $ORIGIN example.com.
            @ 3600 IN SOA ns1 hostmaster 1 3600 900 1209600 300
            @ IN NS ns1
            ns1 IN A 192.0.2.1
            @ IN MX 10 mx
            mx IN CNAME ns1
            x IN CNAME ns1
            x IN TXT "beside an alias"
            """
        let failure = try #require(throws: ZoneLoadFailure.self) {
            try ZoneFileLoader.load(text: text, origin: DomainName("example.com."), displayPath: "t.zone")
        }
        #expect(failure.errors.map(\.line) == [7], "\(failure.errors)")
        #expect(failure.warnings.count == 1, "\(failure.warnings)")
        #expect(
            failure.warnings.first?.warning.hasPrefix(
                "t.zone:5: warning: example.com. MX mx.example.com.: the target is an alias (CNAME)") == true,
            "\(failure.warnings)")
    }

    /// A name server among the names that get addresses elsewhere (the pools) needs none in the file.
    @Test func aPoolNameAsNameServerNeedsNoAddressInTheFile() throws {
        let text = "$ORIGIN example.com.\n@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\n"
        #expect(throws: ZoneLoadFailure.self) {
            try ZoneFileLoader.load(text: text, origin: DomainName("example.com."))
        }
        let zone = try ZoneFileLoader.load(
            text: text, origin: DomainName("example.com."), addressed: [DomainName("ns1.example.com.")])
        #expect(zone.warnings.isEmpty)
    }

    @Test func reportsAllErrorsNotJustTheFirst() {
        let errors = zoneErrors(
            """
            $ORIGIN example.com.
            @ 300 IN SOA ns1 h 1 2 3 4 5
            @ IN NS ns1
            ns1 IN A 192.0.2.1
            a IN CNAME ns1
            a IN TXT "x"
            b.other.org. IN A 192.0.2.1
            """)
        #expect(errors.map(\.line) == [5, 7])
    }

    @Test func windowsLineEndsLoad() throws {
        let zone = try loadZone(
            "$ORIGIN example.com.\r\n@ 300 IN SOA ns1 h 1 2 3 4 5\r\n@ IN NS ns1\r\nns1 IN A 192.0.2.1\r\n")
        #expect(zone.rrset(try DomainName("ns1.example.com."), .a)?.rdatas == [[192, 0, 2, 1]])
    }

    @Test func aBadRecordIsReportedForWhatItIsWhateverItsOwnerIsCalled() {
        let errors = zoneErrors(
            "$ORIGIN example.com.\n@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nany IN A 192.0.2.300\nch IN TXT \"x\"\n"
                + "ns1 IN A 192.0.2.1\n")
        #expect(errors.count == 1 && errors.first?.line == 4, "\(errors)")
        #expect(errors.first?.message.contains("any IN A 192.0.2.300") == true, "\(errors)")
        #expect(errors.first?.message.contains("class") == false, "\(errors)")
    }

    /// A scanner error it cannot go on from (an unclosed parenthesis) ends the load with that error alone: the
    /// zone is not validated as if it were whole (no NS, no glue…).
    @Test func aFatalScannerErrorIsTheOnlyError() {
        let errors = zoneErrors("$ORIGIN example.com.\n@ 300 IN SOA ns1 h ( 1 2 3 4 5\nx IN A 192.0.2.1\n")
        #expect(!errors.isEmpty && errors.allSatisfy { !$0.message.contains("NS records") }, "\(errors)")
    }

    /// Issue 25: an SOA's `(` left open on line 3 was reported at the end of the file, where the scanner gave up.
    /// A parenthesis or a quoted string left open is reported at the line where it opens, alone (the lines a
    /// string swallowed are not reported apart).
    @Test(arguments: [
        (
            "$ORIGIN example.com.\n$TTL 300\n@ IN SOA ns1 hostmaster (\n    1 3600 900\n    1209600 300\n"
                + "@ IN NS ns1\nns1 IN A 192.0.2.1\n",
            3, "this parenthesis is never closed (the file ends inside it): @ IN SOA ns1 hostmaster ("
        ),
        (
            "$ORIGIN example.com.\n@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nt IN TXT ( \"a\"\n  \"b\"\n"
                + "ns1 IN A 192.0.2.1\nx IN TXT ( \"c\" )\n",
            4, "this parenthesis is not closed before line 7 opens another (add its ')'): t IN TXT ( \"a\""
        ),
        (
            "$ORIGIN example.com.\n@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
                + "t IN TXT ( \"hello\n world )\nx IN A 192.0.2.1\n",
            5, "this quoted string is never closed (the file ends inside it): t IN TXT ( \"hello"
        ),
        (
            "$ORIGIN example.com.\n@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
                + "t IN TXT \"hello\nworld\"\nx IN A 192.0.2.1\n",
            5,
            "this quoted string is not closed on its line (it closes on line 6: a string spans lines only inside"
                + " ( … )): t IN TXT \"hello"
        ),
        (
            "$ORIGIN example.com.\n@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
                + "t IN TXT \"hello\nx IN A 192.0.2.1\n",
            5, "this quoted string is not closed on its line: t IN TXT \"hello"
        ),
    ])
    func anUnclosedConstructIsReportedWhereItOpens(text: String, line: Int, message: String) {
        let errors = zoneErrors(text)
        #expect(errors.count == 1 && errors.first?.line == line, "\(errors)")
        #expect(errors.first?.message == message, "\(errors)")
    }

    /// Parentheses and quotes inside comments, strings and escapes are not constructs: the zone loads.
    @Test func parenthesesInCommentsAndStringsAreText() throws {
        let zone = try loadZone(
            "$ORIGIN example.com.\n@ 300 IN SOA ns1 h ( 1 2 3 ; ( not one\n 4 5 )\n@ IN NS ns1\n"
                + "ns1 IN A 192.0.2.1\nt IN TXT ( \"a ( ; \\\" b\" ; )\n \"c\" )\n")
        #expect(zone.rrset(try DomainName("t.example.com."), .txt) != nil)
    }

    @Test func missingFileIsAClearError() {
        #expect(throws: ZoneLoadFailure.self) {
            try ZoneFileLoader.load(path: "/nonexistent/zone", origin: DomainName("example.com."))
        }
    }
}
