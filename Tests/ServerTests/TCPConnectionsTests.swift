// TCPConnectionsTests: the TCP connection table's decisions with an injected clock — the idle timeout counted from
// the last completed query (not the last octet), the message deadline, caps, and eviction of the oldest idle one.

import Synchronization
import Testing

@testable import Server

/// A clock the test moves by hand, in nanoseconds.
final class HandClock: Sendable {
    private let t = Atomic<Int64>(1_000_000_000)
    func advance(_ seconds: Double) { t.add(Int64(seconds * 1e9), ordering: .relaxed) }
    var now: Int64 { t.load(ordering: .relaxed) }
}

/// Records which connections the table closed.
final class Closed: Sendable {
    private let names = Mutex<[String]>([])
    func close(_ name: String) -> @Sendable () -> Void { { [self] in names.withLock { $0.append(name) } } }
    var all: [String] { names.withLock { $0 } }
}

@Suite struct TCPConnectionsTests {
    let clock = HandClock()
    let closed = Closed()

    func table(total: Int = 100, perClient: Int = 16, idle: Double = 10, message: Double = 2) -> TCPConnections {
        let clock = self.clock
        return TCPConnections(
            limits: .init(total: total, perClient: perClient, idle: idle, message: message), now: { clock.now })
    }

    @Test func aTrickleOfOctetsDoesNotKeepAConnectionOpen() throws {
        let t = table()
        let slow = try #require(t.admit(client: "192.0.2.1", close: closed.close("slow")))
        let busy = try #require(t.admit(client: "192.0.2.2", close: closed.close("busy")))
        // The slow one sends the first octets of a message it never finishes (octets that follow change nothing
        // the handler notes); the busy one completes a query.
        slow.messageStart.store(clock.now, ordering: .relaxed)
        clock.advance(1)
        busy.lastProgress.store(clock.now, ordering: .relaxed)
        t.sweep()
        #expect(closed.all.isEmpty)
        clock.advance(1.5)  // 2.5 s since the slow message's first octet: past the 2 s message timeout
        busy.lastProgress.store(clock.now, ordering: .relaxed)
        t.sweep()
        #expect(closed.all == ["slow"])
        t.closed(slow)
        // A connection that sends whole messages of nothing useful still has to complete a query within the idle
        // timeout: one that completes none is closed after it, whatever it sends.
        clock.advance(10.5)
        t.sweep()
        #expect(closed.all == ["slow", "busy"])
        t.closed(busy)
        let counts = t.counts
        #expect(counts.opened == 2)
        #expect(counts.closed.first { $0.reason == .messageTimeout }?.count == 1)
        #expect(counts.closed.first { $0.reason == .idle }?.count == 1)
    }

    @Test func anAnswerUnderWayIsNeitherIdleNorEvicted() throws {
        let t = table(total: 2)
        let transfer = try #require(t.admit(client: "192.0.2.1", close: closed.close("transfer")))
        transfer.pending.add(1, ordering: .relaxed)
        clock.advance(60)
        t.sweep()
        #expect(closed.all.isEmpty)
        // A client that stopped reading a long answer gets three idle periods, then goes.
        transfer.pending.subtract(1, ordering: .relaxed)
        transfer.stalled.store(true, ordering: .relaxed)
        transfer.lastProgress.store(clock.now, ordering: .relaxed)
        clock.advance(25)
        t.sweep()
        #expect(closed.all.isEmpty)
        clock.advance(10)
        t.sweep()
        #expect(closed.all == ["transfer"])
    }

    @Test func aNearlyFullTableEvictsTheOldestIdleConnectionForANewOne() throws {
        let t = table(total: 10, perClient: 10)
        var open: [TCPConnection] = []
        for i in 0..<8 {
            open.append(try #require(t.admit(client: "192.0.2.\(i)", close: closed.close("c\(i)"))))
            clock.advance(0.1)
        }
        // The oldest one has an answer under way; the second oldest completed a query just now.
        open[0].pending.add(1, ordering: .relaxed)
        open[1].lastProgress.store(clock.now, ordering: .relaxed)
        // 8 open, 10 allowed: nine tenths (9) is where eviction starts.
        #expect(t.admit(client: "198.51.100.1", close: closed.close("new1")) != nil)
        #expect(closed.all.isEmpty)
        #expect(t.admit(client: "198.51.100.2", close: closed.close("new2")) != nil)
        #expect(closed.all == ["c2"])  // c0 is busy, c1 just answered: c2 is the oldest idle one
        t.closed(open[2])
        #expect(t.count == 9)
        #expect(t.counts.closed.first { $0.reason == .evicted }?.count == 1)
    }

    @Test func capsPerClientAndOverall() throws {
        let t = table(total: 4, perClient: 2)
        let a = try #require(t.admit(client: "192.0.2.1", close: closed.close("a")))
        #expect(t.admit(client: "192.0.2.1", close: closed.close("b")) != nil)
        #expect(t.admit(client: "192.0.2.1", close: closed.close("c")) == nil)  // per client
        t.closed(a)
        #expect(t.admit(client: "192.0.2.1", close: closed.close("d")) != nil)
        // Everything busy: nothing to evict, so the cap refuses.
        let t2 = table(total: 1, perClient: 1)
        let only = try #require(t2.admit(client: "192.0.2.1", close: closed.close("only")))
        only.pending.add(1, ordering: .relaxed)
        #expect(t2.admit(client: "192.0.2.2", close: closed.close("late")) == nil)
        #expect(t2.counts.refused == 1)
        #expect(closed.all.isEmpty)
    }

    @Test func newLimitsApplyToOpenConnections() throws {
        let t = table(idle: 10)
        _ = try #require(t.admit(client: "192.0.2.1", close: closed.close("a")))
        clock.advance(3)
        t.sweep()
        #expect(closed.all.isEmpty)
        t.update(.init(total: 100, perClient: 16, idle: 2, message: 2))
        t.sweep()
        #expect(closed.all == ["a"])
    }
}
