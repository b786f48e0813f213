// SignatureRefreshTests: a signed zone's signatures are made anew when their window turns — a new version with a
// new serial, whose transfer carries the later expiration — driven by an injected clock, without a network.

import DNSSEC
import DNSWire
import Foundation
import Logging
import Responder
import Synchronization
import TestSupport
import Testing
import Zones

@testable import Server

@Suite struct SignatureRefreshTests {
    @Test func aTurnedWindowSignsAnewAsANewVersion() throws {
        // The start of a signature window (windows start every validity − refresh: 5 − 2 = 3 days here).
        let clock = Atomic<UInt32>(6945 * 259_200)
        // The transfer test's set-up, signed, with the clock in the test's hand.
        let (server, dir) = try transferServer(
            transfer: "[127.0.0.1]", key: false, dnssec: "{refresh: 2d, signature-validity: 5d}",
            signing: ZoneSigning(now: { clock.load(ordering: .relaxed) }))
        defer { try? FileManager.default.removeItem(at: dir) }
        let origin = try DomainName("example.com.")
        let before = try #require(server.store.current().0.serial(origin))
        func expirations() throws -> Set<UInt32> {
            let messages = server.transfer.respond(
                queryBytes("example.com.", .axfr), client: localhost, transport: .tcp)
            let sigs = try messages.flatMap { try Message(bytes: $0).answers }.filter { $0.type == .rrsig }
            return Set(sigs.map { $0.rdata[8...11].reduce(0) { $0 << 8 | UInt32($1) } })
        }
        let first = try expirations()
        // Spread by the jitter (1 hour by default), each RRset its own.
        #expect(first.count > 1 && first.max()! - first.min()! < 3600)
        // Within the window: nothing to do.
        clock.add(86400, ordering: .relaxed)
        #expect(server.builder.sync { server.resignIfDue() } == false)
        // When only `refresh` (2 days) is left: every signature made anew, a new serial, a later expiration; then
        // not due again.
        clock.add(2 * 86400 + 1, ordering: .relaxed)
        #expect(server.builder.sync { server.resignIfDue() })
        let after = try #require(server.store.current().0.serial(origin))
        #expect(after == before &+ 1)
        let second = try expirations()
        #expect(second.min()! > first.max()!)
        #expect(server.builder.sync { server.resignIfDue() } == false)
        // The journal holds the step (secondaries follow by IXFR while it fits, else AXFR).
        #expect(server.journal.serials(origin)?.last == after)
    }
}
