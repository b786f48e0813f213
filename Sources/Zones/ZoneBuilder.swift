// ZoneBuilder: collects records with their lines into flat arenas, validates the zone and builds it, or reports
// every error.

import CUplinkSys
import DNSWire
import Dispatch

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Gathers a zone's records and turns them into a `Zone`, checking what an authoritative server must refuse:
/// data outside the zone, anything but class IN, not exactly one SOA at the apex, no NS at the apex, CNAME beside
/// other data or more than one CNAME (RFC 1034 §3.6.2, RFC 2181 §10.1), more than one DNAME (RFC 6672 §2.4),
/// and in-bailiwick delegations without glue. All errors are reported, not only the first.
///
/// Records go into two byte arenas as they come (no object per record); `build` groups them into names and
/// RRsets, sorts the names canonically and makes the `ZoneData`.
public struct ZoneBuilder {
    /// The zone's apex.
    public let origin: DomainName
    /// The file name used in messages.
    public let file: String
    /// Errors found while reading (syntax) before validation.
    public var errors: [ZoneError] = []

    struct Raw {
        var ownerOffset: UInt32
        var ownerLength: UInt8
        var type: UInt16
        var rrClass: UInt16
        var ttl: UInt32
        var rdataOffset: UInt32
        var rdataLength: UInt16
        var line: UInt32
    }

    private var owners: [UInt8] = []
    private var rdatas: [UInt8] = []
    private var raws: [Raw] = []
    private var lastOwner: (offset: UInt32, length: UInt8) = (0, 0)

    /// Starts an empty zone.
    public init(origin: DomainName, file: String) {
        self.origin = origin
        self.file = file
    }

    /// Makes room for about `records` records of `octets` octets of owners and RDATA in all.
    public mutating func reserve(records: Int, octets: Int) {
        raws.reserveCapacity(records)
        owners.reserveCapacity(octets)
        rdatas.reserveCapacity(octets / 4)
    }

    /// Adds one record read from `line`.
    public mutating func add(_ record: ResourceRecord, line: Int?) {
        record.name.wire.withUnsafeBytes { owner in
            record.rdata.withUnsafeBytes { rdata in
                add(
                    owner: owner, type: record.type.rawValue, rrClass: record.rrClass.rawValue, ttl: record.ttl,
                    rdata: rdata, line: line)
            }
        }
    }

    /// Adds one record from its parts: the owner in uncompressed wire form, RDATA uncompressed.
    mutating func add(
        owner: UnsafeRawBufferPointer, type: UInt16, rrClass: UInt16, ttl: UInt32, rdata: UnsafeRawBufferPointer,
        line: Int?
    ) {
        // Consecutive records of one owner (the common case) share its octets.
        let same =
            Int(lastOwner.length) == owner.count && !raws.isEmpty
            && owners.withUnsafeBytes { o in
                memcmp(o.baseAddress! + Int(lastOwner.offset), owner.baseAddress!, owner.count) == 0
            }
        if !same {
            lastOwner = (UInt32(owners.count), UInt8(owner.count))
            owners.append(contentsOf: owner)
        }
        raws.append(
            Raw(
                ownerOffset: lastOwner.offset, ownerLength: lastOwner.length, type: type, rrClass: rrClass, ttl: ttl,
                rdataOffset: UInt32(rdatas.count), rdataLength: UInt16(rdata.count), line: UInt32(line ?? 0)))
        rdatas.append(contentsOf: rdata)
    }

    /// Records an error found while reading.
    public mutating func fail(line: Int?, _ message: String) {
        errors.append(ZoneError(file: file, line: line, message: message))
    }

