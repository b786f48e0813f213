// Drill: a failover drill against a running server — drain each line in turn, watch the answers, restore it.

import DNSWire
import Foundation
import Uplinks

#if canImport(Glibc)
    import Glibc
#endif

/// Runs `uplinkdns drill`: for each line, through the control API, drain it, query every pool until none of the
/// line's addresses is answered any more, put back what the operator had set (auto, or their own override), and
/// query until the answers are what they were before the drill. Policy-agnostic: "what they were" is the set of
/// addresses several queries returned beforehand (a failover backup line that was not answered before is not
/// expected to disappear).
///
/// Safe by construction: it refuses to start while a line of a pool is down or overridden (unless `force`); it never
/// drains a line that is the last one in answers of a pool it serves, a line an operator overrode, or a line no
/// answer had before (each skipped, SKIP with the reason: only what it tested is a PASS); and it puts each line it
/// drained back as it was — after each step, and when interrupted (`restore()`).
public struct Drill {
    /// One line's outcome.
    public struct Row: Sendable {
        public var link: String
        public var out: Double?  // seconds until its addresses left every answer; nil = never
        public var back: Double?  // seconds until the answers were as before
        public var note: String
        /// Not drilled, for safety (the reason is the note).
        public var skipped = false
        public var passed: Bool { skipped || (out != nil && back != nil) }
    }

    /// Why the drill did not start.
    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    /// A line's state before the drill, as the control API reports it.
    public struct Before: Sendable, Equatable {
        public var name: String
        public var inAnswers: Bool
        /// `drain`, `force-up`, `force-down`, or nil.
        public var override: String?
        /// Seconds the override has left (nil: until cleared).
        public var remaining: Double?

        public init(name: String, inAnswers: Bool, override: String?, remaining: Double?) {
            (self.name, self.inAnswers, self.override, self.remaining) = (name, inAnswers, override, remaining)
        }
    }

    let config: Config
    let control: ControlClient
    let server: ListenAddress
    let limit: Double
    let force: Bool

    /// A drill of the server `config` describes, querying `server` (default: its first listen address).
    public init(
        config: Config, control: ControlClient, server: ListenAddress? = nil, limit: Double = 10, force: Bool = false
    ) {
        self.config = config
        self.control = control
        self.server = server ?? config.listen[0]
        self.limit = limit
        self.force = force
    }

    /// The lines as they are now.
    public func lines() throws -> [Before] {
        let (status, body) = try control.request("GET", "/v1/links")
        guard status == 200, let list = ControlAPI.decode([ControlAPI.LinkSummary].self, from: body) else {
            throw Refusal(description: "the control API's /v1/links answered \(status)")
        }
        let iso = ISO8601DateFormatter()
        return list.map { l in
            let until = l.overrideUntil.flatMap { iso.date(from: $0) }
            return Before(
                name: l.name, inAnswers: l.state == "up", override: l.override == "auto" ? nil : l.override,
                remaining: until.map { max(1, $0.timeIntervalSinceNow) })
        }
    }

    /// Why the drill must not start with the lines as they are (a line of a pool out of answers, or overridden), or
    /// nil.
    public static func refusal(_ lines: [Before], pools: [Pool]) -> String? {
        let pooled = Set(pools.flatMap { $0.members.map(\.link) })
        let down = lines.filter { pooled.contains($0.name) && !$0.inAnswers }.map(\.name)
        let overridden = lines.filter { $0.override != nil }.map { "\($0.name) (\($0.override!))" }
        var why: [String] = []
        if !down.isEmpty { why.append("out of answers: \(down.joined(separator: ", "))") }
        if !overridden.isEmpty { why.append("overridden: \(overridden.joined(separator: ", "))") }
        return why.isEmpty
            ? nil
            : "not starting a drill with lines \(why.joined(separator: "; ")): a drill would take the site further "
                + "down; fix them, or run with --force (a pool's last line in answers is still never drained)"
    }

    /// The pool that `link` is the last line in answers of, if any.
    public static func lastLineOf(_ link: String, lines: [Before], pools: [Pool]) -> Pool? {
        let inAnswers = Set(lines.filter(\.inAnswers).map(\.name))
        // Pools of one class have the same lines: each class is looked at once (100,000 names on two lines are
        // one question, on the path of every drain).
        var seen = [Bool](repeating: false, count: pools.count)
        return pools.first { pool in
            let key = pool.shareKey
            if key >= 0, key < seen.count {
                if seen[key] { return false }
                seen[key] = true
            }
            return pool.members.contains { $0.link == link }
                && pool.members.allSatisfy { $0.link == link || !inAnswers.contains($0.link) }
        }
    }

