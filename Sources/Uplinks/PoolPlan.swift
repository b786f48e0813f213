// PoolPlan: what a pool answers, given which lines are up — a few precomputed orderings and how to pick one.

import DNSWire
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The answers of one pool for one set of healthy lines: for each address family a small set of address orderings
/// ("variants") and the rule that picks one per response. A pure value: the responder compiles each variant to
/// wire bytes once, so choosing an answer at query time is a counter or a hash, never a computation.
public struct PoolPlan: Sendable, Equatable {
    /// How a response picks its variant.
    public enum Selection: Sendable, Equatable {
        /// Always variant 0 (failover, or a single line).
        case fixed
        /// `sequence[counter % sequence.count]`, the counter advancing per response (round robin, weighted).
        case rotate
        /// `sequence[hash(client network) % stickyBuckets]` (sticky).
        case sticky
    }

    /// The orderings for one address family.
    public struct Family: Sendable, Equatable {
        /// Each variant's addresses in answer order; no variants = NODATA for this family.
        public var variants: [[IPAddress]] = []
        /// The line whose address comes first in each variant (for the per-line answer counters).
        public var firstLine: [String] = []
        /// Variant index per step (rotate) or per bucket (sticky).
        public var sequence: [Int] = []
        /// Per class of the pool's client networks (`Pool.networkMap`, classes 1…): the variant its clients get —
        /// the first line of its list that is in answers, alone — or -1 when none of them is (the pool's policy).
        public var networkVariants: [Int] = []
    }

    /// Buckets of the sticky table: enough that lines' shares of client networks follow their weights closely.
    public static let stickyBuckets = 4096
    /// Longest weighted cycle: weights are scaled down to this total (keeping shares within a fraction of 1 %).
    public static let maxCycle = 1000

    /// The pool planned for.
    public let pool: Pool
    /// What it answers, shared by every pool of its class planned alike (`renamed`): a plan for one of 100,000
    /// names on the same lines is the pool and one reference.
    let answers: Answers

    /// How responses pick a variant.
    public var selection: Selection { answers.selection }
    /// True when every line is down and the pool's `all-down` is `servfail`.
    public var servfail: Bool { answers.servfail }
    /// IPv4 answers (A).
    public var v4: Family { answers.v4 }
    /// IPv6 answers (AAAA).
    public var v6: Family { answers.v6 }
    /// The TTL answers carry: the pool's, or while any of its lines is down its `ttl-degraded` (default half).
    public var ttl: UInt32 { answers.ttl }
    /// The lines whose addresses the answers carry now, in the pool's order (failover: the first line up alone).
    public var answered: [String] { answers.answered }
    /// True when no line of the pool is up and `all-down: all` answers the lines probes took out anyway.
    public var failingOpen: Bool { answers.failingOpen }

    /// The plan but for the pool: what pools of one class share.
    final class Answers: Sendable, Equatable {
        let selection: Selection
        let servfail: Bool
        let v4: Family
        let v6: Family
        let ttl: UInt32
        let answered: [String]
        let failingOpen: Bool

        init(
            selection: Selection, servfail: Bool, v4: Family, v6: Family, ttl: UInt32, answered: [String],
            failingOpen: Bool
        ) {
            (self.selection, self.servfail, self.v4, self.v6) = (selection, servfail, v4, v6)
            (self.ttl, self.answered, self.failingOpen) = (ttl, answered, failingOpen)
        }

        static func == (a: Answers, b: Answers) -> Bool {
            a === b
                || (a.selection == b.selection && a.servfail == b.servfail && a.v4 == b.v4 && a.v6 == b.v6
                    && a.ttl == b.ttl && a.answered == b.answered && a.failingOpen == b.failingOpen)
        }
    }

