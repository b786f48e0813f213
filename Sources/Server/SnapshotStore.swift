// SnapshotStore: holds the snapshot being served, swaps in a new one atomically, and frees old ones off the
// serving threads.

import Responder
import Synchronization

/// The current snapshot. Readers on the hot path compare a generation number (one atomic load per batch) and
/// take the mutex only when it changed; a swap never blocks queries for longer than the swap of one reference.
///
/// A snapshot of a large zone takes a while to free, and whoever drops the last reference frees it. So the store
/// keeps every replaced snapshot (`retired`) until each registered reader (a UDP worker, a TCP connection) says it
/// has moved past it, and `reclaim()` — called by the builder — drops them there: a serving thread never frees one.
public final class SnapshotStore: Sendable {
    /// A serving thread's claim: the generation it may still be reading.
    public final class Reader: Sendable {
        fileprivate let held: Atomic<Int>
        fileprivate init(_ generation: Int) { held = Atomic(generation) }

        /// Says that the reader holds `generation` now and has let go of anything older. Call it after replacing
        /// the reference to the older snapshot.
        @inline(__always)
        public func holding(_ generation: Int) { held.store(generation, ordering: .releasing) }
    }

    private struct State {
        var current: Snapshot
        /// Snapshots replaced, with the last generation they were current in.
        var retired: [(generation: Int, snapshot: Snapshot)] = []
        var readers: [ObjectIdentifier: Reader] = [:]
    }

    private let state: Mutex<State>
    private let gen = Atomic<Int>(0)

    /// Starts with `snapshot`.
    public init(_ snapshot: Snapshot) { state = Mutex(State(current: snapshot)) }

    /// Increments on every swap.
    public var generation: Int { gen.load(ordering: .acquiring) }

    /// The current snapshot and its generation. Serving threads use this with a `Reader`.
    public func current() -> (Snapshot, Int) {
        state.withLock { s in (s.current, gen.load(ordering: .acquiring)) }
    }

    /// Registers a serving thread, holding the current generation.
    public func makeReader() -> Reader {
        state.withLock { s in
            let r = Reader(gen.load(ordering: .acquiring))
            s.readers[ObjectIdentifier(r)] = r
            return r
        }
    }

    /// Unregisters a reader (after it dropped its snapshot).
    public func remove(_ reader: Reader) {
        _ = state.withLock { s in s.readers.removeValue(forKey: ObjectIdentifier(reader)) }
    }

    /// Replaces the snapshot; the old one is kept until `reclaim` finds no reader on it.
    public func replace(_ snapshot: Snapshot) {
        state.withLock { s in
            s.retired.append((gen.load(ordering: .acquiring), s.current))
            s.current = snapshot
            gen.add(1, ordering: .releasing)
        }
    }

    /// How many replaced snapshots are still kept.
    public var retiredCount: Int { state.withLock { $0.retired.count } }

    /// Frees (on the caller's thread, outside the lock) every replaced snapshot that no reader can still hold, and
    /// says how many that was.
    @discardableResult
    public func reclaim() -> Int {
        let freed: [(generation: Int, snapshot: Snapshot)] = state.withLock { s in
            let oldest = s.readers.values.reduce(gen.load(ordering: .acquiring)) {
                min($0, $1.held.load(ordering: .acquiring))
            }
            let (free, keep) = (
                s.retired.filter { $0.generation < oldest }, s.retired.filter { $0.generation >= oldest }
            )
            s.retired = keep
            return free
        }
        return freed.count  // the last references go when `freed` does, here
    }
}
