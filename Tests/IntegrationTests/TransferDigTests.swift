// TransferDigTests: zone transfer with real peers — dig and kdig pulling AXFR with TSIG, refusals, `export` checked
// by named-checkzone and kzonecheck, a 100 000-record transfer, and Knot as a secondary that follows the lines.

import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

let tsigSecret = "c2VjcmV0LXNoYXJlZC1ieS1wcmltYXJ5LWFuZC1zZWNvbmRhcnk="
let tsigSpec = "hmac-sha256:transfer.example.:\(tsigSecret)"

/// The example config with a transfer key, an ACL of 127.0.0.1, a control token, and NOTIFY to `notify`.
func transferConfig(notify: UInt16? = nil, zoneFile: String = "example.com.zone", pools: Bool = true) -> String {
    """
    server:
      control-token: test-token
      udp-workers: 1
    keys:
      - name: transfer.example.
        secret: \(tsigSecret)
    zones:
      - origin: example.com.
        file: \(zoneFile)
        transfer: [127.0.0.1]
        key: transfer.example.
        notify: [\(notify.map { "\"127.0.0.1:\($0)\"" } ?? "")]
    links:
      - {name: unicom, public: [192.0.2.10]}
      - {name: cnc, public: [198.51.100.10]}
    \(pools ? "pools:\n  - {name: www.example.com., links: [unicom, cnc], policy: weighted}" : "")
    health: {state-dir: state}
    """
}

/// The repository's example zone.
var exampleZoneFile: String {
    get throws { try String(contentsOf: packageRoot.appendingPathComponent("zones/example.com.zone"), encoding: .utf8) }
}

/// Records of master-file or dig output, one per line as `name ttl class type rdata` (single spaces, names lower
/// case), without comments, `$` lines and TSIG.
func normalizedRecords(_ text: String) -> [String] {
    text.split(separator: "\n").compactMap { line in
        guard !line.hasPrefix(";"), !line.hasPrefix("$"), !line.trimmingCharacters(in: .whitespaces).isEmpty else {
            return nil
        }
        var fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count >= 4, fields[3] != "TSIG" else { return nil }
        fields[0] = fields[0].lowercased()
        return fields.joined(separator: " ")
    }
}

/// Nil when `a` and `b` hold the same records, else a short account of the difference (never the whole sets).
func recordDifference(_ a: [String], _ b: [String]) -> String? {
    let (x, y) = (Set(a), Set(b))
    guard x != y else { return nil }
    let onlyA = x.subtracting(y).sorted().prefix(5)
    let onlyB = y.subtracting(x).sorted().prefix(5)
    return "\(x.count) vs \(y.count) records; only in the first: \(Array(onlyA)); only in the second: \(Array(onlyB))"
}

@Suite(.serialized) struct TransferDigTests {
    @Test func digAndKdigTransferWithTSIGOthersAreRefused() throws {
        let s = try ServerProcess(files: ["uplinkdns.yaml": transferConfig(), "example.com.zone": try exampleZoneFile])
        defer { s.stop() }
        let dig = try tool("dig")
        let base = ["@127.0.0.1", "-p", "\(s.port)", "+time=3", "+tries=1"]
        let signed = try run(dig, base + ["example.com", "AXFR", "-y", tsigSpec])
        #expect(!signed.out.contains("failed") && !signed.out.contains("could not be validated"), "\(signed.out)")
        let records = normalizedRecords(signed.out)
        #expect(records.first?.contains(" SOA ") == true && records.last == records.first)
        #expect(records.contains("www.example.com. 60 IN A 192.0.2.10"))
        #expect(records.contains("www.example.com. 60 IN A 198.51.100.10"))

        // The same transfer through Knot's client, which checks every TSIG too.
        let kdig = try run(
            try tool("kdig"), ["@127.0.0.1", "-p", "\(s.port)", "example.com", "AXFR", "-y", tsigSpec, "+tcp"])
        #expect(
            kdig.status == 0 && !kdig.out.contains("failed") && !kdig.err.contains("TSIG"), "\(kdig.out)\(kdig.err)")
        #expect(recordDifference(normalizedRecords(kdig.out), records) == nil)

        // No key: REFUSED. Another address (127.0.0.2 is loopback too): REFUSED. A wrong secret: NOTAUTH/BADSIG.
        #expect(try run(dig, base + ["example.com", "AXFR"]).out.contains("Transfer failed"))
        let elsewhere = try run(dig, base + ["-b", "127.0.0.2", "example.com", "AXFR", "-y", tsigSpec])
        #expect(elsewhere.out.contains("Transfer failed"), "\(elsewhere.out)")
        let wrong = try run(
            dig, base + ["example.com", "SOA", "-y", "hmac-sha256:transfer.example.:AAAA\(tsigSecret)"])
        #expect(wrong.out.contains("status: NOTAUTH") && wrong.out.contains("BADSIG"), "\(wrong.out)")
        #expect(s.waitForLog("refused: not signed with the zone's key"))
        #expect(s.waitForLog("from 127.0.0.2 refused: address not in zones[].transfer"))
        #expect(s.waitForLog("TSIG BADSIG from 127.0.0.1"))

