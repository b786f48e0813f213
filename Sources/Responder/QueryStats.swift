// QueryStats: queries counted by transport, zone, type and response code, per worker, without locks on the query
// path.

import Synchronization

/// Counts answered (and dropped) queries by zone, question type and response code, in blocks of one transport.
/// Each worker owns a `Block` and bumps its counters with relaxed atomic adds (no lock, no sharing between cores); a
/// scrape sums the blocks. Labels are bounded (STYLE.md): the common types by name, the rest as `other`; the zones by
/// their slot (`ZoneSlots`: 62 zones by name, the rest as `other`, queries outside every zone as `none`).
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
    static let perZone = typeNames.count * rcodeNames.count

    /// One counter.
    final class Counter: Sendable {
        let value = Atomic<UInt64>(0)
    }

    /// One worker's counters, for one transport.
    public final class Block: Sendable {
        /// `udp` or `tcp`: the metrics' `transport` label.
        public let transport: String
        let counts: [Counter] = (0..<(ZoneSlots.count * QueryStats.perZone)).map { _ in Counter() }

        init(transport: String) { self.transport = transport }

        /// Counts one query: `qtype` 0 when the question could not be read; `zone` the answering zone's slot (0: no
        /// zone); `response` the response octets (empty when nothing was sent).
        @inline(__always)
        public func count(qtype: UInt16, zone: UInt8, response: UnsafeRawBufferPointer) {
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
            let z = Int(zone) < ZoneSlots.count ? Int(zone) : ZoneSlots.other
            counts[z * QueryStats.perZone + t * QueryStats.rcodeNames.count + r].value.add(1, ordering: .relaxed)
        }
    }

    private let blocks = Mutex<[Block]>([])

    /// Makes an empty set of counters.
    public init() {}

    /// A new block for a worker of `transport` (`udp`, `tcp`), registered for scrapes.
    public func makeBlock(transport: String = "udp") -> Block {
        let b = Block(transport: transport)
        blocks.withLock { $0.append(b) }
        return b
    }

    /// One non-zero count.
    public struct Count: Sendable, Equatable {
        public var transport: String
        public var zone: String
        public var type: String
        public var rcode: String
        public var count: UInt64
    }

    /// Every non-zero count, summed over the blocks of each transport.
    public var counts: [Count] {
        let all = blocks.withLock { $0 }
        let names = ZoneSlots.shared.names
        var sums: [String: [UInt64]] = [:]
        for b in all {
            var s = sums[b.transport] ?? [UInt64](repeating: 0, count: b.counts.count)
            for i in 0..<b.counts.count { s[i] &+= b.counts[i].value.load(ordering: .relaxed) }
            sums[b.transport] = s
        }
        var out: [Count] = []
        for (transport, s) in sums.sorted(by: { $0.key < $1.key }) {
            for (i, n) in s.enumerated() where n > 0 {
                let z = i / QueryStats.perZone
                let rest = i % QueryStats.perZone
                out.append(
                    Count(
                        transport: transport, zone: names[z],
                        type: QueryStats.typeNames[rest / QueryStats.rcodeNames.count],
                        rcode: QueryStats.rcodeNames[rest % QueryStats.rcodeNames.count], count: n))
            }
        }
        return out
    }
}

/// The zones' slots in the query counters, process-wide and stable: a zone keeps its slot across reloads (a slot is
/// never reused, so a count is never put on another zone's name). Slot 0 is `none` (no zone answered: outside our
/// zones, or an error before the lookup), the last is `other` (every zone beyond the first 62 named).
public final class ZoneSlots: Sendable {
    /// Slots in all.
    public static let count = 64
    /// The slot of zones beyond the named ones.
    public static let other = count - 1
    /// The process's table.
    public static let shared = ZoneSlots()

    private let table = Mutex<(names: [String], slots: [String: UInt8])>((["none"], [:]))

    /// The slot of the zone `origin` (lower-cased presentation form), given one on first use.
    public func slot(for origin: String) -> UInt8 {
        table.withLock { t in
            if let s = t.slots[origin] { return s }
            guard t.names.count < ZoneSlots.other else { return UInt8(ZoneSlots.other) }
            let s = UInt8(t.names.count)
            t.names.append(origin)
            t.slots[origin] = s
            return s
        }
    }

    /// Each slot's label: `none`, the zones, then `other` for every slot not given.
    public var names: [String] {
        let given = table.withLock { $0.names }
        return (0..<ZoneSlots.count).map { $0 < given.count ? given[$0] : "other" }
    }
}