    /// Plans `pool` with the lines named in `up` healthy. With none of its lines up, `all-down` decides: all (fail
    /// open), none (NODATA) or servfail. Failing open brings back the lines probes took out, never those in `held`,
    /// which an operator took out (drained or forced down): a drain holds whatever probes say of the other lines
    /// (as gdnsd's admin_state does). A pool whose every line is held has nothing to fail open to: NODATA, or
    /// SERVFAIL with `all-down: servfail`.
    public init(pool: Pool, uplinks: Uplinks, up: Set<String>, held: Set<String> = []) {
        self.pool = pool
        let weights = uplinks.weights
        var healthy = pool.members.filter { up.contains($0.link) }
        let ttl = healthy.count < pool.members.count ? (pool.ttlDegraded ?? pool.ttl / 2) : pool.ttl
        var servfail = false
        var failingOpen = false
        if healthy.isEmpty {
            switch pool.allDown {
            case .all:
                healthy = pool.members.filter { !held.contains($0.link) }
                failingOpen = !healthy.isEmpty
            case .none: break
            case .servfail: servfail = true
            }
        }
        let selection: Selection
        switch pool.policy {
        case .roundRobin, .weighted: selection = .rotate
        case .failover: selection = .fixed
        case .sticky: selection = .sticky
        }
        func family(_ v6: Bool) -> Family {
            let lines: [(name: String, addresses: [IPAddress], weight: Int)] = healthy.compactMap { m in
                let all = m.addresses ?? uplinks.link(m.link)?.publicAddresses ?? []
                let addrs = all.filter { $0.isIPv6 == v6 }
                return addrs.isEmpty ? nil : (m.link, addrs, weights[m.link] ?? 1)
            }
            return PoolPlan.family(
                lines, policy: pool.policy, answers: pool.answers, networkLists: pool.networkMap?.lists ?? [])
        }
        let v4 = family(false)
        let v6 = family(true)
        let answeredAddresses = Set((v4.variants + v6.variants).joined())
        let answered = healthy.filter { m in
            (m.addresses ?? uplinks.link(m.link)?.publicAddresses ?? []).contains(where: answeredAddresses.contains)
        }.map(\.link)
        answers = Answers(
            selection: selection, servfail: servfail, v4: v4, v6: v6, ttl: ttl, answered: answered,
            failingOpen: failingOpen)
    }

    /// This plan for `pool`, which has the same definition but another name (`Pool.sameDefinition`): what planning
    /// it would give, without planning again (a host's 100,000 names on the same lines plan once).
    public func renamed(to pool: Pool) -> PoolPlan { PoolPlan(answers, pool: pool) }

    init(_ answers: Answers, pool: Pool) {
        self.pool = pool
        self.answers = answers
    }

    /// Plans every pool of `uplinks` (`init(pool:uplinks:up:held:)`), each class of pools with the same
    /// definition once (`Pool.shareKey`): what it costs is the classes, whatever the number of names.
    public static func plans(_ uplinks: Uplinks, up: Set<String>, held: Set<String> = []) -> PoolPlans {
        let classes = PoolPlans.classes(of: uplinks.pools)
        let answers = classes.representatives.map { i in
            PoolPlan(pool: uplinks.pools[i], uplinks: uplinks, up: up, held: held).answers
        }
        return PoolPlans(pools: uplinks.pools, classOf: classes.classOf, answers: answers)
    }

    /// True when `a` and `b`, plans of the same config's pools in the same order (as two `plans` calls give),
    /// answer alike. Plans of one config share their pools and classes: the answers are compared once per class.
    /// What decides whether a health change needs a build, at the cost of the classes.
    public static func sameAnswers(_ a: PoolPlans, _ b: PoolPlans) -> Bool {
        guard a.count == b.count else { return false }
        if PoolPlans.sameStorage(a.pools, b.pools), PoolPlans.sameStorage(a.classOf, b.classOf) {
            return zip(a.answers, b.answers).allSatisfy { $0 == $1 }
        }
        return a.indices.allSatisfy { i in
            a.pools[i].name.wire == b.pools[i].name.wire && a.answers(at: i) == b.answers(at: i)
        }
    }

