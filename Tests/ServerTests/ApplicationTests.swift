// ApplicationTests: the application that `uplinkdns serve` runs, built and run by the test the same way, answers and
// stops in order when shut down.

import DNSWire
import Foundation
import Logging
import Server
import TestSupport
import Testing

@Suite struct ApplicationTests {
    /// One UDP query to 127.0.0.1:`port`; the answer, or nil after 1 s.
    static func ask(_ port: UInt16, _ name: String) throws -> Message? {
        try udpExchange(port: port, queryBytes(name, .a, id: 7), timeout: 1).map { try Message(bytes: $0) }
    }

    @Test func buildRunAnswerAndStopInOrder() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("app-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
            .write(to: dir.appendingPathComponent("a.zone"), atomically: true, encoding: .utf8)
        try """
        server: {listen: ["127.0.0.1:0"], udp-workers: 1, control-token: t}
        zones: [{origin: example.com., file: a.zone}]
        links:
          - {name: unicom, public: [192.0.2.10]}
        pools:
          - {name: www.example.com., links: [unicom], policy: round-robin}
        """.write(to: dir.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        let config = try Config.load(path: dir.appendingPathComponent("c.yaml").path)
        // Built on a thread of its own, as `serve` builds it on the main thread: building waits for the first probe
        // round, which must not hold one of the few threads that run the tests' tasks.
        let app = try await withCheckedThrowingContinuation { (c: CheckedContinuation<Application, Error>) in
            Thread.detachNewThread {
                c.resume(
                    with: Result {
                        try Application.build(
                            config: config, control: .some(nil), logger: Logger(label: "test"), signals: false)
                    })
            }
        }
        let port = try #require(app.server.boundAddresses.first?.port)
        let running = Task { try await app.run() }
        let www = try #require(try Self.ask(port, "www.example.com."))
        #expect(www.answers.count == 1 && www.header.id == 7)
        await app.shutdown()
        try await running.value
        // Stopped: the port no longer answers.
        #expect(try Self.ask(port, "www.example.com.") == nil)
    }
}
