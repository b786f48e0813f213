// Zone+Patch: the nodes changed since loading, in two levels — a large one shared by every build of a load (the
// pools' slots) and a small one per build (a pool's current records, the served SOA) — so that a build copies what
// it changes, not the hundred thousand pool names a host's zone may hold (issue 27).

import DNSWire

extension Zone {
    /// Changed nodes by name: `top` over `shared`. Writes go to `top`; `settled` moves them under.
    struct Patch: Sendable, Sequence {
        /// Nodes every build of a load shares (copied only by `settled`).
        private(set) var shared: [DomainName: Node] = [:]
        /// Nodes this build changed, looked up first.
        private(set) var top: [DomainName: Node] = [:]

        init() {}

        subscript(name: DomainName) -> Node? {
            get {
                if !top.isEmpty, let node = top[name] { return node }
                return shared.isEmpty ? nil : shared[name]
            }
            set { top[name] = newValue }
        }

        var isEmpty: Bool { top.isEmpty && shared.isEmpty }

        /// Every changed name once.
        var keys: [DomainName] {
            top.isEmpty ? Array(shared.keys) : Array(top.keys) + shared.keys.filter { top[$0] == nil }
        }

        /// Every changed node once (the top one where both levels have a name).
        var values: [Node] { keys.compactMap { self[$0] } }

        func makeIterator() -> IndexingIterator<[(key: DomainName, value: Node)]> {
            keys.map { ($0, self[$0]!) }.makeIterator()
        }

        /// This patch with `top` moved under `shared`: what a load does once it has added the pools' slots, so that
        /// each build's changes copy only themselves.
        func settled() -> Patch {
            var out = Patch()
            out.shared = shared.merging(top) { _, new in new }
            return out
        }
    }

    /// This zone with its changed nodes settled (`Patch.settled`): later changes copy only themselves.
    public func settled() -> Zone {
        Zone(origin: origin, file: file, data: data, patch: patch.settled(), soa: soa)
    }
}
