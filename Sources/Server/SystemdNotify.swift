// SystemdNotify: the sd_notify protocol (READY, RELOADING, STOPPING, STATUS) for a Type=notify unit.

import Foundation

/// Tells systemd what the server is doing, through the datagram socket named by `$NOTIFY_SOCKET` (sd_notify(3)):
/// `READY=1` once it serves, `RELOADING=1` with `MONOTONIC_USEC` when a reload starts and `READY=1` when it ends
/// (either way: a failed reload still serves the previous config), `STOPPING=1`, and a `STATUS=` line systemctl
/// shows. Without `$NOTIFY_SOCKET` (not started by systemd) it does nothing. Written here rather than linking
/// libsystemd: it is one datagram.
public enum SystemdNotify {
    /// Sends `fields` (each `KEY=value`) as one message; returns whether it was sent.
    @discardableResult
    public static func send(_ fields: [String]) -> Bool {
        guard let path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"], !path.isEmpty else { return false }
        guard path.hasPrefix("/") || path.hasPrefix("@") else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        // An abstract socket (`@name`) starts with a NUL; its address length counts only the bytes given.
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        let length = socklen_t(MemoryLayout.offset(of: \sockaddr_un.sun_path)! + bytes.count + (bytes[0] == 0 ? 0 : 1))
        let message = Array(fields.joined(separator: "\n").utf8)
        let sent = withUnsafePointer(to: &addr) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
        return sent == message.count
    }

    /// `RELOADING=1` with the monotonic time systemd wants with it.
    public static func reloading() {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let usec = UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
        send(["RELOADING=1", "MONOTONIC_USEC=\(usec)", "STATUS=reloading"])
    }
}
