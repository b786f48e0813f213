// ResourceRecord: one record with its RDATA in uncompressed wire form.

/// A resource record. RDATA is stored uncompressed, so names inside it are complete (RFC 3597 §4).
public struct ResourceRecord: Hashable, Sendable, CustomStringConvertible {
    /// The owner name.
    public var name: DomainName
    /// The record type.
    public var type: RRType
    /// The record class.
    public var rrClass: RRClass
    /// Time to live in seconds.
    public var ttl: UInt32
    /// RDATA in uncompressed wire form.
    public var rdata: [UInt8]

    /// Makes a record.
    public init(name: DomainName, type: RRType, rrClass: RRClass = .in, ttl: UInt32, rdata: [UInt8]) {
        self.name = name
        self.type = type
        self.rrClass = rrClass
        self.ttl = ttl
        self.rdata = rdata
    }

    /// The domain names embedded in the RDATA (NS host, CNAME target, MX exchange, SRV target, SOA names…).
    public var rdataNames: [DomainName] {
        guard let layout = type.rdataLayout else { return [] }
        var out: [DomainName] = []
        var i = 0
        for field in layout {
            switch field {
            case .fixed(let n): i += n
            case .name:
                var j = i
                while j < rdata.count, rdata[j] != 0 { j += Int(rdata[j]) + 1 }
                guard j < rdata.count, let n = try? DomainName(wire: Array(rdata[i...j])) else { return out }
                out.append(n)
                i = j + 1
            }
        }
        return out
    }

    /// The single target name of CNAME, DNAME, NS, PTR; the exchange of MX; the target of SRV.
    public var target: DomainName? {
        switch type {
        case .soa, .minfo, .rp: nil
        default: rdataNames.last
        }
    }

    /// The SOA MINIMUM field (RFC 2308 §4: the negative-caching TTL); nil for other types.
    public var soaMinimum: UInt32? {
        guard type == .soa, rdata.count >= 4 else { return nil }
        let m = rdata.suffix(4)
        return m.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The SOA SERIAL field; nil for other types.
    public var soaSerial: UInt32? {
        guard type == .soa, rdata.count >= 20 else { return nil }
        return rdata[(rdata.count - 20)..<(rdata.count - 16)].reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// A short text form for logs and test failures (RDATA as hex for brevity, names decoded).
    public var description: String {
        let rd =
            rdataNames.isEmpty
            ? rdata.map { String($0, radix: 16) }.joined(separator: " ")
            : rdataNames.map(\.description).joined(separator: " ")
        return "\(name) \(ttl) \(rrClass) \(type) \(rd)"
    }
}
