// SnapshotStoreTests: a replaced snapshot is freed by `reclaim` (the builder), only once every reader moved past it.

import DNSWire
import Responder
import Server
import Testing
import Zones

@Suite struct SnapshotStoreTests {
    static func snapshot() throws -> Snapshot {
        let zone = try Zone.build(
            origin: try DomainName("example.com."),
            records: [
                ResourceRecord(
                    name: try DomainName("example.com."), type: .soa, ttl: 300,
                    rdata: try DomainName("ns1.example.com.").wire + DomainName("h.example.com.").wire
                        + [UInt8](repeating: 0, count: 20)),
                ResourceRecord(
                    name: try DomainName("example.com."), type: .ns, ttl: 300,
                    rdata: try DomainName("ns1.example.com.").wire),
                ResourceRecord(name: try DomainName("ns1.example.com."), type: .a, ttl: 300, rdata: [192, 0, 2, 1]),
            ])
        return Snapshot(zoneSet: ZoneSet([zone]))
    }

    @Test func aReplacedSnapshotLivesUntilEveryReaderMovedPastIt() throws {
        var first: Snapshot? = try Self.snapshot()
        weak let watched = first
        let store = SnapshotStore(first!)
        first = nil
        let reader = store.makeReader()
        var held: Snapshot? = store.current().0
        reader.holding(store.generation)
        store.replace(try Self.snapshot())
        // The reader still works on the old one: reclaim keeps it (and so would a reader that dropped its
        // reference without saying so: the store's own reference is what keeps the serving thread from freeing it).
        #expect(store.reclaim() == 0)
        #expect(store.retiredCount == 1)
        // The reader takes the new one and says so: the next reclaim frees the old one, here, not on the reader.
        held = store.current().0
        reader.holding(store.generation)
        #expect(held !== watched)
        #expect(store.reclaim() == 1)
        #expect(store.retiredCount == 0)
        #expect(watched == nil)
    }

    @Test func aRemovedReaderHoldsNothing() throws {
        let store = SnapshotStore(try Self.snapshot())
        let reader = store.makeReader()
        store.replace(try Self.snapshot())
        #expect(store.reclaim() == 0)
        store.remove(reader)
        #expect(store.reclaim() == 1)
    }
}
