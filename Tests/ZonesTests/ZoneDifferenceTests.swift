// ZoneDifferenceTests: the records two versions of a zone differ by, as IXFR's deletions and additions.

import DNSWire
import TestSupport
import Testing
import Zones

@Suite struct ZoneDifferenceTests {
    let head = "$ORIGIN example.com.\n@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"

    func records(_ rs: [ResourceRecord]) -> Set<String> { Set(rs.map { "\($0)" }) }

    @Test func addedRemovedAndChangedRecordsOnly() throws {
        let old = try loadZone(
            head + "a IN A 192.0.2.10\nb IN A 192.0.2.20\nb IN A 192.0.2.21\nc IN TXT \"x\"\nttl 60 IN A 192.0.2.30\n")
        let new = try loadZone(
            head.replacingOccurrences(of: "SOA ns1 h 1", with: "SOA ns1 h 7")
                + "B IN A 192.0.2.21\nb IN A 192.0.2.22\nc IN TXT \"x\"\nd IN MX 10 ns1\nttl 90 IN A 192.0.2.30\n")
        let d = old.difference(to: new)
        #expect(
            records(d.removed)
                == records(
                    try [
                        ResourceRecord(
                            name: DomainName("a.example.com."), type: .a, ttl: 3600, rdata: [192, 0, 2, 10]),
                        ResourceRecord(
                            name: DomainName("b.example.com."), type: .a, ttl: 3600, rdata: [192, 0, 2, 20]),
                        ResourceRecord(
                            name: DomainName("ttl.example.com."), type: .a, ttl: 60, rdata: [192, 0, 2, 30]),
                    ]), "\(d.removed)")
        #expect(d.added.count == 3)
        #expect(records(d.added).contains { $0.contains("d.example.com.") && $0.contains("MX") })
        #expect(records(d.added).contains { $0.contains("ttl.example.com.") && $0.contains("90") })
        // The SOA is the caller's (IXFR puts it around each sequence); a name that changed case is no change.
        #expect(!(d.removed + d.added).contains { $0.type == .soa })
        #expect(old.difference(to: old).isEmpty)
        #expect(new.difference(to: old).removed.count == 3)
    }

    @Test func wholeSubtreesAndEmptyNonTerminals() throws {
        let old = try loadZone(head + "x.y.z IN A 192.0.2.1\n")
        let new = try loadZone(head + "w IN A 192.0.2.2\n")
        let d = old.difference(to: new)
        #expect(d.removed.map(\.name) == [try DomainName("x.y.z.example.com.")])
        #expect(d.added.map(\.name) == [try DomainName("w.example.com.")])
    }
}
