// TCPConnections: the TCP connection table — caps, deadlines, eviction of idle connections, and why each closed.

import Synchronization

/// Why a TCP connection ended (counted for metrics, named in the debug log).
public enum TCPCloseReason: Int, Sendable, CaseIterable, CustomStringConvertible {
    /// The client closed (after getting every answer it asked for before closing), or the connection failed.
    case client = 0
    /// No query completed within the idle timeout (RFC 7766 §6.2.3), however many octets trickled in.
    case idle
    /// A message did not arrive whole within the message timeout after its first octet.
    case messageTimeout
    /// Closed to make room for a new connection: the table was nearly full and this was the oldest idle one.
    case evicted
    /// Not DNS: a zero-length frame; the connection is reset (NSD and Knot reset it too).
    case badFrame
    /// The server stopped.
    case shutdown

    public var description: String {
        switch self {
        case .client: "client"
        case .idle: "idle"
        case .messageTimeout: "message-timeout"
        case .evicted: "evicted"
        case .badFrame: "bad-frame"
        case .shutdown: "shutdown"
        }
    }
}

/// One open connection as the table sees it. The connection's event loop writes its fields; the table reads them
/// from the accepting and sweeping threads, hence atomics (relaxed: each is a hint read on its own).
final class TCPConnection: Sendable {
    /// The client's address (the per-client cap's key).
    let client: String
    /// When a query last completed, or the client last took some of a long answer (or the connection opened):
    /// nanoseconds on the table's clock.
    let lastProgress: Atomic<Int64>
    /// When the first octet of a message still incomplete arrived; 0 = none under way.
    let messageStart = Atomic<Int64>(0)
    /// Answers being built off the event loop (transfers, signed answers): not idle while any is.
    let pending = Atomic<Int>(0)
    /// Whether the client stopped reading what is queued for it (the socket's send buffer is full).
    let stalled = Atomic<Bool>(false)
    /// Why it is being closed, set once by whoever closes it first.
    private let reason = Atomic<Int>(-1)
    /// Closes the connection (its channel, on its own event loop).
    let close: @Sendable () -> Void

    init(client: String, now: Int64, close: @escaping @Sendable () -> Void) {
        self.client = client
        self.lastProgress = Atomic(now)
        self.close = close
    }

    /// Closes with `why`, unless a reason was set before (the first one counts).
    func close(_ why: TCPCloseReason) {
        if reason.compareExchange(expected: -1, desired: why.rawValue, ordering: .relaxed).exchanged { close() }
    }

    /// The reason it was closed for (`client` when nobody on our side closed it).
    var closeReason: TCPCloseReason { TCPCloseReason(rawValue: reason.load(ordering: .relaxed)) ?? .client }

    /// Whether it may be evicted or closed as idle: no answer being built, and not in the middle of delivering one
    /// to a client that reads (a stalled client gets `stallLimit` idle periods).
    func isIdle(now: Int64, idle: Int64) -> Bool {
        guard pending.load(ordering: .relaxed) == 0 else { return false }
        let quiet = now - lastProgress.load(ordering: .relaxed)
        return stalled.load(ordering: .relaxed) ? quiet > idle * TCPConnections.stallLimit : quiet > idle
    }
}

/// The connection table of one listener: caps overall and per client (RFC 7766 §6.2.2), the idle timeout counted
/// from the last completed query (§6.2.3), a deadline for each message, and eviction of the oldest idle
/// connection when the table is nearly full (so that clients that dribble octets or just sit cannot keep new ones
/// out). Connect and close take its lock; queries do not (they write their connection's atomics).
public final class TCPConnections: Sendable {
    /// Idle periods a client that stopped reading a long answer gets before it is closed.
    static let stallLimit: Int64 = 3

    /// The limits (a reload changes them; they apply at once, to open connections too).
    public struct Limits: Sendable, Equatable {
        public var total: Int
        public var perClient: Int
        /// Seconds without a completed query after which a connection is closed.
        public var idle: Double
        /// Seconds a message may take from its first octet to its last.
        public var message: Double
        public init(total: Int, perClient: Int, idle: Double, message: Double) {
            self.total = total
            self.perClient = perClient
            self.idle = idle
            self.message = message
        }

        /// The fill level from which each new connection evicts the oldest idle one: nine tenths of the total.
        var evictAbove: Int { total - max(1, total / 10) }
    }

    private struct Table {
        var open: [ObjectIdentifier: TCPConnection] = [:]
        var byClient: [String: Int] = [:]
        var limits: Limits
    }

