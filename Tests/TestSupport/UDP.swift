// UDP: datagrams to a server on 127.0.0.1 and its replies, for the tests that talk to a listening server.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A UDP socket that sends to 127.0.0.1:`port` and reads what comes back (from anyone) within its timeout.
public final class LoopbackUDP {
    public let fd: Int32
    public let port: UInt16

    /// `timeout`: how long `receive` waits for a datagram; `receiveBuffer`: SO_RCVBUF in octets (nil: the system's).
    public init(port: UInt16, timeout: Double = 2, receiveBuffer: Int32? = nil) {
        self.port = port
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        setTimeout(timeout)
    }

    deinit { close(fd) }

    /// How long `receive` waits from now on.
    public func setTimeout(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends one datagram; whether all of it went.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr)
        let sent = withUnsafePointer(to: &sa) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { a in
                bytes.withUnsafeBytes {
                    sendto(fd, $0.baseAddress, $0.count, 0, a, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        return sent == bytes.count
    }

    /// The next datagram (at most `limit` octets), or nil when none comes within the timeout.
    public func receive(limit: Int = 65535) -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: limit)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? Array(buf[0..<n]) : nil
    }
}

/// Sends one UDP datagram to 127.0.0.1:`port` from a fresh socket and returns the answer (nil after `timeout` s).
public func udpExchange(port: UInt16, _ bytes: [UInt8], timeout: Double = 2) -> [UInt8]? {
    let socket = LoopbackUDP(port: port, timeout: timeout)
    guard socket.send(bytes) else { return nil }
    return socket.receive()
}
