// ListenAddress: an address and port the server listens on, parsed from `HOST:PORT` or `[V6]:PORT`.

import Uplinks

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A numeric IPv4 or IPv6 address with a port (0 = pick a free one).
public struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
    /// The address in numeric form (`127.0.0.1`, `::1`).
    public var host: String
    /// The port; 0 lets the kernel choose.
    public var port: UInt16
    /// Whether `host` is IPv6.
    public var isIPv6: Bool { host.contains(":") }
    /// Whether this is the any-address (`0.0.0.0`, `::`): the socket receives on every address of the host.
    public var isWildcard: Bool { IPAddress(host).map { $0.octets.allSatisfy { $0 == 0 } } ?? false }

    /// Makes an address.
    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `127.0.0.1:5300`, `[::1]:5300`, `0.0.0.0:53`; the host must be a numeric address.
    public init?(_ text: String) {
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let port = UInt16(portText), ListenAddress.isNumeric(String(host)) else { return nil }
        self.init(host: String(host), port: port)
    }

    static func isNumeric(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    /// `127.0.0.1:5300` or `[::1]:5300`.
    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
