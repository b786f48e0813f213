// Zone+Serial: the served SOA serial (RFC 1982 arithmetic) and a fingerprint of a zone's content without it, so
// the server can tell when what a zone answers has changed and its serial must move.

import DNSWire

/// RFC 1982 serial number arithmetic for SOA serials.
public enum SerialNumber {
    /// `a` is greater than `b` in RFC 1982 §3.2's sense (undefined when they are 2^31 apart: then false).
    public static func isGreater(_ a: UInt32, than b: UInt32) -> Bool {
        (a < b && b - a > 0x8000_0000) || (a > b && a - b < 0x8000_0000)
    }
}

extension Zone {
    /// The SOA serial as the zone file wrote it.
    public var fileSerial: UInt32 { soa.soaSerial ?? 0 }

    /// This zone with its SOA serial set to `serial` (in the apex SOA record and in the SOA RRset).
    public func withSerial(_ serial: UInt32) -> Zone {
        guard soa.soaSerial != serial, soa.rdata.count >= 20 else { return self }
        var rdata = soa.rdata
        let at = rdata.count - 20
        for i in 0..<4 { rdata[at + i] = UInt8(truncatingIfNeeded: serial >> (8 * (3 - UInt32(i)))) }
        var record = soa
        record.rdata = rdata
        // The apex alone changes (a patch over the loaded nodes): a serial costs one node, not the zone.
        var patch = self.patch
        if var node = self.node(origin), var set = node.rrsets[.soa] {
            set.rdatas = [rdata]
            node.rrsets[.soa] = set
            patch[origin] = node
        }
        return Zone(origin: origin, file: file, nodes: storage, patch: patch, soa: record)
    }

    /// A 64-bit fingerprint of every record except the SOA serial: equal for zones that answer alike (names
    /// compared without case). Order-independent (a sum of per-record FNV-1a hashes), so it needs no sort.
    public var contentFingerprint: UInt64 {
        var sum: UInt64 = 0
        for (_, node) in nodes {  // merged: a fingerprint reads every node once
            for (type, set) in node.rrsets {
                for rdata in set.rdatas {
                    var data = rdata
                    if type == .soa, data.count >= 20 {
                        for i in (data.count - 20)..<(data.count - 16) { data[i] = 0 }
                    }
                    sum = sum &+ Zone.recordHash(set.name, type, set.ttl, data)
                }
            }
        }
        return sum
    }

    /// FNV-1a over a record's lower-cased owner, type, TTL and RDATA (names inside RDATA as written).
    public static func recordHash(_ name: DomainName, _ type: RRType, _ ttl: UInt32, _ rdata: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        @inline(__always) func mix(_ b: UInt8) {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        for b in name.wire { mix(DomainName.fold(b)) }
        mix(UInt8(type.rawValue >> 8))
        mix(UInt8(type.rawValue & 0xFF))
        for i in 0..<4 { mix(UInt8(truncatingIfNeeded: ttl >> (8 * (3 - UInt32(i))))) }
        mix(UInt8(rdata.count >> 8))
        mix(UInt8(rdata.count & 0xFF))
        for b in rdata { mix(b) }
        return h
    }
}
