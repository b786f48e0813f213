// QueryLog: every query and its response, logged while an operator has the log on — in dnstap (to a file or a
// Frame Streams Unix socket) or as plain text — switched at run time, and free while off.

import Dispatch
import Foundation
import Logging
import Responder
import Synchronization
import Uplinks

/// `server.query-log`: where the log goes and in what format.
public struct QueryLogSettings: Sendable, Equatable {
    /// dnstap (Frame Streams, as Knot, NSD, BIND and Unbound write it) or one text line per query.
    public enum Format: String, Sendable, Equatable, CaseIterable {
        case dnstap, text
    }
    /// A file, or `unix:PATH` for a Frame Streams reader's socket (`fstrm_capture`, a dnstap collector); nil:
    /// `<state-dir>/queries.dnstap` (or `queries.log` for text).
    public var path: String?
    public var format: Format = .dnstap
    /// On from the start.
    public var enabled = false

    /// The defaults: dnstap into the state directory, off.
    public init() {}
}

extension Config {
    /// Where the query log goes: `server.query-log.path` (relative to the config file's folder), else a file in
    /// the state directory.
    public var queryLogPath: String {
        guard let p = queryLog.path else {
            let name = queryLog.format == .dnstap ? "queries.dnstap" : "queries.log"
            return (stateDirectory as NSString).appendingPathComponent(name)
        }
        if p.hasPrefix("unix:") || p.hasPrefix("/") { return p }
        return URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(p).standardizedFileURL
            .path
    }
}

/// The query log. Off, it costs the query path one relaxed atomic load per query (`isOn`). On, a worker copies the
/// query and response into an entry and appends it to a bounded queue under a lock held for the append alone; a
/// writer on its own queue drains it every 100 ms, encodes and writes. When the writer falls behind (a slow disk or
/// socket), entries beyond `capacity` (or `byteCapacity` octets) are dropped and counted rather than slowing answers.
///
/// Switching on opens the destination and fails (nothing changes) if it cannot be opened. A dnstap file is one
/// Frame Streams stream from START to STOP, so switching on again moves the previous file to `PATH.1` first; a text
/// file is appended to. A socket gets the bidirectional handshake (READY, ACCEPT, START; STOP, FINISH at the end).
/// A write error switches the log off and says why (`status`).
public final class QueryLog: Sendable {
    /// Entries waiting for the writer, at most.
    public let capacity: Int
    /// Octets (queries and responses) waiting for the writer, at most: TCP messages reach 64 KiB each.
    public let byteCapacity: Int
    private let on = Atomic<Bool>(false)
    private let pending = Mutex<(entries: [Dnstap.Entry], bytes: Int)>(([], 0))
    private let writtenCount = Atomic<Int>(0)
    private let droppedCount = Atomic<Int>(0)
    private let writer = DispatchQueue(label: "uplinkdns.querylog")
    private let logger: Logger

    /// What the log is doing, for the API and `uplinkdns querylog`.
    public struct Status: Sendable, Equatable {
        public var enabled: Bool
        public var path: String
        public var format: QueryLogSettings.Format
        /// When it switches itself off (`--for`).
        public var until: Date?
        /// Why it went off by itself (a write error), if it did.
        public var error: String?
    }

    /// The writer's state. The sink and timer are used on `writer` only; the lock orders their hand-over.
    private struct Writer: @unchecked Sendable {
        var settings: (path: String, format: QueryLogSettings.Format)
        /// dnstap's identity field (`server.identity`, which a reload may change).
        var identity: [UInt8]
        var sink: Sink?
        var until: Date?
        var error: String?
        var timer: DispatchSourceTimer?
    }
    private let state: Mutex<Writer>

    /// A log writing to `path` in `format` once switched on.
    public init(
        path: String, format: QueryLogSettings.Format, capacity: Int = 65536, byteCapacity: Int = 32 << 20,
        identity: String? = nil, logger: Logger
    ) {
        self.capacity = capacity
        self.byteCapacity = byteCapacity
        self.logger = logger
        state = Mutex(Writer(settings: (path, format), identity: QueryLog.identity(identity)))
    }

    /// dnstap's identity: the server's (`server.identity`, as id.server answers it), else the host name.
    static func identity(_ configured: String?) -> [UInt8] {
        if let configured, !configured.isEmpty { return Array(configured.utf8) }
        return Array((Config.hostname() ?? "").utf8)
    }

    /// The identity dnstap frames carry now.
    var currentIdentity: [UInt8] { state.withLock { $0.identity } }

    /// Whether queries are being logged (the query path's check).
    @inline(__always)
    public var isOn: Bool { on.load(ordering: .relaxed) }

    /// Where an exchange came from and in on, read only while the log is on.
    public struct Ends: Sendable {
        /// The client's port.
        public var clientPort: UInt16
        /// The server's address the query came in on (nil: unknown) and its port.
        public var local: IPAddress?
        public var localPort: UInt16
        /// The client network a pool's answer went by (`by-network`: its networks, or `other`), if it did.
        public var network: String?

