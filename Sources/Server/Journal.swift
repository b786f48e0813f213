// Journal: each zone's change journal (RFC 1995) — for every served serial, the records removed and added — kept
// bounded and persisted in the state directory, so IXFR sends a secondary the few records a change touched.

import DNSWire
import Foundation
import Health
import Synchronization
import Zones

/// How much history a zone's journal keeps (`zones[].journal`): at most `changes` steps and `bytes` octets of
/// records (wire size); the oldest steps go first. `changes` 0: no journal (IXFR is answered AXFR-style).
public struct JournalLimits: Sendable, Equatable {
    public var changes: Int
    public var bytes: Int
    public init(changes: Int = 100, bytes: Int = 1 << 20) {
        self.changes = changes
        self.bytes = bytes
    }
}

/// One served version's change: the SOA it starts from, the SOA it ends with, and the records removed and added in
/// between (the SOA aside).
public struct JournalStep: Sendable, Equatable {
    public var from: ResourceRecord
    public var to: ResourceRecord
    public var removed: [ResourceRecord]
    public var added: [ResourceRecord]

    /// The octets its records take on the wire (uncompressed), for the size bound.
    var size: Int {
        (removed + added + [from, to]).reduce(0) { $0 + $1.name.wire.count + 10 + $1.rdata.count }
    }
}

/// Keeps every zone's journal: the steps that lead to the version served last, oldest first, and what that version
/// holds beyond its file — its pools' records — with its file content's fingerprint, which the next change is
/// diffed against. Persisted after every change (`<state-dir>/journal/<zone>.journal`), so a restart with the same
/// file keeps answering IXFR from older serials.
public final class Journal: Sendable {
    /// A zone's journal and the version it ends with.
    struct Zone: Sendable {
        var soa: ResourceRecord
        var file: UInt64
        var pools: [ResourceRecord]
        var steps: [JournalStep] = []
    }

    private let zones: Mutex<[DomainName: Zone]>
    /// Where journals are kept; nil: in memory only.
    public let directory: String?

    /// A journal kept in `stateDirectory/journal` (nil: memory only), starting from what it saved there.
    public init(stateDirectory: String?) {
        directory = stateDirectory.map { ($0 as NSString).appendingPathComponent("journal") }
        var loaded: [DomainName: Zone] = [:]
        if let directory, let files = try? FileManager.default.contentsOfDirectory(atPath: directory) {
            for file in files where file.hasSuffix(".journal") {
                let path = (directory as NSString).appendingPathComponent(file)
                guard let data = FileManager.default.contents(atPath: path),
                    let stored = try? JSONDecoder().decode(Stored.self, from: data), let zone = stored.zone
                else {
                    FileHandle.standardError.write(
                        Data("warning: \(path) cannot be read back: IXFR starts anew for that zone\n".utf8))
                    continue
                }
                loaded[zone.soa.name] = zone
            }
        }
        zones = Mutex(loaded)
    }

    /// Notes that `origin` is served with `soa` from the file content `zone` (fingerprint `file`) and the pool
    /// records `pools`. When that is a new version, the step from the last one goes in: the pools' changes, and when
    /// the file changed, the difference from `previous` (the content served before, with fingerprint
    /// `previousFile`). Without a way to diff (no previous content that matches, a step larger than the bound) the
    /// journal starts anew from this version, and older serials get AXFR. Returns why it could not be saved, if so.
    public func record(
        _ origin: DomainName, soa: ResourceRecord, zone: Zones.Zone, file: UInt64, pools: [ResourceRecord],
        previous: Zones.Zone?, previousFile: UInt64?, limits: JournalLimits,
        ignore: (ResourceRecord) -> Bool = { _ in false }
    ) -> String? {
        enum Save {
            case nothing, write(Zone), remove
        }
        let save: Save = zones.withLock { all in
            guard limits.changes > 0 else { return all.removeValue(forKey: origin) == nil ? .nothing : .remove }
            let fresh = Zone(soa: soa, file: file, pools: pools)
            guard let last = all[origin] else {
                all[origin] = fresh
                return .write(fresh)
            }
            if last.soa.soaSerial == soa.soaSerial {
                // The same version (nothing moved), or one the journal cannot tell apart: starts anew if it differs.
                guard last.file != file || Set(last.pools) != Set(pools) || last.soa != soa else { return .nothing }
                all[origin] = fresh
                return .write(fresh)
            }
            var diff = ZoneDifference()
            if last.file != file {
                guard let previous, previousFile == last.file else {
                    all[origin] = fresh
                    return .write(fresh)
                }
                diff = previous.difference(to: zone)
                // Records of the content that transfers do not carry (they come with the pools, per build).
                diff.removed.removeAll(where: ignore)
                diff.added.removeAll(where: ignore)
            }
            let (before, after) = (Set(last.pools), Set(pools))
            diff.removed += last.pools.filter { !after.contains($0) }
            diff.added += pools.filter { !before.contains($0) }
            var next = fresh
            next.steps = last.steps + [JournalStep(from: last.soa, to: soa, removed: diff.removed, added: diff.added)]
            // Bounded: the oldest steps go first; a step beyond the size bound by itself leaves no journal.
            var size = next.steps.reduce(0) { $0 + $1.size }
            while !next.steps.isEmpty && (next.steps.count > limits.changes || size > limits.bytes) {
                size -= next.steps.removeFirst().size
            }
            all[origin] = next
            return .write(next)
        }
        guard let directory else { return nil }
        let path = (directory as NSString).appendingPathComponent(Journal.fileName(origin))
        do {
            switch save {
            case .nothing: break
            case .write(let zone): try AtomicFile.write(try JSONEncoder().encode(Stored(zone)), to: path)
            case .remove: try? FileManager.default.removeItem(atPath: path)
            }
        } catch {
            return "cannot save the IXFR journal to \(path): \(HealthChecker.reason(error))"
        }
        return nil
    }

