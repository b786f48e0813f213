// GdnsdServer: a real gdnsd (3.x) in its own directory on a free loopback port, for the differential tests: its
// config, zones, geoip `nets` file and admin_state live there; it is started and stopped by PID.

import Foundation
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Whether gdnsd is installed (`make test` installs it; the tests that need it skip without it).
let gdnsdInstalled = (try? tool("gdnsd")) != nil

final class GdnsdServer {
    let dir: URL
    let port: UInt16
    private let process = Process()
    private let log: URL

    /// Writes `config` (gdnsd's `config`, with `@PORT@` and `@DIR@` replaced), `zones` (file name → text, in zones/)
    /// and `geoip` (file name → text, in geoip/), and starts `gdnsd -c DIR start`; returns once it answers `probe`.
    init(config: String, zones: [String: String], geoip: [String: String], probe: [UInt8]) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("gdnsd-it-\(UUID().uuidString)")
        port = freePort()
        log = dir.appendingPathComponent("gdnsd.log")
        for sub in ["zones", "geoip", "state", "run"] {
            try FileManager.default.createDirectory(
                at: dir.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        try config.replacingOccurrences(of: "@PORT@", with: "\(port)").replacingOccurrences(of: "@DIR@", with: dir.path)
            .write(to: dir.appendingPathComponent("config"), atomically: true, encoding: .utf8)
        for (name, text) in zones {
            try text.write(to: dir.appendingPathComponent("zones/\(name)"), atomically: true, encoding: .utf8)
        }
        for (name, text) in geoip {
            try text.write(to: dir.appendingPathComponent("geoip/\(name)"), atomically: true, encoding: .utf8)
        }
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: try tool("gdnsd"))
        process.arguments = ["-c", dir.path, "start"]
        let handle = try FileHandle(forWritingTo: log)
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, process.isRunning {
            if udpExchange(port: port, probe, timeout: 0.2) != nil { return }
        }
        let text = logText
        stop()
        throw HarnessError(description: "gdnsd did not start; its log:\n\(text)")
    }

    var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// Replaces the admin_state file (gdnsd watches it and applies it within a few seconds).
    func adminState(_ text: String) throws {
        try text.write(
            to: dir.appendingPathComponent("state/admin_state"), atomically: true, encoding: .utf8)
    }

    /// Stops gdnsd by its PID and removes its directory.
    func stop() {
        stopByPID(process)
        try? FileManager.default.removeItem(at: dir)
    }

    deinit { stop() }
}
