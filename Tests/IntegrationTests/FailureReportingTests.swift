// FailureReportingTests: a failure is reported as a failure — a change that is live but not saved, a server that is
// not running, a wrong token, a line that does not exist, a state directory that cannot be written — each with a
// clear message and exit code 1 (2 for a command line that does not parse), never a raw JSON body or a usage banner.

import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct FailureReportingTests {
    /// A server with its control API on a port the config names, in a directory the test keeps.
    static func server(_ dir: URL, token: String = "t") throws -> (ServerProcess, String, UInt16) {
        let port = freePort()
        let config = poolConfig.replacingOccurrences(
            of: "server:\n", with: "server:\n  control: 127.0.0.1:\(port)\n  control-token: \(token)\n")
        let files = ["uplinkdns.yaml": config, "example.com.zone": poolZoneText]
        let s = try ServerProcess(files: files, control: nil, directory: dir)
        return (s, dir.appendingPathComponent("uplinkdns.yaml").path, port)
    }

    static func directory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fail-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The state cannot be saved (its file's place is taken by a directory, as a full or broken disk would refuse
    /// it): the drain still applies, the API answers 500 saying so, the CLI says so and exits 1.
    @Test func aChangeThatCannotBeSavedIsLiveAndReportedAsAFailure() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let blocked = dir.appendingPathComponent("state/health.json/blocked")
        try FileManager.default.createDirectory(at: blocked, withIntermediateDirectories: true)
        let (s, cfg, port) = try Self.server(dir)
        defer { s.stop() }
        let (status, body) = try httpRequest(
            port: port, "POST", "/v1/links/cnc", headers: ["Authorization: Bearer t"], body: "{\"state\":\"drain\"}")
        #expect(status == 500 && body.contains("\"applied\" : true") && body.contains("will not survive a restart"))
        #expect(try s.dig("fo.example.com", "+short").text.split(separator: "\n") == ["192.0.2.10"])
        let r = try run(binaryPath, ["link", "cnc", "auto", "--config", cfg])
        #expect(r.status == 1, "\(r.out)\(r.err)")
        #expect(r.err.contains("error: the change is live but will not survive a restart"), "\(r.err)")
        #expect(!r.err.contains("{") && !r.err.contains("USAGE"), "\(r.err)")
        #expect(try s.dig("fo.example.com", "+short").text.contains("198.51.100.10"))
    }

    /// Issue 25: after a reload refused a mistake, `status` said nothing and `status --check` exited 0. The failure
    /// stays in view, with its first error at file:line, until a reload succeeds.
    @Test func aFailedReloadStaysInViewUntilOneSucceeds() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (s, cfg, _) = try Self.server(dir)
        defer { s.stop() }
        let good = try String(contentsOfFile: cfg, encoding: .utf8)
        try good.replacingOccurrences(of: "links:\n", with: "links:\n  - {name: bad, public: [192.0.2.300]}\n")
            .write(toFile: cfg, atomically: true, encoding: .utf8)
        let reload = try run(binaryPath, ["reload", "--config", cfg])
        #expect(reload.status == 1, "\(reload.out)\(reload.err)")
        // The command line reads what it can of the broken file to reach the server.
        let status = try run(binaryPath, ["status", "--config", cfg])
        #expect(
            status.out.contains("last reload FAILED at ") && status.out.contains("uplinkdns.yaml:"), "\(status.out)")
        let check = try run(binaryPath, ["status", "--check", "--config", cfg])
        #expect(check.status == 1, "\(check.out)\(check.err)")
        // The same as JSON (issue 25: `zones` and `stats` had --json, `status` had not).
        let json = try run(binaryPath, ["status", "--json", "--config", cfg])
        let parsed = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any]
        let reloadState = parsed?["reload"] as? [String: Any]
        #expect(reloadState?["last_successful"] as? Bool == false, "\(json.out)")
        try good.write(toFile: cfg, atomically: true, encoding: .utf8)
        #expect(try run(binaryPath, ["reload", "--config", cfg]).status == 0)
        let after = try run(binaryPath, ["status", "--check", "--config", cfg])
        #expect(after.status == 0 && !after.out.contains("FAILED"), "\(after.out)\(after.err)")
    }

    @Test func cliErrorsSayWhatFailed() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (s, cfg, port) = try Self.server(dir)
        let noLink = try run(binaryPath, ["link", "nope", "drain", "--config", cfg])
        #expect(noLink.status == 1 && noLink.err.contains("no link 'nope' (links: unicom, cnc)"), "\(noLink.err)")
        #expect(!noLink.err.contains("USAGE"), "\(noLink.err)")
        let usage = try run(binaryPath, ["link", "cnc", "sideways", "--config", cfg])
        #expect(usage.status == 2 && usage.err.contains("'drain', 'force-up', 'force-down' or 'auto'"), "\(usage.err)")

        // A wrong token: 401, said as such.
        let other = dir.appendingPathComponent("other.yaml")
        try (try String(contentsOfFile: cfg, encoding: .utf8)).replacingOccurrences(
            of: "control-token: t", with: "control-token: wrong"
        ).write(to: other, atomically: true, encoding: .utf8)
        let denied = try run(binaryPath, ["link", "cnc", "drain", "--config", other.path])
        #expect(denied.status == 1 && denied.err.contains("refused the token (401)"), "\(denied.err)")

        // status --check for monitoring: 0 with every line in answers, 1 with one drained (every pool has another).
        #expect(try run(binaryPath, ["status", "--check", "--config", cfg]).status == 0)
        #expect(try run(binaryPath, ["link", "cnc", "drain", "--config", cfg]).status == 0)
        let degraded = try run(binaryPath, ["status", "--check", "--config", cfg])
        #expect(degraded.status == 1 && degraded.out.contains("drained"), "\(degraded.out)\(degraded.err)")

        // No server: the connection is refused, and the message asks whether the server runs.
        s.stop()
        for command in [["status"], ["link", "cnc", "drain"], ["reload"]] {
            let r = try run(binaryPath, command + ["--config", cfg])
            #expect(r.status == 1, "\(command): \(r.out)\(r.err)")
            #expect(
                r.err.contains("the control API at 127.0.0.1:\(port) refused the connection: is the server running?"),
                "\(command): \(r.err)")
        }
    }

    /// Issue 25: `export nosuch.test` printed the raw JSON body of a 404. Every command's error is one sentence on
    /// standard error that says what is wrong (and what there is), with exit 1: never a JSON body, never a usage
    /// banner.
    @Test func everyCommandsErrorIsASentence() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (s, cfg, _) = try Self.server(dir)
        defer { s.stop() }
        let wrongToken = dir.appendingPathComponent("other.yaml")
        try (try String(contentsOfFile: cfg, encoding: .utf8)).replacingOccurrences(
            of: "control-token: t", with: "control-token: wrong"
        ).write(to: wrongToken, atomically: true, encoding: .utf8)
        let cases: [(args: [String], config: String, says: String)] = [
            (["export", "nosuch.test"], cfg, "error: no zone 'nosuch.test.' is served here (zones: example.com.)"),
            (
                ["export", "nosuch.test", "--format", "registrar"], cfg,
                "error: no zone 'nosuch.test.' is served here (zones: example.com.)"
            ),
            (["export", "example.com"], wrongToken.path, "refused the token (401)"),
            (["export", "bad..name"], cfg, "error: 'bad..name' is not a domain name"),
            (["keys", "nosuch.test"], cfg, "error: nosuch.test. is not a zone in \(cfg) (zones: example.com.)"),
            (["keys", "example.com"], cfg, "error: example.com. is not signed: set zones[].dnssec in"),
            (["status", "nosuch"], cfg, "error: no link 'nosuch' (links: unicom, cnc)"),
            (["link", "nosuch", "drain"], cfg, "error: no link 'nosuch' (links: unicom, cnc)"),
            (["link", "cnc", "drain", "--for", "0"], cfg, "error: for: a duration such as 30s"),
            (["querylog", "on", "--for", "soon"], cfg, "error: for: with on, a duration such as 30s"),
            (["routing", "--for", "firewall:nosuch"], cfg, "error: no link 'nosuch' (links: unicom, cnc)"),
            (["routing", "--for", "director"], cfg, "error: \(cfg) has no director services"),
            (
                ["routing", "--for", "real-server:198.18.1.99"], cfg,
                "error: no real server '198.18.1.99' (there are none)"
            ),
            (["zones"], wrongToken.path, ""),  // reading needs no token: it works
        ]
        for c in cases {
            let r = try run(binaryPath, c.args + ["--config", c.config])
            if c.says.isEmpty {
                #expect(r.status == 0, "\(c.args): \(r.err)")
                continue
            }
            #expect(r.status == 1, "\(c.args): \(r.out)\(r.err)")
            #expect(r.err.contains(c.says), "\(c.args): \(r.err)")
            #expect(!r.err.contains("{") && !r.err.contains("USAGE") && r.out.isEmpty, "\(c.args): \(r.out)\(r.err)")
        }
        // With no server answering, export reads the files: the zone is not one of theirs, said the same way.
        s.stop()
        let offline = try run(binaryPath, ["export", "nosuch.test", "--config", cfg])
        #expect(offline.status == 1 && offline.err.contains("error: nosuch.test. is not a zone in"), "\(offline.err)")
        #expect(!offline.err.contains("{"), "\(offline.err)")
    }

    @Test func aStateDirectoryThatCannotBeMadeFailsCheckAndServeClearly() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The state directory's place is taken by a file.
        try "not a directory\n".write(to: dir.appendingPathComponent("state"), atomically: true, encoding: .utf8)
        try poolConfig.write(to: dir.appendingPathComponent("uplinkdns.yaml"), atomically: true, encoding: .utf8)
        try poolZoneText.write(to: dir.appendingPathComponent("example.com.zone"), atomically: true, encoding: .utf8)
        let cfg = dir.appendingPathComponent("uplinkdns.yaml").path
        for args in [["check", "--config", cfg], ["serve", "--config", cfg, "--listen", "127.0.0.1:0"]] {
            let command = args[0]
            let r = try run(binaryPath, args)
            #expect(r.status == 1, "\(command): \(r.out)\(r.err)")
            #expect(r.err.contains("health.state-dir") && r.err.contains("cannot be made"), "\(command): \(r.err)")
            #expect(!r.err.contains("NSCocoaErrorDomain"), "\(command): \(r.err)")
        }
    }
}

