// Prober: runs one check — TCP, HTTP, ICMP, a command or a state file — through the line's source address.

import Dispatch
import Foundation
import Routing
import Uplinks

/// The outcome of one probe.
public struct CheckResult: Sendable, Equatable {
    /// Whether the check passed.
    public var ok: Bool
    /// What happened (`connected in 3 ms`, `timed out`, `connection refused`, `exit 1`, `file says down`).
    public var detail: String

    /// Makes a result.
    public init(ok: Bool, detail: String) {
        self.ok = ok
        self.detail = detail
    }
}

/// Something that runs checks; the checker takes one, so tests can give it a fake.
public protocol Prober: Sendable {
    /// Runs `check` with `source` as the socket's source address where the check uses a socket.
    func probe(_ check: CheckSpec, source: IPAddress?) async -> CheckResult
}

/// Probes for real. Socket work runs on a Dispatch queue, not on Swift's cooperative threads, so a slow target
/// cannot starve other tasks.
///
/// - `tcp`: a non-blocking connect bound to the source address, waited for with `poll` up to the timeout.
/// - `http`: the same connection, `GET PATH HTTP/1.0`, the status line checked against `expect`.
/// - `icmp`: the system `ping -c 1 -W TIMEOUT -I SOURCE HOST` (raw ICMP sockets need privileges; ping has them).
/// - `exec`: `/bin/sh -c COMMAND`, exit 0 = up, killed at the timeout.
/// - `file`: the first word of the file, `up` or `down`, read every round (so a change is seen within an interval).
public struct SystemProber: Prober {
    /// Makes a prober.
    public init() {}

    public func probe(_ check: CheckSpec, source: IPAddress?) async -> CheckResult {
        await withCheckedContinuation { cont in
            DispatchQueue.global().async {
                cont.resume(returning: SystemProber.run(check, source: source))
            }
        }
    }

    static func run(_ check: CheckSpec, source: IPAddress?) -> CheckResult {
        switch check.kind {
        case .tcp(let host, let port):
            let (fd, result) = connect(host: host, port: port, source: source, timeout: check.timeout)
            if fd >= 0 { close(fd) }
            return result
        case .http(let url, let expect):
            return http(url: url, expect: expect, source: source, timeout: check.timeout)
        case .icmp(let host):
            var args = ["-c", "1", "-W", "\(max(1, Int(check.timeout.rounded(.up))))"]
            if let source { args += ["-I", source.description] }
            guard
                let ping = ["/usr/bin/ping", "/bin/ping"].first(where: {
                    FileManager.default.isExecutableFile(atPath: $0)
                })
            else { return CheckResult(ok: false, detail: "ping is not installed (Debian package iputils-ping)") }
            return command(ping, args + [host], timeout: check.timeout + 1)
        case .exec(let cmd):
            // Foundation starts the child as a process-group leader, so at the timeout the whole group is killed, not
            // just the shell: a hung check must not leave children behind or stall the round.
            return command("/bin/sh", ["-c", cmd], timeout: check.timeout, killGroup: true)
        case .routing(let link):
            let drift = RoutingCheck.live(Uplinks(links: [link]), only: link.name)
            return CheckResult(
                ok: drift.isEmpty, detail: drift.isEmpty ? "return path in place" : drift.joined(separator: "; "))
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                return CheckResult(ok: false, detail: "cannot read \(path)")
            }
            let word = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isWhitespace).first.map(
                String.init)
            switch word?.lowercased() {
            case "up": return CheckResult(ok: true, detail: "file says up")
            case "down": return CheckResult(ok: false, detail: "file says down")
            default: return CheckResult(ok: false, detail: "file says '\(word ?? "")', not up or down")
            }
        }
    }

    /// A connected socket (or -1) and what happened.
    static func connect(host: String, port: UInt16, source: IPAddress?, timeout: Double) -> (Int32, CheckResult) {
        guard let target = IPAddress(host) else {
            return (-1, CheckResult(ok: false, detail: "\(host) is not a numeric address"))
        }
        let family = target.isIPv6 ? AF_INET6 : AF_INET
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return (-1, CheckResult(ok: false, detail: "socket: \(errnoText())")) }
        if let source, source.isIPv6 == target.isIPv6 {
            guard source.withSockaddr(port: 0, { bind(fd, $0, $1) }) == 0 else {
                let why = errnoText()
                close(fd)
                return (-1, CheckResult(ok: false, detail: "bind \(source): \(why)"))
            }
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let start = Date()
        let rc = target.withSockaddr(port: port) { Glibc.connect(fd, $0, $1) }
        if rc != 0 && errno != EINPROGRESS {
            let why = errnoText()
            close(fd)
            return (-1, CheckResult(ok: false, detail: why))
        }
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let ready = poll(&pfd, 1, Int32(timeout * 1000))
        guard ready > 0 else {
            close(fd)
            return (-1, CheckResult(ok: false, detail: "timed out"))
        }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        guard err == 0 else {
            close(fd)
            return (-1, CheckResult(ok: false, detail: String(cString: strerror(err)).lowercased()))
        }
        let ms = Int(Date().timeIntervalSince(start) * 1000)
        return (fd, CheckResult(ok: true, detail: "connected in \(ms) ms"))
    }

    static func http(url: String, expect: ClosedRange<Int>, source: IPAddress?, timeout: Double) -> CheckResult {
        // http://HOST[:PORT][/PATH]
        let rest = url.dropFirst("http://".count)
        let hostPort = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(hostPort.count).isEmpty ? "/" : String(rest.dropFirst(hostPort.count))
        var host = String(hostPort)
        var port: UInt16 = 80
        if let colon = hostPort.lastIndex(of: ":"), !hostPort.hasSuffix("]"),
            let p = UInt16(hostPort[hostPort.index(after: colon)...])
        {
            host = String(hostPort[..<colon])
            port = p
        }
        host = host.trimmingCharacters(in: ["[", "]"])
        let deadline = Date().addingTimeInterval(timeout)
        let (fd, connected) = connect(host: host, port: port, source: source, timeout: timeout)
        guard fd >= 0 else { return connected }
        defer { close(fd) }
        let request = Array(
            "GET \(path) HTTP/1.0\r\nHost: \(host)\r\nUser-Agent: uplinkdns-health\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var buffer = [UInt8](repeating: 0, count: 512)
        var got = 0
        while got < buffer.count, !buffer[0..<got].contains(UInt8(ascii: "\n")) {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = Int32(max(0, deadline.timeIntervalSinceNow) * 1000)
            guard poll(&pfd, 1, left) > 0 else {
                return CheckResult(ok: false, detail: "timed out waiting for the status")
            }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, $0.count - got, 0) }
            if n <= 0 { break }
            got += n
        }
        let line = String(
            decoding: buffer[0..<got].prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            return CheckResult(ok: false, detail: "no HTTP status line")
        }
        return CheckResult(ok: expect.contains(status), detail: "status \(status)")
    }

    static func command(_ path: String, _ args: [String], timeout: Double, killGroup: Bool = false) -> CheckResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return CheckResult(ok: false, detail: "cannot run \(path): \(error)") }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(5_000) }
        if p.isRunning {
            // Kill the group when asked (and when the child leads one), else at least the process itself.
            if !(killGroup && kill(-p.processIdentifier, SIGKILL) == 0) { p.terminate() }
            p.waitUntilExit()
            return CheckResult(ok: false, detail: "timed out")
        }
        let status = p.terminationStatus
        return CheckResult(ok: status == 0, detail: status == 0 ? "exit 0" : "exit \(status)")
    }

    static func errnoText() -> String { String(cString: strerror(errno)).lowercased() }
}
