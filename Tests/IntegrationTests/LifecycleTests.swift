// LifecycleTests: the command line, the shipped example, reloads that swap or keep the snapshot.

import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct LifecycleTests {
    @Test func theShippedExampleAnswersWwwWithBothLines() throws {
        let config = packageRoot.appendingPathComponent("config/uplinkdns.yaml").path
        let zone = try String(
            contentsOfFile: packageRoot.appendingPathComponent("zones/example.com.zone").path, encoding: .utf8)
        let text = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(
            of: "../zones/example.com.zone", with: "example.com.zone")
        let s = try ServerProcess(files: ["uplinkdns.yaml": text, "example.com.zone": zone])
        defer { s.stop() }
        #expect(s.log.contains("listening on udp 127.0.0.1:\(s.port)"))
        let d = try s.dig("www.example.com", "A")
        #expect(
            d.flags.contains("aa")
                && Set(d.answer.map { $0.split(separator: " ").last! }) == ["192.0.2.10", "198.51.100.10"])
        #expect(try run(binaryPath, ["check", "--config", config]).status == 0)
    }

    @Test func servesIPv4AndIPv6AddressesOverUDPAndTCP() throws {
        let s = try ServerProcess(
            files: ["uplinkdns.yaml": itConfig, "example.com.zone": itZone],
            listen: ["127.0.0.1:0", "[::1]:0"])
        defer { s.stop() }
        let v6port = try #require(ServerProcess.firstMatch(#"listening on udp \[::1\]:(\d+)"#, in: s.log))
        #expect(s.log.contains("listening on tcp [::1]:\(v6port)"))
        for transport in ["+notcp", "+tcp"] {
            let r = try run(
                try tool("dig"),
                [
                    "@::1", "-p", v6port, "+norec", "+time=2", "+tries=1", transport,
                    "www.example.com",
                ])
            #expect(Dig(text: r.out).status == "NOERROR" && Dig(text: r.out).answer.count == 2, "\(r.out)")
        }
    }

    @Test func checkReportsEveryErrorWithFileAndLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try
            "$ORIGIN example.com.\n@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\nx IN CNAME ns1\nx IN A 192.0.2.2\n"
            .write(to: dir.appendingPathComponent("bad.zone"), atomically: true, encoding: .utf8)
        try "zones:\n  - origin: example.com.\n    file: bad.zone\n"
            .write(to: dir.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        let r = try run(binaryPath, ["check", "--config", dir.appendingPathComponent("c.yaml").path])
        #expect(r.status == 1)
        #expect(r.err.contains("bad.zone:5: x.example.com. has a CNAME and other data"), "\(r.err)")
        try "server:\n  lisen: []\nzones: []\n".write(
            to: dir.appendingPathComponent("c2.yaml"), atomically: true, encoding: .utf8)
        let r2 = try run(binaryPath, ["check", "--config", dir.appendingPathComponent("c2.yaml").path])
        #expect(r2.status == 1 && r2.err.contains("c2.yaml:2: unknown key 'lisen'"), "\(r2.err)")
    }

    @Test func versionAndHelp() throws {
        #expect(try run(binaryPath, ["--version"]).out.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        let help = try run(binaryPath, ["--help"]).out
        #expect(help.contains("serve") && help.contains("check") && help.contains("reload"))
        #expect(try run(binaryPath, ["serve", "--help"]).out.contains("--listen"))
    }

    @Test func sighupSwapsInANewZoneAndABrokenOneKeepsTheOld() throws {
        let zone = itZone
        let s = try ServerProcess(files: ["uplinkdns.yaml": itConfig, "example.com.zone": zone])
        defer { s.stop() }
        #expect(try s.dig("mail.example.com").answer == ["mail.example.com. 3600 IN A 192.0.2.25"])
        try s.write("example.com.zone", zone.replacingOccurrences(of: "192.0.2.25", with: "192.0.2.26"))
        s.signal(SIGHUP)
        #expect(s.waitForLog("reloaded: 1 zone(s)"))
        #expect(try s.dig("mail.example.com").answer == ["mail.example.com. 3600 IN A 192.0.2.26"])

        try s.write("example.com.zone", zone + "\nbroken IN A 999.1.1.1\n")
        s.signal(SIGHUP)
        #expect(s.waitForLog("reload failed"))
        #expect(
            s.log.contains(
                "example.com.zone:\(zone.split(separator: "\n", omittingEmptySubsequences: false).count + 1):"),
            "\(s.log)")
        #expect(try s.dig("mail.example.com").answer == ["mail.example.com. 3600 IN A 192.0.2.26"])
        #expect(try s.dig("broken.example.com").status == "NXDOMAIN")
    }

    @Test func reloadCommandSignalsThroughThePidFile() throws {
        let config = itConfig.replacingOccurrences(
            of: "server:\n", with: "server:\n  pid-file: uplinkdns.pid\n  control: \"off\"\n")
        let s = try ServerProcess(files: ["uplinkdns.yaml": config, "example.com.zone": itZone], control: nil)
        defer { s.stop() }
        let r = try run(binaryPath, ["reload", "--config", s.dir.appendingPathComponent("uplinkdns.yaml").path])
        #expect(r.status == 0, "\(r.err)")
        #expect(s.waitForLog("reloaded: 1 zone(s)"))
    }

    @Test func aBrokenZoneAtStartIsAnErrorNotAnEmptyServer() throws {
        #expect(throws: HarnessError.self) {
            _ = try ServerProcess(files: ["uplinkdns.yaml": itConfig, "example.com.zone": "garbage here\n"])
        }
    }
}
