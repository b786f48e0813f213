// QueryCompletion: what follows the compiled answer on either transport, written once — the deferred slow path,
// rate limiting, counting and the query log.

import DNSWire
import Responder

/// After `QueryProcessor.respond`, UDP and TCP finish a query the same way: a deferred query (TSIG-signed, a zone
/// transfer) is answered by the transfer module, a datagram answer may be rate limited (RRL is for UDP: RFC 7766 and
/// NSD/Knot leave TCP alone), and every exchange is counted and, while the query log is on, logged. One value per
/// UDP worker or TCP connection; every member is lock-free on the answer path (the log costs one relaxed load while
/// off).
struct QueryCompletion: Sendable {
    /// Queries by type, zone and rcode (the worker's or event loop's own block).
    let stats: QueryStats.Block
    /// Answers what the compiled path defers; nil: those get the compiled path's own answer (NOTAUTH, NOTIMP).
    let transfer: ZoneTransfer?
    /// Response rate limiting; nil for TCP.
    let limiter: RateLimiter?
    /// The query log.
    let queryLog: QueryLog?

    /// Whether the compiled path should hand signed queries and transfers over (`QueryProcessor.respond`'s
    /// `deferring`).
    var defers: Bool { transfer != nil }

    /// The messages that answer a deferred query (the slow path: off the compiled answers, rare). TCP runs it off the
    /// event loop; a transfer is several messages.
    func deferred(_ query: [UInt8], client: ClientAddress, transport: Transport) -> [[UInt8]] {
        transfer?.respond(query, client: client.ipAddress, transport: transport) ?? []
    }

    /// Finishes a datagram's answer of `length` octets in `dst` (or `QueryProcessor.deferred`): the slow path's first
    /// message, or the compiled answer as rate limiting lets it go (dropped: 0; slipped: truncated); then counts and
    /// logs it. `now`: seconds, read once per batch while RRL is on; nil while it is off (one check per batch, not
    /// per query). Returns the octets to send (0: none).
    @inline(__always)
    func finishDatagram(
        query: UnsafeRawBufferPointer, length: Int, into dst: UnsafeMutableRawBufferPointer, scratch: QueryScratch,
        client: ClientAddress, now: UInt32?, ends: () -> QueryLog.Ends
    ) -> Int {
        var rlen = length
        if rlen == QueryProcessor.deferred {
            let reply = deferred(Array(query), client: client, transport: .udp).first ?? []
            rlen = min(reply.count, dst.count)
            reply.withUnsafeBytes { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<rlen])) }
        } else if rlen > 0, let now, let limiter {
            switch limiter.check(client: client, answer: scratch.lastAnswer, now: now) {
            case .send: break
            case .drop: rlen = 0
            case .slip: rlen = RateLimiter.truncate(dst, length: rlen, questionEnd: scratch.lastQuestionEnd)
            }
        }
        record(
            query: query, response: UnsafeRawBufferPointer(rebasing: dst[0..<max(rlen, 0)]),
            qtype: scratch.lastQType, zone: scratch.lastZoneSlot, client: client, ends: ends, tcp: false)
        return rlen
    }

    /// Counts one exchange and, while the query log is on, queues it for the log with its `ends` (the client's port,
    /// the server's address and port it came in on). `response` empty: none was sent.
    /// A multi-message answer (a transfer) is counted and logged by its first message.
    @inline(__always)
    func record(
        query: UnsafeRawBufferPointer, response: UnsafeRawBufferPointer, qtype: UInt16, zone: UInt8,
        client: ClientAddress, ends: () -> QueryLog.Ends, tcp: Bool
    ) {
        stats.count(qtype: qtype, zone: zone, response: response)
        if let queryLog, queryLog.isOn {
            queryLog.record(query: query, response: response, client: client, ends: ends(), tcp: tcp)
        }
    }
}
