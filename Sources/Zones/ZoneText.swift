// ZoneText: records printed as RFC 1035 master-file text through libldns — the form registrars, secondaries and
// other servers read.

import CLDNS
import DNSWire
import Foundation

/// Master-file text for records, one per line, as libldns prints them (`ldns_rr2str`): absolute owner names,
/// explicit TTL and class, presentation-format RDATA (RFC 3597 `\# len hex` for types ldns does not know).
public enum ZoneText {
    /// One record as a line (without the newline), as ldns prints it. When ldns cannot read the record back, or its
    /// presentation of the RDATA would not read back to the same octets (RDATA that is not valid for its type,
    /// which RFC 3597 `\#` input can carry: a fuzzer found a TYPE42 (APL) record that ldns cannot print, and which
    /// the export used to leave out), the record is written in the generic form `TYPEnnn \# len hex` (RFC 3597
    /// §5), which always loads back. The same goes for owner names ldns does not escape (a `"` in a label, found by
    /// the zone-file fuzzer): the generic line writes the owner with `DomainName`'s escapes.
    public static func line(_ rr: ResourceRecord) -> String {
        // The owner is written by `DomainName` (RFC 1035 §5.1 escapes; ldns leaves a `"` in a label bare).
        if plainNames(rr), let text = presentation(rr), let tab = text.firstIndex(of: "\t") {
            let line = rr.name.description + text[tab...]
            if let back = try? ZoneFileLoader.parseRecord(line), back.type == rr.type, back.rdata == rr.rdata {
                return line
            }
        }
        return generic(rr)
    }

    /// Whether every name inside the RDATA is letters, digits, `-`, `_` and `*` only: ldns prints other names without
    /// the escapes a master file needs, so those records go out in generic form.
    static func plainNames(_ rr: ResourceRecord) -> Bool {
        rr.rdataNames.allSatisfy { name in
            name.labelSlices.allSatisfy { label in
                label.allSatisfy { b in
                    (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7a) || b == 0x2d || b == 0x5f
                        || b == 0x2a
                }
            }
        }
    }

    /// `owner TTL CLASS TYPEnnn \# len hex`: RFC 3597 §5's form, valid for every record.
    public static func generic(_ rr: ResourceRecord) -> String {
        let cls = rr.rrClass == .in ? "IN" : "CLASS\(rr.rrClass.rawValue)"
        let hex = rr.rdata.map { String(format: "%02x", $0) }.joined()
        return
            "\(rr.name)\t\(rr.ttl)\t\(cls)\tTYPE\(rr.type.rawValue)\t\\# \(rr.rdata.count)\(hex.isEmpty ? "" : " " + hex)"
    }

    /// ldns's presentation of one record.
    static func presentation(_ rr: ResourceRecord) -> String? {
        var wire = rr.name.wire
        wire += [UInt8(rr.type.rawValue >> 8), UInt8(rr.type.rawValue & 0xFF)]
        wire += [UInt8(rr.rrClass.rawValue >> 8), UInt8(rr.rrClass.rawValue & 0xFF)]
        wire += (0..<4).map { UInt8(truncatingIfNeeded: rr.ttl >> (8 * (3 - UInt32($0)))) }
        wire += [UInt8(rr.rdata.count >> 8), UInt8(rr.rdata.count & 0xFF)] + rr.rdata
        var parsed: UnsafeMutablePointer<ldns_rr>?
        var pos = 0
        let status = wire.withUnsafeBufferPointer {
            ldns_wire2rr(&parsed, $0.baseAddress, $0.count, &pos, LDNS_SECTION_ANSWER)
        }
        guard status == LDNS_STATUS_OK, let parsed else { return nil }
        defer { ldns_rr_free(parsed) }
        guard let text = ldns_rr2str(parsed) else { return nil }
        defer { free(text) }
        var line = String(cString: text)
        while line.hasSuffix("\n") { line.removeLast() }
        return line
    }

    /// The zone as master-file text: a header comment, `$ORIGIN`, then the SOA and every record in canonical
    /// order (`Zone.records`), one line each. Loading the text gives the same zone back.
    public static func render(_ zone: Zone, header: [String] = []) -> String {
        var out = header.map { "; \($0)\n" }.joined()
        out += "$ORIGIN \(zone.origin)\n"
        for rr in zone.records {
            out += line(rr) + "\n"
        }
        return out
    }
}
