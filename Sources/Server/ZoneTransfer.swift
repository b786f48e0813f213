// ZoneTransfer: what the compiled query path hands back to the server — TSIG-signed queries (RFC 8945) and zone
// transfers (AXFR, RFC 5936; IXFR from the journal, RFC 1995, else AXFR-style) — with each zone's ACL and key.

import DNSSEC
import DNSWire
import Foundation
import Logging
import Responder
import Synchronization
import Uplinks
import Zones

/// Who may transfer a zone, and with which key.
public struct TransferPolicy: Sendable, Equatable {
    /// Client networks allowed; empty = any address (then a key is required, or nobody may transfer).
    public var allow: [AddressPrefix]
    /// The key transfers must be signed with; nil = none needed.
    public var key: TSIGKey?

    /// Makes a policy.
    public init(allow: [AddressPrefix], key: TSIGKey?) {
        self.allow = allow
        self.key = key
    }

    /// Transfers are allowed to clients in `allow` (when given) that sign with `key` (when given); with neither,
    /// to nobody (transfers are off unless configured, as in NSD and Knot).
    public func decide(client: IPAddress?, signedWith: TSIGKey?) -> Denial? {
        if allow.isEmpty && key == nil { return .notConfigured }
        if !allow.isEmpty {
            guard let client, allow.contains(where: { $0.contains(client) }) else { return .address }
        }
        if let key, signedWith != key { return signedWith == nil ? .unsigned : .otherKey }
        return nil
    }

    /// Why a transfer is refused (for the log).
    public enum Denial: Sendable, Equatable, CustomStringConvertible {
        case notConfigured, address, unsigned, otherKey
        public var description: String {
            switch self {
            case .notConfigured: "no zones[].transfer or zones[].key for this zone"
            case .address: "address not in zones[].transfer"
            case .unsigned: "not signed with the zone's key"
            case .otherKey: "signed with another key than the zone's"
            }
        }
    }
}

/// Answers deferred queries. Shared by the UDP workers and the TCP event loop; its state (policies and keys,
/// replaced on reload) sits behind a lock that the compiled path never takes.
public final class ZoneTransfer: Sendable {
    private struct Settings: Sendable {
        var keys: [TSIGKey] = []
        var policies: [DomainName: TransferPolicy] = [:]
    }

    private let settings = Mutex(Settings())
    private let store: SnapshotStore
    private let journal: Journal?
    private let signing: ZoneSigning?
    private let logger: Logger
    /// Transfers answered (zones), refused, and TSIG failures, for metrics.
    private let counts = Mutex<[String: Int]>(["axfr": 0, "ixfr": 0, "refused": 0, "tsig-error": 0])
    /// Transfers and octets sent, per secondary and kind (`axfr`, `ixfr`: incremental, `ixfr-axfr`: IXFR answered
    /// with the whole zone).
    private let sent = Mutex<[SentKey: (transfers: Int, octets: Int)]>([:])

    struct SentKey: Hashable {
        var secondary: String
        var kind: String
    }

    /// What a secondary of a zone last had and was last sent, for the status page and metrics.
    public struct SecondaryState: Sendable, Equatable {
        public var zone: String
        /// The secondary's address (`other` beyond the first 64 secondaries: metric labels stay bounded).
        public var secondary: String
        /// The serial it last had: what its IXFR said, or what its last transfer brought it to.
        public var serial: UInt32
        /// When it was last sent a transfer, and what kind.
        public var lastTransfer: Date
        public var lastKind: String
    }

    private let secondaries = Mutex<[String: SecondaryState]>([:])
    /// Secondaries named in metrics and on the page; further ones count as `other`.
    static let namedSecondaries = 64

    /// Every zone's secondaries as last seen, sorted by zone and address.
    public var secondaryStates: [SecondaryState] {
        secondaries.withLock { Array($0.values) }.sorted { ($0.zone, $0.secondary) < ($1.zone, $1.secondary) }
    }

    /// `who` as a label: itself if known or while fewer than `namedSecondaries` are, else `other`.
    private func label(_ who: String) -> String {
        let known = sent.withLock { s in Set(s.keys.map(\.secondary)) }
        return known.contains(who) || known.count < Self.namedSecondaries ? who : "other"
    }