    /// Validates and builds the zone. `addressed`: names that get their addresses from elsewhere (the pools), so an
    /// NS target among them needs no A or AAAA record in the file.
    public func build(addressed: Set<DomainName> = []) throws(ZoneLoadFailure) -> Zone {
        var errors = self.errors
        func fail(_ line: Int?, _ message: String) {
            errors.append(ZoneError(file: file, line: line, message: message))
        }
        func name(_ offset: UInt32, _ length: UInt8) -> DomainName {
            DomainName(uncheckedWire: Array(owners[Int(offset)..<(Int(offset) + Int(length))]))
        }
        var warnings: [ZoneError] = []
        let data = owners.withUnsafeBytes { o in
            var grouping = Grouping(owners: o, origin: origin)
            defer {
                for (r, note) in grouping.notes {
                    let raw = raws[Int(r)]
                    let what = "\(name(raw.ownerOffset, raw.ownerLength)) \(RRType(raw.type))"
                    switch note {
                    case .ttl(let f):
                        let first = raws[Int(f)]
                        warnings.append(
                            ZoneError(
                                file: file, line: Int(raw.line) == 0 ? nil : Int(raw.line),
                                message: "\(what) has TTL \(raw.ttl), its RRset's first record\(at(first.line)) "
                                    + "\(first.ttl): the RRset is served with \(first.ttl) (RFC 2181 §5.2: one TTL per RRset)"
                            ))
                    case .signatureTTL(let f):
                        // RFC 4034 §3: the RRSIGs at a name form one RRset per type they cover, not one for all.
                        let first = raws[Int(f)]
                        let covered = covers(raw)
                        warnings.append(
                            ZoneError(
                                file: file, line: Int(raw.line) == 0 ? nil : Int(raw.line),
                                message: "\(what) covering \(covered) has TTL \(raw.ttl), the first RRSIG covering "
                                    + "\(covered) here\(at(first.line)) \(first.ttl): the signatures of one RRset "
                                    + "share its TTL (RFC 4034 §3)"))
                    case .secondSOA(let f):
                        fail(
                            Int(raw.line) == 0 ? nil : Int(raw.line),
                            "a second SOA record for \(name(raw.ownerOffset, raw.ownerLength))"
                                + (raws[Int(f)].line == 0 ? "" : " (the first is at line \(raws[Int(f)].line))")
                                + ": a zone has exactly one")
                    }
                }
            }
            return grouping.run(raws: raws, rdatas: rdatas) { raw, problem in
                let what = "\(name(raw.ownerOffset, raw.ownerLength)) \(RRType(raw.type))"
                switch problem {
                case .outside:
                    fail(Int(raw.line), "\(what) is outside the zone \(origin): remove it or fix the owner name")
                case .rrClass:
                    fail(
                        Int(raw.line),
                        "class \(RRClass(rawValue: raw.rrClass)) is not served: only class IN records belong in a zone file"
                    )
                case .meta:
                    fail(Int(raw.line), "type \(RRType(raw.type)) cannot appear in zone data")
                }
            }
        }
        let placeholderSOA = ResourceRecord(name: origin, type: .soa, ttl: 0, rdata: [])
        var zone = Zone(origin: origin, file: file, data: data, soa: placeholderSOA)
        let soa = Validation(zone: zone, addressed: addressed).check(fail: fail) { line, message in
            warnings.append(ZoneError(file: file, line: line, message: message))
        }
        let sortedWarnings = warnings.sorted { ($0.line ?? 0) < ($1.line ?? 0) }
        guard errors.isEmpty, let soa else {
            throw ZoneLoadFailure(errors: errors.sorted { ($0.line ?? 0) < ($1.line ?? 0) }, warnings: sortedWarnings)
        }
        zone = Zone(origin: origin, file: file, data: data, soa: soa)
        zone.warnings = sortedWarnings
        return zone
    }

    /// The type an RRSIG record covers (the first two octets of its RDATA).
    private func covers(_ raw: Raw) -> RRType {
        guard raw.rdataLength >= 2 else { return RRType(0) }
        let at = Int(raw.rdataOffset)
        return RRType(UInt16(rdatas[at]) << 8 | UInt16(rdatas[at + 1]))
    }