        public init(clientPort: UInt16, local: IPAddress?, localPort: UInt16, network: String? = nil) {
            (self.clientPort, self.local, self.localPort, self.network) = (clientPort, local, localPort, network)
        }
    }

    /// Queues one exchange (only called while `isOn`). `response` empty: no answer was sent.
    public func record(
        query: UnsafeRawBufferPointer, response: UnsafeRawBufferPointer, client: ClientAddress, ends: Ends, tcp: Bool
    ) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        let entry = Dnstap.Entry(
            query: Array(query), response: Array(response), client: client.ipAddress?.octets ?? [],
            port: ends.clientPort, tcp: tcp, local: ends.local?.octets ?? [], localPort: ends.localPort,
            seconds: UInt64(ts.tv_sec), nanoseconds: UInt32(ts.tv_nsec), network: ends.network)
        let size = query.count + response.count
        let queued = pending.withLock { p -> Bool in
            guard p.entries.count < capacity, p.bytes + size <= byteCapacity else { return false }
            p.entries.append(entry)
            p.bytes += size
            return true
        }
        if !queued { droppedCount.add(1, ordering: .relaxed) }
    }

    /// Counts for metrics.
    public var counts: (enabled: Bool, written: Int, dropped: Int) {
        (isOn, writtenCount.load(ordering: .relaxed), droppedCount.load(ordering: .relaxed))
    }

    /// What the log is doing now.
    public var status: Status {
        state.withLock { w in
            Status(
                enabled: isOn, path: w.settings.path, format: w.settings.format, until: isOn ? w.until : nil,
                error: w.error)
        }
    }

    /// Takes a reloaded config's destination; an open log moves to it (or goes off, with the error, if it cannot).
    public func configure(path: String, format: QueryLogSettings.Format, identity: String?) {
        writer.sync {
            let changed = state.withLock { w in
                defer {
                    w.settings = (path, format)
                    w.identity = QueryLog.identity(identity)
                }
                return w.settings.path != path || w.settings.format != format
            }
            guard changed, isOn else { return }
            let until = state.withLock { $0.until }
            closeSink(reason: nil)
            if let why = openSink(until: until) {
                state.withLock { $0.error = why }
                logger.error("query log: \(why)")
            }
        }
    }

    /// Switches the log on (for `duration`, else until switched off); returns why it could not, or nil.
    @discardableResult
    public func enable(for duration: TimeInterval? = nil) -> String? {
        writer.sync {
            let until = duration.map { Date().addingTimeInterval($0) }
            if isOn {
                state.withLock { $0.until = until }
                return nil
            }
            return openSink(until: until)
        }
    }

    /// Switches the log off, writing what is queued and closing the stream.
    public func disable() {
        writer.sync { closeSink(reason: nil) }
    }

    /// Opens the destination and starts the writer (on `writer`).
    private func openSink(until: Date?) -> String? {
        let (path, format) = state.withLock { $0.settings }
        let sink: Sink
        do {
            sink = try Sink.open(path: path, format: format)
        } catch {
            let why = "cannot open \(path): \(error)"
            state.withLock { $0.error = why }
            return why
        }
        let timer = DispatchSource.makeTimerSource(queue: writer)
        timer.schedule(deadline: .now() + 0.1, repeating: 0.1)
        timer.setEventHandler { [weak self] in self?.tick() }
        state.withLock { w in
            w.sink = sink
            w.until = until
            w.error = nil
            w.timer = timer
        }
        on.store(true, ordering: .relaxed)
        timer.resume()
        let span = until.map { " until \(ISO8601DateFormatter().string(from: $0))" } ?? ""
        logger.notice("query log on: \(format) to \(path)\(span)")
        return nil
    }

    /// Writes what is queued; switches off at `until` (on `writer`).
    private func tick() {
        guard isOn else { return }
        if let why = flush() {
            closeSink(reason: why)
            return
        }
        if let until = state.withLock({ $0.until }), Date() >= until { closeSink(reason: nil) }
    }

    /// Drains the queue into the sink; returns a write error.
    private func flush() -> String? {
        let batch = pending.withLock { p in
            defer { p = ([], 0) }
            return p.entries
        }
        guard !batch.isEmpty else { return nil }
        let (sink, format, identity) = state.withLock { ($0.sink, $0.settings.format, $0.identity) }
        guard let sink else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(batch.count * 256)
        let version = Array("UplinkDNS \(Config.softwareVersion)".utf8)
        for e in batch {
            switch format {
            case .dnstap:
                out += Dnstap.data(Dnstap.frame(.authQuery, e, identity: identity, version: version))
                if !e.response.isEmpty {
                    out += Dnstap.data(Dnstap.frame(.authResponse, e, identity: identity, version: version))
                }
            case .text:
                out += Array(Dnstap.text(e).utf8)
            }
        }
        do {
            try sink.write(out)
            writtenCount.add(batch.count, ordering: .relaxed)
            return nil
        } catch {
            return "writing \(state.withLock { $0.settings.path }): \(error)"
        }
    }

    /// Stops logging: flushes, ends the stream, closes; `reason` is a write error that forced it (on `writer`).
    private func closeSink(reason: String?) {
        guard isOn else { return }
        on.store(false, ordering: .relaxed)
        let flushError = reason == nil ? flush() : reason
        let (sink, timer, path) = state.withLock { w in
            defer {
                w.sink = nil
                w.timer = nil
                w.until = nil
                w.error = flushError
            }
            return (w.sink, w.timer, w.settings.path)
        }
        timer?.cancel()
        sink?.close()
        // What came in between switching off and the last flush is not written: counted as dropped.
        let late = pending.withLock { p in
            defer { p = ([], 0) }
            return p.entries.count
        }
        droppedCount.add(late, ordering: .relaxed)
        if let flushError {
            logger.error("query log off: \(flushError)")
        } else {
            logger.notice("query log off: \(path) closed")
        }
    }
}

