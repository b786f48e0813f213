// ZoneFileLoader: reads an RFC 1035 master file with Knot's zone scanner, record by record, keeping line numbers.

import CZScanner
import DNSWire
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Loads master files with libzscanner, Knot DNS's zone-file scanner (`$ORIGIN`, `$TTL`, relative names,
/// parentheses, comments, every type Knot knows, and RFC 3597 `TYPEnnn \# len hex`). `$INCLUDE` is refused with a
/// clear error: a zone whose content depends on other files is not what `export` and transfers can vouch for.
/// Single records (`parseRecord`) are read the same way; libldns prints records (`ZoneText`), and every printed
/// line is checked to read back through `parseRecord`, so what the server exports, it (and Knot) can load.
public enum ZoneFileLoader {
    /// Loads and validates the zone `origin` from `path`. `displayPath` is used in messages (default: `path`).
    /// `addressed`: names whose addresses come from elsewhere (the pools), see `ZoneBuilder.build`.
    public static func load(
        path: String, origin: DomainName, displayPath: String? = nil, addressed: Set<DomainName> = []
    ) throws(ZoneLoadFailure) -> Zone {
        let shown = displayPath ?? path
        guard let bytes = readAll(path) else {
            let why = String(cString: strerror(errno))
            throw ZoneLoadFailure(errors: [ZoneError(file: shown, line: nil, message: "cannot open: \(why)")])
        }
        return try load(bytes: bytes, origin: origin, displayPath: shown, addressed: addressed)
    }

    /// Loads and validates the zone `origin` from master-file text in memory (no temporary file): what the CLI
    /// reads from the server's export and what tests write. `displayPath` names it in messages.
    public static func load(
        text: String, origin: DomainName, displayPath: String = "<text>", addressed: Set<DomainName> = []
    ) throws(ZoneLoadFailure) -> Zone {
        try load(bytes: Array(text.utf8), origin: origin, displayPath: displayPath, addressed: addressed)
    }

    /// Parses `bytes` with Knot's zone scanner (libzscanner: `$ORIGIN`, `$TTL`, relative names, parentheses,
    /// comments, every type Knot knows, RFC 3597 `TYPEnnn \# len hex`) into a `ZoneBuilder`, record by record in
    /// wire form (no record values), and builds the zone. A million records parse in a fraction of a second.
    public static func load(
        bytes raw: [UInt8], origin: DomainName, displayPath: String, addressed: Set<DomainName> = []
    ) throws(ZoneLoadFailure) -> Zone {
        // CRLF line ends (a file from Windows): the scanner refuses a CR before the newline, ldns took it as a blank.
        let bytes = raw.contains(UInt8(ascii: "\r")) ? withoutCRBeforeLF(raw) : raw
        let lines = LineIndex(bytes: bytes)
        var builder = ZoneBuilder(origin: origin, file: displayPath)
        builder.reserve(records: bytes.count / 24, octets: bytes.count)
        let s = UnsafeMutablePointer<zs_scanner_t>.allocate(capacity: 1)
        defer { s.deallocate() }
        // RFC 1035 leaves the default TTL to the server; ldns, NSD and Knot use 3600.
        guard zs_init(s, origin.description, 1, 3600) == 0 else {
            throw ZoneLoadFailure(errors: [
                ZoneError(file: displayPath, line: nil, message: "cannot start the zone scanner for \(origin)")
            ])
        }
        defer { zs_deinit(s) }
        let ownerAt = UnsafeRawPointer(uplink_zs_owner(s))
        let dataAt = UnsafeRawPointer(uplink_zs_rdata(s))
        var fatal = false
        bytes.withUnsafeBytes { input in
            guard let start = input.baseAddress?.assumingMemoryBound(to: CChar.self) else { return }  // empty
            guard zs_set_input_string(s, start, input.count) == 0 else {
                builder.fail(line: nil, "cannot read: \(String(cString: zs_strerror(s.pointee.error.code)))")
                return
            }
            var previous = 0
            while zs_parse_record(s) == 0 {
                let last = Int(s.pointee.line_counter)
                // The scanner counts the line a record ends on; it starts on the first line after the previous one
                // that holds more than blanks and comments.
                let line = lines.firstContentLine(after: previous, upTo: last)
                switch s.pointee.state {
                case ZS_STATE_DATA:
                    builder.add(
                        owner: UnsafeRawBufferPointer(start: ownerAt, count: Int(s.pointee.r_owner_length)),
                        type: s.pointee.r_type, rrClass: s.pointee.r_class, ttl: s.pointee.r_ttl,
                        rdata: UnsafeRawBufferPointer(start: dataAt, count: Int(s.pointee.r_data_length)),
                        line: line)
                case ZS_STATE_INCLUDE:
                    builder.fail(line: line, "$INCLUDE is not supported: put the included records in this file")
                    s.pointee.error.fatal = false  // the scanner marks an include it leaves to us as fatal
                case ZS_STATE_ERROR:
                    let text = line.map { lines.text($0) } ?? ""
                    if s.pointee.error.code == ZS_UNSUPPORTED_TYPE.rawValue,
                        let cls = otherClass(line.map { String(decoding: lines.line($0), as: UTF8.self) } ?? "")
                    {
                        // The scanner reads a class other than IN as an unknown type: say what is wrong.
                        builder.fail(
                            line: line, "class \(cls) is not served: only class IN records belong in a zone file")
                    } else {
                        builder.fail(line: line, "\(String(cString: zs_strerror(s.pointee.error.code))): \(text)")
                    }
                    if s.pointee.error.fatal {
                        fatal = true
                        return
                    }
                default:
                    return  // the end of the input (or a stop)
                }
                previous = last
            }
        }
        // Reading stopped part-way: the zone is not checked as if it were whole (that would add errors that are
        // not there).
        if fatal { throw ZoneLoadFailure(errors: builder.errors.sorted { ($0.line ?? 0) < ($1.line ?? 0) }) }
        return try builder.build(addressed: addressed)
    }