    /// " (line N)" for a record read from line N, else nothing.
    private func at(_ line: UInt32) -> String { line == 0 ? "" : " (line \(line))" }
}

/// What makes a record unfit for zone data before any grouping.
enum RecordProblem {
    case outside, rrClass, meta
}

/// What grouping notices about a record of an RRset (`first`: the set's first record, whose TTL and line it keeps).
enum GroupingNote {
    case ttl(first: Int32)
    /// An RRSIG whose TTL differs from the first RRSIG's at its name that covers the same type.
    case signatureTTL(first: Int32)
    case secondSOA(first: Int32)
}

/// Groups records into names (empty non-terminals added) and RRsets, and sorts the names canonically.
struct Grouping {
    let owners: UnsafeRawBufferPointer
    let origin: DomainName

    /// Node names: offsets and lengths in `owners` (an ancestor's name is a suffix of its child's octets, so empty
    /// non-terminals need no octets of their own).
    var nodeOffset: [UInt32] = []
    var nodeLength: [UInt8] = []
    /// Per node: made as an empty non-terminal, no record seen for it yet.
    var madeEmpty: [Bool] = []
    var table: [UInt32] = []
    var mask = 0
    /// What grouping noticed about single records: a TTL that differs from its RRset's, a second SOA.
    var notes: [(record: Int32, note: GroupingNote)] = []

    init(owners: UnsafeRawBufferPointer, origin: DomainName) {
        self.owners = owners
        self.origin = origin
    }

