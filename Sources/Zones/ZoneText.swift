// ZoneText: records printed as RFC 1035 master-file text through libldns — the form registrars, secondaries and
// other servers read.

import CLDNS
import DNSWire

/// Master-file text for records, one per line, as libldns prints them (`ldns_rr2str`): absolute owner names,
/// explicit TTL and class, presentation-format RDATA (RFC 3597 `\# len hex` for types ldns does not know).
public enum ZoneText {
    /// One record as a line (without the newline); nil if ldns cannot read its wire form.
    public static func line(_ rr: ResourceRecord) -> String? {
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
            out += (line(rr) ?? "; (not printable: \(rr))") + "\n"
        }
        return out
    }
}
