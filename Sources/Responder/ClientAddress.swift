// ClientAddress: the query's source address, as the sticky policy needs it, without allocating.

import Uplinks

/// A client's IPv4 or IPv6 address in two big-endian words (IPv4 in the top 32 bits of `hi`).
public struct ClientAddress: Sendable, Equatable {
    /// 4, 6, or 0 when unknown.
    public var family: UInt8
    /// Octets 0–7.
    public var hi: UInt64
    /// Octets 8–15.
    public var lo: UInt64

    /// No address (unit tests, or a transport that cannot tell).
    public static let unknown = ClientAddress(family: 0, hi: 0, lo: 0)

    /// Makes an address from its family and words.
    public init(family: UInt8, hi: UInt64, lo: UInt64) {
        self.family = family
        self.hi = hi
        self.lo = lo
    }

    /// Makes an address from 4 or 16 octets.
    public init(_ address: IPAddress) {
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        for (i, b) in address.octets.enumerated() {
            if i < 8 { hi |= UInt64(b) << (56 - 8 * UInt64(i)) } else { lo |= UInt64(b) << (56 - 8 * UInt64(i - 8)) }
        }
        self.init(family: address.isIPv6 ? 6 : 4, hi: hi, lo: lo)
    }

    /// The address as octets again (nil when unknown).
    public var ipAddress: IPAddress? {
        let words = [hi, lo].flatMap { w in (0..<8).map { UInt8(truncatingIfNeeded: w >> (56 - 8 * UInt64($0))) } }
        switch family {
        case 4: return IPAddress(octets: Array(words[0..<4]))
        case 6: return IPAddress(octets: words)
        default: return nil
        }
    }

    /// The sticky bucket of the client's network: its /24 (IPv4) or /56 (IPv6), hashed stably so a restart moves
    /// nobody. `prefix` caps the bits used (an ECS source prefix shorter than /24 uses only what it has).
    @inline(__always)
    static func bucket(family: UInt8, hi: UInt64, lo: UInt64, prefix: Int) -> Int {
        let bits = min(prefix, family == 6 ? 56 : 24)
        let mask: UInt64 = bits == 0 ? 0 : ~UInt64(0) << UInt64(64 - bits)
        var h = StableHash()
        h.add(UInt64(family))
        h.add(hi & mask)
        return Int(h.value % UInt64(PoolPlan.stickyBuckets))
    }
}
