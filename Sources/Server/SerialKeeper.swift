// SerialKeeper: the SOA serial each zone is served with — moved whenever what the zone answers changes (a reload,
// a line going down or up), never backwards (RFC 1982), and persisted so a restart does not go back either.

import DNSWire
import Foundation
import Health
import Synchronization
import Zones

/// Decides and remembers served serials. The scheme (docs/transfer.md):
/// - the first time a zone is served, its file's serial;
/// - while the content (every record but the serial, pools materialised) is unchanged, the same serial — unless the
///   file's serial is greater (RFC 1982), which the operator wrote to force a new version: then the file's;
/// - when the content changes, the greater of the file's serial and the last served one plus 1.
/// The last serial and a fingerprint of its content are kept in `serials.json` in the state directory, written
/// atomically, so a restart with the same content serves the same serial and one with new content moves on.
public final class SerialKeeper: Sendable {
    struct Entry: Codable, Equatable {
        var serial: UInt32
        var fingerprint: String
    }

    private let entries: Mutex<[String: Entry]>
    /// The state file; nil keeps serials in memory only.
    public let path: String?

    /// A keeper persisting in `directory` (nil: memory only), starting from what it saved there.
    public init(directory: String?) {
        path = directory.map { ($0 as NSString).appendingPathComponent("serials.json") }
        var loaded: [String: Entry] = [:]
        if let path, let data = FileManager.default.contents(atPath: path),
            let file = try? JSONDecoder().decode([String: Entry].self, from: data)
        {
            loaded = file
        }
        entries = Mutex(loaded)
    }

    /// The serial to serve for `origin` with this content, and whether it differs from the one served before.
    public func serial(for origin: DomainName, fileSerial: UInt32, fingerprint: UInt64) -> (
        serial: UInt32, changed: Bool
    ) {
        let key = origin.lowercased().description
        let fp = String(fingerprint, radix: 16)
        return entries.withLock { all in
            let previous = all[key]
            var serial = fileSerial
            if let previous {
                if SerialNumber.isGreater(fileSerial, than: previous.serial) {
                    serial = fileSerial
                } else if previous.fingerprint == fp {
                    serial = previous.serial
                } else {
                    serial = previous.serial &+ 1
                }
            }
            let entry = Entry(serial: serial, fingerprint: fp)
            all[key] = entry
            return (serial, previous?.serial != serial)
        }
    }

    /// The serials last decided for `origins` (those never decided are left out: they serve their file's).
    public func current(_ origins: some Sequence<DomainName>) -> [DomainName: UInt32] {
        entries.withLock { all in
            var out: [DomainName: UInt32] = [:]
            for o in origins { if let e = all[o.lowercased().description] { out[o] = e.serial } }
            return out
        }
    }

    /// Writes the serials to the state file (atomically); errors are the caller's to log.
    public func save() throws {
        guard let path else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(entries.withLock { $0 }), to: path)
    }
}