    /// Makes the service over `store`; IXFR answers from `journal` (nil: AXFR-style).
    public init(store: SnapshotStore, journal: Journal? = nil, signing: ZoneSigning? = nil, logger: Logger) {
        self.store = store
        self.journal = journal
        self.signing = signing
        self.logger = logger
    }

    /// Transfers and octets per secondary and kind, for metrics.
    public var transfersSent: [(secondary: String, kind: String, transfers: Int, octets: Int)] {
        sent.withLock { all in
            all.map { ($0.key.secondary, $0.key.kind, $0.value.transfers, $0.value.octets) }
                .sorted { ($0.secondary, $0.kind) < ($1.secondary, $1.kind) }
        }
    }

    /// Installs the keys and per-zone policies of `config` (at start and on reload).
    public func configure(_ config: Config) {
        let policies = Self.policies(config)
        settings.withLock { $0 = Settings(keys: config.keys, policies: policies) }
    }

    /// Each zone's transfer policy in `config`.
    static func policies(_ config: Config) -> [DomainName: TransferPolicy] {
        Dictionary(
            config.zones.map { ($0.origin, TransferPolicy(allow: $0.transfer, key: $0.key)) },
            uniquingKeysWith: { a, _ in a })
    }

    /// Counters by outcome (`axfr`, `ixfr`, `refused`, `tsig-error`).
    public var outcomes: [(outcome: String, count: Int)] {
        counts.withLock { $0.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }

    private func count(_ outcome: String) { counts.withLock { $0[outcome, default: 0] += 1 } }

    /// The response messages for a deferred query (none = send nothing). Over UDP at most one message, no larger
    /// than the client's EDNS size (512 without EDNS, RFC 1035 §4.2.1); over TCP as many as the transfer needs.
    public func respond(
        _ query: [UInt8], client: IPAddress?, transport: Transport,
        now: UInt64 = UInt64(Date().timeIntervalSince1970)
    ) -> [[UInt8]] {
        let keys = settings.withLock { $0.keys }
        let udpLimit = ZoneTransfer.udpLimit(query, ours: Int(store.current().0.options.ednsUDPSize))
        let verdict: TSIG.Verdict
        do {
            verdict = try TSIG.verify(query, keys: keys, now: now)
        } catch {
            return []  // unreadable: the compiled path already checked the shape, so this does not happen
        }
        switch verdict {
        case .failed(let error, let record, let key):
            count("tsig-error")
            logger.notice(
                "TSIG \(error) from \(client?.description ?? "?") with key \(record.keyName): answered NOTAUTH")
            let unsigned = TSIG.unsigned(query, record)
            let opt = TransferMessages.opt(
                answering: (try? Message(bytes: unsigned))?.opt, ours: store.current().0.options.ednsUDPSize)
            let reply = ZoneTransfer.withID(
                of: query, ZoneTransfer.errorMessage(unsigned, rcode: .notAuth, opt: opt))
            guard let key else { return [TSIG.unsignedError(reply, request: record, error: error)] }
            // BADTIME: signed, with our time in Other Data so the client can see the skew (RFC 8945 §5.2.3).
            return [
                TSIG.sign(
                    reply, key: key, time: now, previousMAC: record.mac, error: error.rawValue,
                    otherData: TSIG.time48(now)
                ).message
            ]
        case .verified(let key, let record, let message):
            // The MAC covered the message with its TSIG's Original ID (RFC 8945 §4.3.1: a forwarder may have changed
            // the header's); the answer goes back with the ID the client sent, and is signed with that one.
            let replies = answer(message, client: client, transport: transport, key: key).map {
                ZoneTransfer.withID(of: query, $0)
            }
            var previous = record.mac
            return replies.enumerated().map { i, m in
                let signed = TSIG.sign(m, key: key, time: now, previousMAC: previous, timersOnly: i > 0)
                previous = signed.mac
                return ZoneTransfer.fit(signed.message, transport, udpLimit) {
                    TSIG.sign(ZoneTransfer.truncated(m), key: key, time: now, previousMAC: record.mac).message
                }
            }
        case .unsigned:
            return answer(query, client: client, transport: transport, key: nil)
        }
    }

    /// `message` with the header ID of `query`.
    static func withID(of query: [UInt8], _ message: [UInt8]) -> [UInt8] {
        guard query.count >= 2, message.count >= 2 else { return message }
        var out = message
        out[0] = query[0]
        out[1] = query[1]
        return out
    }

    /// The UDP size a response may have: the client's EDNS payload size capped by ours, or 512 without EDNS.
    static func udpLimit(_ query: [UInt8], ours: Int) -> Int {
        udpLimit(try? Message(bytes: query), ours: ours)
    }

    /// `udpLimit` of a message already read.
    static func udpLimit(_ message: Message?, ours: Int) -> Int {
        guard let opt = message?.opt else { return 512 }
        return max(512, min(Int(opt.rrClass.rawValue), ours))
    }

    /// A signed UDP answer that outgrows the limit goes out truncated (TC, question only), also signed.
    static func fit(_ m: [UInt8], _ transport: Transport, _ limit: Int, _ truncate: () -> [UInt8]) -> [UInt8] {
        transport == .udp && m.count > limit ? truncate() : m
    }

    /// The answer to an unsigned query, or to a signed one with its TSIG removed (signed by the caller).
    func answer(_ query: [UInt8], client: IPAddress?, transport: Transport, key: TSIGKey?) -> [[UInt8]] {
        guard let message = try? Message(bytes: query), let question = message.questions.first else {
            return [ZoneTransfer.errorMessage(query, rcode: .formErr)]
        }
        let (snapshot, _) = store.current()
        // Every reply below carries our OPT when the query had one (RFC 6891 §7).
        let opt = TransferMessages.opt(answering: message.opt, ours: snapshot.options.ednsUDPSize)
        guard question.type == .axfr || question.type == .ixfr else {
            // A signed ordinary query (a secondary's SOA check): the compiled answer, signed by the caller.
            return ZoneTransfer.compiled(query, snapshot: snapshot, transport: transport, client: client)
        }
        if question.type == .axfr && transport == .udp {
            // RFC 5936 §4.2: AXFR is not carried over UDP.
            return [ZoneTransfer.errorMessage(query, rcode: .notImp, opt: opt)]
        }
        let asked = question.type == .axfr ? "AXFR" : "IXFR"
        let who = client?.description ?? "?"
        let origin = question.name
        guard let zone = snapshot.transferZone(origin) else {
            logger.notice("\(asked) \(origin) from \(who): not a zone served here, NOTAUTH")
            count("refused")
            return [ZoneTransfer.errorMessage(query, rcode: .notAuth, opt: opt)]
        }
        let policy = settings.withLock { $0.policies[zone.origin] } ?? TransferPolicy(allow: [], key: nil)
        if let denial = policy.decide(client: client, signedWith: key) {
            logger.notice("\(asked) \(origin) from \(who) refused: \(denial)")
            count("refused")
            return [ZoneTransfer.errorMessage(query, rcode: .refused, opt: opt)]
        }
        let serial = zone.fileSerial
        var kind = question.type == .axfr ? "axfr" : "ixfr-axfr"
        var messages: [[UInt8]] = []
        var what = ""
        let asking = question.type == .ixfr ? message.authority.first(where: { $0.type == .soa })?.soaSerial : nil
        if let theirs = asking {
            if !SerialNumber.isGreater(serial, than: theirs) {
                // RFC 1995 §4: a client at our serial (or ahead) gets the current SOA alone.
                kind = "ixfr-current"
                what = "up to date"
                messages = TransferMessages.build(
                    id: message.header.id, question: question, records: [zone.soa], opt: opt)
            } else if let step = journal?.changes(zone.origin, from: theirs, to: serial) {
                // RFC 1995 §2: the current SOA, one condensed difference sequence (their SOA, the records removed,
                // ours, the records added), the current SOA again.
                let records = [zone.soa, step.from] + step.removed + [zone.soa] + step.added + [zone.soa]
                let incremental = TransferMessages.build(
                    id: message.header.id, question: question, records: records, opt: opt)
                if transport == .tcp
                    || (incremental.count == 1
                        && incremental[0].count
                            <= ZoneTransfer.udpLimit(message, ours: Int(snapshot.options.ednsUDPSize)))
                {
                    kind = "ixfr"
                    what = "from \(theirs): \(step.removed.count) removed, \(step.added.count) added"
                    messages = incremental
                }
            }
            if messages.isEmpty && transport == .udp {
                // Over UDP what does not fit is the SOA alone: the client retries over TCP (RFC 1995 §2).
                kind = "ixfr-current"
                what = "over UDP: the SOA alone"
                messages = TransferMessages.build(
                    id: message.header.id, question: question, records: [zone.soa], opt: opt)
            }
        } else if question.type == .ixfr && transport == .udp {
            messages = TransferMessages.build(id: message.header.id, question: question, records: [zone.soa], opt: opt)
            kind = "ixfr-current"
        }
        if messages.isEmpty {
            // AXFR, or IXFR from a serial the journal does not reach (RFC 1995 §4: the whole zone, AXFR-style);
            // a signed zone with its DNSKEY, NSEC chain and signatures.
            var records = ZoneContent.axfrRecords(zone)
            if let added = signing?.transferAdditions(zone.origin, serial: serial) {
                records.insert(contentsOf: added, at: records.count - 1)
            }
            what = "\(records.count) records"
            messages = TransferMessages.build(
                id: message.header.id, question: question, records: records, opt: opt)
        }
        count(kind == "axfr" ? "axfr" : "ixfr")
        let octets = messages.reduce(0) { $0 + $1.count }
        let secondary = label(who)
        // Where the secondary is now: at our serial after a transfer, at its own when it only got the SOA.
        let reached = kind == "ixfr-current" ? (asking ?? serial) : serial
        secondaries.withLock {
            $0["\(zone.origin)|\(secondary)"] = SecondaryState(
                zone: zone.origin.lowercased().description, secondary: secondary, serial: reached, lastTransfer: Date(),
                lastKind: kind)
        }
        sent.withLock {
            let key = SentKey(secondary: secondary, kind: kind)
            let old = $0[key] ?? (0, 0)
            $0[key] = (old.transfers + 1, old.octets + octets)
        }
        let signed = key.map { " (key \($0.name))" } ?? ""
        logger.info(
            "\(asked) \(zone.origin) serial \(serial) to \(who)\(signed): \(kind) \(what), \(octets) octets in \(messages.count) message(s)"
        )
        return messages
    }

    /// The compiled path's answer to `query` (no TSIG left in it).
    static func compiled(_ query: [UInt8], snapshot: Snapshot, transport: Transport, client: IPAddress?) -> [[UInt8]] {
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: QueryProcessor.maxResponse, alignment: 16)
        defer { out.deallocate() }
        let scratch = QueryScratch()
        let len = query.withUnsafeBytes {
            QueryProcessor.respond(
                snapshot: snapshot, query: $0, transport: transport, scratch: scratch,
                client: client.map { ClientAddress($0) } ?? .unknown, into: out)
        }
        return len > 0 ? [Array(UnsafeRawBufferPointer(rebasing: out[0..<len]))] : []
    }

