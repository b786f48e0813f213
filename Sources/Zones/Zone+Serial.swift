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
        return Zone(origin: origin, file: file, data: data, patch: patch, soa: record)
    }

    /// A 64-bit fingerprint of every record except the SOA serial: equal for zones that answer alike (names
    /// compared without case). Order-independent (a sum of per-record FNV-1a hashes), so it needs no sort.
    public var contentFingerprint: UInt64 {
        var sum: UInt64 = 0
        func add(_ name: UnsafeRawBufferPointer, _ type: UInt16, _ ttl: UInt32, _ rdata: UnsafeRawBufferPointer) {
            if type == RRType.soa.rawValue, rdata.count >= 20 {
                var copy = Array(rdata)
                for i in (copy.count - 20)..<(copy.count - 16) { copy[i] = 0 }
                copy.withUnsafeBytes { sum = sum &+ Zone.recordHash(name, type, ttl, $0) }
            } else {
                sum = sum &+ Zone.recordHash(name, type, ttl, rdata)
            }
        }
        // Read in place from the arenas: a million records make no record values.
        data.rdata.withUnsafeBytes { rd in
            for i in 0..<data.count {
                let node = data.nodes[i]
                guard node.setCount > 0 else { continue }
                if !patch.isEmpty, patch[data.name(i)] != nil { continue }
                data.withName(i) { name in
                    for j in Int(node.setStart)..<(Int(node.setStart) + Int(node.setCount)) {
                        let set = data.sets[j]
                        for k in Int(set.rdataStart)..<(Int(set.rdataStart) + Int(set.rdataCount)) {
                            add(name, set.type, set.ttl, UnsafeRawBufferPointer(rebasing: rd[data.rdataRange(k)]))
                        }
                    }
                }
            }
        }
        for node in patch.values {
            node.name.wire.withUnsafeBytes { name in
                for set in node.rrsets.values {
                    for rdata in set.rdatas { rdata.withUnsafeBytes { add(name, set.type.rawValue, set.ttl, $0) } }
                }
            }
        }
        return sum
    }

    /// FNV-1a over a record's lower-cased owner, type, TTL and RDATA (names inside RDATA as written).
    public static func recordHash(_ name: DomainName, _ type: RRType, _ ttl: UInt32, _ rdata: [UInt8]) -> UInt64 {
        name.wire.withUnsafeBytes { n in rdata.withUnsafeBytes { recordHash(n, type.rawValue, ttl, $0) } }
    }

    /// `recordHash` over octets in place.
    static func recordHash(
        _ name: UnsafeRawBufferPointer, _ type: UInt16, _ ttl: UInt32, _ rdata: UnsafeRawBufferPointer
    )
        -> UInt64
    {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        @inline(__always) func mix(_ b: UInt8) {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        for b in name { mix(DomainName.fold(b)) }
        mix(UInt8(type >> 8))
        mix(UInt8(type & 0xFF))
        for i in 0..<4 { mix(UInt8(truncatingIfNeeded: ttl >> (8 * (3 - UInt32(i))))) }
        mix(UInt8(rdata.count >> 8))
        mix(UInt8(rdata.count & 0xFF))
        for b in rdata { mix(b) }
        return h
    }
}
