// FuzzChecks: the properties the fuzz targets check, as plain functions. The libFuzzer executables (Fuzz/, built
// with -sanitize=fuzzer,address) call them, and FuzzRegressionTests replays every saved input through them in the
// normal test run, so a crash found once stays fixed.

import DNSSEC
import DNSWire
import Foundation
import Logging
import Responder
import Server
import Uplinks
import Zones

/// What a fuzz input broke; nil when every property held.
public typealias Violation = String?

public enum FuzzChecks {
    /// The message parser: bytes that parse encode to bytes that parse to the same message — the same up to the
    /// case of names inside RDATA: name compression matches names without case (so owner names take the query's
    /// 0x20 case, RFC 4343 §4.1 allows it), and a compressed RDATA name then reads in its target's case.
    public static func message(_ bytes: [UInt8]) -> Violation {
        guard let m = try? Message(bytes: bytes) else { return nil }
        let encoded = m.encode()
        guard let again = try? Message(bytes: encoded) else { return "re-encoded message does not parse: \(m)" }
        return canonical(again) == canonical(m) ? nil : "parse → encode → parse changed the message: \(m) vs \(again)"
    }

    /// `m` with the names inside its records' RDATA lower-cased (owner names already compare without case).
    static func canonical(_ m: Message) -> Message {
        func fold(_ rr: ResourceRecord) -> ResourceRecord {
            guard let layout = rr.type.rdataLayout else { return rr }
            var out = rr
            var i = 0
            for field in layout {
                switch field {
                case .fixed(let n): i += n
                case .name:
                    while i < out.rdata.count, out.rdata[i] != 0 {
                        let len = Int(out.rdata[i])
                        for j in (i + 1)..<min(out.rdata.count, i + 1 + len) {
                            out.rdata[j] = DomainName.fold(out.rdata[j])
                        }
                        i += len + 1
                    }
                    i += 1
                }
            }
            return out
        }
        var c = m
        c.answers = m.answers.map(fold)
        c.authority = m.authority.map(fold)
        c.additional = m.additional.map(fold)
        return c
    }

