// ClientNetworksTests: prefix lists read compactly, the range tables' longest match and ECS scope (against brute force),
// IPv4 and IPv6, merged lists, and each network's line in a pool's plan.

import DNSWire
import TestSupport
import Testing
import Uplinks

/// A network from prefix texts.
func network(_ name: String, _ prefixes: [String]) -> ClientNetwork {
    var p = NetworkPrefixes()
    for text in prefixes { #expect(p.add(Array(text.utf8)) == nil, "\(text)") }
    return ClientNetwork(name: name, prefixes: p)
}

/// A client address from text.
func client(_ text: String) -> (family: UInt8, hi: UInt64, lo: UInt64) {
    let a = IPAddress(text)!
    var hi: UInt64 = 0
    var lo: UInt64 = 0
    for (i, b) in a.octets.enumerated() {
        if i < 8 { hi |= UInt64(b) << (56 - 8 * UInt64(i)) } else { lo |= UInt64(b) << (56 - 8 * UInt64(i - 8)) }
    }
    return (a.isIPv6 ? 6 : 4, hi, lo)
}

@Suite struct ClientNetworksTests {
    @Test func prefixListsAreReadWithTheirLines() {
        var p = NetworkPrefixes()
        let text = """
            # unicom's clients
            198.18.0.0/15
              203.0.113.0/24   # a comment after
            192.0.2.7
            2001:db8:100::/40

            10.0.0.300/8
            192.0.2.1/24
            2001:db8::/200
            banana
            """
        let (errors, more) = p.read(Array(text.utf8))
        #expect(p.v4.count == 3 && p.v6.count == 1 && more == 0)
        #expect(errors.map(\.line) == [7, 8, 9, 10])
        #expect(errors[1].message.contains("192.0.2.0/24"))
        // A list of a million lines reports its first mistakes, and how many more.
        let bad = String(repeating: "x\n", count: 30)
        var q = NetworkPrefixes()
        let (e2, more2) = q.read(Array(bad.utf8))
        #expect(e2.count == 20 && more2 == 10)
    }

    @Test func theMostSpecificNetworkWinsAcrossNetworks() {
        let nets = [
            network("wide", ["198.18.0.0/15", "2001:db8::/32"]),
            network("narrow", ["198.18.7.0/24", "2001:db8:1::/48"]),
        ]
        let map = ClientNetworkMap.build(
            nets,
            choices: [
                NetworkChoice(network: "wide", lines: ["unicom", "cnc"]),
                NetworkChoice(network: "narrow", lines: ["cnc", "unicom"]),
            ])
        func cls(_ a: String) -> (Int, UInt8) {
            let c = client(a)
            map.prefetch(family: c.family, hi: c.hi, lo: c.lo)  // a hint: no effect on the answer
            let r = map.lookup(family: c.family, hi: c.hi, lo: c.lo)
            return (r.cls, r.scope)
        }
        #expect(map.lists == [[], ["unicom", "cnc"], ["cnc", "unicom"]])
        #expect(cls("198.18.7.9") == (2, 24))
        #expect(cls("198.18.8.9") == (1, 21))  // 198.18.8.0/21 is the largest block around it without the /24
        #expect(cls("198.19.255.255") == (1, 16))
        #expect(cls("203.0.113.1") == (0, 5))  // 200.0.0.0/5: a /4 would hold 198.18.0.0/15
        #expect(cls("2001:db8:1::5") == (2, 48))
        #expect(cls("2001:db8:2::5") == (1, 47))
        #expect(cls("2001:db9::1") == (0, 32))
        #expect(map.label(2) == "narrow" && map.label(0) == "other")
    }

    @Test func networksWithTheSameListShareOneClassAndScope() {
        // Two neighbouring /25s with the same list merge into one /24; the default list of a failover pool merges
        // with everyone else.
        let nets = [
            network("a", ["192.0.2.0/25"]), network("b", ["192.0.2.128/25"]), network("c", ["198.51.100.0/24"]),
        ]
        let map = ClientNetworkMap.build(
            nets,
            choices: [
                NetworkChoice(network: "a", lines: ["cnc"]), NetworkChoice(network: "b", lines: ["cnc"]),
                NetworkChoice(network: "c", lines: ["unicom", "cnc"]),
            ], defaultList: ["unicom", "cnc"])
        #expect(map.lists == [[], ["cnc"]])
        #expect(map.networks == [["c"], ["a", "b"]])
        let c = client("192.0.2.200")
        #expect(map.lookup(family: c.family, hi: c.hi, lo: c.lo).cls == 1)
        #expect(map.lookup(family: c.family, hi: c.hi, lo: c.lo).scope == 24)
        let d = client("198.51.100.1")
        #expect(map.lookup(family: d.family, hi: d.hi, lo: d.lo).cls == 0)
        #expect(map.lookup(family: d.family, hi: d.hi, lo: d.lo).scope == 6)  // 196.0.0.0/6
    }

    /// Random nested networks inside 10.0.0.0/16 against brute force: every address's class by scanning the prefixes
    /// (longest match, the first network on a tie), and the scope as the shortest uniform block around it.
    @Test(arguments: [1, 2, 3, 4, 5])
    func lookupAgreesWithBruteForce(seed: UInt64) {
        var rng = SplitMix(seed: seed)
        var nets: [ClientNetwork] = []
        var raw: [(start: UInt32, length: Int, net: Int)] = []
        for n in 0..<6 {
            var texts: [String] = []
            for _ in 0..<Int(rng.next() % 40 + 1) {
                let length = 16 + Int(rng.next() % 17)
                let mask: UInt32 = ~UInt32(0) << UInt32(32 - length)
                let start = (0x0A00_0000 | UInt32(rng.next() & 0xFFFF)) & mask
                texts.append("10.0.\(start >> 8 & 255).\(start & 255)/\(length)")
                raw.append((start, length, n))
            }
            nets.append(network("n\(n)", texts))
        }
        // Networks 0–3 listed (1 and 3 with the same list), 4–5 not: their clients get the policy.
        let choices = [
            NetworkChoice(network: "n0", lines: ["a"]), NetworkChoice(network: "n1", lines: ["b", "a"]),
            NetworkChoice(network: "n2", lines: ["c"]), NetworkChoice(network: "n3", lines: ["b", "a"]),
        ]
        let map = ClientNetworkMap.build(nets, choices: choices)
        let listOf: [Int: [String]] = [0: ["a"], 1: ["b", "a"], 2: ["c"], 3: ["b", "a"]]
        var expected = [[String]](repeating: [], count: 65536)
        for low in 0..<65536 {
            let a = 0x0A00_0000 | UInt32(low)
            var best: (length: Int, net: Int)?
            for p in raw {
                let mask: UInt32 = ~UInt32(0) << UInt32(32 - p.length)
                guard a & mask == p.start else { continue }
                if best == nil || p.length > best!.length || (p.length == best!.length && p.net < best!.net) {
                    best = (p.length, p.net)
                }
            }
            expected[low] = best.flatMap { listOf[$0.net] } ?? []
        }
        let wholeIsDefault = expected.allSatisfy(\.isEmpty)
        for _ in 0..<400 {
            let low = Int(rng.next() & 0xFFFF)
            let a = 0x0A00_0000 | UInt32(low)
            let got = map.lookup(family: 4, hi: UInt64(a) << 32, lo: 0)
            #expect(map.lists[got.cls] == expected[low], "10.0.\(low >> 8).\(low & 255)")
            var scope = 32
            for length in (0...32).reversed() {
                let uniform: Bool
                if length < 16 {
                    uniform = wholeIsDefault
                } else {
                    let size = 1 << (32 - length)
                    let first = low & ~(size - 1)
                    uniform = (first..<first + size).allSatisfy { expected[$0] == expected[low] }
                }
                if uniform { scope = length } else { break }
            }
            #expect(Int(got.scope) == scope, "10.0.\(low >> 8).\(low & 255)")
        }
    }

    /// A reload builds new maps: equal content compares equal (once deeply, then at once), a changed file does not.
    @Test func mapsCompareByContent() {
        let choices = [NetworkChoice(network: "a", lines: ["unicom"])]
        let one = ClientNetworkMap.build([network("a", ["198.18.0.0/16"])], choices: choices)
        let same = ClientNetworkMap.build([network("a", ["198.18.0.0/16"])], choices: choices)
        let moved = ClientNetworkMap.build([network("a", ["198.19.0.0/16"])], choices: choices)
        #expect(one == same && same == one && one == same)
        #expect(one != moved)
        #expect(
            ClientNetworkMap.build(
                [network("a", ["198.18.0.0/16"])],
                choices: [
                    NetworkChoice(network: "a", lines: ["cnc"])
                ]) != one)
    }

    /// What `t.lookup` must answer for each address, by a plain binary search over its ranges: the class of the
    /// range holding it, and the shortest prefix whose aligned block around it stays inside that range.
    /// `lookup` is what answers for the table (by default its own `lookup`).
    func expectPlainSearch<K: FixedWidthInteger & UnsignedInteger & Sendable>(
        _ t: RangeTable<K>, _ addresses: [K], lookup: ((K) -> (cls: Int, scope: Int))? = nil
    ) {
        var wrong = 0
        for a in addresses {
            var lo = 0
            var hi = t.starts.count - 1
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if t.starts[mid] <= a { lo = mid } else { hi = mid - 1 }
            }
            let first = t.starts[lo]
            let last = lo + 1 < t.starts.count ? t.starts[lo + 1] - 1 : K.max
            let scope = (0...K.bitWidth).first { l in
                let mask: K = l == 0 ? 0 : ~K(0) << K(K.bitWidth - l)
                return a & mask >= first && a | ~mask <= last
            }!
            let got = lookup?(a) ?? t.lookup(a)
            if got.cls != Int(t.classes[lo]) || got.scope != scope { wrong += 1 }
        }
        #expect(wrong == 0, "\(wrong) of \(addresses.count) addresses")
    }

    /// Large tables (past 256 ranges a lookup starts from the index on the top 16 bits; here over 65,536 ranges, many
    /// per slot): IPv4 prefixes over the whole space, IPv6 ones crowded into 2400::/6 as real allocations are; every
    /// lookup answers as a plain search over the ranges does.
    @Test func largeTablesAnswerAsAPlainSearch() {
        var rng = SplitMix(seed: 23)
        var v4: [(start: UInt32, length: UInt8, cls: UInt16)] = []
        var v6: [(start: UInt128, length: UInt8, cls: UInt16)] = []
        for _ in 0..<150_000 {
            let length = 8 + Int(rng.next() % 25)
            let start = UInt32(truncatingIfNeeded: rng.next()) & ~UInt32(0) << UInt32(32 - length)
            v4.append((start, UInt8(length), UInt16(1 + rng.next() % 3)))
            let length6 = 16 + Int(rng.next() % 49)
            let a6 = UInt128(0x2400 | rng.next() & 0x7FF) << 112 | UInt128(rng.next()) << 48
            v6.append((a6 & ~UInt128(0) << UInt128(128 - length6), UInt8(length6), UInt16(1 + rng.next() % 3)))
        }
        let t4 = RangeTable<UInt32>.build(v4)
        let t6 = RangeTable<UInt128>.build(v6)
        #expect(t4.starts.count > 65_536 && t6.starts.count > 65_536)
        expectPlainSearch(t4, (0..<20_000).map { _ in UInt32(truncatingIfNeeded: rng.next()) })
        expectPlainSearch(
            t6,
            (0..<20_000).map { i in
                // Half near the prefixes, half anywhere.
                i % 2 == 0
                    ? UInt128(0x2400 | rng.next() & 0x7FF) << 112 | UInt128(rng.next()) << 48
                    : UInt128(rng.next()) << 64 | UInt128(rng.next())
            })
        // The ends of the space, and every 29th range's first address and the one before it.
        expectPlainSearch(
            t4,
            [0, UInt32.max]
                + t4.starts.enumerated().filter { $0.offset % 29 == 0 }.flatMap { [$0.element, $0.element &- 1] })
        expectPlainSearch(
            t6,
            [0, UInt128.max]
                + t6.starts.enumerated().filter { $0.offset % 29 == 0 }.flatMap { [$0.element, $0.element &- 1] })
    }

    /// The IPv4 blocks a map's lookups read (one cache line per slot of the top `bits` bits) answer as the plain
    /// search: over the whole space, at every range's start and the address before it, at every slot's first and
    /// last address; with slots of more than 15 starts (searched in the overflow) and without.
    @Test func lineTablesAnswerAsAPlainSearch() {
        var rng = SplitMix(seed: 71)
        func check(_ t: RangeTable<UInt32>, random: Int = 20_000) -> LineTable {
            let lines = LineTable(t)
            let slot = UInt32.max >> lines.bits
            let slots = (0..<(1 << Int(lines.bits))).flatMap { s in
                let base = UInt32(s) << (32 - lines.bits)
                return [base, base | slot, base | slot >> 1]
            }
            let edges = t.starts.flatMap { [$0, $0 &- 1, $0 &+ 1] }
            let anywhere = (0..<random).map { _ in UInt32(truncatingIfNeeded: rng.next()) }
            expectPlainSearch(t, [0, 1, UInt32.max] + slots + edges + anywhere, lookup: lines.lookup)
            return lines
        }
        /// `count` random prefixes inside `within` (an address and a length no longer than `lengths`').
        func table(_ count: Int, lengths: ClosedRange<Int>, within: (UInt32, Int) = (0, 0), classes: UInt64 = 3)
            -> RangeTable<UInt32>
        {
            RangeTable<UInt32>.build(
                (0..<count).map { _ in
                    let length = Int.random(in: lengths, using: &rng)
                    let mask = ~UInt32(0) << UInt32(32 - length)
                    let start = (within.0 | UInt32(truncatingIfNeeded: rng.next()) >> UInt32(within.1)) & mask
                    return (start, UInt8(length), UInt16(1 + rng.next() % classes))
                })
        }
        // Nothing, one network, the ends of the space.
        #expect(check(RangeTable<UInt32>.build([])).overflow.isEmpty)
        _ = check(RangeTable<UInt32>.build([(0x0A00_0000, 8, 1)]))
        _ = check(
            RangeTable<UInt32>.build([(0, 32, 1), (UInt32.max, 32, 2), (0x8000_0000, 1, 1), (0xC000_0000, 2, 2)]))
        // Many prefixes over the space, as the bench's: few slots overflow.
        let wide = check(table(150_000, lengths: 8...32))
        #expect(wide.bits >= 15 && wide.overflow.count < 150_000 / 4)
        // Crowded into 10.0.0.0/8 and into 10.10.0.0/16 (one slot holds them all): slots overflow, and are searched
        // there.
        _ = check(table(3_000, lengths: 16...32, within: (0x0A00_0000, 8)))
        let dense = check(table(20_000, lengths: 28...32, within: (0x0A0A_0000, 16)))
        #expect(!dense.overflow.isEmpty)
        // Hundreds of classes: the words keep more class bits.
        let many = check(table(5_000, lengths: 12...30, classes: 700))
        #expect(many.bits >= 10)
    }

    @Test func eachNetworkGetsTheFirstLineOfItsListThatIsUp() throws {
        let nets = [network("unicom-clients", ["198.18.0.0/16"]), network("cnc-clients", ["198.19.0.0/16"])]
        let choices = [
            NetworkChoice(network: "unicom-clients", lines: ["unicom", "cnc"]),
            NetworkChoice(network: "cnc-clients", lines: ["cnc"]),
        ]
        var pool = Pool(
            name: try DomainName("www.example.com."), members: [PoolMember(link: "unicom"), PoolMember(link: "cnc")],
            policy: .weighted)
        pool.byNetwork = choices
        pool.networkMap = ClientNetworkMap.build(nets, choices: choices)
        let uplinks = Uplinks(links: [unicom, cnc], pools: [pool])
        func lines(_ up: Set<String>, _ family: KeyPath<PoolPlan, PoolPlan.Family>) -> [[String]] {
            let f = PoolPlan(pool: pool, uplinks: uplinks, up: up)[keyPath: family]
            return f.networkVariants.map { $0 < 0 ? [] : f.variants[$0].map(\.description) }
        }
        #expect(lines(["unicom", "cnc"], \.v4) == [["192.0.2.10"], ["198.51.100.10"]])
        #expect(lines(["cnc"], \.v4) == [["198.51.100.10"], ["198.51.100.10"]])
        // cnc-clients' only line down: the pool's policy (-1).
        #expect(lines(["unicom"], \.v4) == [["192.0.2.10"], []])
        // AAAA: only unicom has an IPv6 address, so it serves both networks' IPv6 answers while it is up.
        #expect(lines(["unicom", "cnc"], \.v6) == [["2001:db8::10"], []])
        // The policy's own variants come first: variant 0 (what the zone holds) is unchanged.
        let plan = PoolPlan(pool: pool, uplinks: uplinks, up: ["unicom", "cnc"])
        #expect(plan.v4.variants[0].count == 2)
    }
}

/// A small deterministic generator (SplitMix64), so the random cases repeat.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
