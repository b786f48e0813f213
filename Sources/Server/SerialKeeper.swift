// SerialKeeper: the SOA serial each zone is served with — moved whenever what the zone answers changes (a reload,
// a line going down or up), never backwards (RFC 1982), and persisted so a restart does not go back either.

import DNSWire
import Foundation
import Health
import Synchronization
import Zones

/// How a zone's served serial moves (`zones[].serial-policy`, as Knot's `serial-policy`).
public enum SerialPolicy: String, Sendable, Equatable, CaseIterable {
    /// Last served + 1; first served: the file's serial, as NSD and Knot serve it. The default. Kept in
    /// `serials.json`, which is written in reserved space (a full disk does not stop it); a lost state directory
    /// starts again from the file's serial.
    case increment
    /// At least the time of the change in seconds since 1970 (RFC 1982 greater), so it goes forward across restarts
    /// without any state. For zone files whose serial is below the current time (not `YYYYMMDDnn`, which is above).
    case unixtime
    /// At least today's `YYYYMMDD00` (UTC): goes forward across restarts without any state as long as fewer than a
    /// hundred changes are served in a day (`serials.json` covers the rest).
    case dateserial
}

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
        if let path, let data = InPlaceFile.read(path), !data.isEmpty {
            if let file = try? JSONDecoder().decode([String: Entry].self, from: data) {
                loaded = file
            } else {
                // Said, not silently forgotten: the next serials start from the files' and the policies' floors.
                FileHandle.standardError.write(
                    Data("warning: \(path) cannot be read back (damaged): served serials start anew\n".utf8))
            }
        }
        entries = Mutex(loaded)
    }

    /// The least serial `policy` serves at `now`, if it has one.
    static func floor(_ policy: SerialPolicy, at now: Date) -> UInt32? {
        switch policy {
        case .increment:
            return nil
        case .unixtime:
            return UInt32(clamping: Int64(now.timeIntervalSince1970))
        case .dateserial:
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let d = calendar.dateComponents([.year, .month, .day], from: now)
            return UInt32((d.year! * 10000 + d.month! * 100 + d.day!) * 100)
        }
    }

    /// The greatest of `serials` in RFC 1982 order.
    static func greatest(_ serials: [UInt32]) -> UInt32 {
        serials.dropFirst().reduce(serials[0]) { SerialNumber.isGreater($1, than: $0) ? $1 : $0 }
    }

    /// The serial to serve for `origin` with this content, and whether it differs from the one served before.
    /// `policy` adds its floor (`floor`) where a serial is chosen anew: the first time a zone is served, and when
    /// its content changes; the same content keeps the same serial.
    public func serial(
        for origin: DomainName, fileSerial: UInt32, fingerprint: UInt64, policy: SerialPolicy = .increment,
        now: Date = Date()
    ) -> (serial: UInt32, changed: Bool) {
        let key = origin.lowercased().description
        let fp = String(fingerprint, radix: 16)
        let floor = SerialKeeper.floor(policy, at: now).map { [$0] } ?? []
        return entries.withLock { all in
            let previous = all[key]
            var serial = SerialKeeper.greatest([fileSerial] + floor)
            if let previous {
                if SerialNumber.isGreater(fileSerial, than: previous.serial) {
                    serial = fileSerial
                } else if previous.fingerprint == fp {
                    serial = previous.serial
                } else {
                    serial = SerialKeeper.greatest([fileSerial, previous.serial &+ 1] + floor)
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

    /// Writes the serials to the state file, in place in space reserved when it was made (`InPlaceFile`): a full
    /// disk does not stop it, so a served serial is remembered even when nothing else can be saved. Errors are the
    /// caller's to report.
    public func save() throws {
        guard let path else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try InPlaceFile.write(try encoder.encode(entries.withLock { $0 }), to: path)
    }
}
