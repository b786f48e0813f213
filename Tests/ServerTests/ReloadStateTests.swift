// ReloadStateTests: what a reload hands to each part of the running server, without sockets.

import DNSWire
import Foundation
import Logging
import Responder
import Testing
import Uplinks

@testable import Server

@Suite struct ReloadStateTests {
    /// Issue 21: the dnstap identity stayed the one of the start when a reload changed `server.identity`.
    @Test func theDnstapIdentityFollowsServerIdentityOnReload() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
            .write(to: dir.appendingPathComponent("a.zone"), atomically: true, encoding: .utf8)
        let path = dir.appendingPathComponent("c.yaml")
        func write(identity: String) throws {
            try "server: {identity: \(identity)}\nzones: [{origin: example.com., file: a.zone}]\n"
                .write(to: path, atomically: true, encoding: .utf8)
        }
        try write(identity: "ns-before")
        let server = try DNSServer(config: try Config.load(path: path.path), logger: Logger(label: "test"))
        server.buildAnswers()
        #expect(server.queryLog.currentIdentity == Array("ns-before".utf8))
        try write(identity: "ns-after")
        #expect(server.reloadOutcome().errors == nil)
        #expect(server.queryLog.currentIdentity == Array("ns-after".utf8))
    }
}

/// A reload's plan: the desired config against the running one, as data (ReloadPlan), without a server.
@Suite struct ReloadPlanTests {
    static let base = """
        zones: [{origin: example.com., file: a.zone, transfer: [192.0.2.53]}]
        links:
          - {name: unicom, public: [192.0.2.10]}
        pools:
          - {name: www.example.com., links: [unicom]}

        """

    func plan(_ running: String, _ desired: String) throws -> ReloadPlan {
        ReloadPlan(
            running: try Config.parse(running, path: "/x/c.yaml"), desired: try Config.parse(desired, path: "/x/c.yaml")
        )
    }

    @Test func anUnchangedConfigRebuildsTheAnswersOnly() throws {
        let p = try plan(Self.base, Self.base)
        #expect(p.steps == [.answers, .notify] && p.keptUntilRestart.isEmpty)
    }

    /// Each part of the config maps to its step, and the steps come in the one order reload applies them.
    @Test(arguments: [
        ("server: {tcp: {max-connections: 10}}\n", [ReloadPlan.Step.answers, .tcpLimits, .notify]),
        ("server: {rrl: {responses-per-second: 5}}\n", [.answers, .rateLimit, .notify]),
        ("server: {identity: other}\n", [.queryLog, .answers, .notify]),
        ("server: {query-log: {format: text}}\n", [.queryLog, .answers, .notify]),
        ("health: {on-change: [/bin/true]}\n", [.lines, .answers, .notify]),
        (
            "director: {services: [{name: web, address: 203.0.113.80, port: 80, real-servers: [{address: 198.18.1.12}]}]}\n",
            [.answers, .director, .notify]
        ),
        ("routing: {apply: true}\n", [.answers, .routing, .notify]),
        ("routing: {default-route: keep}\n", [.answers, .notify]),
        ("routing: {gateway-command: bash}\n", [.answers, .routing, .notify]),
        (
            "server: {tcp: {idle-timeout: 3}, rrl: {slip: 1}}\nhealth: {on-change: [/bin/true]}\n",
            [.lines, .answers, .tcpLimits, .rateLimit, .notify]
        ),
    ])
    func eachChangeIsItsStep(extra: String, steps: [ReloadPlan.Step]) throws {
        #expect(try plan(Self.base, Self.base + extra).steps == steps)
    }

    /// Issue 25: a comment above the lines reported every line as changed; where a definition is written is not
    /// part of it.
    @Test func aCommentOrAMovedLineChangesNothing() throws {
        let moved = "# a comment\n# another\n" + Self.base
        #expect(try plan(Self.base, moved).steps == [.answers, .notify])
    }

    @Test func linesAndTransferPoliciesAreSteps() throws {
        let lines = Self.base.replacingOccurrences(of: "[192.0.2.10]", with: "[192.0.2.11]")
        #expect(try plan(Self.base, lines).steps == [.lines, .answers, .notify])
        let acl = Self.base.replacingOccurrences(of: "transfer: [192.0.2.53]", with: "transfer: [192.0.2.54]")
        #expect(try plan(Self.base, acl).steps == [.transferPolicies, .answers, .notify])
    }

