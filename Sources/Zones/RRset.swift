// RRset: the records of one owner name and type (RFC 2181 §5).

import DNSWire

/// A set of records sharing owner, type and class, with one TTL (RFC 2181 §5.2).
public struct RRset: Hashable, Sendable {
    /// The owner name, in the case the zone file wrote it.
    public var name: DomainName
    /// The type.
    public var type: RRType
    /// The set's TTL.
    public var ttl: UInt32
    /// Each record's RDATA in uncompressed wire form, in zone-file order, without duplicates.
    public var rdatas: [[UInt8]]
    /// The zone-file line of the set's first record, when it came from a file.
    public var line: Int?

    /// Makes a set.
    public init(name: DomainName, type: RRType, ttl: UInt32, rdatas: [[UInt8]], line: Int? = nil) {
        self.name = name
        self.type = type
        self.ttl = ttl
        self.rdatas = rdatas
        self.line = line
    }

    /// The records, owned by `owner` (a wildcard-synthesised answer gives the query name, RFC 4592 §3.3.1).
    public func records(owner: DomainName? = nil, ttl: UInt32? = nil) -> [ResourceRecord] {
        rdatas.map { ResourceRecord(name: owner ?? name, type: type, ttl: ttl ?? self.ttl, rdata: $0) }
    }

    /// The records as resource records with their own owner name.
    public var records: [ResourceRecord] { records() }
}
