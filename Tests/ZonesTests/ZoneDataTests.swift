// ZoneDataTests: the flat storage — canonical order, sets as the RFCs say, lookups, and a large file parsed in parts
// equal to the same file parsed whole.

import DNSWire
import TestSupport
import Testing
import Zones

@Suite struct ZoneDataTests {
    @Test func namesAreInCanonicalOrderWithEmptyNonTerminals() throws {
        let zone = try loadZone(
            """
            $ORIGIN example.com.
            @ 300 IN SOA ns1 h 1 2 3 4 5
            @ IN NS ns1
            ns1 IN A 192.0.2.1
            Z IN TXT "z"
            a.b.c IN A 192.0.2.2
            \\001 IN TXT "one"
            \\000 IN TXT "zero"
            *.wild IN A 192.0.2.3
            yljkjljk.a IN TXT "x"
            A IN TXT "upper"
            zABC.a IN TXT "y"
            """)
        let names = zone.names
        // RFC 4034 §6.1's example order, with our names: labels from the right, case-folded, octets as numbers,
        // a name before the names below it; empty non-terminals (b.c, c) are names too.
        #expect(names == names.sorted())
        #expect(
            names.map(\.description) == [
                "example.com.", "\\000.example.com.", "\\001.example.com.", "A.example.com.", "yljkjljk.a.example.com.",
                "zABC.a.example.com.", "c.example.com.", "b.c.example.com.", "a.b.c.example.com.", "ns1.example.com.",
                "wild.example.com.", "*.wild.example.com.", "Z.example.com.",
            ])
        // The predecessor search a later NSEC needs: the last name at or before a name.
        #expect(zone.loadedPredecessor(of: try DomainName("b.example.com."))?.description == "zABC.a.example.com.")
        #expect(zone.loadedPredecessor(of: try DomainName("ns1.example.com."))?.description == "ns1.example.com.")
        #expect(zone.loadedPredecessor(of: try DomainName("com.")) == nil)
    }

    @Test func setsDropDuplicatesKeepTheFirstTTLAndLookupsIgnoreCase() throws {
        let zone = try loadZone(
            """
            $ORIGIN example.com.
            @ 300 IN SOA ns1 h 1 2 3 4 5
            @ IN NS ns1
            ns1 IN A 192.0.2.1
            www 60 IN A 192.0.2.10
            WWW 90 IN A 192.0.2.11
            www 30 IN A 192.0.2.10
            www IN TXT "t"
            """)
        let set = try #require(zone.rrset(try DomainName("wWw.EXAMPLE.com."), .a))
        #expect(set.rdatas == [[192, 0, 2, 10], [192, 0, 2, 11]])
        #expect(set.ttl == 60)
        #expect(set.line == 5)
        #expect(zone.types(try DomainName("www.example.com.")) == [.a, .txt])
        #expect(zone.exists(try DomainName("example.com.")))
        #expect(!zone.exists(try DomainName("nope.example.com.")))
        #expect(zone.nodeCount == 3)
    }

    /// A large file with directives, parentheses, quotes and comments in it: every record where it belongs, and an
    /// error at the end keeps its line.
    @Test func aLargeFileLoadsWithItsDirectivesAndLines() throws {
        var text = "$ORIGIN example.com.\n$TTL 600\n@ IN SOA ns1 h ( 1 2\n 3 4 5 )\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
        for i in 0..<40_000 {
            switch i % 1000 {
            case 250: text += "$TTL 120\n"
            case 500: text += "$ORIGIN sub.example.com.\n"
            case 750: text += "$ORIGIN example.com.\n"
            case 100: text += "t\(i) IN TXT ( \"a ; not a comment\"\n  \"(b\" ) ; a comment (\n"
            case 101: text += "\t\t IN TXT \"same owner as before\"\n"
            default: text += "h\(i) IN A 198.18.\(i / 256 % 256).\(i % 256) ; \"quoted\n"
            }
        }
        let origin = try DomainName("example.com.")
        let zone = try ZoneFileLoader.load(text: text, origin: origin)
        #expect(zone.rrset(try DomainName("h251.sub.example.com."), .a) == nil)
        #expect(zone.rrset(try DomainName("h251.example.com."), .a)?.ttl == 120)
        #expect(zone.rrset(try DomainName("h501.sub.example.com."), .a)?.ttl == 120)
        #expect(zone.rrset(try DomainName("h1.example.com."), .a)?.ttl == 600)
        let txt = try #require(zone.rrset(try DomainName("t39100.example.com."), .txt))
        #expect(txt.rdatas.count == 2)
        #expect(txt.rdatas[0] == [17] + Array("a ; not a comment".utf8) + [2] + Array("(b".utf8))
        let broken = text + "bad IN A 999.1.1.1\n"
        let line = broken.split(separator: "\n", omittingEmptySubsequences: false).count - 1
        do {
            _ = try ZoneFileLoader.load(text: broken, origin: origin)
            Issue.record("a broken record loaded")
        } catch {
            #expect(error.errors.map(\.line) == [line], "\(error)")
            #expect(error.errors.first?.message.contains("bad IN A 999.1.1.1") == true, "\(error)")
        }
    }
}