    /// Issue 26: with routing.apply on, a change of the lines or of the default route is a routing step too (the
    /// server applies its script again); with it off, the server touches no route.
    @Test func routingFollowsTheLinesOnlyWhenApplied() throws {
        let applied = Self.base + "routing: {apply: true}\n"
        let lines = applied.replacingOccurrences(of: "[192.0.2.10]", with: "[192.0.2.11]")
        #expect(try plan(applied, lines).steps == [.lines, .answers, .routing, .notify])
        #expect(try plan(applied, applied + "").steps == [.answers, .notify])
        let off = Self.base.replacingOccurrences(of: "[192.0.2.10]", with: "[192.0.2.11]")
        #expect(try plan(Self.base, off).steps == [.lines, .answers, .notify])
        #expect(try plan(applied, Self.base).steps == [.answers, .routing, .notify])
    }

    /// Restart-only keys are kept at their running values and named; the rest applies.
    @Test func restartOnlyKeysAreKeptAndNamed() throws {
        let p = try plan(
            Self.base, Self.base + "server: {listen: [\"127.0.0.1:9\"], control: \"off\", edns-udp-size: 1400}\n")
        #expect(p.keptUntilRestart == ["server.listen", "server.control"])
        #expect(p.applied.listen.map(\.description) == ["127.0.0.1:5300"] && p.applied.control != nil)
        #expect(p.applied.ednsUDPSize == 1400)
        let overridden = ReloadPlan(
            running: try Config.parse(Self.base, path: "/x/c.yaml"),
            desired: try Config.parse(Self.base + "server: {listen: [\"127.0.0.1:9\"]}\n", path: "/x/c.yaml"),
            listenOverridden: true)
        #expect(overridden.keptUntilRestart.isEmpty)
    }
}

/// What follows an answer, shared by UDP and TCP (QueryCompletion), driven without sockets.
@Suite struct QueryCompletionTests {
    @Test func aDatagramIsRateLimitedCountedAndLoggedOnce() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("done-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
            .write(to: dir.appendingPathComponent("a.zone"), atomically: true, encoding: .utf8)
        let config = try Config.parse(
            "zones: [{origin: example.com., file: a.zone}]", path: dir.appendingPathComponent("c.yaml").path)
        let snapshot = try config.buildSnapshot()
        var settings = RateLimitSettings()
        settings.responsesPerSecond = 1
        settings.slip = 0
        settings.exempt = []
        let all = QueryStats()
        let stats = all.makeBlock(transport: "udp")
        let log = QueryLog(
            path: dir.appendingPathComponent("q.log").path, format: .text, logger: Logger(label: "t"))
        #expect(log.enable() == nil)
        let completion = QueryCompletion(
            stats: stats, transfer: nil, limiter: RateLimiter(settings), queryLog: log)
        var w = MessageWriter()
        w.append(Header(id: 7, qdCount: 1).bytes)
        w.question(try DomainName("ns1.example.com."), type: .a, rrClass: .in)
        let scratch = QueryScratch()
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 1232, alignment: 8)
        defer { out.deallocate() }
        let client = ClientAddress(IPAddress("198.51.100.7")!)
        var sent: [Int] = []
        for _ in 0..<2 {
            sent.append(
                w.bytes.withUnsafeBytes { q in
                    completion.finishDatagram(
                        query: q,
                        length: QueryProcessor.respond(
                            snapshot: snapshot, query: q, transport: .udp, scratch: scratch, client: client,
                            deferring: completion.defers, into: out),
                        into: out, scratch: scratch, client: client, now: 1000,
                        ends: { QueryLog.Ends(clientPort: 5353, local: nil, localPort: 53) })
                })
        }
        #expect(sent[0] > 12 && sent[1] == 0)  // the second identical answer in the same second is dropped
        #expect(all.counts.map(\.count).reduce(0, +) == 2)  // both counted (the dropped one as no response)
        log.disable()
        let text = try String(contentsOf: dir.appendingPathComponent("q.log"), encoding: .utf8)
        #expect(text.split(separator: "\n").count == 2, "\(text)")
    }
}
