// AnswerCounters: how many responses put each line first, per pool — kept across snapshot swaps.

import DNSWire
import Synchronization

/// Per (pool, line) counters of responses whose first address was that line's. The registry outlives snapshots
/// (a health change or reload builds a new snapshot but the counts go on); the query path increments a counter
/// it was handed at compile time with one relaxed atomic add, never touching the registry's lock.
public final class AnswerCounters: Sendable {
    /// One counter.
    public final class Counter: Sendable {
        let value = Atomic<Int>(0)
        /// Listed in `counts` even while zero (asked for by a compiled answer that can count it).
        let listed = Atomic<Bool>(false)
        /// The count so far.
        public var count: Int { value.load(ordering: .relaxed) }
        @inline(__always) func increment() { value.add(1, ordering: .relaxed) }
    }

    private let registry = Mutex<[String: Counter]>([:])

    /// Makes an empty registry.
    public init() {}

    /// The counter for `line` first in `pool` (created on first use); with `network`, for the clients of that
    /// network class (`by-network`) apart from the pool's policy's. `listed`: shown in `counts` while still zero
    /// (else once it has counted: a pool's table holds a counter for every line it may ever put first).
    public func counter(pool: DomainName, line: String, network: String? = nil, listed: Bool = true) -> Counter {
        let key = "\(pool.lowercased())\u{1F}\(line)\u{1F}\(network ?? "")"
        return registry.withLock { r in
            let c = r[key] ?? Counter()
            r[key] = c
            if listed { c.listed.store(true, ordering: .relaxed) }
            return c
        }
    }

    /// Every count, as (pool, line, count) summed over networks, sorted.
    public var counts: [(pool: String, line: String, count: Int)] {
        var sums: [String: (pool: String, line: String, count: Int)] = [:]
        for c in networkCounts {
            sums["\(c.pool)|\(c.line)", default: (c.pool, c.line, 0)].count += c.count
        }
        return sums.values.sorted { ($0.pool, $0.line) < ($1.pool, $1.line) }
    }

    /// Every count, as (pool, line, network, count) — network "" for the pool's policy — sorted.
    public var networkCounts: [(pool: String, line: String, network: String, count: Int)] {
        // A walk over the registry that keeps what shows (a host's 100,000 pools hold counters that never count):
        // no filtered copy of the registry is made under the lock, which the overlay's compile also takes.
        var out: [(pool: String, line: String, network: String, count: Int)] = []
        registry.withLock { r in
            for (key, c) in r {
                let count = c.count
                guard count > 0 || c.listed.load(ordering: .relaxed) else { continue }
                // Names are free text; the unit separator (0x1F) is in none of them.
                let parts = key.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
                out.append((parts[0], parts[1], parts[2], count))
            }
        }
        return out.sorted { ($0.pool, $0.line, $0.network) < ($1.pool, $1.line, $1.network) }
    }
}
