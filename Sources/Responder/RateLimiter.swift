// RateLimiter: response rate limiting (RRL, as in NSD, Knot and BIND) for UDP — per client network and response,
// a number of responses per second; beyond it responses are dropped, and every `slip`th one is sent truncated so a
// real client retries over TCP (which a spoofed victim never does).

import Synchronization
import Uplinks

/// RRL settings (`server.rrl`).
public struct RateLimitSettings: Sendable, Equatable {
    /// Identical responses per second per client network; 0 turns RRL off.
    public var responsesPerSecond: Int = 200
    /// Every `slip`th limited response is sent truncated (TC) instead of dropped; 0 = drop them all.
    public var slip: Int = 2
    /// The client network: IPv4 prefix length.
    public var ipv4Prefix: Int = 24
    /// The client network: IPv6 prefix length.
    public var ipv6Prefix: Int = 56
    /// Clients never limited (local monitoring, the secondaries).
    public var exempt: [AddressPrefix] = [AddressPrefix("127.0.0.0/8")!, AddressPrefix("::1")!]

    /// The defaults: 200 responses per second, slip 2, /24 and /56, loopback exempt (NSD's numbers).
    public init() {}
}

/// The limiter the UDP workers share. Lock-free: a fixed table of 64-bit slots updated by compare-and-swap, each
/// slot holding a 24-bit key tag, the second it counts for, and a 24-bit count. Two keys that land in the same slot
/// reset each other's count, which only ever lets more through (never limits an innocent client harder).
///
/// The "response" is the compiled answer a query got (`QueryScratch.lastAnswer`): every name and type has its own,
/// all NXDOMAINs of a zone share one (as BIND keys NXDOMAIN by zone), all variants of a pool share one, and errors
/// (REFUSED, FORMERR…) form one class per client network. So a flood of identical queries from one network is
/// limited without touching the same network's other lookups.
public final class RateLimiter: Sendable {
    /// What to do with a response.
    public enum Verdict: Sendable, Equatable {
        case send, drop, slip
    }

    /// Shared by every worker; each slot is only ever touched through its atomic operations.
    nonisolated(unsafe) private let table: UnsafeMutablePointer<Atomic<UInt64>>
    private let mask: Int
    private let rate: Atomic<Int>
    private let slipEvery: Atomic<Int>
    private let v4Mask: Atomic<UInt64>
    private let v6Mask: Atomic<UInt64>
    /// The exempt networks, five words each (family, hi, lo, mask hi, mask lo), and how many: atomics, so that a
    /// reload can change them while workers read (a check during the change sees the old list or the new one per
    /// entry; at worst one response is counted or not).
    nonisolated(unsafe) private let exempt: UnsafeMutablePointer<Atomic<UInt64>>
    private let exemptCount = Atomic<Int>(0)
    /// The most exempt networks (more are ignored, and said so by the config check).
    public static let maxExempt = 64
    private let dropped = Atomic<Int>(0)
    private let slipped = Atomic<Int>(0)

    /// A limiter with `slots` table entries (a power of two; 65 536 = 512 KiB).
    public init(_ settings: RateLimitSettings, slots: Int = 1 << 16) {
        precondition(slots > 0 && slots & (slots - 1) == 0)
        table = .allocate(capacity: slots)
        for i in 0..<slots { (table + i).initialize(to: Atomic<UInt64>(0)) }
        mask = slots - 1
        rate = Atomic(settings.responsesPerSecond)
        slipEvery = Atomic(settings.slip)
        v4Mask = Atomic(0)
        v6Mask = Atomic(0)
        exempt = .allocate(capacity: 5 * RateLimiter.maxExempt)
        for i in 0..<(5 * RateLimiter.maxExempt) { (exempt + i).initialize(to: Atomic<UInt64>(0)) }
        update(settings)
    }

    deinit {
        table.deinitialize(count: mask + 1)
        table.deallocate()
        exempt.deinitialize(count: 5 * RateLimiter.maxExempt)
        exempt.deallocate()
    }

    /// The top `bits` bits set.
    static func mask(bits: Int) -> UInt64 { bits <= 0 ? 0 : bits >= 64 ? ~0 : ~UInt64(0) << UInt64(64 - bits) }