/// Where the log goes: a file (dnstap or text) or a Frame Streams Unix socket.
final class Sink {
    private let fd: Int32
    private let format: QueryLogSettings.Format
    private let isSocket: Bool

    private init(fd: Int32, format: QueryLogSettings.Format, socket: Bool) {
        (self.fd, self.format, self.isSocket) = (fd, format, socket)
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        static func errno(_ what: String) -> Failure {
            Failure(description: "\(what): \(String(cString: strerror(Glibc.errno)))")
        }
    }

    /// Opens `path` (a file, or `unix:PATH`) and starts the stream.
    static func open(path: String, format: QueryLogSettings.Format) throws -> Sink {
        if path.hasPrefix("unix:") {
            guard format == .dnstap else { throw Failure(description: "a socket takes the dnstap format") }
            let sink = try connect(String(path.dropFirst(5)))
            try sink.handshake()
            return sink
        }
        if format == .dnstap {
            // One stream per file: the previous one (ended with STOP) moves aside rather than being cut into.
            var st = stat()
            if stat(path, &st) == 0, st.st_size > 0 { _ = rename(path, path + ".1") }
        }
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (format == .text ? O_APPEND : O_TRUNC)
        let fd = Glibc.open(path, flags, 0o640)
        guard fd >= 0 else { throw Failure.errno("open") }
        let sink = Sink(fd: fd, format: format, socket: false)
        if format == .dnstap {
            do { try sink.write(Dnstap.control(.start)) } catch {
                Glibc.close(fd)
                throw error
            }
        }
        return sink
    }

    private static func connect(_ path: String) throws -> Sink {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure.errno("socket") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            Glibc.close(fd)
            throw Failure(description: "socket path too long")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard rc == 0 else {
            let failure = Failure.errno("connect")
            Glibc.close(fd)
            throw failure
        }
        // A reader that stops reading must not block the writer for ever.
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return Sink(fd: fd, format: .dnstap, socket: true)
    }

    /// Frame Streams' bidirectional start: READY, wait for ACCEPT, START.
    private func handshake() throws {
        do {
            try write(Dnstap.control(.ready))
            guard let type = try readControl(), type == Dnstap.Control.accept.rawValue else {
                throw Failure(description: "the reader did not ACCEPT the dnstap content type")
            }
            try write(Dnstap.control(.start))
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    /// Reads one control frame; returns its type.
    private func readControl() throws -> UInt32? {
        func read(_ n: Int) throws -> [UInt8] {
            var out = [UInt8](repeating: 0, count: n)
            var got = 0
            while got < n {
                let r = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + got, n - got) }
                if r <= 0 {
                    throw r == 0 ? Failure(description: "the reader closed the socket") : Failure.errno("read")
                }
                got += r
            }
            return out
        }
        func be(_ b: [UInt8]) -> UInt32 { b.reduce(0) { $0 << 8 | UInt32($1) } }
        guard be(try read(4)) == 0 else { return nil }
        let length = Int(be(try read(4)))
        guard length >= 4, length <= 512 else { return nil }
        let body = try read(length)
        return be(Array(body[0..<4]))
    }

    func write(_ bytes: [UInt8]) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { b in
                isSocket
                    ? Glibc.send(fd, b.baseAddress! + done, b.count - done, Int32(MSG_NOSIGNAL))
                    : Glibc.write(fd, b.baseAddress! + done, b.count - done)
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure.errno("write") }
            done += n
        }
    }

    /// Ends the stream (STOP; a socket's reader answers FINISH) and closes.
    func close() {
        if format == .dnstap {
            try? write(Dnstap.control(.stop))
            if isSocket { _ = try? readControl() }
        }
        Glibc.close(fd)
    }
}
