// Ask: builds queries, runs them through the QueryProcessor without sockets, and parses the responses.

import DNSWire
import Responder

/// EDNS settings of a test query.
struct EDNSQuery {
    var size: UInt16 = 1232
    var version: UInt8 = 0
    var dnssecOK = false
    var options: [UInt8] = []
}

/// The query bytes for a question.
func queryBytes(
    _ name: String, _ type: RRType, rrClass: RRClass = .in, flags: UInt16 = 0, edns: EDNSQuery? = nil,
    id: UInt16 = 0x4242
) throws -> [UInt8] {
    var w = MessageWriter()
    w.append(Header(id: id, flags: flags, qdCount: 1, arCount: edns == nil ? 0 : 1).bytes)
    w.question(try DomainName(name), type: type, rrClass: rrClass)
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

/// Runs raw query bytes through the processor; nil when it sends nothing.
func respond(
    _ snapshot: Snapshot, _ query: [UInt8], transport: Transport = .udp, scratch: QueryScratch = QueryScratch(),
    client: ClientAddress = .unknown
) -> [UInt8]? {
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: QueryProcessor.maxResponse, alignment: 16)
    defer { out.deallocate() }
    let n = query.withUnsafeBytes {
        QueryProcessor.respond(
            snapshot: snapshot, query: $0, transport: transport, scratch: scratch, client: client, into: out)
    }
    return n == 0 ? nil : Array(out[0..<n])
}

/// Asks a question and parses the response (which must exist and be well-formed).
func ask(
    _ snapshot: Snapshot, _ name: String, _ type: RRType, rrClass: RRClass = .in, flags: UInt16 = 0,
    edns: EDNSQuery? = nil, transport: Transport = .udp
) throws -> Message {
    let q = try queryBytes(name, type, rrClass: rrClass, flags: flags, edns: edns)
    guard let r = respond(snapshot, q, transport: transport) else { throw NoResponse() }
    return try Message(bytes: r)
}

struct NoResponse: Error {}
