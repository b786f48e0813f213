// Queries: the query messages tests send, as bytes — built one way for every test target.

import DNSWire

/// EDNS settings of a test query: an OPT record with this UDP size, version, DO bit and options.
public struct EDNSQuery: Sendable {
    public var size: UInt16
    public var version: UInt8
    public var dnssecOK: Bool
    public var options: [UInt8]

    public init(size: UInt16 = 1232, version: UInt8 = 0, dnssecOK: Bool = false, options: [UInt8] = []) {
        self.size = size
        self.version = version
        self.dnssecOK = dnssecOK
        self.options = options
    }
}

/// The bytes of a query for `name` (absolute with or without the final dot) and `type`. `authoritySOA`: a SOA
/// record with that serial in the authority section (as an IXFR request carries); `edns`: an OPT record.
/// A name that does not parse is a mistake in the test: it stops the run.
public func queryBytes(
    _ name: String, _ type: RRType, rrClass: RRClass = .in, flags: UInt16 = 0, id: UInt16 = 0x4242,
    authoritySOA serial: UInt32? = nil, edns: EDNSQuery? = nil
) -> [UInt8] {
    let owner: DomainName
    do {
        owner = try DomainName(name)
    } catch {
        fatalError("queryBytes: '\(name)' is not a domain name: \(error)")
    }
    var w = MessageWriter()
    w.append(
        Header(id: id, flags: flags, qdCount: 1, nsCount: serial == nil ? 0 : 1, arCount: edns == nil ? 0 : 1).bytes)
    w.question(owner, type: type, rrClass: rrClass)
    if let serial {
        var rdata = try! DomainName("a.").wire + DomainName("b.").wire
        for v in [serial, 0, 0, 0, 0] { rdata += (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * (3 - $0))) } }
        w.record(ResourceRecord(name: owner, type: .soa, ttl: 0, rdata: rdata))
    }
    if let e = edns {
        w.append([0])
        w.u16(RRType.opt.rawValue)
        w.u16(e.size)
        w.append([0, e.version, e.dnssecOK ? 0x80 : 0, 0])
        w.u16(UInt16(e.options.count))
        w.append(e.options)
    }
    return w.bytes
}

/// A message framed for TCP: its length in two octets, then the message (RFC 1035 §4.2.2).
public func tcpFramed(_ message: [UInt8]) -> [UInt8] {
    [UInt8(message.count >> 8), UInt8(message.count & 0xFF)] + message
}
