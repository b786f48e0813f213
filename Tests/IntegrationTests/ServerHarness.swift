// ServerHarness: runs the real uplinkdns binary on a free port and queries it with dig, kdig and raw sockets.

import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The package root (this file is Tests/IntegrationTests/ServerHarness.swift).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The binary under test: $UPLINKDNS_BIN, else the debug build `make test` makes first.
var binaryPath: String {
    ProcessInfo.processInfo.environment["UPLINKDNS_BIN"]
        ?? packageRoot.appendingPathComponent(".build/debug/uplinkdns").path
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
}

/// Runs a command to completion and returns its exit status, standard output and standard error.
@discardableResult
func run(_ path: String, _ args: [String], timeout: Double = 20) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    let outData = DataBox()
    let errData = DataBox()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        outData.append(out.fileHandleForReading.readDataToEndOfFile()); group.leave()
    }
    group.enter()
    DispatchQueue.global().async {
        errData.append(err.fileHandleForReading.readDataToEndOfFile()); group.leave()
    }
    while p.isRunning && Date() < deadline { usleep(10_000) }
    if p.isRunning {
        p.terminate()
        throw HarnessError(description: "\(path) \(args.joined(separator: " ")) did not finish in \(timeout) s")
    }
    group.wait()
    return (p.terminationStatus, outData.text, errData.text)
}

/// Bytes collected by another thread (a pipe reader).
final class DataBox: Sendable {
    private let data = Mutex(Data())
    func append(_ d: Data) { data.withLock { $0.append(d) } }
    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
}

/// Finds a tool on PATH or says how to get it (make test installs them).
func tool(_ name: String) throws -> String {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin"]
    where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
        return "\(dir)/\(name)"
    }
    throw HarnessError(
        description: "\(name) is not installed: run `make test` (it installs bind9-dnsutils and knot-dnsutils)")
}

/// A running uplinkdns in a temporary directory with its own config and zone files.
final class ServerProcess {
    let dir: URL
    let process = Process()
    private let logPipe = Pipe()
    private let logData = DataBox()
    /// The port the server bound (UDP and TCP).
    let port: UInt16

