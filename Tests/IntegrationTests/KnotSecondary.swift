// KnotSecondary: a real Knot DNS secondary (knotd) of example.com. transferring from a running uplinkdns with TSIG,
// in its own directory, for the transfer tests.

import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

final class KnotSecondary {
    let port: UInt16
    let dir: URL
    private var process: Process?
    private let log: URL

    /// Writes the config for a secondary of the primary at 127.0.0.1:`primary` (NOTIFY accepted from it) in
    /// `dir/knot`, listening on `port`, and starts it.
    init(primary: UInt16, in parent: URL, port: UInt16 = freePort()) throws {
        self.port = port
        dir = parent.appendingPathComponent("knot")
        log = dir.appendingPathComponent("knot.log")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try """
        server:
            rundir: "\(dir.path)"
            listen: 127.0.0.1@\(port)
            background-workers: 2
            tcp-workers: 1
            udp-workers: 1
        log:
          - target: stderr
            any: info
        database:
            storage: "\(dir.path)"
        key:
          - id: transfer.example.
            algorithm: hmac-sha256
            secret: \(tsigSecret)
        remote:
          - id: primary
            address: 127.0.0.1@\(primary)
            key: transfer.example.
        acl:
          - id: notify_from_primary
            address: 127.0.0.1
            key: transfer.example.
            action: notify
        zone:
          - domain: example.com.
            storage: "\(dir.path)"
            master: primary
            acl: notify_from_primary
        """.write(to: dir.appendingPathComponent("knot.conf"), atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        try start()
    }

    /// Starts knotd (again: its storage keeps the zone and the serial it had).
    func start() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try tool("knotd"))
        p.arguments = ["-c", dir.appendingPathComponent("knot.conf").path]
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        p.standardError = handle
        p.standardOutput = handle
        try p.run()
        process = p
    }

    func stop() {
        guard let p = process else { return }
        stopByPID(p)
        process = nil
    }

    deinit { stop() }

    var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func dig(_ name: String, _ type: String) throws -> Dig {
        Dig(
            text: try run(
                try tool("dig"), ["@127.0.0.1", "-p", "\(port)", "+norec", "+time=2", "+tries=1", name, type]
            )
            .out)
    }

    /// The serial it serves, if it answers.
    func serial() throws -> String? { try dig("example.com", "SOA").soaSerial }

    /// Waits up to `seconds` for `condition`; the time it took, or nil.
    func wait(_ seconds: Double, until condition: () throws -> Bool) rethrows -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < seconds {
            if try condition() { return Date().timeIntervalSince(start) }
            usleep(20_000)
        }
        return nil
    }
}

extension Dig {
    /// The serial of the SOA in the answer.
    var soaSerial: String? { answer.first?.split(separator: " ").dropFirst(6).first.map(String.init) }
}
