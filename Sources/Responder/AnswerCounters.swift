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
        /// The count so far.
        public var count: Int { value.load(ordering: .relaxed) }
        @inline(__always) func increment() { value.add(1, ordering: .relaxed) }
    }

    private let registry = Mutex<[String: Counter]>([:])

    /// Makes an empty registry.
    public init() {}

    /// The counter for `line` first in `pool` (created on first use).
    public func counter(pool: DomainName, line: String) -> Counter {
        let key = "\(pool.lowercased())|\(line)"
        return registry.withLock { r in
            if let c = r[key] { return c }
            let c = Counter()
            r[key] = c
            return c
        }
    }

    /// Every count, as (pool, line, count), sorted.
    public var counts: [(pool: String, line: String, count: Int)] {
        registry.withLock { r in
            r.map { key, c in
                let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
                return (parts[0], parts[1], c.count)
            }.sorted { ($0.pool, $0.line) < ($1.pool, $1.line) }
        }
    }
}