        // A signed SOA query (what a secondary sends before transferring) is answered and signed.
        let soa = try run(dig, base + ["example.com", "SOA", "-y", tsigSpec, "+norec"])
        #expect(soa.out.contains("status: NOERROR") && soa.out.contains("TSIG") && !soa.out.contains("WARNING"))

        // `export` asks the running server: exactly what AXFR carries, and it passes both zone checkers.
        let cfg = s.dir.appendingPathComponent("uplinkdns.yaml").path
        let control = "127.0.0.1:\(s.controlPort)"
        var exportConfig = try String(contentsOfFile: cfg, encoding: .utf8)
        exportConfig = exportConfig.replacingOccurrences(of: "server:\n", with: "server:\n  control: \(control)\n")
        try s.write("export.yaml", exportConfig)
        let exportCfg = s.dir.appendingPathComponent("export.yaml").path
        let export = try run(binaryPath, ["export", "example.com", "--config", exportCfg])
        #expect(export.status == 0, "\(export.err)")
        #expect(recordDifference(normalizedRecords(export.out), Array(records.dropLast())) == nil)
        let file = s.dir.appendingPathComponent("exported.zone").path
        try export.out.write(toFile: file, atomically: true, encoding: .utf8)
        let named = try run(try tool("named-checkzone"), ["-i", "local", "example.com", file])
        #expect(named.status == 0 && named.out.contains("OK"), "\(named.out)\(named.err)")
        let knot = try run(try tool("kzonecheck"), ["-o", "example.com.", file])
        #expect(knot.status == 0, "\(knot.out)\(knot.err)")

