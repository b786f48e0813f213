// IPAddress: a numeric IPv4 or IPv6 address as its network-order octets.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IPv4 (4 octets) or IPv6 (16 octets) address, parsed from and printed as the usual text forms.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The address in network byte order: 4 octets for IPv4, 16 for IPv6.
    public let octets: [UInt8]

    /// True for IPv6.
    public var isIPv6: Bool { octets.count == 16 }

    /// Parses `192.0.2.10` or `2001:db8::10`.
    public init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            octets = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            octets = withUnsafeBytes(of: &v6) { Array($0) }
        } else {
            return nil
        }
    }

    /// Wraps 4 or 16 octets.
    public init?(octets: [UInt8]) {
        guard octets.count == 4 || octets.count == 16 else { return nil }
        self.octets = octets
    }

    /// The canonical text form.
    public var description: String {
        var buf = [CChar](repeating: 0, count: 64)
        var bytes = octets
        _ = bytes.withUnsafeMutableBytes { inet_ntop(isIPv6 ? AF_INET6 : AF_INET, $0.baseAddress, &buf, 64) }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        a.octets.count != b.octets.count
            ? a.octets.count < b.octets.count : a.octets.lexicographicallyPrecedes(b.octets)
    }
}

extension IPAddress {
    /// Calls `body` with this address and `port` as a `sockaddr_in` or `sockaddr_in6` and its length: what bind,
    /// connect and sendto take.
    public func withSockaddr<T>(port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> T) rethrows -> T {
        if isIPv6 {
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &sa.sin6_addr) { $0.copyBytes(from: octets) }
            return try withUnsafePointer(to: &sa) {
                try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    try body($0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        withUnsafeMutableBytes(of: &sa.sin_addr) { $0.copyBytes(from: octets) }
        return try withUnsafePointer(to: &sa) {
            try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }
}