    @inline(__always)
    func bytes(_ offset: UInt32, _ length: UInt8) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: owners[Int(offset)..<(Int(offset) + Int(length))])
    }

    /// The node number of a name (added when new). `hash`: the name's `ZoneData.hash`, when known.
    mutating func node(_ offset: UInt32, _ length: UInt8, hash: UInt32? = nil) -> (index: Int, new: Bool) {
        let key = bytes(offset, length)
        let h = hash ?? ZoneData.hash(key)
        var s = Int(h) & mask
        while table[s] != 0 {
            let i = Int(table[s]) - 1
            if nodeLength[i] == length
                && DomainName.equalFolded(owners.baseAddress! + Int(nodeOffset[i]), key.baseAddress!, key.count)
            {
                return (i, false)
            }
            s = (s + 1) & mask
        }
        nodeOffset.append(offset)
        nodeLength.append(length)
        madeEmpty.append(false)
        table[s] = UInt32(nodeOffset.count)
        if nodeOffset.count * 2 > table.count { grow() }
        return (nodeOffset.count - 1, true)
    }

    /// Doubles the table (names with many labels made more empty non-terminals than records).
    mutating func grow() {
        table = [UInt32](repeating: 0, count: table.count * 2)
        mask = table.count - 1
        for i in nodeOffset.indices {
            var s = Int(ZoneData.hash(bytes(nodeOffset[i], nodeLength[i]))) & mask
            while table[s] != 0 { s = (s + 1) & mask }
            table[s] = UInt32(i + 1)
        }
    }

    /// True when `key` is the origin or below it (on a label boundary).
    func inZone(_ key: UnsafeRawBufferPointer) -> Bool {
        let o = origin.wire
        guard key.count >= o.count else { return false }
        let start = key.count - o.count
        var i = 0
        while i < start { i += Int(key[i]) + 1 }
        guard i == start else { return false }
        return o.withUnsafeBytes { DomainName.equalFolded(key.baseAddress! + start, $0.baseAddress!, o.count) }
    }

    mutating func run(
        raws: [ZoneBuilder.Raw], rdatas: [UInt8], problem: (ZoneBuilder.Raw, RecordProblem) -> Void
    ) -> ZoneData {
        // At most a quarter full while every record has its own name and one empty non-terminal above it; the
        // table grows (`grow`) if deeper names need more.
        var size = 16
        while size < raws.count * 4 { size <<= 1 }
        table = [UInt32](repeating: 0, count: size)
        mask = size - 1
        nodeOffset.reserveCapacity(raws.count + raws.count / 4)
        nodeLength.reserveCapacity(raws.count + raws.count / 4)
        let originLength = origin.wire.count

        // 1. Every record's node (records that do not belong are reported and left out). The table is larger than
        // the caches: each record's slot is asked for `ahead` records before it is needed (hashed then, kept in
        // `hashes`), so that the misses overlap instead of each stalling the loop.
        var nodeOf = [Int32](repeating: -1, count: raws.count)
        let ahead = 8
        var hashes = [UInt32](repeating: 0, count: 16)
        func hashAhead(_ r: Int) {
            guard r < raws.count else { return }
            let h = ZoneData.hash(bytes(raws[r].ownerOffset, raws[r].ownerLength))
            hashes[r & 15] = h
            table.withUnsafeBufferPointer { uplink_prefetch($0.baseAddress! + (Int(h) & mask)) }
        }
        for r in 0..<ahead { hashAhead(r) }
        for (r, raw) in raws.enumerated() {
            hashAhead(r + ahead)
            let key = bytes(raw.ownerOffset, raw.ownerLength)
            guard inZone(key) else {
                problem(raw, .outside)
                continue
            }
            guard raw.rrClass == RRClass.in.rawValue else {
                problem(raw, .rrClass)
                continue
            }
            guard !RRType(raw.type).isMeta else {
                problem(raw, .meta)
                continue
            }
            let (i, new) = node(raw.ownerOffset, raw.ownerLength, hash: hashes[r & 15])
            nodeOf[r] = Int32(i)
            // A name made as an empty non-terminal keeps the case of the first record that owns it, not the case
            // of the name below it that made it.
            if !new && madeEmpty[i] {
                nodeOffset[i] = raw.ownerOffset
                madeEmpty[i] = false
            }
            // 2. Empty non-terminals: every ancestor down to the apex is a node (RFC 4592 §2.2.2), the apex too.
            // Walking up stops at the first one that exists: its own ancestors were made when it was.
            guard new else { continue }
            var offset = raw.ownerOffset
            var length = Int(raw.ownerLength)
            while length > originLength {
                let skip = Int(owners[Int(offset)]) + 1
                offset += UInt32(skip)
                length -= skip
                let (parent, made) = node(offset, UInt8(length))
                if !made { break }
                madeEmpty[parent] = true
            }
        }
        return finish(raws: raws, rdatas: rdatas, nodeOf: nodeOf)
    }

    /// Sorts the nodes, groups each node's records into RRsets and builds the arenas.
    mutating func finish(raws: [ZoneBuilder.Raw], rdatas: [UInt8], nodeOf: [Int32]) -> ZoneData {
        let order = CanonicalSort.order(count: nodeOffset.count) { bytes(nodeOffset[$0], nodeLength[$0]) }
        var rank = [Int32](repeating: 0, count: order.count)
        for (r, i) in order.enumerated() { rank[i] = Int32(r) }

        // Records by node rank (a counting sort), in file order within a node.
        var start = [Int32](repeating: 0, count: order.count + 1)
        for n in nodeOf where n >= 0 { start[Int(rank[Int(n)]) + 1] += 1 }
        for i in 0..<order.count { start[i + 1] += start[i] }
        var fill = start
        var sorted = [Int32](repeating: 0, count: Int(start[order.count]))
        for (r, n) in nodeOf.enumerated() where n >= 0 {
            let k = Int(rank[Int(n)])
            sorted[Int(fill[k])] = Int32(r)
            fill[k] += 1
        }

        var names: [UInt8] = []
        names.reserveCapacity(order.reduce(0) { $0 + Int(nodeLength[$1]) })
        var nodes: [ZoneData.Node] = []
        nodes.reserveCapacity(order.count)
        var sets: [ZoneData.Set] = []
        sets.reserveCapacity(raws.count)
        var ends: [UInt32] = []
        ends.reserveCapacity(raws.count)
        var out: [UInt8] = []
        out.reserveCapacity(rdatas.count)
        var notes: [(record: Int32, note: GroupingNote)] = []
        // Per RRSIG set: the first signature seen for each covered type (RFC 4034 §3: the RRSIGs at a name are
        // grouped by the type they cover when it comes to TTLs), reused from set to set.
        var firstCovering: [(covered: UInt16, record: Int32)] = []
        let rrsig = RRType.rrsig.rawValue
        rdatas.withUnsafeBytes { rd in
            for (k, i) in order.enumerated() {
                let nameAt = UInt32(names.count)
                names.append(contentsOf: bytes(nodeOffset[i], nodeLength[i]))
                // By type, file order kept within a type (the first record's TTL and line are the set's): record
                // numbers grow in file order, so (type, number) orders them. Most names have one record.
                let range = Int(start[k])..<Int(start[k + 1])
                if range.count > 1 {
                    sorted[range].sort { a, b in
                        let (ta, tb) = (raws[Int(a)].type, raws[Int(b)].type)
                        return ta != tb ? ta < tb : a < b
                    }
                }
                let recs = sorted[range]
                let setStart = UInt32(sets.count)
                var j = recs.startIndex
                while j < recs.endIndex {
                    let firstRecord = recs[j]
                    let first = raws[Int(firstRecord)]
                    let rdataStart = UInt32(ends.count)
                    var seen: Swift.Set<[UInt8]>?
                    while j < recs.endIndex, raws[Int(recs[j])].type == first.type {
                        let raw = raws[Int(recs[j])]
                        let bytes = UnsafeRawBufferPointer(
                            rebasing: rd[Int(raw.rdataOffset)..<(Int(raw.rdataOffset) + Int(raw.rdataLength))])
                        // RFC 2181 §5: an RRset is a set, so exact duplicates are dropped; §5.2: one TTL per set,
                        // the first record's (Knot and NSD warn and do the same).
                        let count = ends.count - Int(rdataStart)
                        var duplicate = false
                        if count <= 16 {
                            var e = Int(rdataStart)
                            var from = e == 0 ? 0 : Int(ends[e - 1])
                            while e < ends.count {
                                let to = Int(ends[e])
                                if to - from == bytes.count
                                    && out.withUnsafeBytes({
                                        memcmp($0.baseAddress! + from, bytes.baseAddress!, bytes.count)
                                    })
                                        == 0
                                {
                                    duplicate = true
                                    break
                                }
                                from = to
                                e += 1
                            }
                            if count == 16 && !duplicate {
                                var all = Swift.Set<[UInt8]>()
                                var from2 = Int(rdataStart) == 0 ? 0 : Int(ends[Int(rdataStart) - 1])
                                for e2 in Int(rdataStart)..<ends.count {
                                    all.insert(Array(out[from2..<Int(ends[e2])]))
                                    from2 = Int(ends[e2])
                                }
                                seen = all
                            }
                        } else if let s = seen {
                            duplicate = s.contains(Array(bytes))
                        }
                        if !duplicate {
                            out.append(contentsOf: bytes)
                            ends.append(UInt32(out.count))
                            if seen != nil { seen!.insert(Array(bytes)) }
                            if first.type == rrsig {
                                let at = Int(raw.rdataOffset)
                                let covered = raw.rdataLength >= 2 ? UInt16(rd[at]) << 8 | UInt16(rd[at + 1]) : 0
                                if count == 0 { firstCovering.removeAll(keepingCapacity: true) }
                                if let f = firstCovering.first(where: { $0.covered == covered }) {
                                    if raw.ttl != raws[Int(f.record)].ttl {
                                        notes.append((recs[j], .signatureTTL(first: f.record)))
                                    }
                                } else {
                                    firstCovering.append((covered, recs[j]))
                                }
                            } else if raw.ttl != first.ttl {
                                notes.append((recs[j], .ttl(first: firstRecord)))
                            }
                            if first.type == RRType.soa.rawValue && count > 0 {
                                notes.append((recs[j], .secondSOA(first: firstRecord)))
                            }
                        }
                        j += 1
                    }
                    sets.append(
                        ZoneData.Set(
                            type: first.type, ttl: first.ttl, rdataStart: rdataStart,
                            rdataCount: UInt32(ends.count) - rdataStart, line: first.line))
                }
                nodes.append(
                    ZoneData.Node(
                        nameOffset: nameAt, nameLength: nodeLength[i], setCount: UInt16(UInt32(sets.count) - setStart),
                        setStart: setStart))
            }
        }
        self.notes = notes
        // The table of names becomes the zone's index: its node numbers, renumbered to the sorted order.
        for s in table.indices where table[s] != 0 { table[s] = UInt32(rank[Int(table[s]) - 1]) + 1 }
        return ZoneData(names: names, nodes: nodes, sets: sets, rdataEnds: ends, rdata: out, slots: table)
    }
}