    /// A response with `rcode`, the question echoed, no records but `opt` (opcode and RD copied, RFC 1035 §4.1.1).
    static func errorMessage(_ query: [UInt8], rcode: RCode, opt: [UInt8]? = nil) -> [UInt8] {
        guard query.count >= 12 else { return [] }
        let flags = (UInt16(query[2]) << 8 | UInt16(query[3])) & (0x7800 | Header.Flag.rd)
        var out = Array(query[0..<2])
        let f = Header.Flag.qr | flags | (rcode.rawValue & 0xF)
        out += [UInt8(f >> 8), UInt8(f & 0xFF)]
        let question = questionBytes(query)
        out += [0, question.isEmpty ? 0 : 1, 0, 0, 0, 0, 0, opt == nil ? 0 : 1]
        return out + question + (opt ?? [])
    }

    /// `response` cut to its header and question, with TC set and no records.
    static func truncated(_ response: [UInt8]) -> [UInt8] {
        var out = Array(response[0..<12]) + questionBytes(response)
        out[2] |= 0x02  // TC
        for i in 6..<12 { out[i] = 0 }
        return out
    }

    /// The first question's octets, or none.
    static func questionBytes(_ message: [UInt8]) -> [UInt8] {
        guard message.count > 12, message[4] != 0 || message[5] != 0 else { return [] }
        var i = 12
        while i < message.count, message[i] != 0 {
            guard message[i] < 64 else { return [] }
            i += Int(message[i]) + 1
        }
        guard i + 5 <= message.count else { return [] }
        return Array(message[12..<(i + 5)])
    }
}