    /// Runs the drill and returns a row per line; throws `Refusal` when it must not start.
    public func run() throws -> [Row] {
        let found = try lines()
        if !force, let why = Drill.refusal(found, pools: config.uplinks.pools) { throw Refusal(description: why) }
        var rows: [Row] = []
        let before = try answers()
        for link in config.uplinks.links {
            guard let mine = found.first(where: { $0.name == link.name }) else { continue }
            // An operator's override is theirs: the drill neither tests nor touches it (it would drain the line
            // again and report a PASS it never saw).
            if let o = mine.override {
                rows.append(
                    Row(
                        link: link.name, note: "skipped: overridden (\(o)) by an operator; left as it is", skipped: true
                    ))
                continue
            }
            // The lines as they are now (a step before may not have come back): never the last line of a pool.
            let now = try lines()
            if let pool = Drill.lastLineOf(link.name, lines: now, pools: config.uplinks.pools) {
                rows.append(
                    Row(link: link.name, note: "skipped: the last line in answers of \(pool.name)", skipped: true))
                continue
            }
            let own = Set(
                (link.publicAddresses
                    + config.uplinks.pools.flatMap { p in
                        p.members.filter { $0.link == link.name }.flatMap { $0.addresses ?? [] }
                    }).map(\.description))
            // A line no answer had before (a failover backup, or out of answers) has nothing to see leave: not tested.
            guard before.values.contains(where: { !$0.isDisjoint(with: own) }) else {
                rows.append(
                    Row(
                        link: link.name,
                        note: "skipped: not answered before the drill (a backup line, or out of answers)",
                        skipped: true))
                continue
            }
            var row = Row(link: link.name, note: "")
            let (status, body) = try control.request(
                "POST", ControlAPI.linkPath(link.name), json: ControlAPI.LinkChange(state: .drain, for: "5m"))
            guard status == 200 else {
                let why = ControlAPI.decode(ControlAPI.Problem.self, from: body)?.message ?? "answered \(status)"
                row.note = "cannot drain: \(why)"
                restore([mine])
                rows.append(row)
                continue
            }
            row.out = try waitUntil { now in now.values.allSatisfy { $0.isDisjoint(with: own) } }
            let restored = restore([mine])
            row.back = try waitUntil { now in now == before }
            if !restored { row.note = "cannot put \(link.name) back as it was: stopping the drill" }
            rows.append(row)
            // A line that did not come back (or could not be put back) ends the drill: draining the next one could
            // leave a pool with none.
            if !restored || row.back == nil { break }
        }
        return rows
    }

    /// Puts each line's override back as it was before the drill (auto when it had none). Also what an interrupted
    /// drill calls.
    @discardableResult
    public func restore(_ lines: [Before]) -> Bool {
        var all = true
        for l in lines {
            let state = l.override.flatMap(ControlAPI.LinkState.init(rawValue:)) ?? .auto
            let body = ControlAPI.LinkChange(state: state, for: l.remaining.map { "\(Int($0.rounded(.up)))s" })
            let status = (try? control.request("POST", ControlAPI.linkPath(l.name), json: body))?.0
            if status != 200 { all = false }
        }
        return all
    }

    /// Polls every 50 ms until `done` holds for the pools' answers; the seconds it took, or nil after `limit`.
    private func waitUntil(_ done: ([String: Set<String>]) -> Bool) throws -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < limit {
            if done(try answers()) { return Date().timeIntervalSince(start) }
            usleep(50_000)
        }
        return nil
    }

    /// Per pool, the addresses (A and AAAA) that 8 queries returned.
    private func answers() throws -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        for pool in config.uplinks.pools {
            var seen: Set<String> = []
            for i in 0..<8 {
                for rr in try query(pool.name, i % 2 == 0 ? .a : .aaaa) where rr.type == .a || rr.type == .aaaa {
                    if let ip = IPAddress(octets: rr.rdata) { seen.insert(ip.description) }
                }
            }
            out[pool.name.description] = seen
        }
        return out
    }

    /// One UDP query to the server (2 s timeout); the answer section.
    private func query(_ name: DomainName, _ type: RRType) throws -> [ResourceRecord] {
        let q = Message(
            header: Header(id: UInt16.random(in: 0...0xFFFF)), questions: [Question(name: name, type: type)])
        let bytes = q.encode()
        let fd = socket(server.isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let sent =
            IPAddress(server.host)?.withSockaddr(port: server.port) { a, len in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, a, len) }
            } ?? -1
        guard sent == bytes.count else { throw ListenError(address: server, reason: "cannot send a query") }
        var buf = [UInt8](repeating: 0, count: 65535)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { throw ListenError(address: server, reason: "no answer from the DNS server") }
        return try Message(bytes: Array(buf[0..<n])).answers
    }
}