/// Canonical DNS name order (RFC 4034 §6.1) for many names at once: each name becomes a key whose byte order is
/// canonical order (labels from the right, case-folded, each ended by 0x00, with 0x00 and 0x01 octets escaped so
/// that the end of a label sorts first), and the keys are sorted with `memcmp`, in two halves on two threads.
enum CanonicalSort {
    static func order(count: Int, name: (Int) -> UnsafeRawBufferPointer) -> [Int] {
        var keys: [UInt8] = []
        var ends: [Int] = []
        ends.reserveCapacity(count)
        var labels = [Int](repeating: 0, count: 128)
        for i in 0..<count {
            let wire = name(i)
            var n = 0
            var p = 0
            while p < wire.count, wire[p] != 0 {
                labels[n] = p
                n += 1
                p += Int(wire[p]) + 1
            }
            while n > 0 {
                n -= 1
                let at = labels[n]
                for b in wire[(at + 1)...(at + Int(wire[at]))] {
                    let f = DomainName.fold(b)
                    if f < 2 {
                        keys.append(1)
                        keys.append(f + 1)
                    } else {
                        keys.append(f)
                    }
                }
                keys.append(0)
            }
            ends.append(keys.count)
        }
        var order = Array(0..<count)
        keys.withUnsafeBytes { k in
            ends.withUnsafeBufferPointer { e in
                let keys = Keys(bytes: k.baseAddress!, ends: e.baseAddress!)
                guard count > 50_000 else {
                    order.sort(by: keys.less)
                    return
                }
                // Two halves sorted at once, then merged.
                let mid = count / 2
                order.withUnsafeMutableBufferPointer { o in
                    let halves = Halves(base: o.baseAddress!, mid: mid, count: count)
                    DispatchQueue.concurrentPerform(iterations: 2) { half in halves.sort(half, by: keys) }
                }
                var merged: [Int] = []
                merged.reserveCapacity(count)
                var i = 0
                var j = mid
                while i < mid && j < count {
                    if keys.less(order[j], order[i]) {
                        merged.append(order[j])
                        j += 1
                    } else {
                        merged.append(order[i])
                        i += 1
                    }
                }
                merged += order[i..<mid]
                merged += order[j..<count]
                order = merged
            }
        }
        return order
    }
}

