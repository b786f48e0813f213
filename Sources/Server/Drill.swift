// Drill: a failover drill against a running server — drain each line in turn, watch the answers, restore it.

import DNSWire
import Foundation
import Uplinks

#if canImport(Glibc)
    import Glibc
#endif

/// Runs `uplinkdns drill`: for each line, through the control API, drain it, query every pool until none of the
/// line's addresses is answered any more, set it back to auto, and query until the answers are what they were before
/// the drill. Policy-agnostic: "what they were" is the set of addresses several queries returned beforehand (a
/// failover backup line that was not answered before is not expected to disappear).
public struct Drill {
    /// One line's outcome.
    public struct Row: Sendable {
        public var link: String
        public var out: Double?  // seconds until its addresses left every answer; nil = never
        public var back: Double?  // seconds until the answers were as before
        public var note: String
        public var passed: Bool { out != nil && back != nil }
    }

    let config: Config
    let control: ControlClient
    let server: ListenAddress
    let limit: Double

    /// A drill of the server `config` describes, querying `server` (default: its first listen address).
    public init(config: Config, control: ControlClient, server: ListenAddress? = nil, limit: Double = 10) {
        self.config = config
        self.control = control
        self.server = server ?? config.listen[0]
        self.limit = limit
    }

    /// Runs the drill and returns a row per line.
    public func run() throws -> [Row] {
        var rows: [Row] = []
        let before = try answers()
        for link in config.uplinks.links {
            let own = Set(
                (link.publicAddresses
                    + config.uplinks.pools.flatMap { p in
                        p.members.filter { $0.link == link.name }.flatMap { $0.addresses ?? [] }
                    }).map(\.description))
            let served = before.values.contains { !$0.isDisjoint(with: own) }
            var row = Row(link: link.name, note: served ? "" : "not answered before the drill (backup line)")
            let (status, body) = try control.request(
                "POST", "/v1/links/\(link.name)", json: ["state": "drain", "for": "5m"])
            guard status == 200 else {
                row.note = "cannot drain: \(status) \(String(decoding: body, as: UTF8.self))"
                rows.append(row)
                continue
            }
            row.out = try waitUntil { now in now.values.allSatisfy { $0.isDisjoint(with: own) } }
            _ = try control.request("POST", "/v1/links/\(link.name)", json: ["state": "auto"])
            row.back = try waitUntil { now in now == before }
            rows.append(row)
        }
        return rows
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
