// ControlClient: a minimal HTTP/1.0 client for the control API, used by `uplinkdns status`, `link` and `reload`.

import Foundation
import Uplinks

#if canImport(Glibc)
    import Glibc
#endif

/// Why the control API could not be asked.
public struct ControlError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, in words for the operator.
    public var description: String
}

/// Talks to a running server's control API on loopback.
public struct ControlClient: Sendable {
    /// The API's address.
    public var address: ListenAddress
    /// The bearer token for mutating calls.
    public var token: String?

    /// The client for `config`: its `server.control`, and its token (configured, or the one the server generated in
    /// the state directory).
    public init?(config: Config) {
        guard let a = config.control else { return nil }
        address = a
        token =
            config.controlToken
            ?? (try? String(
                contentsOfFile: (config.stateDirectory as NSString).appendingPathComponent("control.token"),
                encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Sends a request; returns the status and the body, or throws when the server cannot be reached or gives no
    /// answer within 10 s.
    public func request(_ method: String, _ path: String) throws -> (Int, Data) {
        try exchange(method, path, payload: nil)
    }

    /// Sends a request with a JSON body (a `ControlAPI` request).
    public func request(_ method: String, _ path: String, json body: some Encodable) throws -> (Int, Data) {
        try exchange(method, path, payload: try JSONEncoder().encode(body))
    }

    /// Sends a request and waits for its answer as long as it takes (`POST /v1/reload`): every second without one,
    /// `waiting` gets the seconds so far, and every 5 s the server's `/healthz` must answer on a connection of its
    /// own, else this throws (the server stopped answering). It also throws when the server closes the connection
    /// without an answer (it exited).
    public func request(_ method: String, _ path: String, waiting: (Int) -> Void) throws -> (Int, Data) {
        let started = Date()
        var checked = started
        return try withoutActuallyEscaping(waiting) { waiting in
            try exchange(method, path, payload: nil, receiveTimeout: 1) {
                let seconds = Int(Date().timeIntervalSince(started))
                waiting(seconds)
                guard Date().timeIntervalSince(checked) >= 5 else { return }
                checked = Date()
                let alive = (try? exchange("GET", "/healthz", payload: nil, receiveTimeout: 5))?.0 == 200
                if !alive {
                    throw ControlError(
                        description: "the server at \(address) stopped answering after \(seconds) s of waiting")
                }
            }
        }
    }

    /// One HTTP/1.0 exchange. Without `stillWaiting`, no answer within `receiveTimeout` seconds is an error; with
    /// it, it is called after each `receiveTimeout` of silence and may throw to give up.
    private func exchange(
        _ method: String, _ path: String, payload: Data?, receiveTimeout: Int = 10,
        stillWaiting: (() throws -> Void)? = nil
    ) throws -> (Int, Data) {
        let body = payload ?? Data()
        var text = "\(method) \(path) HTTP/1.0\r\nHost: \(address)\r\nContent-Length: \(body.count)\r\n"
        if let token { text += "Authorization: Bearer \(token)\r\n" }
        if payload != nil { text += "Content-Type: application/json\r\n" }
        let request = Array((text + "\r\n").utf8) + Array(body)
        let fd = socket(address.isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let rc = IPAddress(address.host)?.withSockaddr(port: address.port) { connect(fd, $0, $1) } ?? -1
        guard rc == 0 else {
            if errno == ECONNREFUSED {
                throw ControlError(
                    description: "the control API at \(address) refused the connection: is the server running?")
            }
            throw ControlError(
                description: "cannot reach the control API at \(address): \(String(cString: strerror(errno)))")
        }
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var response = Data()
        var buf = [UInt8](repeating: 0, count: 65536)
        var timedOut = false
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                response.append(contentsOf: buf[0..<n])
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                if let stillWaiting {
                    try stillWaiting()
                    continue
                }
                timedOut = true
            }
            break
        }
        guard let split = response.range(of: Data("\r\n\r\n".utf8)),
            let statusLine = String(data: response[..<split.lowerBound], encoding: .utf8)?.split(separator: "\r\n")
                .first,
            let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else {
            if timedOut || response.isEmpty && stillWaiting == nil {
                throw ControlError(
                    description: "the control API at \(address) gave no answer within \(receiveTimeout) s")
            }
            throw ControlError(
                description: "the server at \(address) closed the connection without an answer: did it stop?")
        }
        return (status, Data(response[split.upperBound...]))
    }
}