extension CanonicalSort {
    /// The keys, read by both sorting threads (neither writes them).
    struct Keys: @unchecked Sendable {
        let bytes: UnsafeRawPointer
        let ends: UnsafePointer<Int>

        @inline(__always)
        func less(_ a: Int, _ b: Int) -> Bool {
            let sa = a == 0 ? 0 : ends[a - 1]
            let sb = b == 0 ? 0 : ends[b - 1]
            let la = ends[a] - sa
            let lb = ends[b] - sb
            let c = memcmp(bytes + sa, bytes + sb, min(la, lb))
            return c != 0 ? c < 0 : la < lb
        }
    }

    /// The order being sorted, in two halves that the two threads sort apart.
    struct Halves: @unchecked Sendable {
        let base: UnsafeMutablePointer<Int>
        let mid: Int
        let count: Int

        func sort(_ half: Int, by keys: Keys) {
            var part =
                half == 0
                ? UnsafeMutableBufferPointer(start: base, count: mid)
                : UnsafeMutableBufferPointer(start: base + mid, count: count - mid)
            part.sort(by: keys.less)
        }
    }
}

/// The checks that need the whole zone: the apex's SOA and NS, CNAME and DNAME rules, glue, name server and mail
/// exchanger targets; and the warnings `check` prints: data that delegations or DNAMEs hide.
struct Validation {
    let zone: Zone
    /// Names whose addresses come from elsewhere (pools).
    var addressed: Set<DomainName> = []