    /// Applies `settings` (at start and at a reload): rate, slip, client prefixes and exempt networks; the table
    /// keeps counting.
    public func update(_ settings: RateLimitSettings) {
        v4Mask.store(RateLimiter.mask(bits: settings.ipv4Prefix), ordering: .relaxed)
        v6Mask.store(RateLimiter.mask(bits: min(64, settings.ipv6Prefix)), ordering: .relaxed)
        let list = settings.exempt.prefix(RateLimiter.maxExempt)
        exemptCount.store(0, ordering: .releasing)
        for (i, p) in list.enumerated() {
            let c = ClientAddress(p.address)
            let maskHi = RateLimiter.mask(bits: min(64, p.length))
            let maskLo = RateLimiter.mask(bits: max(0, p.length - 64))
            for (k, word) in [UInt64(c.family), c.hi & maskHi, c.lo & maskLo, maskHi, maskLo].enumerated() {
                exempt[5 * i + k].store(word, ordering: .relaxed)
            }
        }
        exemptCount.store(list.count, ordering: .releasing)
        slipEvery.store(settings.slip, ordering: .relaxed)
        rate.store(settings.responsesPerSecond, ordering: .relaxed)
    }

    /// Whether RRL is on.
    public var isOn: Bool { rate.load(ordering: .relaxed) > 0 }

    /// Responses dropped and sent truncated so far.
    public var counts: (dropped: Int, slipped: Int) {
        (dropped.load(ordering: .relaxed), slipped.load(ordering: .relaxed))
    }

    /// Accounts one response `answer` to `client` in second `now` and says what to do with it.
    @inline(__always)
    public func check(client: ClientAddress, answer: AnswerRef, now: UInt32) -> Verdict {
        let limit = rate.load(ordering: .relaxed)
        guard limit > 0 else { return .send }
        let exempted = exemptCount.load(ordering: .acquiring)
        var i = 0
        while i < exempted {
            let e = exempt + 5 * i
            if e[0].load(ordering: .relaxed) == UInt64(client.family)
                && client.hi & e[3].load(ordering: .relaxed) == e[1].load(ordering: .relaxed)
                && client.lo & e[4].load(ordering: .relaxed) == e[2].load(ordering: .relaxed)
            {
                return .send
            }
            i += 1
        }
        var h = StableHash()
        h.add(UInt64(client.family))
        h.add(client.hi & (client.family == 6 ? v6Mask.load(ordering: .relaxed) : v4Mask.load(ordering: .relaxed)))
        h.add(UInt64(UInt32(bitPattern: answer.raw)))
        let key = h.value
        let slot = table + Int(truncatingIfNeeded: key) & mask
        let tag = key >> 40
        let second = UInt64(now & 0xFFFF)
        var old = slot.pointee.load(ordering: .relaxed)
        var new: UInt64
        while true {
            if old >> 40 == tag && (old >> 24) & 0xFFFF == second {
                new = old & 0xFF_FFFF == 0xFF_FFFF ? old : old + 1
            } else {
                new = tag << 40 | second << 24 | 1
            }
            let (done, seen) = slot.pointee.compareExchange(
                expected: old, desired: new, ordering: .relaxed)
            if done { break }
            old = seen
        }
        let count = Int(new & 0xFF_FFFF)
        guard count > limit else { return .send }
        let every = slipEvery.load(ordering: .relaxed)
        if every > 0 && (count - limit) % every == 0 {
            slipped.add(1, ordering: .relaxed)
            return .slip
        }
        dropped.add(1, ordering: .relaxed)
        return .drop
    }

    /// Turns the response in `out` (length `length`, question ending at `questionEnd`) into its truncated form:
    /// header and question only, TC set (what a slip sends). Returns the new length.
    @inline(__always)
    public static func truncate(_ out: UnsafeMutableRawBufferPointer, length: Int, questionEnd: Int) -> Int {
        guard length >= 12 else { return length }
        out[2] |= 0x02
        for i in 6..<12 { out[i] = 0 }
        let hasQuestion = out[4] != 0 || out[5] != 0
        return hasQuestion ? min(length, max(12, questionEnd)) : 12
    }
}
