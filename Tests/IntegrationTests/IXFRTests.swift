// IXFRTests: a real Knot secondary follows line changes through IXFR from the journal — each a few records — catches
// up with one condensed IXFR after missing changes, and keeps doing so across a restart of uplinkdns.

import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct IXFRTests {
    /// The target of the journal (docs/transfer.md), at CI size: a zone of 5,000 records (AXFR ≈ 100 KiB); 20 drain
    /// and auto switches each reach the secondary by IXFR of at most 2 KiB, which serves the change within 1 s.
    @Test func aKnotSecondaryFollowsEverySwitchByIXFR() throws {
        var zone = try exampleZoneFile
        for i in 0..<5_000 { zone += "h\(i) 300 IN A 198.18.\(i / 256 % 256).\(i % 256)\n" }
        let port = freePort()
        let knotPort = freePort()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ixfr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = ["uplinkdns.yaml": transferConfig(notify: knotPort), "example.com.zone": zone]
        var s = try ServerProcess(files: files, listen: ["127.0.0.1:\(port)"], directory: dir)
        defer { s.stop() }
        let knot = try KnotSecondary(primary: port, in: dir, port: knotPort)
        defer { knot.stop() }
        func ours() throws -> String { try #require(try s.dig("example.com", "SOA").soaSerial) }
        let first = try ours()
        #expect(try knot.wait(20) { try knot.serial() == first } != nil, "no AXFR to Knot:\n\(knot.logText)")

        func has(_ address: String) throws -> Bool {
            try knot.dig("www.example.com", "A").answer.joined(separator: "\n").contains(address)
        }
        func switchCNC(_ state: String) throws -> Double? {
            let (status, _) = try httpRequest(
                port: s.controlPort, "POST", "/v1/links/cnc", headers: ["Authorization: Bearer test-token"],
                body: "{\"state\":\"\(state)\"}")
            #expect(status == 200)
            let wanted = state == "auto"
            return try knot.wait(5) { try has("198.51.100.10") == wanted }
        }
        var took: [Double] = []
        for i in 0..<20 {
            guard let t = try switchCNC(i % 2 == 0 ? "drain" : "auto") else {
                Issue.record(
                    "switch \(i): Knot did not follow within 5 s\n\(knot.logText.suffix(3000))\n\(s.log.suffix(2000))")
                return
            }
            took.append(t)
        }
        // Knot acknowledges each NOTIFY within milliseconds and usually serves the change 10–60 ms after the switch;
        // now and then it starts the refresh about 1 s after acknowledging (seen in packet captures: no SOA query
        // and no IXFR from it in that second). With the whole suite running on two cores (headless Chromium among
        // it) that second was seen to stretch to 1.6 s, so the bound on the slowest is 2.5 s; the median's, 0.1 s, is
        // what the journal promises.
        let sorted = took.sorted()
        #expect(sorted[sorted.count / 2] <= 0.1 && sorted.last! <= 2.5, "Knot followed the switches in \(took) s")
        let ixfrs = s.log.components(separatedBy: "\n").filter {
            $0.contains("IXFR example.com.") && $0.contains(": ixfr from")
        }
        #expect(ixfrs.count >= 20, "\(s.log.suffix(3000))")
        let octets = ixfrs.compactMap { ServerProcess.firstMatch(#", (\d+) octets"#, in: $0).flatMap { Int($0) } }
        #expect(octets.count == ixfrs.count && octets.allSatisfy { $0 <= 2048 }, "\(octets)")
        #expect(knot.logText.contains("IXFR, incoming"), "\(knot.logText.suffix(2000))")
        let (_, metrics) = try httpRequest(port: s.controlPort, "GET", "/metrics")
        #expect(metricValue(metrics, #"uplinkdns_transfers_sent_total{secondary="127.0.0.1",kind="ixfr"}"#) >= 20)
        #expect(metricValue(metrics, #"uplinkdns_transfers_sent_total{secondary="127.0.0.1",kind="axfr"}"#) == 1)

        // A secondary stopped through 10 switches catches up with one condensed IXFR.
        knot.stop()
        let behind = try ours()
        for i in 0..<10 {
            let (status, _) = try httpRequest(
                port: s.controlPort, "POST", "/v1/links/cnc", headers: ["Authorization: Bearer test-token"],
                body: "{\"state\":\"\(i % 2 == 0 ? "drain" : "auto")\"}")
            #expect(status == 200)
        }
        let caughtUp = try ours()
        try knot.start()
        _ = try run(
            try tool("knotc"),
            ["-c", knot.dir.appendingPathComponent("knot.conf").path, "zone-refresh", "example.com."])
        #expect(try knot.wait(10) { try knot.serial() == caughtUp } != nil, "\(knot.logText.suffix(3000))")
        #expect(s.waitForLog("ixfr from \(behind):"), "\(s.log.suffix(2000))")

        // A restart of uplinkdns keeps the journal: the next switch still goes by IXFR from the serial Knot has.
        s.stop()
        s = try ServerProcess(files: files, listen: ["127.0.0.1:\(port)"], directory: dir)
        #expect(try ours() == caughtUp, "a restart with the same content keeps the serial")
        #expect(try switchCNC("drain") != nil)
        #expect(s.waitForLog("ixfr from \(caughtUp):"), "\(s.log.suffix(2000))")
        #expect(!s.log.contains("ixfr-axfr"))
    }
}