    /// The query processor over UDP and TCP: no crash; no answer, or a well-formed response with the query's ID, QR
    /// set, and the query's question (when it has one).
    public static func query(_ bytes: [UInt8]) -> Violation {
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: QueryProcessor.maxResponse, alignment: 16)
        defer { out.deallocate() }
        let scratch = QueryScratch(rotationSeed: 1)
        // The plain snapshot, and the same zones signed (a query with DO takes the signed answers' path).
        for (snapshot, transport) in [
            (fuzzSnapshot, Transport.udp), (fuzzSnapshot, .tcp), (fuzzSignedSnapshot, .udp), (fuzzSignedSnapshot, .tcp),
        ] {
            let n = bytes.withUnsafeBytes {
                QueryProcessor.respond(
                    snapshot: snapshot, query: $0, transport: transport, scratch: scratch,
                    client: ClientAddress(IPAddress("198.51.100.7")!), into: out)
            }
            guard n > 0 else { continue }
            let response = Array(out[0..<n])
            if transport == .udp && n > 4096 { return "a UDP response of \(n) octets" }
            guard let m = try? Message(bytes: response) else { return "\(transport) response does not parse" }
            guard bytes.count >= 2, response[0] == bytes[0], response[1] == bytes[1] else { return "ID changed" }
            guard m.header.flags & Header.Flag.qr != 0 else { return "QR not set" }
            if m.header.qdCount == 1, let q = try? Message(bytes: bytes), let asked = q.questions.first {
                guard m.questions.first?.name.wire == asked.name.wire, m.questions.first?.type == asked.type else {
                    return "question changed: \(asked) → \(String(describing: m.questions.first))"
                }
            }
        }
        // What the compiled path defers (TSIG-signed queries, AXFR/IXFR): the server's slow path, with a key and a
        // transfer ACL that lets this client in. Every message it returns parses and carries the query's ID.
        for transport in [Transport.udp, .tcp] {
            let replies = fuzzTransfer.respond(
                bytes, client: IPAddress("198.51.100.7"), transport: transport, now: 1_800_000_000)
            for r in replies {
                guard (try? Message(bytes: r)) != nil else { return "a transfer-path response does not parse" }
                guard bytes.count >= 2, r.count >= 12, r[0] == bytes[0], r[1] == bytes[1], r[2] & 0x80 != 0 else {
                    return "a transfer-path response with another ID or without QR"
                }
            }
        }
        return nil
    }

    /// The transfer service over the fuzz snapshot: a key `k.` and transfers allowed from 198.51.100.0/24.
    static let fuzzTransfer: ZoneTransfer = {
        let t = ZoneTransfer(
            store: SnapshotStore(fuzzSnapshot), logger: Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() })
        guard
            var config = try? Config.parse(
                """
                keys: [{name: k., secret: c2VjcmV0LXNoYXJlZC1ieS1wcmltYXJ5LWFuZC1zZWNvbmRhcnk=}]
                zones: [{origin: example.com., file: z, transfer: [198.51.100.0/24], key: k.}]
                """, path: "/f.yaml")
        else { fatalError("the fuzz transfer config does not parse") }
        config.zones[0].key = config.keys.first
        t.configure(config)
        return t
    }()

    /// The zone-file loader: any text loads or fails with errors that name the file; never a crash.
    public static func zoneFile(_ bytes: [UInt8]) -> Violation {
        do {
            let zone = try ZoneFileLoader.load(
                bytes: bytes, origin: try DomainName("example.com."), displayPath: "f.zone")
            // A zone that loads prints and loads back to the same records.
            let text = ZoneText.render(zone)
            let again = try ZoneFileLoader.load(text: text, origin: zone.origin, displayPath: "f.zone")
            let (before, after) = (Set(zone.records), Set(again.records))
            guard before != after else { return nil }
            let lost = before.subtracting(after).map { ZoneText.line($0) }
            let gained = after.subtracting(before).map { ZoneText.line($0) }
            return "export → load changed the zone: lost \(lost), gained \(gained)"
        } catch let failure as ZoneLoadFailure {
            return failure.errors.allSatisfy { $0.description.hasPrefix("f.zone") } ? nil : "an error without the file"
        } catch {
            return nil
        }
    }

    /// The config loader: any text parses or fails with errors that name the file.
    public static func config(_ bytes: [UInt8]) -> Violation {
        do {
            _ = try Config.parse(String(decoding: bytes, as: UTF8.self), path: "f.yaml")
            return nil
        } catch {
            return error.errors.allSatisfy { $0.description.hasPrefix("f.yaml") } ? nil : "an error without the file"
        }
    }

    /// `fuzzSnapshot` with its zone signed (a key made at start), as the server serves a signed zone to DO queries.
    static let fuzzSignedSnapshot: Snapshot = {
        let origin = try! DomainName("example.com.")
        guard let zone = fuzzSnapshot.transferZone(origin) else { fatalError("the fuzz zone is missing") }
        let key = SigningKey.generate(zone: origin, algorithm: .ecdsaP256SHA256)
        guard
            let added = try? ZoneSigner().additions(
                origin: origin, records: zone.records, keys: [key], now: 1_800_000_000),
            let signed = try? Zone.build(origin: origin, records: zone.records + added)
        else { fatalError("the fuzz zone does not sign") }
        return Snapshot(
            zoneSet: fuzzSnapshot.zoneSet, options: fuzzSnapshot.options, plans: fuzzSnapshot.plans,
            secure: [origin: signed])
    }()

    /// A snapshot with every kind of answer: the example zone (CNAME, wildcard, delegation, DNAME, TXT…) and pools.
    static let fuzzSnapshot: Snapshot = {
        let dir = NSTemporaryDirectory() + "fuzz-snapshot-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let zone = """
            $ORIGIN example.com.
            $TTL 3600
            @ IN SOA ns1 hostmaster 1 3600 900 1209600 300
              IN NS ns1
              IN NS ns2.other.net.
              IN MX 10 mail
              IN TXT "v=spf1 -all"
            ns1 IN A 192.0.2.1
            mail IN A 192.0.2.2
            ftp IN CNAME www
            alias IN CNAME elsewhere.other.net.
            *.wild IN TXT "wild"
            *.cname IN CNAME www
            sub IN NS ns.sub
            ns.sub IN A 192.0.2.53
            old IN DNAME new.example.com.
            big IN TXT "\(String(repeating: "x", count: 250))" "\(String(repeating: "y", count: 250))"
            """
        try? zone.write(toFile: dir + "/z.zone", atomically: true, encoding: .utf8)
        let config = """
            server: {nsid: fuzz}
            zones: [{origin: example.com., file: z.zone}]
            links:
              - {name: a, public: [192.0.2.10, "2001:db8::10"]}
              - {name: b, public: [198.51.100.10]}
            pools:
              - {name: www.example.com., links: [a, b], policy: weighted}
              - {name: s.example.com., links: [a, b], policy: sticky}
            """
        try? config.write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        guard let c = try? Config.load(path: dir + "/c.yaml"), let snapshot = try? c.buildSnapshot() else {
            fatalError("the fuzz snapshot does not build")
        }
        return snapshot
    }()
}
