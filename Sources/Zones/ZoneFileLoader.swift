// ZoneFileLoader: reads an RFC 1035 master file through libldns, record by record, keeping line numbers.

import CLDNS
import DNSWire
import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Loads master files with libldns (`$ORIGIN`, `$TTL`, relative names, parentheses, comments, every type ldns
/// knows, and RFC 3597 `TYPEnnn \# len hex`). `$INCLUDE` is refused with a clear error: ldns does not follow it,
/// and a zone that silently lacked the included records would be worse than one that does not load.
public enum ZoneFileLoader {
    /// Loads and validates the zone `origin` from `path`. `displayPath` is used in messages (default: `path`).
    public static func load(path: String, origin: DomainName, displayPath: String? = nil)
        throws(ZoneLoadFailure) -> Zone
    {
        let shown = displayPath ?? path
        guard let bytes = readAll(path) else {
            let why = String(cString: strerror(errno))
            throw ZoneLoadFailure(errors: [ZoneError(file: shown, line: nil, message: "cannot open: \(why)")])
        }
        return try load(bytes: bytes, origin: origin, displayPath: shown)
    }

    /// Loads and validates the zone `origin` from master-file text in memory (no temporary file): what the CLI
    /// reads from the server's export and what tests write. `displayPath` names it in messages.
    /// `threads` bounds the parsing threads (a large text is parsed in parts; tests compare 1 with several).
    public static func load(
        text: String, origin: DomainName, displayPath: String = "<text>",
        threads: Int = min(4, ProcessInfo.processInfo.activeProcessorCount)
    ) throws(ZoneLoadFailure) -> Zone {
        try load(bytes: Array(text.utf8), origin: origin, displayPath: displayPath, threads: threads)
    }

    /// Files at least this large are parsed in parts on several threads.
    static let parallelThreshold = 1 << 20

    /// Parses `bytes` — in parts on up to `threads` threads for a large zone (ldns parses each record on its own
    /// once `$ORIGIN` and `$TTL` are known, so each part starts at a record with its own owner name, after the
    /// directives that came before it) — and builds the zone.
    static func load(
        bytes: [UInt8], origin: DomainName, displayPath: String,
        threads: Int = min(4, ProcessInfo.processInfo.activeProcessorCount)
    ) throws(ZoneLoadFailure) -> Zone {
        let lines = LineIndex(bytes: bytes)
        let parts =
            bytes.count >= parallelThreshold && threads > 1
            ? Split.parts(bytes, count: threads) : [Split.Part(range: 0..<bytes.count, directives: [], firstLine: 0)]
        var builders = parts.map { _ in ZoneBuilder(origin: origin, file: displayPath) }
        if parts.count == 1 {
            parse(bytes, parts[0], lines: lines, into: &builders[0])
        } else {
            let box = Builders(builders)
            DispatchQueue.concurrentPerform(iterations: parts.count) { i in
                var b = ZoneBuilder(origin: origin, file: displayPath)
                parse(bytes, parts[i], lines: lines, into: &b)
                box.set(i, b)
            }
            builders = box.all
        }
        var builder = builders[0]
        for b in builders.dropFirst() { builder.append(b) }
        return try builder.build()
    }

    /// The builders of the parts, filled by their threads.
    private final class Builders: @unchecked Sendable {
        private var items: [ZoneBuilder]
        private let lock = NSLock()
        init(_ items: [ZoneBuilder]) { self.items = items }
        func set(_ i: Int, _ b: ZoneBuilder) { lock.withLock { items[i] = b } }
        var all: [ZoneBuilder] { lock.withLock { items } }
    }

    /// Parses one part of the file with ldns into `builder`.
    static func parse(_ bytes: [UInt8], _ part: Split.Part, lines: LineIndex, into builder: inout ZoneBuilder) {
        var ttl: UInt32 = 3600  // RFC 1035 leaves the default to the server; ldns, NSD and Knot use 3600.
        var ldnsOrigin = ldns_dname_new_frm_str(builder.origin.description)
        var prev = ldns_dname_new_frm_str(builder.origin.description)
        defer {
            ldns_rdf_deep_free(ldnsOrigin)
            ldns_rdf_deep_free(prev)
        }
        // The `$ORIGIN` and `$TTL` lines before the part: the context its records are read in.
        if !part.directives.isEmpty {
            var context: [UInt8] = []
            for r in part.directives { context += bytes[r] + [UInt8(ascii: "\n")] }
            context.withUnsafeMutableBytes { c in
                guard let fp = fmemopen(c.baseAddress, c.count, "r") else { return }
                defer { fclose(fp) }
                var n: Int32 = 0
                while feof(fp) == 0 {
                    var rr: UnsafeMutablePointer<ldns_rr>?
                    _ = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &ldnsOrigin, &prev, &n)
                    if let rr { ldns_rr_free(rr) }
                }
            }
        }
        guard !part.range.isEmpty else { return }
        var copy = Array(bytes[part.range])
        copy.withUnsafeMutableBytes { c in
            guard let fp = fmemopen(c.baseAddress, c.count, "r") else {
                builder.fail(line: nil, "cannot read: \(String(cString: strerror(errno)))")
                return
            }
            defer { fclose(fp) }
            var lineNr = Int32(part.firstLine)
            while feof(fp) == 0 {
                var rr: UnsafeMutablePointer<ldns_rr>?
                let before = Int(lineNr)
                let status = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &ldnsOrigin, &prev, &lineNr)
                let line = lines.firstContentLine(after: before, upTo: Int(lineNr))
                switch status {
                case LDNS_STATUS_OK:
                    guard let rr else { continue }
                    defer { ldns_rr_free(rr) }
                    if let problem = add(rr, to: &builder, line: line) {
                        builder.fail(line: line, "cannot convert record: \(problem)")
                    }
                case LDNS_STATUS_SYNTAX_EMPTY, LDNS_STATUS_SYNTAX_TTL, LDNS_STATUS_SYNTAX_ORIGIN:
                    continue
                case LDNS_STATUS_SYNTAX_INCLUDE:
                    builder.fail(line: line, "$INCLUDE is not supported: put the included records in this file")
                default:
                    let why = String(cString: ldns_get_errorstr_by_id(status))
                    let text = line.map { lines.text($0) } ?? ""
                    builder.fail(line: line, "\(why.lowercased()): \(text)")
                }
            }
        }
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
        return bytes
    }

    /// Where a master file can be cut into parts that parse on their own.
    enum Split {
        struct Part {
            /// The part's octets.
            var range: Range<Int>
            /// The `$ORIGIN`/`$TTL` lines before it, in order.
            var directives: [Range<Int>]
            /// Lines before it.
            var firstLine: Int
        }

        /// Up to `count` parts of about equal size. A part starts at a line that begins a record with its own owner
        /// (not blank, not a comment, not a directive, not indented: the previous owner is not needed), outside
        /// parentheses and quotes.
        static func parts(_ bytes: [UInt8], count: Int) -> [Part] {
            var cuts: [(offset: Int, directives: [Range<Int>], line: Int)] = [(0, [], 0)]
            var directives: [Range<Int>] = []
            var depth = 0
            var quoted = false
            var comment = false
            var line = 0
            var lineStart = true
            var next = bytes.count / count
            var i = 0
            bytes.withUnsafeBufferPointer { b in
                while i < b.count {
                    let c = b[i]
                    if lineStart && depth == 0 && !quoted {
                        if c == UInt8(ascii: "$") {
                            var e = i
                            while e < b.count, b[e] != UInt8(ascii: "\n") { e += 1 }
                            var w = i
                            while w < e, b[w] != UInt8(ascii: " "), b[w] != UInt8(ascii: "\t") { w += 1 }
                            let word = String(decoding: b[i..<w].map { $0 | 0x20 }, as: UTF8.self)
                            if word == "$origin" || word == "$ttl" { directives.append(i..<e) }
                        } else if i >= next, cuts.count < count, c != UInt8(ascii: " "), c != UInt8(ascii: "\t"),
                            c != UInt8(ascii: "\n"), c != UInt8(ascii: "\r"), c != UInt8(ascii: ";"),
                            c != UInt8(ascii: "(")
                        {
                            cuts.append((i, directives, line))
                            next = i + (b.count - i) / (count - cuts.count + 1)
                        }
                    }
                    lineStart = false
                    if comment {
                        if c == UInt8(ascii: "\n") { comment = false }
                    } else if quoted {
                        if c == UInt8(ascii: "\\") {
                            i += 1
                        } else if c == UInt8(ascii: "\"") {
                            quoted = false
                        }
                    } else {
                        switch c {
                        case UInt8(ascii: ";"): comment = true
                        case UInt8(ascii: "\""): quoted = true
                        case UInt8(ascii: "("): depth += 1
                        case UInt8(ascii: ")"): depth = max(0, depth - 1)
                        case UInt8(ascii: "\\"): i += 1
                        default: break
                        }
                    }
                    if i < b.count, b[i] == UInt8(ascii: "\n") {
                        line += 1
                        lineStart = true
                        comment = false
                    }
                    i += 1
                }
            }
            return cuts.enumerated().map { k, cut in
                let end = k + 1 < cuts.count ? cuts[k + 1].offset : bytes.count
                return Part(range: cut.offset..<end, directives: cut.directives, firstLine: cut.line)
            }
        }
    }

    /// Parses one record in master-file syntax (`www.example.com. 60 IN A 192.0.2.10`), relative names against
    /// `origin`. Tests use it to write expected answers as zone text.
    public static func parseRecord(_ text: String, origin: DomainName = .root, defaultTTL: UInt32 = 3600)
        throws(ZoneLoadFailure) -> ResourceRecord
    {
        var rr: UnsafeMutablePointer<ldns_rr>?
        let ldnsOrigin = ldns_dname_new_frm_str(origin.description)
        defer { ldns_rdf_deep_free(ldnsOrigin) }
        let status = ldns_rr_new_frm_str(&rr, text, defaultTTL, ldnsOrigin, nil)
        guard status == LDNS_STATUS_OK, let rr else {
            let why = String(cString: ldns_get_errorstr_by_id(status))
            throw ZoneLoadFailure(errors: [ZoneError(file: "<text>", line: nil, message: "\(why): \(text)")])
        }
        defer { ldns_rr_free(rr) }
        do {
            return try record(from: rr)
        } catch {
            throw ZoneLoadFailure(errors: [ZoneError(file: "<text>", line: nil, message: "\(error): \(text)")])
        }
    }

    /// Adds an ldns record to `builder` from its uncompressed wire form: owner, type, class and TTL read in place,
    /// RDATA copied as it is (names inside it checked for the types that have them). Returns what is wrong, if
    /// anything.
    private static func add(_ rr: UnsafeMutablePointer<ldns_rr>, to builder: inout ZoneBuilder, line: Int?) -> String? {
        var buf: UnsafeMutablePointer<UInt8>?
        var size = 0
        let status = ldns_rr2wire(&buf, rr, Int32(LDNS_SECTION_ANSWER.rawValue), &size)
        guard status == LDNS_STATUS_OK, let buf else { return "ldns cannot encode record" }
        defer { free(buf) }
        let wire = UnsafeRawBufferPointer(start: buf, count: size)
        // The owner: uncompressed labels of at most 63 octets, 255 in all, ending in the root label.
        var i = 0
        while i < wire.count, wire[i] != 0 {
            guard wire[i] < 64 else { return "bad owner name" }
            i += Int(wire[i]) + 1
        }
        let ownerEnd = i + 1
        guard ownerEnd <= 255, ownerEnd + 10 <= wire.count else { return "truncated record" }
        func u16(_ at: Int) -> UInt16 { UInt16(wire[at]) << 8 | UInt16(wire[at + 1]) }
        let type = u16(ownerEnd)
        let rdlen = Int(u16(ownerEnd + 8))
        let ttl = UInt32(u16(ownerEnd + 4)) << 16 | UInt32(u16(ownerEnd + 6))
        guard ownerEnd + 10 + rdlen == wire.count else { return "bad RDATA length" }
        if RRType(type).rdataLayout != nil {
            // Names in RDATA: read through the checked reader, as any message's records are.
            var reader = WireReader(Array(wire))
            do {
                builder.add(try reader.record(), line: line)
            } catch {
                return "\(error)"
            }
            return nil
        }
        builder.add(
            owner: UnsafeRawBufferPointer(rebasing: wire[0..<ownerEnd]), type: type, rrClass: u16(ownerEnd + 2),
            ttl: ttl, rdata: UnsafeRawBufferPointer(rebasing: wire[(ownerEnd + 10)...]), line: line)
        return nil
    }

    /// Converts an ldns record to a `ResourceRecord` through its uncompressed wire form.
    private static func record(from rr: UnsafeMutablePointer<ldns_rr>) throws -> ResourceRecord {
        var buf: UnsafeMutablePointer<UInt8>?
        var size = 0
        let status = ldns_rr2wire(&buf, rr, Int32(LDNS_SECTION_ANSWER.rawValue), &size)
        guard status == LDNS_STATUS_OK, let buf else {
            throw ZoneLoadFailure(errors: [ZoneError(file: "", line: nil, message: "ldns cannot encode record")])
        }
        defer { free(buf) }
        var reader = WireReader(Array(UnsafeBufferPointer(start: buf, count: size)))
        return try reader.record()
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

        /// True when line `n` holds more than blanks and a comment.
        func hasContent(_ n: Int) -> Bool {
            guard n >= 1, n <= count else { return false }
            for b in line(n) {
                switch b {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"): continue
                case UInt8(ascii: ";"): return false
                default: return true
                }
            }
            return false
        }

        /// ldns reports the last line a record used; a record starts at the first line after the previous one that
        /// holds more than blanks and comments. On a last line without a newline ldns does not count it at all.
        func firstContentLine(after: Int, upTo: Int) -> Int? {
            guard upTo > after else { return after + 1 }
            for n in (after + 1)...upTo where hasContent(n) { return n }
            return upTo
        }
    }
}
