// SnapshotStore: holds the snapshot being served and swaps in a new one atomically.

import Responder
import Synchronization

/// The current snapshot. Readers on the hot path compare a generation number (one atomic load per batch) and
/// take the mutex only when it changed, i.e. once per reload; a reload never blocks queries for longer than the
/// swap of one reference.
public final class SnapshotStore: Sendable {
    private let state: Mutex<Snapshot>
    private let gen = Atomic<Int>(0)

    /// Starts with `snapshot`.
    public init(_ snapshot: Snapshot) { state = Mutex(snapshot) }

    /// Increments on every swap.
    public var generation: Int { gen.load(ordering: .acquiring) }

    /// The current snapshot and its generation.
    public func current() -> (Snapshot, Int) {
        state.withLock { s in (s, gen.load(ordering: .acquiring)) }
    }

    /// Replaces the snapshot.
    public func replace(_ snapshot: Snapshot) {
        state.withLock { s in
            s = snapshot
            gen.add(1, ordering: .releasing)
        }
    }
}