    /// Reports every problem through `fail` and every doubtful but servable thing through `warn`; returns the apex
    /// SOA record when there is one.
    func check(fail: (Int?, String) -> Void, warn: (Int?, String) -> Void = { _, _ in }) -> ResourceRecord? {
        let data = zone.data
        let origin = zone.origin
        func line(_ j: Int) -> Int? { data.sets[j].line == 0 ? nil : Int(data.sets[j].line) }
        /// The node of an in-zone `target`, when it is an alias (CNAME).
        func isAlias(_ target: DomainName) -> Bool {
            guard target.isSubdomain(of: origin), let t = data.index(of: target) else { return false }
            return data.set(t, .cname) != nil
        }
        func hasAddress(_ target: DomainName) -> Bool {
            if addressed.contains(target) { return true }
            guard let t = data.index(of: target) else { return false }
            return data.set(t, .a) != nil || data.set(t, .aaaa) != nil
        }
        var soa: ResourceRecord?
        if let apex = data.index(of: origin), let j = data.set(apex, .soa) {
            soa = data.rrset(j, name: data.name(apex)).records.first
            if let n = data.set(apex, .ns) {
                // An in-zone name server needs an address in the zone, or nobody can reach it (named-checkzone and
                // kzonecheck refuse the zone too).
                for rr in data.rrset(n, name: origin).records {
                    guard let target = rr.target, target.isSubdomain(of: origin), !isAlias(target) else { continue }
                    if !hasAddress(target) {
                        fail(
                            line(n),
                            "\(origin) NS \(target): the name server is in the zone but has no A or AAAA record; "
                                + "add one")
                    }
                }
            } else {
                fail(line(j), "no NS records at the apex \(origin): a zone must list its name servers")
            }
        } else {
            fail(nil, "no SOA record at the apex \(origin): the first record of a zone is its SOA")
        }
        let originLength = origin.wire.count
        // Every name an NS record names: an address below a cut is glue only when it is one of them (RFC 9471 §2:
        // the cut's own servers, or a sibling delegation's).
        var serverNames: Set<DomainName> = []
        for i in 0..<data.count where data.nodes[i].setCount > 0 {
            guard let j = data.set(i, .ns) else { continue }
            for rr in data.rrset(j, name: data.name(i)).records {
                if let target = rr.target { serverNames.insert(target) }
            }
        }
        // The innermost delegation or DNAME whose subtree the walk is in: names below it follow it in canonical
        // order, so one look back tells whether a node is hidden.
        var hiding: (node: Int, dname: Bool)?
        for i in 0..<data.count {
            let node = data.nodes[i]
            if let h = hiding, !data.isBelow(i, h.node) { hiding = nil }
            guard node.setCount > 0 else { continue }
            let isApex = Int(node.nameLength) == originLength
            if let h = hiding {
                // RFC 1034 §4.2.1: below a zone cut only glue (addresses) belongs; RFC 6672 §2.4: nothing below a
                // DNAME. Such data is never answered (a referral or a synthesis wins), so it is worth a word.
                // An address is glue only for a name that an NS record names; any other address is as hidden.
                let name = data.name(i)
                let glue = !h.dname && serverNames.contains(name)
                let types = data.types(i).filter { !glue || ($0 != .a && $0 != .aaaa) }
                if !types.isEmpty {
                    let kind = h.dname ? "the DNAME at" : "the delegation"
                    let notGlue =
                        !h.dname && types.contains(where: { $0 == .a || $0 == .aaaa })
                        ? " and is not glue (no NS record names it)" : ""
                    warn(
                        line(Int(node.setStart)),
                        "\(name) \(types.map(\.description).joined(separator: ", ")) is below \(kind) "
                            + "\(data.name(h.node))\(notGlue): it is never answered (occluded)")
                }
            }
            if !isApex, let j = data.set(i, .soa) {
                fail(line(j), "SOA record at \(data.name(i)): only the apex \(origin) may have one")
            }
            if let j = data.set(i, .cname) {
                let count = Int(data.sets[j].rdataCount)
                if count > 1 {
                    fail(line(j), "\(data.name(i)) has \(count) CNAME records; an alias has exactly one")
                }
                // RFC 2181 §10.1: no other data beside a CNAME (DNSSEC records excepted, RFC 4035 §2.5).
                let others = data.types(i).filter { ![.cname, .rrsig, .nsec, .nsec3].contains($0) }
                if !others.isEmpty {
                    fail(
                        line(j),
                        "\(data.name(i)) has a CNAME and other data (\(others.map(\.description).joined(separator: ", "))): "
                            + "an alias can have no other records")
                }
            }
            if let j = data.set(i, .dname), data.sets[j].rdataCount > 1 {
                fail(line(j), "\(data.name(i)) has \(data.sets[j].rdataCount) DNAME records; RFC 6672 allows one")
            }
            // RFC 2181 §10.3: the target of an NS or MX must not be an alias. An NS is refused (named-checkzone
            // refuses the zone); an MX is a warning: named-checkzone loads the zone with a message, NSD and Knot
            // serve it, and mail still flows (RFC 5321 §5.1 has senders follow the alias).
            for type in [RRType.ns, .mx] {
                guard let j = data.set(i, type) else { continue }
                let owner = data.name(i)
                for rr in data.rrset(j, name: owner).records {
                    guard let target = rr.target, isAlias(target) else { continue }
                    (type == .ns ? fail : warn)(
                        line(j),
                        "\(owner) \(type) \(target): the target is an alias (CNAME); RFC 2181 §10.3 requires the "
                            + "name it points to")
                }
            }
            // Glue: an NS target at or below its own delegation point can only be reached through glue.
            if !isApex, let j = data.set(i, .ns) {
                let cut = data.name(i)
                for rr in data.rrset(j, name: cut).records {
                    guard let target = rr.target, target.isSubdomain(of: cut) else { continue }
                    if !hasAddress(target) {
                        fail(
                            line(j), "delegation \(cut) NS \(target) needs glue: add an A or AAAA record for \(target)")
                    }
                }
            }
            if hiding == nil {
                if !isApex && data.set(i, .ns) != nil {
                    hiding = (i, false)
                } else if data.set(i, .dname) != nil {
                    hiding = (i, true)
                }
            }
        }
        return soa
    }
}

extension Zone {
    /// Builds a zone from records (no line numbers); used by tests and by anything that makes zones in memory.
    public static func build(origin: DomainName, file: String = "<memory>", records: [ResourceRecord])
        throws(ZoneLoadFailure) -> Zone
    {
        var b = ZoneBuilder(origin: origin, file: file)
        for r in records { b.add(r, line: nil) }
        return try b.build()
    }
}