    /// Writes `files` (name → contents, including `uplinkdns.yaml`) and starts `uplinkdns serve` on port 0.
    /// Where `--control` put the control API (0 when off).
    var controlPort: UInt16 {
        ServerProcess.firstMatch(#"control API on http://127\.0\.0\.1:(\d+)"#, in: log).flatMap { UInt16($0) } ?? 0
    }
    private let keep: Bool

    /// `directory`: reuse this directory (its state survives; it is not removed at stop). `control`: the
    /// `--control` override (nil: as the config says). `environment`: added to the server's.
    init(
        files: [String: String], config: String = "uplinkdns.yaml", listen: [String] = ["127.0.0.1:0"],
        control: String? = "127.0.0.1:0", directory: URL? = nil, environment: [String: String] = [:]
    ) throws {
        keep = directory != nil
        guard FileManager.default.isExecutableFile(atPath: binaryPath) else {
            throw HarnessError(description: "\(binaryPath) is missing: build it first (`swift build`, or `make test`)")
        }
        dir =
            directory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("uplinkdns-it-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, text) in files {
            try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        process.executableURL = URL(fileURLWithPath: binaryPath)
        process.arguments =
            ["serve", "--config", dir.appendingPathComponent(config).path]
            + listen.flatMap { ["--listen", $0] } + (control.map { ["--control", $0] } ?? [])
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        process.standardError = logPipe
        process.standardOutput = logPipe
        let sink = logData
        logPipe.fileHandleForReading.readabilityHandler = { h in sink.append(h.availableData) }
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        var found: UInt16?
        while Date() < deadline {
            let text = logData.text
            if text.components(separatedBy: "listening on tcp").count > listen.count,
                let p = ServerProcess.firstMatch(#"listening on tcp [^\n]*?:(\d+)\n"#, in: text)
            {
                found = UInt16(p)
                break
            }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        // The control API is bound (and logged) right after the listeners: wait for it too when it is on.
        let text = files[config] ?? ""
        if found != nil, control != nil || text.contains("control: 127.") {
            let until = Date().addingTimeInterval(10)
            while !logData.text.contains("control API on http") && Date() < until && process.isRunning {
                usleep(10_000)
            }
        }
        port = found ?? 0
        guard found != nil else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            if directory == nil { try? FileManager.default.removeItem(at: dir) }
            throw HarnessError(description: "the server did not start; its log:\n\(logData.text)")
        }
    }

    /// Everything the server has logged so far.
    var log: String { logData.text }

    /// Waits until the log contains `text` (or times out).
    func waitForLog(_ text: String, timeout: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if log.contains(text) { return true }
            usleep(20_000)
        }
        return false
    }

    static func firstMatch(_ pattern: String, in text: String) -> String? {
        guard let re = try? NSRegularExpression(pattern: pattern),
            let m = re.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
            let r = Range(m.range(at: 1), in: text)
        else { return nil }
        return String(text[r])
    }

    func write(_ name: String, _ text: String) throws {
        try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    /// Sends a signal to the server (by its PID).
    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Stops the server by PID and removes its directory.
    func stop() {
        stopByPID(process)
        logPipe.fileHandleForReading.readabilityHandler = nil
        if !keep { try? FileManager.default.removeItem(at: dir) }
    }

    deinit { stop() }

    /// Runs dig against the server; the result is parsed.
    func dig(_ args: String...) throws -> Dig {
        let r = try run(try tool("dig"), ["@127.0.0.1", "-p", "\(port)", "+norec", "+time=2", "+tries=1"] + args)
        return Dig(text: r.out)
    }
}

/// Stops a process a test started, by its PID: SIGTERM, then SIGKILL if it is still running after 5 s.
func stopByPID(_ process: Process) {
    guard process.isRunning else { return }
    kill(process.processIdentifier, SIGTERM)
    let deadline = Date().addingTimeInterval(5)
    while process.isRunning && Date() < deadline { usleep(10_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
}

/// dig's output, parsed into what the tests look at.
struct Dig: CustomStringConvertible {
    let text: String

    var status: String? { match(#"status: (\w+)"#) }
    var flags: Set<String> { Set((match(#";; flags: ([a-z ]*);"#) ?? "").split(separator: " ").map(String.init)) }
    var answer: [String] { section("ANSWER") }
    var authority: [String] { section("AUTHORITY") }
    var additional: [String] { section("ADDITIONAL") }
    var question: String? { section("QUESTION").first }
    var hasOPT: Bool { text.contains("OPT PSEUDOSECTION") }
    /// Answer records as `name ttl class type rdata` with single spaces.
    func section(_ name: String) -> [String] {
        var out: [String] = []
        var inside = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(";; \(name) SECTION:") { inside = true; continue }
            if inside {
                if line.isEmpty || line.hasPrefix(";;") { break }
                out.append(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " "))
            }
        }
        return out
    }

    func match(_ pattern: String) -> String? {
        guard let re = try? NSRegularExpression(pattern: pattern),
            let m = re.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
            let r = Range(m.range(at: 1), in: text)
        else { return nil }
        return String(text[r])
    }

    var description: String { text }
}

/// A TCP connection to the server for the framing tests.
final class TCPClient {
    let fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr)
        let rc = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else { throw HarnessError(description: "connect: \(String(cString: strerror(errno)))") }
        var tv = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Takes over a connected socket (closed with this client).
    init(descriptor: Int32) { fd = descriptor }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Reads one framed message; nil on EOF or timeout.
    func receive() -> [UInt8]? {
        guard let len = read(2) else { return nil }
        return read(Int(len[0]) << 8 | Int(len[1]))
    }

    /// True when the server has closed the connection (read returns 0) within the socket timeout.
    func closedByServer() -> Bool {
        var b: UInt8 = 0
        return recv(fd, &b, 1, 0) == 0
    }

    private func read(_ n: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: n)
        var got = 0
        while got < n {
            let r = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, n - got, 0) }
            if r <= 0 { return nil }
            got += r
        }
        return out
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; for configs that must name their port).
func freePort() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var sa = sockaddr_in()
    sa.sin_family = sa_family_t(AF_INET)
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr)
    _ = withUnsafePointer(to: &sa) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &sa) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return UInt16(bigEndian: sa.sin_port)
}

/// A plain HTTP/1.0 exchange with 127.0.0.1:port; returns the status and the body. `host`: the Host header (nil:
/// none).
func httpRequest(
    port: UInt16, _ method: String, _ path: String, headers: [String] = [], body: String = "",
    host: String? = "127.0.0.1"
) throws -> (Int, String) {
    let c = try TCPClient(port: port)
    let text =
        "\(method) \(path) HTTP/1.0\r\n\(host.map { "Host: \($0)\r\n" } ?? "")Content-Length: \(body.utf8.count)\r\n"
        + headers.map { $0 + "\r\n" }.joined() + "\r\n" + body
    c.send(Array(text.utf8))
    var data: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        data += buf[0..<n]
    }
    let response = String(decoding: data, as: UTF8.self)
    let status = Int(response.split(separator: " ").dropFirst().first ?? "") ?? 0
    let bodyText = response.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
    return (status, bodyText)
}
