// AddressPrefix: an address with a prefix length (`192.0.2.0/24`, `2001:db8::/32`, or one address), for ACLs.

/// A network: the addresses that share the first `length` bits with `address`.
public struct AddressPrefix: Hashable, Sendable, CustomStringConvertible {
    /// The network's address (host bits may be set; they are ignored).
    public let address: IPAddress
    /// The prefix length in bits: 0…32 for IPv4, 0…128 for IPv6.
    public let length: Int

    /// Parses `ADDRESS` (a single host) or `ADDRESS/LENGTH`.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let a = IPAddress(String(parts[0])) else { return nil }
        let max = a.isIPv6 ? 128 : 32
        if parts.count == 2 {
            guard let l = Int(parts[1]), (0...max).contains(l) else { return nil }
            length = l
        } else {
            length = max
        }
        address = a
    }

    /// Whether `other` is in this network (an IPv4 address never matches an IPv6 prefix, or the reverse; an
    /// IPv4-mapped IPv6 client address is compared as IPv4).
    public func contains(_ other: IPAddress) -> Bool {
        var candidate = other
        if other.isIPv6, !address.isIPv6, other.octets[0..<10].allSatisfy({ $0 == 0 }),
            other.octets[10] == 0xFF, other.octets[11] == 0xFF,
            let v4 = IPAddress(octets: Array(other.octets[12...]))
        {
            candidate = v4
        }
        guard candidate.isIPv6 == address.isIPv6 else { return false }
        var bits = length
        for i in 0..<address.octets.count where bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xFF : ~(0xFF >> UInt8(bits))
            if candidate.octets[i] & mask != address.octets[i] & mask { return false }
            bits -= 8
        }
        return true
    }

    /// `192.0.2.0/24`, or the bare address for a single host.
    public var description: String {
        length == (address.isIPv6 ? 128 : 32) ? address.description : "\(address)/\(length)"
    }
}