    private let table: Mutex<Table>
    /// Connections accepted, refused at a cap, and closed by reason (`TCPCloseReason.rawValue`).
    private let opened = Atomic<Int>(0)
    private let refused = Atomic<Int>(0)
    private let closedBy = Mutex<[Int]>(TCPCloseReason.allCases.map { _ in 0 })
    /// The clock, in nanoseconds (monotonic; tests inject one).
    let now: @Sendable () -> Int64

    public init(limits: Limits, now: @escaping @Sendable () -> Int64) {
        table = Mutex(Table(limits: limits))
        self.now = now
    }

    /// Sets new limits (a reload).
    public func update(_ limits: Limits) { table.withLock { $0.limits = limits } }

    public var limits: Limits { table.withLock { $0.limits } }

    /// Connections open now.
    public var count: Int { table.withLock { $0.open.count } }

    /// Registers a new connection from `client`, or nil when the server or that client is at its cap. When the
    /// table is nearly full, the connection that has been idle longest is closed to make room first (oldest
    /// first; a connection with an answer under way is never chosen).
    func admit(client: String, close: @escaping @Sendable () -> Void) -> TCPConnection? {
        let t = now()
        let (connection, victim) = table.withLock { tab -> (TCPConnection?, TCPConnection?) in
            let l = tab.limits
            guard tab.byClient[client, default: 0] < l.perClient else { return (nil, nil) }
            var victim: TCPConnection?
            if tab.open.count >= l.evictAbove {
                let idle = Int64(l.idle * 1e9)
                var oldest = Int64.max
                for c in tab.open.values where c.pending.load(ordering: .relaxed) == 0 {
                    // Idle here means no answer under way; a connection mid-way through a long answer to a reading
                    // client is not evicted until it has been quiet for the idle timeout.
                    let at = c.lastProgress.load(ordering: .relaxed)
                    if at < oldest && (!c.stalled.load(ordering: .relaxed) || c.isIdle(now: t, idle: idle)) {
                        oldest = at
                        victim = c
                    }
                }
                if let v = victim { Self.remove(v, from: &tab) }
            }
            guard tab.open.count < l.total else { return (nil, victim) }
            let c = TCPConnection(client: client, now: t, close: close)
            tab.open[ObjectIdentifier(c)] = c
            tab.byClient[client, default: 0] += 1
            return (c, victim)
        }
        victim?.close(.evicted)
        if connection != nil {
            opened.add(1, ordering: .relaxed)
        } else {
            refused.add(1, ordering: .relaxed)
        }
        return connection
    }

    /// Removes a closed connection and counts why it closed.
    func closed(_ c: TCPConnection) {
        table.withLock { Self.remove(c, from: &$0) }
        closedBy.withLock { $0[c.closeReason.rawValue] += 1 }
    }

    private static func remove(_ c: TCPConnection, from tab: inout Table) {
        guard tab.open.removeValue(forKey: ObjectIdentifier(c)) != nil else { return }
        let n = tab.byClient[c.client, default: 1] - 1
        tab.byClient[c.client] = n > 0 ? n : nil
    }

    /// Closes the connections past a deadline: a message incomplete for the message timeout, or no completed
    /// query for the idle timeout. Runs a few times a second off the query path. Returns how many it closed.
    @discardableResult
    func sweep() -> Int {
        let t = now()
        let (l, all) = table.withLock { ($0.limits, Array($0.open.values)) }
        let idle = Int64(l.idle * 1e9)
        let message = Int64(l.message * 1e9)
        var n = 0
        for c in all {
            let started = c.messageStart.load(ordering: .relaxed)
            if started != 0 && t - started > message {
                c.close(.messageTimeout)
                n += 1
            } else if c.isIdle(now: t, idle: idle) {
                c.close(.idle)
                n += 1
            }
        }
        return n
    }

    /// Closes every connection (the server stops).
    func closeAll() {
        for c in table.withLock({ Array($0.open.values) }) { c.close(.shutdown) }
    }

    /// Counters for metrics: accepted, refused at a cap, and closed by reason.
    public var counts: (opened: Int, refused: Int, closed: [(reason: TCPCloseReason, count: Int)]) {
        let closed = closedBy.withLock { $0 }
        return (
            opened.load(ordering: .relaxed), refused.load(ordering: .relaxed),
            TCPCloseReason.allCases.map { ($0, closed[$0.rawValue]) }
        )
    }
}