    static func family(
        _ lines: [(name: String, addresses: [IPAddress], weight: Int)], policy: PoolPolicy, answers: Int?,
        networkLists: [[String]] = []
    ) -> Family {
        var f = Family()
        guard !lines.isEmpty else {
            f.networkVariants = networkLists.dropFirst().map { _ in -1 }
            return f
        }
        /// Adds the variant whose lines come in `order` (indexes into `lines`), reusing an identical one.
        func variant(_ order: [Int]) -> Int {
            var addrs = order.flatMap { lines[$0].addresses }
            if let n = answers { addrs = Array(addrs.prefix(n)) }
            if let i = f.variants.firstIndex(of: addrs) { return i }
            f.variants.append(addrs)
            f.firstLine.append(lines[order[0]].name)
            return f.variants.count - 1
        }
        let n = lines.count
        switch policy {
        case .roundRobin:
            f.sequence = (0..<n).map { k in variant((0..<n).map { ($0 + k) % n }) }
        case .failover:
            f.sequence = [variant([0])]
        case .weighted:
            let cycle = smoothWeightedCycle(lines.map(\.weight))
            f.sequence = cycle.indices.map { k in
                // The first line is the cycle's pick; the others follow in the order the cycle reaches them,
                // so a client that retries the second address also lands by weight.
                var order: [Int] = []
                var j = k
                while order.count < n {
                    if !order.contains(cycle[j]) { order.append(cycle[j]) }
                    j = (j + 1) % cycle.count
                    if j == k && order.count < n {
                        order += (0..<n).filter { !order.contains($0) }
                    }
                }
                return variant(order)
            }
        case .sticky:
            let firsts = (0..<n).map { i in variant([i] + (0..<n).filter { $0 != i }) }
            f.sequence = (0..<stickyBuckets).map { bucket in
                firsts[rendezvous(bucket: bucket, lines: lines.map { ($0.name, $0.weight) })]
            }
        }
        // After the policy's own variants (variant 0 stays what the zone and transfers hold): each network class's
        // line, alone. A line of the list that is down, or has no address of this family, is passed over.
        f.networkVariants = networkLists.dropFirst().map { list in
            guard let i = list.lazy.compactMap({ name in lines.firstIndex { $0.name == name } }).first else {
                return -1
            }
            return variant([i])
        }
        return f
    }

    /// Smooth weighted round robin (nginx, LVS `wrr`): each step adds every weight to its line's credit, picks the
    /// line with the most credit and takes the total from it. Over one cycle of Σweights steps each line is picked
    /// exactly weight times, spread out rather than in runs.
    public static func smoothWeightedCycle(_ weights: [Int]) -> [Int] {
        var w = weights.map { max(1, $0) }
        let g = w.reduce(0) { Int(gcd(UInt64($0), UInt64($1))) }
        w = w.map { $0 / max(g, 1) }
        var total = w.reduce(0, +)
        if total > maxCycle {
            w = w.map { max(1, Int((Double($0) * Double(maxCycle) / Double(total)).rounded())) }
            total = w.reduce(0, +)
        }
        var credit = [Int](repeating: 0, count: w.count)
        var out: [Int] = []
        out.reserveCapacity(total)
        for _ in 0..<total {
            for i in w.indices { credit[i] += w[i] }
            let pick = credit.indices.max { credit[$0] < credit[$1] || (credit[$0] == credit[$1] && $0 > $1) }!
            credit[pick] -= total
            out.append(pick)
        }
        return out
    }

    /// Weighted rendezvous hashing (highest random weight): each line scores `-weight / ln(u)` with `u` a hash of
    /// (bucket, line name) in (0, 1); the best score wins. A line going down moves only the buckets it won, and
    /// the result depends on nothing but names and weights, so a restart moves nobody.
    public static func rendezvous(bucket: Int, lines: [(name: String, weight: Int)]) -> Int {
        var best = 0
        var bestScore = -Double.infinity
        for (i, line) in lines.enumerated() {
            var h = StableHash()
            h.add(UInt64(bucket))
            h.add(Array(line.name.utf8))
            let u = (Double(h.value >> 11) + 0.5) / 9_007_199_254_740_992.0  // 2^53: uniform in (0, 1)
            let score = -Double(max(1, line.weight)) / log(u)
            if score > bestScore {
                bestScore = score
                best = i
            }
        }
        return best
    }
}

