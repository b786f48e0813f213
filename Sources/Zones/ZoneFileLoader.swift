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
            // Where parentheses and quoted strings open, read alongside the scanner only when it reports one
            // unclosed (it reports the line where it gave up, often the end of the file).
            var constructs = Constructs(lines: lines)
            // The lines an unclosed quoted string swallowed (up to where it closes): their errors follow from it.
            var followOnThrough = 0
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
                    let code = s.pointee.error.code
                    let open = constructs.unclosed(code: code, throughLine: last)
                    if let line, line <= followOnThrough {
                        // Part of a quoted string already reported where it opened.
                    } else if let open {
                        builder.fail(line: open.line, "\(open.message): \(lines.text(open.line))")
                        if let through = open.continuedThrough { followOnThrough = through }
                    } else if code == ZS_UNSUPPORTED_TYPE.rawValue,
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

    /// Parentheses and quoted strings, read over the file's octets as the scanner reads them (`;` comments, `\\`
    /// escapes, strings spanning lines only inside parentheses), to say where an unclosed one opened: the scanner
    /// reports the line where it gave up (an SOA's `(` left open on line 3 is reported at the end of the file).
    /// Reads forward only, as far as the scanner has come; it costs nothing unless the scanner reports an error.
    struct Constructs {
        /// What an error is really about: the line where the construct opened and what to say there.
        struct Unclosed {
            var line: Int
            var message: String
            /// An unclosed string outside parentheses: the line where a quote closes it (its continuation).
            var continuedThrough: Int?
        }

        let lines: LineIndex
        private var at = 0
        private var line = 1
        private var depth = 0
        private var quoted = false
        private var comment = false
        private var escaped = false
        /// Where the outermost parenthesis open now opened, and where one opened inside it (nested).
        private var parenthesisLine = 0
        private var nestedLine: Int?
        /// Where the quoted string open now opened.
        private var quoteLine = 0
        /// The last line that ended inside a quoted string outside parentheses.
        private var strayQuoteLine: Int?

        init(lines: LineIndex) { self.lines = lines }

        /// Reads on to the end of line `last` (1-based).
        private mutating func read(throughLine last: Int) {
            let end = last < lines.count ? lines.starts[last] : lines.bytes.count
            while at < end {
                let b = lines.bytes[at]
                at += 1
                if b == UInt8(ascii: "\n") {
                    if quoted && depth == 0 {
                        strayQuoteLine = line
                        quoted = false
                    }
                    line += 1
                    comment = false
                    escaped = false
                    continue
                }
                if comment { continue }
                if escaped {
                    escaped = false
                    continue
                }
                switch b {
                case UInt8(ascii: "\\"): escaped = true
                case UInt8(ascii: "\""):
                    quoted.toggle()
                    if quoted { quoteLine = line }
                case UInt8(ascii: ";") where !quoted: comment = true
                case UInt8(ascii: "(") where !quoted:
                    if depth == 0 {
                        parenthesisLine = line
                        nestedLine = nil
                    } else if nestedLine == nil {
                        nestedLine = line
                    }
                    depth += 1
                case UInt8(ascii: ")") where !quoted: depth = max(0, depth - 1)
                default: break
                }
            }
        }

        /// For the scanner's error `code` at line `last`: the unclosed parenthesis or string it is about, or nil when
        /// it is about something else.
        mutating func unclosed(code: Int32, throughLine last: Int) -> Unclosed? {
            switch code {
            case ZS_UNCLOSED_MULTILINE.rawValue:
                read(throughLine: lines.count)
                if quoted {
                    return Unclosed(
                        line: quoteLine, message: "this quoted string is never closed (the file ends inside it)")
                }
                guard depth > 0 else { return nil }
                return Unclosed(
                    line: parenthesisLine, message: "this parenthesis is never closed (the file ends inside it)")
            case ZS_LEFT_PARENTHESIS.rawValue:
                read(throughLine: last)
                guard depth > 0, let nested = nestedLine else { return nil }
                return Unclosed(
                    line: parenthesisLine,
                    message: "this parenthesis is not closed before line \(nested) opens another (add its ')')")
            case ZS_BAD_TEXT_CHAR.rawValue, ZS_BAD_TEXT.rawValue:
                let before = strayQuoteLine
                read(throughLine: last)
                guard let open = strayQuoteLine, open != before else { return nil }
                // The quote that closes it, if a later line has one: those lines were meant as its continuation.
                var closes: Int?
                var n = open + 1
                while n <= lines.count, closes == nil {
                    if lines.line(n).filter({ $0 == UInt8(ascii: "\"") }).count % 2 == 1 { closes = n }
                    n += 1
                }
                return Unclosed(
                    line: open,
                    message: "this quoted string is not closed on its line"
                        + (closes.map { " (it closes on line \($0): a string spans lines only inside ( … ))" } ?? ""),
                    continuedThrough: closes)
            default:
                return nil
            }
        }
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
