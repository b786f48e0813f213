// Dnstap: the query log's wire format — dnstap protobuf messages (dnstap.proto) in Frame Streams, the format Knot,
// NSD, BIND and Unbound write and `kdig -G`, `dnstap-read` and `fstrm_dump` read.

import DNSWire
import Foundation
import Uplinks

/// Encodes dnstap messages and Frame Streams framing. The protobuf is written by hand: two messages of a dozen
/// scalar fields each, whose encoding (varints, length-delimited bytes, one fixed32) is a few lines; generating it
/// with swift-protobuf would add its runtime and plugin build for that.
enum Dnstap {
    /// The Frame Streams content type of dnstap.
    static let contentType = Array("protobuf:dnstap.Dnstap".utf8)

    /// dnstap.Message.Type values an authoritative server writes.
    enum MessageType: UInt64 {
        case authQuery = 1
        case authResponse = 2
    }

    /// One logged exchange, as the writer thread receives it.
    struct Entry: Sendable {
        var query: [UInt8]
        var response: [UInt8]
        /// Client address octets (4 or 16; empty when unknown) and port.
        var client: [UInt8]
        var port: UInt16
        var tcp: Bool
        /// The address and port the query came in on, which the response leaves from (4 or 16 octets; empty when
        /// unknown): which of the server's addresses (which line) was asked.
        var local: [UInt8] = []
        var localPort: UInt16 = 0
        /// When the query was answered (seconds, nanoseconds since the epoch).
        var seconds: UInt64
        var nanoseconds: UInt32
        /// The client network a pool's answer went by (`by-network`), if it did.
        var network: String? = nil
    }

    /// A protobuf writer for the few field types dnstap uses.
    struct Proto {
        var bytes: [UInt8] = []

        mutating func varint(_ v: UInt64) {
            var v = v
            while v >= 0x80 {
                bytes.append(UInt8(v & 0x7F) | 0x80)
                v >>= 7
            }
            bytes.append(UInt8(v))
        }

        mutating func tag(_ field: UInt64, _ wire: UInt64) { varint(field << 3 | wire) }

        mutating func uint(_ field: UInt64, _ v: UInt64) {
            tag(field, 0)
            varint(v)
        }

        mutating func data(_ field: UInt64, _ v: [UInt8]) {
            tag(field, 2)
            varint(UInt64(v.count))
            bytes += v
        }

        mutating func fixed32(_ field: UInt64, _ v: UInt32) {
            tag(field, 5)
            withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
        }
    }

    /// A `dnstap.Dnstap` frame holding one `Message` of `type` for `entry`.
    static func frame(_ type: MessageType, _ e: Entry, identity: [UInt8], version: [UInt8]) -> [UInt8] {
        var m = Proto()
        m.uint(1, type.rawValue)  // Message.type
        if !e.client.isEmpty || !e.local.isEmpty {
            m.uint(2, (e.client.isEmpty ? e.local : e.client).count == 16 ? 2 : 1)  // socket_family: INET, INET6
        }
        m.uint(3, e.tcp ? 2 : 1)  // socket_protocol: UDP, TCP
        if !e.client.isEmpty {
            m.data(4, e.client)  // query_address
            m.uint(6, UInt64(e.port))  // query_port
        }
        if !e.local.isEmpty {
            m.data(5, e.local)  // response_address: the server's address the query came in on
            m.uint(7, UInt64(e.localPort))  // response_port
        }
        // The query's time on both (the response leaves within microseconds of it).
        m.uint(8, e.seconds)  // query_time_sec
        m.fixed32(9, e.nanoseconds)  // query_time_nsec
        m.data(10, e.query)  // query_message
        if type == .authResponse {
            m.uint(12, e.seconds)  // response_time_sec
            m.fixed32(13, e.nanoseconds)  // response_time_nsec
            m.data(14, e.response)  // response_message
        }
        var d = Proto()
        d.data(1, identity)  // identity
        d.data(2, version)  // version
        // extra: the client network a pool's answer went by (`by-network`), which dnstap has no field for.
        if let network = e.network { d.data(3, Array("network=\(network)".utf8)) }
        d.data(14, m.bytes)  // message
        d.uint(15, 1)  // type: MESSAGE
        return d.bytes
    }

    /// Frame Streams control frame types.
    enum Control: UInt32 {
        case accept = 1
        case start = 2
        case stop = 3
        case ready = 4
        case finish = 5
    }

    static func be32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }

    /// A control frame (escape, length, type, and the content type for READY, ACCEPT and START).
    static func control(_ type: Control, withContentType: Bool = true) -> [UInt8] {
        var body = be32(type.rawValue)
        if withContentType && type != .stop && type != .finish {
            body += be32(1) + be32(UInt32(contentType.count)) + contentType  // CONTENT_TYPE field
        }
        return be32(0) + be32(UInt32(body.count)) + body
    }

    /// A data frame: its length, then the payload.
    static func data(_ payload: [UInt8]) -> [UInt8] { be32(UInt32(payload.count)) + payload }

    /// One line of the plain-text log: time, transport, client, the server's address it asked, question, rcode,
    /// answer count and size.
    static func text(_ e: Entry) -> String {
        let time = Date(timeIntervalSince1970: Double(e.seconds) + Double(e.nanoseconds) / 1e9)
        let stamp = textStamp.string(from: time)
        let client = IPAddress(octets: e.client).map { "\($0)#\(e.port)" } ?? "-"
        let local = IPAddress(octets: e.local).map { "\($0)#\(e.localPort)" } ?? "-"
        let question = Self.question(e.query) ?? "(no question)"
        let r = e.response
        let rcode = r.count >= 4 ? rcodeNames[Int(r[3] & 0x0F)] ?? "RCODE\(r[3] & 0x0F)" : "dropped"
        let answers = r.count >= 8 ? Int(r[6]) << 8 | Int(r[7]) : 0
        let flags = r.count >= 4 ? (r[2] & 0x02 != 0 ? " TC" : "") + (r[2] & 0x04 != 0 ? " AA" : "") : ""
        return
            "\(stamp) \(e.tcp ? "tcp" : "udp") \(client) to \(local) \(question) \(rcode)\(flags) \(answers) \(r.count)"
            + (e.network.map { " network=\($0)" } ?? "") + "\n"
    }

    private static let rcodeNames: [Int: String] = [
        0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 9: "NOTAUTH",
    ]

    nonisolated(unsafe) private static let textStamp: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()

    /// `name CLASS TYPE` of a query's question, or nil when it has none that reads.
    static func question(_ q: [UInt8]) -> String? {
        guard q.count > 12, q[4] != 0 || q[5] != 0 else { return nil }
        var i = 12
        var labels: [String] = []
        while i < q.count {
            let n = Int(q[i])
            if n == 0 { break }
            guard n < 64, i + 1 + n <= q.count else { return nil }
            labels.append(
                q[(i + 1)..<(i + 1 + n)].map { b in
                    b > 0x20 && b < 0x7F && b != UInt8(ascii: ".") && b != UInt8(ascii: "\\")
                        ? String(UnicodeScalar(b)) : String(format: "\\%03d", b)
                }.joined())
            i += 1 + n
        }
        guard i + 4 < q.count else { return nil }
        let type = UInt16(q[i + 1]) << 8 | UInt16(q[i + 2])
        let cls = UInt16(q[i + 3]) << 8 | UInt16(q[i + 4])
        let name = labels.isEmpty ? "." : labels.joined(separator: ".") + "."
        return "\(name) \(RRClass(rawValue: cls).description) \(RRType(rawValue: type).description)"
    }
}
