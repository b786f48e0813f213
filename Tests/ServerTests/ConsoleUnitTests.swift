// ConsoleUnitTests: the dnstap encoding and Frame Streams framing, the query log's file stream, the metrics
// registry's mirroring and escaping, and the first-place window — without a network.

import CoreMetrics
import DNSWire
import Foundation
import Logging
import Responder
import TestSupport
import Testing

@testable import Server

/// Reads back a protobuf message's fields (tag → values as raw bytes or varints), enough to check dnstap.
func protobufFields(_ b: [UInt8]) -> [UInt64: [[UInt8]]] {
    var out: [UInt64: [[UInt8]]] = [:]
    var i = 0
    func varint() -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while i < b.count {
            let x = b[i]
            i += 1
            v |= UInt64(x & 0x7F) << shift
            if x & 0x80 == 0 { break }
            shift += 7
        }
        return v
    }
    while i < b.count {
        let key = varint()
        switch key & 7 {
        case 0: out[key >> 3, default: []].append(withUnsafeBytes(of: varint().bigEndian) { Array($0) })
        case 2:
            let n = Int(varint())
            out[key >> 3, default: []].append(Array(b[i..<(i + n)]))
            i += n
        case 5:
            out[key >> 3, default: []].append(Array(b[i..<(i + 4)]))
            i += 4
        default: return out
        }
    }
    return out
}

func uint(_ raw: [UInt8]?) -> UInt64 { raw.map { $0.reduce(0) { $0 << 8 | UInt64($1) } } ?? 0 }

@Suite struct DnstapTests {
    let entry = Dnstap.Entry(
        query: [1, 2, 3], response: [4, 5, 6, 7], client: [192, 0, 2, 1], port: 5353, tcp: true,
        local: [198, 51, 100, 53], localPort: 53, seconds: 1_800_000_000, nanoseconds: 123_456_789)

    @Test func anAuthResponseCarriesBothMessagesTheClientAndTheTime() {
        let frame = Dnstap.frame(.authResponse, entry, identity: Array("ns1".utf8), version: Array("v".utf8))
        let top = protobufFields(frame)
        #expect(top[1] == [Array("ns1".utf8)] && top[2] == [Array("v".utf8)])
        #expect(uint(top[15]?.first) == 1)  // Dnstap.Type MESSAGE
        let m = protobufFields(top[14]?.first ?? [])
        #expect(uint(m[1]?.first) == 2)  // AUTH_RESPONSE
        #expect(uint(m[2]?.first) == 1 && uint(m[3]?.first) == 2)  // INET, TCP
        #expect(m[4] == [[192, 0, 2, 1]] && uint(m[6]?.first) == 5353)
        // Issue 25: the address the query came in on (which line was asked), as response_address and port.
        #expect(m[5] == [[198, 51, 100, 53]] && uint(m[7]?.first) == 53)
        #expect(uint(m[8]?.first) == 1_800_000_000)
        #expect(m[9] == [withUnsafeBytes(of: UInt32(123_456_789).littleEndian) { Array($0) }])
        #expect(m[10] == [[1, 2, 3]] && m[14] == [[4, 5, 6, 7]])
        // An AUTH_QUERY has the query alone.
        let query = protobufFields(protobufFields(Dnstap.frame(.authQuery, entry, identity: [], version: []))[14]![0])
        #expect(uint(query[1]?.first) == 1 && query[14] == nil && query[10] == [[1, 2, 3]])
    }

    @Test func frameStreamsControlFramesNameTheContentType() {
        let start = Dnstap.control(.start)
        let type = Array("protobuf:dnstap.Dnstap".utf8)
        // Escape (0), the control frame's length, START (2), CONTENT_TYPE field (1), its length, the type.
        #expect(
            start == [0, 0, 0, 0] + Dnstap.be32(UInt32(12 + type.count)) + [0, 0, 0, 2, 0, 0, 0, 1]
                + Dnstap.be32(UInt32(type.count)) + type)
        #expect(Dnstap.control(.stop) == [0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 3])
        #expect(Dnstap.data([9, 9]) == [0, 0, 0, 2, 9, 9])
    }

    @Test func aTextLineSaysWhoAskedWhatAndTheAnswer() throws {
        let response: [UInt8] = [0, 7, 0x84, 0x03, 0, 1, 0, 0, 0, 1, 0, 0]
        var e = entry
        e.query = queryBytes("www.example.com.", .aaaa, id: 7)
        e.response = response
        e.tcp = false
        e.client = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
        let line = Dnstap.text(e)
        #expect(
            line.hasSuffix(" udp 2001:db8::1#5353 to 198.51.100.53#53 www.example.com. IN AAAA NXDOMAIN AA 0 12\n"),
            "\(line)")
        e.local = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [0x53]
        #expect(Dnstap.text(e).contains(" 2001:db8::1#5353 to 2001:db8::53#53 "), "\(Dnstap.text(e))")
        e.local = []
        #expect(Dnstap.text(e).contains(" 2001:db8::1#5353 to - "), "\(Dnstap.text(e))")
        e.response = []
        #expect(Dnstap.text(e).contains(" dropped "))
    }
}

