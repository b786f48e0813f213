// Sockets: creating and binding the listening sockets, with errors that say which address failed and why.

import CUplinkSys
import Uplinks

#if canImport(Glibc)
    import Glibc
#endif

/// A socket that could not be set up.
public struct ListenError: Error, Sendable, CustomStringConvertible {
    /// The address.
    public var address: ListenAddress
    /// The failing step and the system's reason.
    public var reason: String
    /// `cannot listen on udp 127.0.0.1:53: bind: Permission denied`.
    public var description: String { "cannot listen on \(address): \(reason)" }
}

enum Sockets {
    /// A socket of `type` bound to `address`; with `reusePort`, SO_REUSEPORT (several UDP workers share one port).
    /// No receive timeout: an armed timer on every sleep costs measurable kernel time per query under load, so
    /// workers are woken for shutdown by `shutdown(2)` instead (see `UDPListener.stop`).
    /// With `freebind`, the address need not exist on this host yet (IP_FREEBIND, as NSD's `ip-freebind`).
    static func bound(
        _ address: ListenAddress, type: Int32, reusePort: Bool = true, freebind: Bool = false
    ) throws(ListenError) -> Int32 {
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let fd = socket(family, type, 0)
        guard fd >= 0 else { throw ListenError(address: address, reason: "socket: \(errnoText())") }
        var one: Int32 = 1
        if reusePort { setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size)) }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if address.isIPv6 {
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        if freebind && uplink_enable_freebind(fd, address.isIPv6 ? 1 : 0) != 0 {
            let why = errnoText()
            close(fd)
            throw ListenError(address: address, reason: "IP_FREEBIND: \(why)")
        }
        guard let ip = IPAddress(address.host) else {
            close(fd)
            throw ListenError(address: address, reason: "not a numeric address")
        }
        let rc = ip.withSockaddr(port: address.port) { bind(fd, $0, $1) }
        guard rc == 0 else {
            let why = errnoText()
            close(fd)
            throw ListenError(address: address, reason: "bind: \(why)")
        }
        return fd
    }

    /// The local port a socket is bound to.
    static func port(of fd: Int32) -> UInt16 {
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &ss) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return withUnsafePointer(to: &ss) { p in
            p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
