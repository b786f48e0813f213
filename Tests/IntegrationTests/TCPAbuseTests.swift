// TCPAbuseTests: the real binary under the TCP abuse RFC 7766 §6.2 warns of — clients that dribble octets to hold
// slots, connections that fill the table — and the framing edges: half-closed connections, zero-length frames.

import DNSSEC
import DNSWire
import Foundation
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A blocking TCP socket from `source` (any 127.x address: the whole block is local) to 127.0.0.1:`port`.
func tcpConnect(port: UInt16, from source: String, timeout: Double = 1) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    func address(_ host: String, _ port: UInt16) -> sockaddr_in {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &sa.sin_addr)
        return sa
    }
    var local = address(source, 0)
    var remote = address("127.0.0.1", port)
    let ok =
        withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        } == 0
        && withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        } == 0
    if !ok {
        close(fd)
        return nil
    }
    return fd
}

/// 256 connections from 16 addresses (127.0.1.1–16), each sending one octet of a query per second and
/// reconnecting when the server closes it — the slow-client attack on TCP slots.
final class Dribblers: Sendable {
    private let running = Atomic<Bool>(true)
    /// Connections made, and closed by the server.
    let connects = Atomic<Int>(0)
    let closedByServer = Atomic<Int>(0)
    private let done = DispatchSemaphore(value: 0)

    init(port: UInt16, addresses: Int = 16, perAddress: Int = 16) {
        let query = tcpFramed(queryBytes("www.example.com.", .a, id: 0xd1b1))
        Thread.detachNewThread { [self] in
            var conns: [(fd: Int32, sent: Int, source: String)] = []
            func open(_ source: String) -> (Int32, Int, String) {
                let fd = tcpConnect(port: port, from: source, timeout: 0.05) ?? -1
                if fd >= 0 { connects.add(1, ordering: .relaxed) }
                return (fd, 0, source)
            }
            for a in 1...addresses {
                for _ in 0..<perAddress { conns.append(open("127.0.1.\(a)")) }
            }
            while running.load(ordering: .relaxed) {
                for i in conns.indices {
                    var (fd, sent, source) = conns[i]
                    if fd >= 0 {
                        // Closed by the server? (a read that returns 0 right away; the timeout is 50 ms)
                        var b: UInt8 = 0
                        let r = recv(fd, &b, 1, Int32(MSG_DONTWAIT))
                        let gone = r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
                        if gone || send(fd, [query[sent % query.count]], 1, Int32(MSG_NOSIGNAL)) != 1 {
                            closedByServer.add(1, ordering: .relaxed)
                            close(fd)
                            fd = -1
                        } else {
                            sent += 1
                        }
                    }
                    conns[i] = fd >= 0 ? (fd, sent, source) : open(source)
                }
                // One octet per connection per second.
                for _ in 0..<10 where running.load(ordering: .relaxed) { usleep(100_000) }
            }
            for c in conns where c.fd >= 0 { close(c.fd) }
            done.signal()
        }
    }

    func stop() {
        running.store(false, ordering: .relaxed)
        done.wait()
    }
}

@Suite(.serialized) struct TCPAbuseTests {
    /// The target of RFC 7766 §6.2's advice, with the default limits: while 256 connections from 16 addresses
    /// dribble one octet per second, a client opening a new connection for each of 10 queries a second gets at
    /// least 99 % of its answers within 1 s, and UDP is unaffected.
    @Test func slowClientsCannotTakeTheTCPSlots() throws {
        let s = try ServerProcess(files: ["uplinkdns.yaml": poolConfig, "example.com.zone": poolZoneText])
        defer { s.stop() }
        try legitimateClientGetsThrough(s, seconds: 12)
    }