        // The registrar's view: one name server per line, with its glue.
        let registrar = try run(binaryPath, ["export", "example.com", "--config", exportCfg, "--format", "registrar"])
        #expect(registrar.out.contains("ns1.example.com.  192.0.2.10  ; line unicom"), "\(registrar.out)")
        #expect(registrar.out.contains("ns2.example.com.  198.51.100.10  ; line cnc"))
        #expect(!registrar.out.contains("warning"))
        let json = try run(
            binaryPath, ["export", "example.com", "--config", exportCfg, "--format", "registrar", "--json"])
        let parsed = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any]
        #expect((parsed?["nameservers"] as? [[String: Any]])?.count == 2)
    }

    @Test func exportOfAVariedZonePassesBothCheckersAndRoundTrips() throws {
        let config = """
            server: {control: "off"}
            zones: [{origin: example.com., file: varied.zone}]
            links:
              - {name: unicom, public: [192.0.2.10, "2001:db8:a::10"]}
              - {name: cnc, public: [198.51.100.10, "2001:db8:b::10"]}
            pools:
              - {name: www.example.com., links: [unicom, cnc], policy: failover, ttl: 30}
            health: {state-dir: state}
            """
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try variedZone.write(to: dir.appendingPathComponent("varied.zone"), atomically: true, encoding: .utf8)
        try config.write(to: dir.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        let export = try run(
            binaryPath,
            ["export", "example.com.", "--config", dir.appendingPathComponent("a.yaml").path, "--addresses", "all"])
        #expect(export.status == 0, "\(export.err)")
        // Every line's addresses, both families, at the pool's TTL (failover would answer with unicom's alone).
        for a in ["A 192.0.2.10", "A 198.51.100.10", "AAAA 2001:db8:a::10", "AAAA 2001:db8:b::10"] {
            #expect(normalizedRecords(export.out).contains("www.example.com. 30 IN \(a)"), "\(a)")
        }
        let file = dir.appendingPathComponent("exported.zone")
        try export.out.write(to: file, atomically: true, encoding: .utf8)
        let named = try run(try tool("named-checkzone"), ["-i", "local", "example.com", file.path])
        #expect(named.status == 0, "\(named.out)\(named.err)")
        let knot = try run(try tool("kzonecheck"), ["-o", "example.com.", file.path])
        #expect(knot.status == 0, "\(knot.out)\(knot.err)")
        // Round trip: the exported file served as a plain zone (no pools) exports to the same text.
        try """
        server: {control: "off"}
        zones: [{origin: example.com., file: exported.zone}]
        health: {state-dir: state2}
        """.write(to: dir.appendingPathComponent("b.yaml"), atomically: true, encoding: .utf8)
        let again = try run(
            binaryPath,
            ["export", "example.com.", "--config", dir.appendingPathComponent("b.yaml").path, "--addresses", "all"])
        #expect(again.status == 0, "\(again.err)")
        #expect(again.out == export.out)
    }

    @Test func aHundredThousandRecordZoneTransfersWhole() throws {
        var zone = try exampleZoneFile
        for i in 0..<100_000 { zone += "h\(i) 300 IN A 198.18.\(i / 256 % 256).\(i % 256)\n" }
        let s = try ServerProcess(files: ["uplinkdns.yaml": transferConfig(), "example.com.zone": zone])
        defer { s.stop() }
        let axfr = try run(
            try tool("dig"),
            ["@127.0.0.1", "-p", "\(s.port)", "+time=20", "+tries=1", "example.com", "AXFR", "-y", tsigSpec],
            timeout: 120)
        #expect(!axfr.out.contains("failed") && !axfr.out.contains("could not be validated"))
        let records = normalizedRecords(axfr.out)
        #expect(records.count == 100_000 + 18, "\(axfr.out.suffix(500))")  // the example zone: 18 records, SOA twice
        #expect(ServerProcess.firstMatch(#"messages (\d+)"#, in: axfr.out).flatMap { Int($0) } ?? 0 > 50)
        // The same records as `export` gives (with no server answering, every line is up, as here).
        try s.write(
            "alone.yaml", transferConfig().replacingOccurrences(of: "server:\n", with: "server:\n  control: off\n"))
        let export = try run(
            binaryPath, ["export", "example.com", "--config", s.dir.appendingPathComponent("alone.yaml").path],
            timeout: 120)
        #expect(export.status == 0, "\(export.err)")
        #expect(recordDifference(normalizedRecords(export.out), records) == nil)
    }

    @Test func aKnotSecondaryTransfersAndFollowsADrainedLine() throws {
        let knotPort = freePort()
        let s = try ServerProcess(
            files: ["uplinkdns.yaml": transferConfig(notify: knotPort), "example.com.zone": try exampleZoneFile])
        defer { s.stop() }
        // Throws, and so fails, when knotd is not installed (`make test` installs the Debian package knot).
        let knot = try KnotSecondary(primary: s.port, in: s.dir, port: knotPort)
        defer { knot.stop() }
        func knotLogText() -> String { knot.logText }
        func knotDig(_ name: String, _ type: String) throws -> Dig { try knot.dig(name, type) }

        // The secondary bootstraps by AXFR (TSIG on) and serves our serial.
        let ours = try #require(try s.dig("example.com", "SOA").soaSerial)
        let synced = try knot.wait(10) { try knot.serial() == ours } != nil
        #expect(synced, "Knot never served serial \(ours); its log:\n\(knotLogText())\nours:\n\(s.log)")
        guard synced else { return }

        // It answers every static name as we do (answers compared as sets: our pool rotates its order).
        let export = try run(
            binaryPath,
            [
                "export", "example.com", "--config", s.dir.appendingPathComponent("uplinkdns.yaml").path,
                "--addresses", "all",
            ])
        var asked = Set<String>()
        for record in normalizedRecords(export.out) {
            let f = record.split(separator: " ")
            let key = "\(f[0]) \(f[3])"
            guard asked.insert(key).inserted else { continue }
            let theirs = try knotDig(String(f[0]), String(f[3]))
            let mine = try s.dig(String(f[0]), String(f[3]))
            #expect(theirs.status == mine.status, "\(key)")
            #expect(Set(theirs.answer) == Set(mine.answer), "\(key): Knot \(theirs.answer) vs ours \(mine.answer)")
            #expect(Set(theirs.authority) == Set(mine.authority), "\(key)")
        }
        #expect(asked.count > 10)

        // Drain cnc: our serial moves, NOTIFY goes out, and the secondary drops the address within 5 s.
        let (status, _) = try httpRequest(
            port: s.controlPort, "POST", "/v1/links/cnc", headers: ["Authorization: Bearer test-token"],
            body: "{\"state\":\"drain\"}")
        #expect(status == 200)
        let start = Date()
        var gone: Double?
        while Date().timeIntervalSince(start) < 5 {
            if !(try knotDig("www.example.com", "A").answer.joined().contains("198.51.100.10")) {
                gone = Date().timeIntervalSince(start)
                break
            }
            usleep(50_000)
        }
        #expect(gone != nil, "Knot still serves cnc's address after 5 s; its log:\n\(knotLogText())\nours:\n\(s.log)")
        #expect(try knotDig("www.example.com", "A").answer.joined().contains("192.0.2.10"))
        #expect(s.waitForLog("NOTIFY example.com. serial \(UInt32(ours)! + 1) to 127.0.0.1:\(knotPort): acknowledged"))
        let (_, metrics) = try httpRequest(port: s.controlPort, "GET", "/metrics")
        #expect(metrics.contains("uplinkdns_zone_serial{zone=\"example.com.\"} \(UInt32(ours)! + 1)"), "\(metrics)")
        #expect(metrics.contains("uplinkdns_transfers_total{outcome=\"axfr\"}"))
        #expect(
            metricValue(
                metrics,
                #"uplinkdns_notify_total{zone="example.com.",secondary="127.0.0.1:\#(knotPort)",result="acknowledged"}"#
            )
                >= 1, "\(metrics)")
        // The secondary's serial as we last saw it: the one its last transfer brought it to.
        #expect(
            metricValue(metrics, #"uplinkdns_secondary_serial{zone="example.com.",secondary="127.0.0.1"}"#)
                == Double(UInt32(ours)! + 1), "\(metrics)")
    }
}