/// Whether a test can mount a small tmpfs of its own (root with the right to mount, as here and in CI).
let canMountTmpfs: Bool = {
    guard getuid() == 0, let mount = try? tool("mount"), let umount = try? tool("umount") else { return false }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mount-check-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    guard (try? run(mount, ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir.path]))?.status == 0 else { return false }
    _ = try? run(umount, [dir.path])
    return true
}()

@Suite(.serialized) struct FullStateDirectoryTests {
    /// The state directory is a small file system, filled up while the server runs: a drain still applies, the API
    /// and the CLI say it will not survive a restart, and after kill -9 the served serial is not lower (serials are
    /// kept in space reserved when the file was made).
    @Test(.enabled(if: canMountTmpfs, "needs to mount a small tmpfs (root) to make a full state directory"))
    func aFullStateDirectoryIsReportedAndTheSerialNeverGoesBack() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("full-\(UUID().uuidString)")
        let state = dir.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        #expect(try run(try tool("mount"), ["-t", "tmpfs", "-o", "size=512k", "tmpfs", state.path]).status == 0)
        defer {
            _ = try? run(try tool("umount"), [state.path])
            try? FileManager.default.removeItem(at: dir)
        }
        let port = freePort()
        let config = poolConfig.replacingOccurrences(
            of: "server:\n", with: "server:\n  control: 127.0.0.1:\(port)\n  control-token: t\n")
        let files = ["uplinkdns.yaml": config, "example.com.zone": poolZoneText]
        var s = try ServerProcess(files: files, control: nil, directory: dir)
        func serial() throws -> UInt32 {
            UInt32(try #require(try s.dig("example.com", "SOA").answer.first?.split(separator: " ")[6])) ?? 0
        }
        let before = try serial()
        // Fill the file system (dd stops at "No space left on device").
        _ = try run(try tool("dd"), ["if=/dev/zero", "of=\(state.path)/filler", "bs=4096"], timeout: 30)
        let (status, body) = try httpRequest(
            port: port, "POST", "/v1/links/cnc", headers: ["Authorization: Bearer t"], body: "{\"state\":\"drain\"}")
        #expect(status == 500 && body.contains("will not survive a restart"), "\(status) \(body)")
        #expect(body.contains("No space left on device"), "\(body)")
        #expect(try s.dig("fo.example.com", "+short").text.split(separator: "\n") == ["192.0.2.10"])
        let drained = try serial()
        #expect(SerialNumber.isGreater(drained, than: before), "\(before) → \(drained)")

        kill(s.process.processIdentifier, SIGKILL)
        s.process.waitUntilExit()
        s = try ServerProcess(files: files, control: nil, directory: dir)
        defer { s.stop() }
        #expect(s.log.contains("is not writable"), "\(s.log)")
        let after = try serial()
        // The drain could not be saved, so it is gone: new content, a newer serial — never an older one.
        #expect(after == drained || SerialNumber.isGreater(after, than: drained), "\(drained) → \(after)")
    }
}

/// RFC 1982 serial comparison, as the server does it.
enum SerialNumber {
    static func isGreater(_ a: UInt32, than b: UInt32) -> Bool {
        (a < b && b - a > 0x8000_0000) || (a > b && a - b < 0x8000_0000)
    }
}
