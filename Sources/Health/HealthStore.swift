// HealthStore: the lines' health persisted atomically, so a crash or kill -9 keeps drains and states.

import Foundation

/// Reads and writes the health of every line as JSON in the state directory. A write goes to a temporary file in
/// the same directory, is fsynced, then renamed over the old file (rename is atomic on POSIX), so a crash at any
/// point leaves either the old state or the new one, never a torn file: at most the transition in flight is lost.
public struct HealthStore: Sendable {
    /// The state file.
    public let path: String

    /// A store in `directory` (created if missing), in `file` (the lines' `health.json`; the director's real servers
    /// keep theirs apart).
    public init(directory: String, file: String = "health.json") {
        path = (directory as NSString).appendingPathComponent(file)
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
        guard fd >= 0 else { throw FileWriteError(tmp) }
        let ok = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == data.count && fsync(fd) == 0
        let failure = ok ? nil : FileWriteError(tmp)
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            let error = failure ?? FileWriteError(path)
            unlink(tmp)
            throw error
        }
        // The rename itself is made durable by syncing the directory.
        let dfd = open(dir, O_RDONLY)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}

/// Why a state file could not be written.
public struct FileWriteError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }

    init(_ path: String) {
        self.path = path
        reason = String(cString: strerror(errno))
    }
}

/// A small state file rewritten in place, in space reserved for it when it was made: saving needs no new disk
/// blocks, so it keeps working on a full file system, where writing a temporary file and renaming it fails. A
/// `kill -9` cannot tear it (one `pwrite` of a regular file completes or does not start); the content is padded
/// with spaces to the file's size.
public enum InPlaceFile {
    /// The space reserved (and the granule it grows by).
    public static let reserve = 65536

    /// Writes `data` at the start of `path` (made with `reserve` octets allocated if missing), fsynced.
    public static func write(_ data: Data, to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let fd = open(path, O_WRONLY | O_CREAT, 0o644)
        guard fd >= 0 else { throw FileWriteError(path) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileWriteError(path) }
        var size = Int(st.st_size)
        var grown = false
        if data.count > size || size < reserve {
            // Room first (the only step that needs free blocks): a full disk fails here, the old content intact.
            let want = (data.count / reserve + 1) * reserve
            let rc = posix_fallocate(fd, 0, off_t(want))
            guard rc == 0 else {
                errno = rc
                throw FileWriteError(path)
            }
            size = want
            grown = true
        }
        // The content, then spaces over what is left of the longer content before it (not the whole reserve: the
        // shorter the write, the smaller the window in which a crash could leave it part old, part new).
        // Just grown: spaces over all of it (the allocation is zeros, which JSON readers refuse).
        let old = grown ? size : InPlaceFile.read(path)?.count ?? size
        var buffer = [UInt8](data)
        buffer += [UInt8](repeating: 0x20, count: max(0, min(size, max(old, data.count)) - buffer.count))
        let written = buffer.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        guard written == buffer.count, fsync(fd) == 0 else { throw FileWriteError(path) }
    }

    /// The content of `path` without its padding, or nil.
    public static func read(_ path: String) -> Data? {
        guard var data = FileManager.default.contents(atPath: path) else { return nil }
        while let last = data.last, last == 0x20 || last == 0 || last == 0x0A { data.removeLast() }
        return data
    }
}
