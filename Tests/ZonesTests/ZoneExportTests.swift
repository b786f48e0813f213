// ZoneExportTests: master-file text through ldns loads back to the same zone (export → load → export identical),
// and the serial helpers (RFC 1982 comparison, serial replacement, content fingerprint).

import DNSWire
import Foundation
import TestSupport
import Testing
import Zones

@Suite struct ZoneTextTests {
    @Test func exportLoadsBackIdentically() throws {
        let zone = try loadZone(variedZone)  // every type the loader takes
        let first = ZoneText.render(zone, header: ["test"])
        let again = try loadZone(first)
        #expect(ZoneText.render(again, header: ["test"]) == first)
        #expect(Set(again.records) == Set(zone.records))
        #expect(first.contains("\"v=spf1 -all\" \"second string\""))
        #expect(first.contains("odd.example.com.\t3600\tIN\tTYPE65280\t\\# 4 0a0b0c0d"), "\(first)")
        // Absolute names and explicit TTL and class on every line: no reader needs $ORIGIN or $TTL.
        for line in first.split(separator: "\n") where !line.hasPrefix(";") && !line.hasPrefix("$") {
            #expect(line.split(separator: "\t").count >= 4 && line.split(separator: "\t")[0].hasSuffix("."))
        }
    }

    @Test func exampleZoneRoundTrips() throws {
        let zone = try loadZone(exampleZone)
        let text = ZoneText.render(zone)
        #expect(ZoneText.render(try loadZone(text)) == text)
    }
}

@Suite struct SerialTests {
    @Test func rfc1982Comparison() {
        #expect(SerialNumber.isGreater(2, than: 1))
        #expect(!SerialNumber.isGreater(1, than: 2))
        #expect(!SerialNumber.isGreater(5, than: 5))
        // Wrapping: 0 follows 0xFFFFFFFF, and 10 is greater than 0xFFFFFFF0.
        #expect(SerialNumber.isGreater(0, than: 0xFFFF_FFFF))
        #expect(SerialNumber.isGreater(10, than: 0xFFFF_FFF0))
        #expect(!SerialNumber.isGreater(0xFFFF_FFF0, than: 10))
        // Exactly 2^31 apart: undefined (RFC 1982 §3.2), treated as not greater either way.
        #expect(!SerialNumber.isGreater(0x8000_0000, than: 0) && !SerialNumber.isGreater(0, than: 0x8000_0000))
    }

    @Test func serialReplacementAndFingerprint() throws {
        let zone = try loadZone(exampleZone)
        #expect(zone.fileSerial == 1)
        let moved = zone.withSerial(2026_1121_01)
        #expect(moved.fileSerial == 2026_1121_01 && moved.soa.soaSerial == 2026_1121_01)
        #expect(moved.rrset(moved.origin, .soa)?.records.first?.soaSerial == 2026_1121_01)
        #expect(moved.records.first == moved.soa)
        // The serial is not content: the fingerprint ignores it, and sees any other change.
        #expect(moved.contentFingerprint == zone.contentFingerprint)
        let other = try loadZone(exampleZone.replacingOccurrences(of: "192.0.2.1\n", with: "192.0.2.199\n"))
        #expect(other.contentFingerprint != zone.contentFingerprint)
        let upper = try loadZone(exampleZone.replacingOccurrences(of: "ns1     IN A", with: "NS1     IN A"))
        #expect(upper.contentFingerprint == zone.contentFingerprint)
    }
}
