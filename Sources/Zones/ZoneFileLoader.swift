// ZoneFileLoader: reads an RFC 1035 master file through libldns, record by record, keeping line numbers.

import CLDNS
import DNSWire
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
        var builder = ZoneBuilder(origin: origin, file: shown)
        guard let fp = fopen(path, "r") else {
            let why = String(cString: strerror(errno))
            throw ZoneLoadFailure(errors: [ZoneError(file: shown, line: nil, message: "cannot open: \(why)")])
        }
        defer { fclose(fp) }
        let lines = LineIndex(path: path)

        var ttl: UInt32 = 3600  // RFC 1035 leaves the default to the server; ldns, NSD and Knot use 3600.
        var ldnsOrigin = ldns_dname_new_frm_str(origin.description)
        var prev = ldns_dname_new_frm_str(origin.description)
        defer {
            ldns_rdf_deep_free(ldnsOrigin)
            ldns_rdf_deep_free(prev)
        }
        var lineNr: Int32 = 0
        while feof(fp) == 0 {
            var rr: UnsafeMutablePointer<ldns_rr>?
            let before = Int(lineNr)
            let status = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &ldnsOrigin, &prev, &lineNr)
            let line = lines.firstContentLine(after: before, upTo: Int(lineNr))
            switch status {
            case LDNS_STATUS_OK:
                guard let rr else { continue }
                defer { ldns_rr_free(rr) }
                do {
                    builder.add(try record(from: rr), line: line)
                } catch {
                    builder.fail(line: line, "cannot convert record: \(error)")
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
        return try builder.build()
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

        init(path: String) {
            guard let fp = fopen(path, "r") else { return }
            defer { fclose(fp) }
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = fread(&chunk, 1, chunk.count, fp)
                if n <= 0 { break }
                bytes += chunk[0..<n]
            }
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