@Suite struct QueryLogFileTests {
    @Test func aFileStreamRunsFromStartToStopAndKeepsThePreviousOne() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qlog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("q.dnstap").path
        let log = QueryLog(path: path, format: .dnstap, logger: Logger(label: "t"))
        #expect(!log.isOn && !FileManager.default.fileExists(atPath: path))
        #expect(log.enable() == nil && log.isOn)
        let query: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        query.withUnsafeBytes { q in
            [UInt8]([0, 1, 0x84, 0]).withUnsafeBytes { r in
                log.record(
                    query: q, response: r, client: .unknown, ends: .init(clientPort: 0, local: nil, localPort: 0),
                    tcp: false)
            }
        }
        log.disable()
        #expect(!log.isOn && log.counts.written == 1)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let start = Dnstap.control(.start)
        let stop = Dnstap.control(.stop)
        #expect(Array(bytes.prefix(start.count)) == start && Array(bytes.suffix(stop.count)) == stop)
        // Two data frames between them: the query and the response.
        var i = start.count
        var frames = 0
        while i + 4 <= bytes.count - stop.count {
            let n = Int(uint(Array(bytes[i..<(i + 4)])))
            i += 4 + n
            frames += 1
        }
        #expect(frames == 2 && i == bytes.count - stop.count)
        // On again: the finished stream moves to .1, a new one starts.
        #expect(log.enable(for: 60) == nil)
        #expect(log.status.until != nil)
        log.disable()
        #expect(FileManager.default.fileExists(atPath: path + ".1"))
    }

    @Test func aDestinationThatCannotBeOpenedIsAnErrorAndTheLogStaysOff() {
        let log = QueryLog(path: "/nonexistent-dir/q.dnstap", format: .dnstap, logger: Logger(label: "t"))
        let why = log.enable()
        #expect(why?.contains("cannot open /nonexistent-dir/q.dnstap") == true && !log.isOn)
        #expect(log.status.error == why)
    }
}

@Suite struct ServerMetricsTests {
    @Test func mirroredCountersMoveByDeltasAndGaugesNotSetLeave() {
        let m = ServerMetrics()
        var text = m.scrape {
            m.counter("uplinkdns_queries_total", [("transport", "udp")], 5)
            m.gauge("uplinkdns_link_up", [("link", #"a "b" \ c"#)], 1)
            m.gauge("uplinkdns_link_up", [("link", "gone")], 0)
        }
        #expect(text.contains(#"uplinkdns_queries_total{transport="udp"} 5"#))
        // Label values are escaped (backslash, quote), as the exposition format requires.
        #expect(text.contains(#"uplinkdns_link_up{link="a \"b\" \\ c"} 1"#), "\(text)")
        #expect(text.contains("# HELP uplinkdns_link_up Whether the line is in answers"))
        text = m.scrape {
            m.counter("uplinkdns_queries_total", [("transport", "udp")], 12)
            m.gauge("uplinkdns_link_up", [("link", #"a "b" \ c"#)], 0)
        }
        #expect(text.contains(#"uplinkdns_queries_total{transport="udp"} 12"#))
        #expect(!text.contains(#"link="gone""#), "a line a reload removed leaves the metrics")
        // A count that went backwards (never, for the atomics) does not move the counter back.
        text = m.scrape { m.counter("uplinkdns_queries_total", [("transport", "udp")], 3) }
        #expect(text.contains(#"uplinkdns_queries_total{transport="udp"} 12"#))
    }

    @Test func swiftMetricsGoThroughTheSameRegistryWithHelp() {
        let m = ServerMetrics()
        let timer = CoreMetrics.Timer(
            label: "uplinkdns_probe_duration_seconds", dimensions: [("link", "x")], factory: m.factory)
        timer.recordNanoseconds(3_000_000)
        let text = m.scrape {}
        #expect(text.contains("# TYPE uplinkdns_probe_duration_seconds histogram"))
        #expect(text.contains("# HELP uplinkdns_probe_duration_seconds How long each probe took"))
        #expect(text.contains(#"uplinkdns_probe_duration_seconds_bucket{link="x",le="0.005"} 1"#), "\(text)")
    }
}

@Suite struct ShareWindowTests {
    @Test func firstPlacesAreCountedOverTheLastMinute() {
        let w = ShareWindow()
        let t0 = Date(timeIntervalSince1970: 1000)
        w.sample([("www.", "a", 10), ("www.", "b", 0)], at: t0)
        w.sample([("www.", "a", 50), ("www.", "b", 10)], at: t0.addingTimeInterval(30))
        var (counts, seconds) = w.firstPlaces()
        #expect(counts == ["www.|a": 40, "www.|b": 10] && seconds == 30)
        w.sample([("www.", "a", 60), ("www.", "b", 40)], at: t0.addingTimeInterval(95))
        (counts, seconds) = w.firstPlaces()
        // The sample at 0 fell out: the window starts at 30 s.
        #expect(counts == ["www.|a": 10, "www.|b": 30] && seconds == 65)
    }
}
