// LinesUpTests: changing the set of lines that are up swaps in new answers without reading files again.

import DNSWire
import Foundation
import Logging
import Responder
import Server
import TestSupport
import Testing
import Uplinks

@Suite struct LinesUpTests {
    @Test func aLineGoingDownLeavesTheAnswersAndComesBack() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("up-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
            .write(to: dir.appendingPathComponent("a.zone"), atomically: true, encoding: .utf8)
        try """
        zones: [{origin: example.com., file: a.zone}]
        links:
          - {name: unicom, public: [192.0.2.10]}
          - {name: cnc, public: [198.51.100.10]}
        pools:
          - {name: www.example.com., links: [unicom, cnc], policy: round-robin}
        """.write(to: dir.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        let server = try DNSServer(
            config: try Config.load(path: dir.appendingPathComponent("c.yaml").path), logger: Logger(label: "test"))
        server.buildAnswers()
        func addresses() throws -> Set<String> {
            let (snapshot, _) = server.store.current()
            let query = queryBytes("www.example.com.", .a, id: 1)
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 65535, alignment: 8)
            defer { out.deallocate() }
            let n = query.withUnsafeBytes {
                QueryProcessor.respond(
                    snapshot: snapshot, query: $0, transport: .udp, scratch: QueryScratch(), into: out)
            }
            let m = try Message(bytes: Array(out[0..<n]))
            return Set(m.answers.compactMap { IPAddress(octets: $0.rdata)?.description })
        }
        #expect(try addresses() == ["192.0.2.10", "198.51.100.10"])
        let before = server.store.generation
        server.lines(["unicom"])
        #expect(server.store.generation == before + 1)
        #expect(try addresses() == ["192.0.2.10"])
        server.lines(["unicom", "cnc"])
        #expect(try addresses() == ["192.0.2.10", "198.51.100.10"])
        // Both forced down by the operator: fail-open brings back what probes took out, never what an operator took
        // out (PoolPlanTests.aDrainHoldsWhenThePoolFailsOpen): nothing to answer.
        server.lines([])
        #expect(try addresses().isEmpty)
    }
}