    /// `bytes` with every CR that comes right before an LF removed.
    static func withoutCRBeforeLF(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for (i, b) in bytes.enumerated() where !(b == UInt8(ascii: "\r") && i + 1 < bytes.count && bytes[i + 1] == 10) {
            out.append(b)
        }
        return out
    }

    /// The class a record line names when it is not IN (`CH`, `HS`, `NONE`, `ANY`, `CLASSnnn`), for a clear message.
    static func otherClass(_ line: String) -> String? {
        // The words after the owner (a line that starts with a blank has none): TTL, class and type, in any order.
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        let owned = !(line.first == " " || line.first == "\t")
        for word in words.dropFirst(owned ? 1 : 0).prefix(3) {
            let w = word.uppercased()
            if ["CH", "CS", "HS", "NONE", "ANY"].contains(w)
                || (w.hasPrefix("CLASS") && w.dropFirst(5).allSatisfy(\.isNumber) && w.count > 5 && w != "CLASS1")
            {
                return w
            }
        }
        return nil
    }

    /// A file's octets, or nil (errno set).
    static func readAll(_ path: String) -> [UInt8]? {
        guard let fp = fopen(path, "r") else { return nil }
        defer { fclose(fp) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&chunk, 1, chunk.count, fp)
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        // A read that failed (EIO, a directory) is not a short file.
        if ferror(fp) != 0 { return nil }
        return bytes
    }

    /// Parses one record in master-file syntax (`www.example.com. 60 IN A 192.0.2.10`), relative names against
    /// `origin`. Tests use it to write expected answers as zone text.
    public static func parseRecord(_ text: String, origin: DomainName = .root, defaultTTL: UInt32 = 3600)
        throws(ZoneLoadFailure) -> ResourceRecord
    {
        func failure(_ why: String) -> ZoneLoadFailure {
            ZoneLoadFailure(errors: [ZoneError(file: "<text>", line: nil, message: "\(why): \(text)")])
        }
        let s = UnsafeMutablePointer<zs_scanner_t>.allocate(capacity: 1)
        defer { s.deallocate() }
        guard zs_init(s, origin.description, 1, defaultTTL) == 0 else { throw failure("cannot start the zone scanner") }
        defer { zs_deinit(s) }
        let input = Array(text.utf8) + [UInt8(ascii: "\n")]
        let parsed: Result<ResourceRecord, ZoneLoadFailure> = input.withUnsafeBytes { buf in
            guard zs_set_input_string(s, buf.baseAddress!.assumingMemoryBound(to: CChar.self), buf.count) == 0 else {
                return .failure(failure("cannot read"))
            }
            while zs_parse_record(s) == 0 {
                switch s.pointee.state {
                case ZS_STATE_DATA:
                    let owner = Array(
                        UnsafeRawBufferPointer(start: uplink_zs_owner(s), count: Int(s.pointee.r_owner_length)))
                    let rdata = Array(
                        UnsafeRawBufferPointer(start: uplink_zs_rdata(s), count: Int(s.pointee.r_data_length)))
                    return .success(
                        ResourceRecord(
                            name: DomainName(uncheckedWire: owner), type: RRType(s.pointee.r_type),
                            rrClass: RRClass(rawValue: s.pointee.r_class), ttl: s.pointee.r_ttl, rdata: rdata))
                case ZS_STATE_ERROR:
                    return .failure(failure(String(cString: zs_strerror(s.pointee.error.code))))
                case ZS_STATE_INCLUDE:
                    return .failure(failure("$INCLUDE is not a record"))
                default:
                    return .failure(failure("no record"))
                }
            }
            return .failure(failure(String(cString: zs_strerror(s.pointee.error.code))))
        }
        return try parsed.get()
    }

    /// The file's octets and where each line starts: enough to find the line a record starts on (a byte scan per
    /// record) and to quote a line in an error, without splitting the file into strings.
    struct LineIndex {
        var bytes: [UInt8] = []
        var starts: [Int] = [0]

        init(bytes: [UInt8]) {
            self.bytes = bytes
            for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") { starts.append(i + 1) }
        }

        var count: Int { starts.count }

        /// The octets of 1-based line `n`, without its newline.
        func line(_ n: Int) -> ArraySlice<UInt8> {
            let start = starts[n - 1]
            let end = n < starts.count ? starts[n] - 1 : bytes.count
            return bytes[start..<max(start, end)]
        }

        /// Line `n` as text, trimmed, for error messages.
        func text(_ n: Int) -> String {
            guard n >= 1, n <= count else { return "" }
            return String(decoding: line(n), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// True when line `n` holds more than blanks, a comment or a directive (`$ORIGIN`, `$TTL`).
        func hasContent(_ n: Int) -> Bool {
            guard n >= 1, n <= count else { return false }
            for b in line(n) {
                switch b {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"): continue
                case UInt8(ascii: ";"), UInt8(ascii: "$"): return false
                default: return true
                }
            }
            return false
        }

        /// The scanner reports the last line a record used; a record starts at the first line after the previous
        /// one that holds more than blanks, comments and directives. (A last line without a newline may not be
        /// counted: then it is the one after the previous record's.)
        func firstContentLine(after: Int, upTo: Int) -> Int? {
            guard upTo > after else { return after + 1 }
            for n in (after + 1)...upTo where hasContent(n) { return n }
            return upTo
        }
    }
}