    /// The changes from serial `from` to serial `to` of `origin`, condensed into one difference (several steps
    /// merged, as Knot does: a record added and removed again is in neither list), with the SOAs at both ends; nil
    /// when the journal does not reach back to `from` or not up to `to`.
    public func changes(_ origin: DomainName, from: UInt32, to: UInt32) -> JournalStep? {
        zones.withLock { all -> JournalStep? in
            guard let zone = all[origin], var k = zone.steps.firstIndex(where: { $0.from.soaSerial == from }) else {
                return nil
            }
            var removed: [ResourceRecord: Int] = [:]
            var added: [ResourceRecord: Int] = [:]
            var order = 0
            let first = zone.steps[k].from
            var last = first
            while last.soaSerial != to {
                guard k < zone.steps.count, zone.steps[k].from.soaSerial == last.soaSerial else { return nil }
                let step = zone.steps[k]
                for r in step.removed {
                    if added.removeValue(forKey: r) == nil { removed[r] = order }
                    order += 1
                }
                for r in step.added {
                    if removed.removeValue(forKey: r) == nil { added[r] = order }
                    order += 1
                }
                last = step.to
                k += 1
            }
            func sorted(_ d: [ResourceRecord: Int]) -> [ResourceRecord] { d.sorted { $0.value < $1.value }.map(\.key) }
            return JournalStep(from: first, to: last, removed: sorted(removed), added: sorted(added))
        }
    }

    /// The serials `origin`'s journal can answer IXFR from (oldest first), and the one it ends at.
    public func serials(_ origin: DomainName) -> (from: [UInt32], last: UInt32)? {
        zones.withLock { all in
            all[origin].map { z in (z.steps.compactMap(\.from.soaSerial), z.soa.soaSerial ?? 0) }
        }
    }

    static func fileName(_ origin: DomainName) -> String {
        let text = origin.lowercased().description
        return (text == "." ? "root" : String(text.dropLast())) + ".journal"
    }

    /// The file form: records as base64 wire octets.
    struct Stored: Codable {
        struct Record: Codable {
            var name: String
            var type: UInt16
            var ttl: UInt32
            var rdata: String
            init(_ r: ResourceRecord) {
                name = Data(r.name.wire).base64EncodedString()
                type = r.type.rawValue
                ttl = r.ttl
                rdata = Data(r.rdata).base64EncodedString()
            }
            var record: ResourceRecord? {
                guard let n = Data(base64Encoded: name), let d = Data(base64Encoded: rdata),
                    let name = try? DomainName(wire: Array(n))
                else { return nil }
                return ResourceRecord(name: name, type: RRType(type), ttl: ttl, rdata: Array(d))
            }
        }
        struct Step: Codable {
            var from: Record
            var to: Record
            var removed: [Record]
            var added: [Record]
        }
        var soa: Record
        var file: UInt64
        var pools: [Record]
        var steps: [Step]

        init(_ z: Journal.Zone) {
            soa = Record(z.soa)
            file = z.file
            pools = z.pools.map(Record.init)
            steps = z.steps.map {
                Step(
                    from: Record($0.from), to: Record($0.to), removed: $0.removed.map(Record.init),
                    added: $0.added.map(Record.init))
            }
        }

        /// The journal it holds; nil when any record does not read back.
        var zone: Journal.Zone? {
            func all(_ rs: [Record]) -> [ResourceRecord]? {
                let out = rs.compactMap(\.record)
                return out.count == rs.count ? out : nil
            }
            guard let soa = soa.record, let pools = all(pools) else { return nil }
            var steps: [JournalStep] = []
            for s in self.steps {
                guard let from = s.from.record, let to = s.to.record, let removed = all(s.removed),
                    let added = all(s.added)
                else { return nil }
                steps.append(JournalStep(from: from, to: to, removed: removed, added: added))
            }
            return Journal.Zone(soa: soa, file: file, pools: pools, steps: steps)
        }
    }
}
