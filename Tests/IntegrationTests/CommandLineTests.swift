// CommandLineTests: the command line's contract — exit 2 only for a command line that does not parse, 1 for what
// fails while running; and `reload` waits as long as the reload takes, shows it on a terminal, and says so when the
// server stops answering meanwhile.

import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct CommandLineTests {
    /// A directory with the pool config (its control API on a port it names, token `t`) and its zone.
    static func files(_ port: UInt16) -> [String: String] {
        let config = poolConfig.replacingOccurrences(
            of: "server:\n", with: "server:\n  control: 127.0.0.1:\(port)\n  control-token: t\n")
        return ["uplinkdns.yaml": config, "example.com.zone": poolZoneText]
    }

    static func directory(_ files: [String: String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, text) in files {
            try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        return dir
    }

    /// Issue 25: `check` counted 8 names where `serve` counted 9 for the same zone. Both say the same count, and
    /// what it counts (the names of the zone files, and those the pools add); a reload says it too.
    @Test func checkAndServeSayTheSameNameCount() throws {
        let dir = try Self.directory(Self.files(freePort()))
        defer { try? FileManager.default.removeItem(at: dir) }
        let cfg = dir.appendingPathComponent("uplinkdns.yaml").path
        let check = try run(binaryPath, ["check", "--config", cfg])
        let counted = ServerProcess.firstMatch(#"1 zone\(s\), (\d+ names \([^)]*\))"#, in: check.out)
        // poolZoneText: apex, ns1, ftp; the pools www, sticky and fo.
        #expect(counted == "6 names (3 in the zone files, 3 added by the pools)", "\(check.out)\(check.err)")
        let s = try ServerProcess(files: [:], control: nil, directory: dir)
        defer { s.stop() }
        #expect(s.log.contains("loaded 1 zone(s), \(counted ?? "?") in "), "\(s.log)")
        #expect(try run(binaryPath, ["reload", "--config", cfg]).status == 0)
        #expect(s.waitForLog("reloaded: 1 zone(s), \(counted ?? "?") ("), "\(s.log)")
    }

    @Test func onlyACommandLineThatDoesNotParseExitsTwo() throws {
        let dir = try Self.directory(Self.files(freePort()))
        defer { try? FileManager.default.removeItem(at: dir) }
        let cfg = dir.appendingPathComponent("uplinkdns.yaml").path
        // Runtime errors: what the config or the zone name turn out to be is known only when running.
        let noLine = try run(binaryPath, ["routing", "--for", "firewall:NOSUCH", "--config", cfg])
        #expect(noLine.status == 1 && noLine.err.contains("error: no link 'NOSUCH' (links: unicom, cnc)"), "\(noLine)")
        #expect(!noLine.err.contains("Usage"), "\(noLine.err)")
        for command in [["export", "a..b"], ["keys", "a..b"]] {
            let r = try run(binaryPath, command + ["--config", cfg])
            #expect(r.status == 1 && r.err.contains("error: 'a..b' is not a domain name"), "\(command): \(r)")
        }
        // Usage errors: 2, with ArgumentParser's message.
        for command in [
            ["routing", "--for", "sideways"], ["routing", "--format", "pf"],
            [
                "routing", "--for", "firewall:cnc",
                "--format", "iproute2",
            ], ["routing", "--apply", "--for", "firewall:cnc"], ["routing", "--for", "gateway", "--format", "nft"],
            ["routing", "--check", "--for", "gateway"],
            [
                "export", "example.com",
                "--format", "csv",
            ], ["export", "example.com", "--addresses", "some"], ["link", "cnc", "sideways"],
            ["querylog", "maybe"], ["serve", "--log-level", "loud"], ["drill", "--server", "nowhere"],
            ["nosuchcommand"],
        ] {
            let r = try run(binaryPath, command + ["--config", cfg])
            #expect(r.status == 2 && r.err.contains("Usage"), "\(command): \(r)")
        }
        // The choices are listed from the enums.
        for args in [["export", "--help"], ["help", "export"]] {
            let help = try run(binaryPath, args)
            #expect(help.status == 0 && help.out.contains("registrar"), "\(args): \(help)")
        }
    }

    /// Issue 26: `routing --for gateway` deals the groups of a line out of the running server's answers to the lines
    /// in answers; with no server answering, every line counts as in answers.
    @Test func gatewayGroupsFollowTheRunningServersLinesInAnswers() throws {
        let port = freePort()
        var files = Self.files(port)
        files["uplinkdns.yaml"] = files["uplinkdns.yaml"]!
            .replacingOccurrences(
                of: "bandwidth: 2mbit",
                with: "bandwidth: 2mbit\n    inside: 198.18.168.1/24\n    gateway: 198.18.168.11\n"
                    + "    interface: eth1\n    table: 1"
            )
            .replacingOccurrences(
                of: "bandwidth: 512kbit",
                with: "bandwidth: 512kbit\n    inside: 198.18.168.2/24\n    gateway: 198.18.168.12\n"
                    + "    interface: eth2\n    table: 2")
        let dir = try Self.directory(files)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cfg = dir.appendingPathComponent("uplinkdns.yaml").path
        let alone = try run(binaryPath, ["routing", "--for", "gateway", "--config", cfg])
        #expect(alone.status == 0 && alone.out.contains("# Groups of 256 by line: unicom 205, cnc 51."), "\(alone)")
        #expect(
            alone.out.contains("ip rule add fwmark 2 table 2 priority 2002") && !alone.out.contains("Out of answers"))
        let s = try ServerProcess(files: files, control: nil)
        defer { s.stop() }
        let running = s.dir.appendingPathComponent("uplinkdns.yaml").path
        let drain = try run(binaryPath, ["link", "unicom", "drain", "--force", "--config", running])
        #expect(drain.status == 0, "\(drain)")
        let drained = try run(binaryPath, ["routing", "--for", "gateway", "--config", running])
        #expect(drained.status == 0 && drained.out.contains("# Out of answers now: unicom; their groups go to cnc."))
        #expect(drained.out.contains("map { 0-255 : 2 }") && drained.out.contains("unicom 0, cnc 256"), "\(drained)")
        // The server script without routing.apply keeps the boot-time route: the server does not follow.
        let server = try run(binaryPath, ["routing", "--for", "server", "--config", running])
        #expect(
            server.out.contains("ip route replace default nexthop via 198.18.168.11 dev eth1 weight 4"), "\(server)")
    }

    /// A reload that takes longer than 10 s (as a large signed zone's does; here the server's test-only
    /// UPLINKDNS_TEST_RELOAD_DELAY) is waited for: exit 0 once it serves, the seconds shown on a terminal. It gave up
    /// after 10 s with exit 1 while the reload went on, and so `systemctl reload` failed.
    @Test func reloadWaitsAsLongAsTheReloadTakes() throws {
        let port = freePort()
        let s = try ServerProcess(
            files: Self.files(port), control: nil, environment: ["UPLINKDNS_TEST_RELOAD_DELAY": "12"])
        defer { s.stop() }
        let cfg = s.dir.appendingPathComponent("uplinkdns.yaml").path
        // On a terminal (script(1) gives it one): the seconds so far, on stderr.
        let command = "\(binaryPath) reload --config \(cfg)"
        let tty = try run("/usr/bin/script", ["-qefc", command, "/dev/null"], timeout: 60)
        #expect(tty.status == 0, "\(tty)")
        #expect(tty.out.contains("reloading: 1 s") && tty.out.contains("reloaded: generation"), "\(tty.out)")
        // Past the 10 s it gave up at (a second's wake-up can be late on a busy machine: any of the last three).
        #expect(["10", "11", "12"].contains { tty.out.contains("reloading: \($0) s") }, "\(tty.out)")
        // Not on a terminal (systemd): no progress, the outcome alone.
        let plain = try run(binaryPath, ["reload", "--config", cfg], timeout: 60)
        #expect(plain.status == 0 && plain.out.contains("reloaded: generation"), "\(plain)")
        #expect(!plain.err.contains("reloading:"), "\(plain.err)")
    }

    /// Starts `uplinkdns ARGS` and returns it running, with its output collected.
    static func start(_ args: [String]) throws -> (Process, DataBox, DataBox) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binaryPath)
        p.arguments = args
        let (out, err) = (Pipe(), Pipe())
        (p.standardOutput, p.standardError) = (out, err)
        let (o, e) = (DataBox(), DataBox())
        out.fileHandleForReading.readabilityHandler = { o.append($0.availableData) }
        err.fileHandleForReading.readabilityHandler = { e.append($0.availableData) }
        try p.run()
        return (p, o, e)
    }

    static func wait(_ p: Process, _ seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        return !p.isRunning
    }

    /// While `reload` waits, the server stops answering (stopped: SIGSTOP) or goes away (killed): the command says
    /// so and exits 1 within seconds, rather than waiting forever.
    @Test func reloadSaysSoWhenTheServerStopsAnswering() throws {
        let port = freePort()
        let s = try ServerProcess(
            files: Self.files(port), control: nil, environment: ["UPLINKDNS_TEST_RELOAD_DELAY": "60"])
        defer { s.stop() }
        let cfg = s.dir.appendingPathComponent("uplinkdns.yaml").path
        let (hung, _, hungErr) = try Self.start(["reload", "--config", cfg])
        usleep(1_500_000)
        s.signal(SIGSTOP)
        #expect(Self.wait(hung, 20), "reload kept waiting for a server that does not answer")
        s.signal(SIGCONT)
        #expect(hung.terminationStatus == 1)
        #expect(hungErr.text.contains("error: the server at 127.0.0.1:\(port) stopped answering"), "\(hungErr.text)")

        let (gone, _, goneErr) = try Self.start(["reload", "--config", cfg])
        usleep(1_500_000)
        s.signal(SIGKILL)
        #expect(Self.wait(gone, 10), "reload kept waiting for a server that exited")
        #expect(gone.terminationStatus == 1)
        #expect(goneErr.text.contains("closed the connection without an answer"), "\(goneErr.text)")
    }
}
