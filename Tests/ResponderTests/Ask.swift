// Ask: runs queries (TestSupport builds them) through the QueryProcessor without sockets, and parses the responses.

import DNSWire
import Responder
import TestSupport
import Testing
import Uplinks
import Zones

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
    let q = queryBytes(name, type, rrClass: rrClass, flags: flags, edns: edns)
    guard let r = respond(snapshot, q, transport: transport) else { throw NoResponse() }
    return try Message(bytes: r)
}

struct NoResponse: Error {}

/// The zone `text` (example.com.) compiled with `plans`, its served serial 42, with or without the fast compile from
/// the arenas (`ResponderOptions.fromArenas`).
func compiled(_ text: String, plans: PoolPlans, fromArenas: Bool) throws -> Snapshot {
    var options = ResponderOptions()
    options.fromArenas = fromArenas
    return Snapshot(
        zoneSet: ZoneSet([try loadZone(text)]), options: options, plans: plans,
        serials: [try DomainName("example.com."): 42])
}

/// In each line state (lines up, all-down policy), the zone compiled by `compile` with the fast compile from the
/// arenas and without (`ResponderOptions.fromArenas`): the fast path took `expected` names (`count`), the other none,
/// and both answer every question alike (`expectSameAnswers`).
func expectFastCompileIsTheResolvers(
    states: [(up: Set<String>, allDown: AllDownPolicy)], count: KeyPath<Snapshot, Int>, expected: Int,
    names: [String], types: [RRType], compile: (Bool, Set<String>, AllDownPolicy) throws -> Snapshot,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    for (up, allDown) in states {
        let fast = try compile(true, up, allDown)
        let slow = try compile(false, up, allDown)
        #expect(fast[keyPath: count] == expected, sourceLocation: sourceLocation)
        #expect(slow[keyPath: count] == 0, sourceLocation: sourceLocation)
        expectSameAnswers(
            fast, slow, names: names, types: types, state: "\(up.sorted()) up", sourceLocation: sourceLocation)
    }
}

/// Asks both snapshots each name (below example.com.) for each type, over UDP and TCP, with and without EDNS, in the
/// same order with the same rotation, and expects the same bytes: a fast compile against the resolver's
/// (`ResponderOptions.fromArenas`).
func expectSameAnswers(
    _ fast: Snapshot, _ slow: Snapshot, names: [String], types: [RRType], state: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    for transport in [Transport.udp, .tcp] {
        let a = QueryScratch(rotationSeed: 5)
        let b = QueryScratch(rotationSeed: 5)
        for name in names {
            for type in types {
                for edns in [nil, EDNSQuery(options: [])] {
                    let q = queryBytes("\(name).example.com.", type, edns: edns)
                    let got = respond(fast, q, transport: transport, scratch: a)
                    let want = respond(slow, q, transport: transport, scratch: b)
                    #expect(
                        got == want, "\(name) \(type) over \(transport) with \(state)", sourceLocation: sourceLocation)
                }
            }
        }
    }
}
