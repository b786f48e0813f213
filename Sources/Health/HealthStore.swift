// HealthStore: the lines' health persisted atomically, so a crash or kill -9 keeps drains and states.

import Foundation

/// Reads and writes the health of every line as JSON in the state directory. A write goes to a temporary file in
/// the same directory, is fsynced, then renamed over the old file (rename is atomic on POSIX), so a crash at any
/// point leaves either the old state or the new one, never a torn file: at most the transition in flight is lost.
public struct HealthStore: Sendable {
    /// The state file.
    public let path: String

    /// A store in `directory` (created if missing).
    public init(directory: String) {
        path = (directory as NSString).appendingPathComponent("health.json")
    }

    struct File: Codable {
        var version = 1
        var written: Date
        var links: [LinkHealth]
    }

    /// Writes the states atomically.
    public func save(_ links: [LinkHealth], at now: Date) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try AtomicFile.write(try encoder.encode(File(written: now, links: links)), to: path)
    }

    /// The saved states if the file exists, parses and is not older than `maxAge`; else nil.
    public func load(maxAge: TimeInterval, at now: Date) -> [LinkHealth]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let file = try? decoder.decode(File.self, from: data), now.timeIntervalSince(file.written) <= maxAge
        else { return nil }
        return file.links
    }
}

/// Crash-safe file replacement for state files.
public enum AtomicFile {
    /// Writes `data` to a temporary file in the same directory (created if missing), fsyncs it, renames it over
    /// `path` (atomic on POSIX) and syncs the directory: a crash at any point leaves the old file or the new one.
    public static func write(_ data: Data, to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let tmp = path + ".tmp-\(getpid())-\(UUID().uuidString.prefix(8))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: tmp]) }
        let ok = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == data.count && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            unlink(tmp)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        // The rename itself is made durable by syncing the directory.
        let dfd = open(dir, O_RDONLY)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}
