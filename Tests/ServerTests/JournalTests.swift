// JournalTests: the IXFR journal — steps from pool changes and file diffs, condensed over several steps, bounded,
// persisted, and started anew when it cannot follow.

import DNSWire
import Foundation
import Server
import Testing
import Zones

@Suite struct JournalTests {
    static let origin = try! DomainName("example.com.")
    static let zone = try! ZoneFileLoader.load(
        text: "$ORIGIN example.com.\n@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n", origin: origin)

    static func www(_ last: UInt8) -> ResourceRecord {
        ResourceRecord(name: try! DomainName("www.example.com."), type: .a, ttl: 60, rdata: [192, 0, 2, last])
    }

    /// Serves `serial` with pool records for the addresses ending in `lasts`.
    func serve(
        _ j: Journal, _ serial: UInt32, _ lasts: [UInt8], zone: Zone = JournalTests.zone, previous: Zone? = nil,
        limits: JournalLimits = JournalLimits()
    ) -> String? {
        j.record(
            Self.origin, soa: zone.withSerial(serial).soa, zone: zone, file: zone.contentFingerprint,
            pools: lasts.map(Self.www), previous: previous, previousFile: previous?.contentFingerprint, limits: limits)
    }

    @Test func poolChangesAreStepsAndSeveralCondenseIntoOne() throws {
        let j = Journal(stateDirectory: nil)
        #expect(serve(j, 10, [1, 2]) == nil)
        #expect(serve(j, 10, [1, 2]) == nil)  // the same version: no step
        #expect(j.serials(Self.origin)?.from == [])
        #expect(serve(j, 11, [1]) == nil)  // line 2 down
        #expect(serve(j, 12, [1, 2]) == nil)  // back
        #expect(serve(j, 13, [2]) == nil)  // line 1 down
        let one = try #require(j.changes(Self.origin, from: 10, to: 11))
        #expect(one.removed == [Self.www(2)] && one.added.isEmpty && one.from.soaSerial == 10 && one.to.soaSerial == 11)
        // 10 → 13: 2 went and came back (in neither list), 1 went.
        let condensed = try #require(j.changes(Self.origin, from: 10, to: 13))
        #expect(condensed.removed == [Self.www(1)] && condensed.added.isEmpty)
        #expect(condensed.from.soaSerial == 10 && condensed.to.soaSerial == 13)
        // Part of the way (the snapshot may not serve the newest yet), and what the journal does not reach.
        #expect(j.changes(Self.origin, from: 11, to: 12)?.added == [Self.www(2)])
        #expect(j.changes(Self.origin, from: 9, to: 13) == nil)
        #expect(j.changes(Self.origin, from: 10, to: 14) == nil)
    }

    @Test func aReloadIsDiffedAgainstTheContentServedBefore() throws {
        let j = Journal(stateDirectory: nil)
        _ = serve(j, 10, [1])
        let edited = try ZoneFileLoader.load(
            text: "$ORIGIN example.com.\n@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
                + "mail IN A 192.0.2.25\n",
            origin: Self.origin)
        _ = serve(j, 11, [1], zone: edited, previous: Self.zone)
        let step = try #require(j.changes(Self.origin, from: 10, to: 11))
        #expect(step.added.map(\.name) == [try DomainName("mail.example.com.")] && step.removed.isEmpty)
        // Without the content served before, the journal cannot say what changed: it starts anew.
        _ = serve(j, 12, [1], zone: Self.zone, previous: nil)
        #expect(j.changes(Self.origin, from: 10, to: 12) == nil)
        #expect(j.serials(Self.origin)?.last == 12)
    }

    @Test func boundedByStepsAndSize() throws {
        let j = Journal(stateDirectory: nil)
        let limits = JournalLimits(changes: 3, bytes: 1 << 20)
        for (i, serial) in (10...16).enumerated() { _ = serve(j, UInt32(serial), [UInt8(i % 2 + 1)], limits: limits) }
        #expect(j.serials(Self.origin)?.from == [13, 14, 15])
        #expect(j.changes(Self.origin, from: 12, to: 16) == nil)
        #expect(j.changes(Self.origin, from: 13, to: 16) != nil)
        // A step larger than the size bound leaves no journal.
        let small = JournalLimits(changes: 100, bytes: 1024)
        _ = serve(j, 17, Array(1...100), limits: small)
        #expect(j.serials(Self.origin)?.from == [])
        // Off: nothing kept.
        _ = serve(j, 18, [1], limits: JournalLimits(changes: 0))
        #expect(j.serials(Self.origin) == nil)
    }

    @Test func persistedAndReadBack() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("journal-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let j = Journal(stateDirectory: dir.path)
        _ = serve(j, 10, [1, 2])
        _ = serve(j, 11, [1])
        let file = dir.appendingPathComponent("journal/example.com.journal")
        #expect(FileManager.default.fileExists(atPath: file.path))
        let again = Journal(stateDirectory: dir.path)
        #expect(again.changes(Self.origin, from: 10, to: 11)?.removed == [Self.www(2)])
        // A restart with the same file and another pool state goes on from there.
        _ = serve(again, 12, [2])
        let both = try #require(again.changes(Self.origin, from: 10, to: 12))
        #expect(both.removed == [Self.www(1)] && both.added.isEmpty)
        // A damaged file is said and skipped, not fatal.
        try Data("{".utf8).write(to: file)
        #expect(Journal(stateDirectory: dir.path).serials(Self.origin) == nil)
    }
}
