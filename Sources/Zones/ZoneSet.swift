// ZoneSet: every served zone, and which one answers a given name.

import DNSWire

/// The zones a server serves. A query goes to the zone with the longest origin that is a suffix of the name.
public struct ZoneSet: Sendable {
    /// The zones by origin.
    public let zones: [DomainName: Zone]

    /// Makes a set; origins must be distinct (the config loader checks that).
    public init(_ zones: [Zone]) {
        var byOrigin: [DomainName: Zone] = [:]
        for z in zones { byOrigin[z.origin] = z }
        self.zones = byOrigin
    }

    /// The zone that answers `qname`/`qtype`: the deepest enclosing zone, except that DS at the apex of a zone
    /// whose parent we also serve is answered from the parent (RFC 4035 §3.1.4.1).
    public func zone(for qname: DomainName, qtype: RRType) -> Zone? {
        var cur: DomainName? = qname
        var found: Zone?
        while let c = cur {
            if let z = zones[c] {
                if found == nil {
                    found = z
                    if !(qtype == .ds && c == qname) { return z }
                } else {
                    return z
                }
            }
            cur = c.parent
        }
        return found
    }

    /// Resolves a question against the right zone; nil when no zone encloses the name (answer REFUSED).
    public func resolve(_ qname: DomainName, _ qtype: RRType) -> Resolution? {
        zone(for: qname, qtype: qtype)?.resolve(qname, qtype)
    }
}