    /// The same with a table the dribblers fill on their own (64 slots, 4 per address): new connections get in
    /// because the oldest idle ones make room.
    @Test func aFullTableMakesRoomForNewClients() throws {
        let config = poolConfig.replacingOccurrences(
            of: "server:\n", with: "server:\n  tcp: {max-connections: 64, max-per-client: 4}\n")
        let s = try ServerProcess(files: ["uplinkdns.yaml": config, "example.com.zone": poolZoneText])
        defer { s.stop() }
        try legitimateClientGetsThrough(s, seconds: 6, perAddress: 4)
        let metrics = try httpRequest(port: s.controlPort, "GET", "/metrics").1
        let evicted = metricValue(metrics, #"uplinkdns_tcp_connections_closed_total{reason="evicted"}"#)
        #expect(evicted > 0, "\(metrics)")
    }

    func legitimateClientGetsThrough(_ s: ServerProcess, seconds: Int, perAddress: Int = 16) throws {
        let dribblers = Dribblers(port: s.port, perAddress: perAddress)
        defer { dribblers.stop() }
        sleep(3)  // the slots are taken, and the first dribblers have hit the message timeout
        var answered = 0
        var late: [Double] = []
        var udpAnswered = 0
        let total = seconds * 10
        for i in 0..<total {
            let start = Date()
            if let fd = tcpConnect(port: s.port, from: "127.0.2.1", timeout: 1) {
                let c = TCPClient(descriptor: fd)
                c.send(tcpFramed(queryBytes("www.example.com.", .a, id: UInt16(i))))
                let reply = c.receive()
                let took = Date().timeIntervalSince(start)
                if let reply, reply.count > 12, reply[0] == UInt8(i >> 8), reply[1] == UInt8(i & 0xFF), took <= 1 {
                    answered += 1
                } else {
                    late.append(took)
                }
            } else {
                late.append(Date().timeIntervalSince(start))
            }
            if udpExchange(port: s.port, queryBytes("www.example.com.", .a, id: UInt16(i))) != nil { udpAnswered += 1 }
            let rest = 0.1 - Date().timeIntervalSince(start)
            if rest > 0 { usleep(UInt32(rest * 1_000_000)) }
        }
        #expect(dribblers.connects.load(ordering: .relaxed) >= 16 * perAddress)
        #expect(dribblers.closedByServer.load(ordering: .relaxed) > 0, "the server closes dribbling connections")
        #expect(Double(answered) >= 0.99 * Double(total), "answered \(answered) of \(total); late: \(late)")
        #expect(udpAnswered == total, "UDP answered \(udpAnswered) of \(total)")
        #expect(s.process.isRunning)
    }

    /// A client that half-closes after sending (`shutdown(SHUT_WR)`) gets every answer it asked for — a signed
    /// AXFR and a signed SOA query (answered off the event loop) as much as a plain query — then the close.
    @Test func halfClosedConnectionsGetEveryAnswer() throws {
        let s = try ServerProcess(files: ["uplinkdns.yaml": transferConfig(), "example.com.zone": try exampleZoneFile])
        defer { s.stop() }
        let key = TSIGKey(name: try DomainName("transfer.example."), secret: Array(Data(base64Encoded: tsigSecret)!))
        func signed(_ name: String, _ type: RRType, id: UInt16) -> [UInt8] {
            tcpFramed(
                TSIG.sign(queryBytes(name, type, id: id), key: key, time: UInt64(Date().timeIntervalSince1970)).message)
        }
        for (what, queries) in [
            ("signed AXFR", [signed("example.com.", .axfr, id: 1)]),
            ("signed SOA", [signed("example.com.", .soa, id: 2)]),
            ("unsigned AXFR (refused)", [tcpFramed(queryBytes("example.com.", .axfr, id: 3))]),
            (
                "two plain queries",
                [
                    tcpFramed(queryBytes("www.example.com.", .a, id: 4)),
                    tcpFramed(queryBytes("www.example.com.", .a, id: 5)),
                ]
            ),
        ] {
            let c = TCPClient(descriptor: try #require(tcpConnect(port: s.port, from: "127.0.0.1", timeout: 3)))
            for q in queries { c.send(q) }
            shutdown(c.fd, Int32(SHUT_WR))
            var replies: [Message] = []
            while let frame = c.receive() { replies.append(try Message(bytes: frame)) }
            #expect(!replies.isEmpty, "\(what): no answer after the half-close")
            if what == "signed AXFR" {
                let soas = replies.flatMap(\.answers).filter { $0.type == .soa }
                #expect(soas.count == 2 && replies.allSatisfy { $0.rcode == .noError }, "\(what)")
            } else if what == "two plain queries" {
                #expect(replies.map(\.header.id) == [4, 5])
            } else {
                #expect(replies.count == 1, "\(what)")
            }
            // And then the server closes its side.
            #expect(c.closedByServer(), "\(what): the server closes after the last answer")
        }
    }

    /// A zero-length frame is not a DNS message: the connection is reset (an RST, so the client's read fails with
    /// ECONNRESET rather than seeing an orderly end of stream), as NSD and Knot do.
    @Test func aZeroLengthFrameResetsTheConnection() throws {
        let s = try ServerProcess(files: ["uplinkdns.yaml": poolConfig, "example.com.zone": poolZoneText])
        defer { s.stop() }
        let c = try TCPClient(port: s.port)
        c.send(tcpFramed(queryBytes("www.example.com.", .a, id: 1)))
        #expect(c.receive() != nil)
        c.send([0, 0])
        #expect(c.resetByServer())
        let metrics = try httpRequest(port: s.controlPort, "GET", "/metrics").1
        #expect(metricValue(metrics, #"uplinkdns_tcp_connections_closed_total{reason="bad-frame"}"#) == 1)
    }

    /// A message that does not arrive whole within the message timeout of its first octet closes the connection.
    @Test func aMessageMustArriveWholeWithinItsDeadline() throws {
        let config = poolConfig.replacingOccurrences(
            of: "server:\n", with: "server:\n  tcp: {message-timeout: 0.5, idle-timeout: 30}\n")
        let s = try ServerProcess(files: ["uplinkdns.yaml": config, "example.com.zone": poolZoneText])
        defer { s.stop() }
        let c = try TCPClient(port: s.port)
        let q = tcpFramed(queryBytes("www.example.com.", .a, id: 7))
        c.send(Array(q[0..<5]))
        let start = Date()
        #expect(c.closedByServer())
        #expect(Date().timeIntervalSince(start) < 2)
        // Sent whole, a message is answered however long the connection has been open before.
        let d = try TCPClient(port: s.port)
        sleep(1)
        d.send(q)
        #expect(d.receive() != nil)
    }
}

extension TCPClient {
    /// True when the server reset the connection (a read fails with ECONNRESET) within the socket timeout; false
    /// for an orderly close (a read of 0), data, or the timeout.
    func resetByServer() -> Bool {
        var b: UInt8 = 0
        return recv(fd, &b, 1, 0) < 0 && errno == ECONNRESET
    }
}

/// The value of the sample `name{labels}` in Prometheus text (0 when absent).
func metricValue(_ text: String, _ sample: String) -> Double {
    for line in text.split(separator: "\n") where line.hasPrefix(sample + " ") {
        return Double(line.dropFirst(sample.count + 1)) ?? 0
    }
    return 0
}
