// QueryStats: queries counted by type and response code, per worker, without locks on the query path.

import Synchronization

/// Counts answered (and dropped) queries by question type and response code. Each worker owns a `Block` and bumps
/// its counters with relaxed atomic adds (no lock, no sharing between cores); a scrape sums the blocks. Labels are
/// bounded (STYLE.md): the common types by name, the rest as `other`.
public final class QueryStats: Sendable {
    /// The types counted by name; everything else is `other`.
    public static let typeCodes: [UInt16] = [1, 28, 5, 15, 2, 6, 16, 33, 12, 257, 43, 255]
    /// The label of each type bucket (the last is `other`).
    public static let typeNames = [
        "A", "AAAA", "CNAME", "MX", "NS", "SOA", "TXT", "SRV", "PTR", "CAA", "DS", "ANY", "other",
    ]
    /// The label of each response bucket: rcodes 0–5, `other`, and `dropped` (no answer sent).
    public static let rcodeNames = [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other", "dropped",
    ]

    /// One counter.
    final class Counter: Sendable {
        let value = Atomic<UInt64>(0)
    }

    /// One worker's counters.
    public final class Block: Sendable {
        let counts: [Counter] = (0..<(QueryStats.typeNames.count * QueryStats.rcodeNames.count)).map { _ in Counter() }

        /// Counts one query: `qtype` 0 when the question could not be read; `response` the response octets (empty
        /// when nothing was sent).
        @inline(__always)
        public func count(qtype: UInt16, response: UnsafeRawBufferPointer) {
            var t = QueryStats.typeCodes.count
            var i = 0
            while i < QueryStats.typeCodes.count {
                if QueryStats.typeCodes[i] == qtype {
                    t = i
                    break
                }
                i += 1
            }
            let r: Int
            if response.count < 4 {
                r = 7
            } else {
                let low = Int(response[3] & 0x0F)
                r = low <= 5 ? low : 6
            }
            counts[t * QueryStats.rcodeNames.count + r].value.add(1, ordering: .relaxed)
        }
    }

    private let blocks = Mutex<[Block]>([])

    /// Makes an empty set of counters.
    public init() {}

    /// A new block for a worker (registered for scrapes).
    public func makeBlock() -> Block {
        let b = Block()
        blocks.withLock { $0.append(b) }
        return b
    }

    /// Every non-zero count as (type, rcode, count).
    public var counts: [(type: String, rcode: String, count: UInt64)] {
        let all = blocks.withLock { $0 }
        var out: [(String, String, UInt64)] = []
        for (t, tn) in QueryStats.typeNames.enumerated() {
            for (r, rn) in QueryStats.rcodeNames.enumerated() {
                let sum = all.reduce(UInt64(0)) {
                    $0 + $1.counts[t * QueryStats.rcodeNames.count + r].value.load(ordering: .relaxed)
                }
                if sum > 0 { out.append((tn, rn, sum)) }
            }
        }
        return out
    }
}