/// A hash that is the same in every process (Swift's Hasher is seeded per run, which would move sticky clients
/// on restart): FNV-1a 64 with a final avalanche (SplitMix64's finaliser).
public struct StableHash: Sendable {
    private var h: UInt64 = 0xcbf2_9ce4_8422_2325

    /// Starts a hash.
    public init() {}

    /// Mixes in octets.
    public mutating func add(_ bytes: some Sequence<UInt8>) {
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    }

    /// Mixes in a 64-bit integer.
    public mutating func add(_ v: UInt64) {
        for i in 0..<8 { add(CollectionOfOne(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))))) }
    }

    /// The hash.
    public var value: UInt64 {
        var z = h &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Every pool's plan, held per class: the config's pools (their storage shared, not copied), each pool's class and
/// each class's answers. A plan for one of 100,000 names on the same lines is made when asked for (`subscript`): a
/// health change plans the classes, whatever the number of names (issue 27).
public struct PoolPlans: RandomAccessCollection, Sendable, ExpressibleByArrayLiteral {
    /// The pools, in config order.
    public let pools: [Pool]
    /// Per pool: its class, an index into `answers`.
    let classOf: [Int32]
    /// Per class: what its pools answer.
    let answers: [PoolPlan.Answers]

    init(pools: [Pool], classOf: [Int32], answers: [PoolPlan.Answers]) {
        (self.pools, self.classOf, self.answers) = (pools, classOf, answers)
    }

    /// Plans made one by one: each its own class.
    public init(_ plans: [PoolPlan]) {
        self.init(
            pools: plans.map(\.pool), classOf: plans.indices.map { Int32($0) }, answers: plans.map(\.answers))
    }

    public init(arrayLiteral plans: PoolPlan...) { self.init(plans) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { pools.count }

    public subscript(i: Int) -> PoolPlan { PoolPlan(answers[Int(classOf[i])], pool: pools[i]) }

    /// What pool `i` answers (its class's answers), without making its plan.
    func answers(at i: Int) -> PoolPlan.Answers { answers[Int(classOf[i])] }

    /// The number of classes planned.
    public var classCount: Int { answers.count }

    /// True when both arrays are one storage (two values of one config's arrays).
    public static func sameStorage<T>(_ a: [T], _ b: [T]) -> Bool {
        a.count == b.count
            && a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { $0.baseAddress == x.baseAddress } }
    }

    /// The classes of `pools`: pools with one `Pool.shareKey` and the same definition (`Pool.sameDefinition`) as the
    /// first of them are one class; any other pool is a class of its own. Made once per config (the pools' storage)
    /// and kept while it is the last one asked for.
    public static func classes(of pools: [Pool]) -> (classOf: [Int32], representatives: [Int]) {
        cache.withLock { cached in
            if let c = cached, sameStorage(c.pools, pools) { return (c.classOf, c.representatives) }
            var classOf = [Int32](repeating: 0, count: pools.count)
            var representatives: [Int] = []
            var byKey: [Int: Int32] = [:]
            for (i, pool) in pools.enumerated() {
                if pool.shareKey >= 0, let c = byKey[pool.shareKey],
                    pools[representatives[Int(c)]].sameDefinition(pool)
                {
                    classOf[i] = c
                    continue
                }
                let c = Int32(representatives.count)
                representatives.append(i)
                if pool.shareKey >= 0, byKey[pool.shareKey] == nil { byKey[pool.shareKey] = c }
                classOf[i] = c
            }
            cached = (pools, classOf, representatives)
            return (classOf, representatives)
        }
    }

    /// The last config's classes (its pools kept, so that their storage is not another's).
    private static let cache = Mutex<(pools: [Pool], classOf: [Int32], representatives: [Int])?>(nil)
}
