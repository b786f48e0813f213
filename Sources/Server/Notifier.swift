// Notifier: tells secondaries that a zone has a new serial (NOTIFY, RFC 1996), with retries, signed with the
// zone's TSIG key when it has one.

import DNSSEC
import DNSWire
import Dispatch
import Foundation
import Logging
import Synchronization
import Uplinks
import Zones

/// Sends NOTIFY for a zone to each of its targets over UDP and waits for the acknowledgement, retrying after 1, 2,
/// 4, 8 and 16 s (RFC 1996 §3.6 leaves the interval to the primary; a line flap should reach secondaries in
/// seconds, not the minute BIND waits). One sender thread per (zone, target) at most: a newer serial handed over
/// while it runs replaces the one it is sending, with a fresh set of retries — so a flapping line never piles up
/// blocked threads. An error answer (REFUSED, NOTAUTH…) ends the retries for that serial: the secondary has spoken.
public final class Notifier: Sendable {
    private struct Pending: Sendable {
        var soa: ResourceRecord
        var serial: UInt32
        var key: TSIGKey?
    }

    private let logger: Logger
    /// The newest serial to send per "zone target", and which slots have a sender running.
    private let slots = Mutex<(latest: [String: Pending], active: Set<String>)>(([:], []))
    /// Acknowledged and failed NOTIFYs per zone and target, and the last outcome of each, for metrics, the status
    /// page and tests.
    private let tally = Mutex<[String: Record]>([:])

    /// One (zone, secondary)'s NOTIFYs.
    public struct Record: Sendable, Equatable {
        public var zone: String
        public var secondary: String
        public var acknowledged = 0
        public var failed = 0
        /// The last NOTIFY that ended: when, its serial, and `acknowledged`, `refused` or `unanswered`.
        public var lastAt: Date?
        public var lastSerial: UInt32 = 0
        public var lastResult = ""
    }
    /// Seconds to wait for an answer before each retry.
    let waits: [Double]
    /// Set when the server stops: no new NOTIFY starts, senders give up their retries.
    private let stopped = Atomic<Bool>(false)

    /// Makes a notifier; `waits` sets the timeouts (tests shorten them).
    public init(logger: Logger, waits: [Double] = [1, 2, 4, 8, 16]) {
        self.logger = logger
        self.waits = waits
    }

    /// NOTIFYs acknowledged and given up on.
    public var counts: (acknowledged: Int, failed: Int) {
        tally.withLock { t in t.values.reduce((0, 0)) { ($0.0 + $1.acknowledged, $0.1 + $1.failed) } }
    }

    /// Each (zone, secondary)'s NOTIFYs, sorted.
    public var records: [Record] {
        tally.withLock { Array($0.values) }.sorted { ($0.zone, $0.secondary) < ($1.zone, $1.secondary) }
    }

    /// Notifies every target of `soa`'s zone of its serial, in the background.
    public func notify(zone origin: DomainName, soa: ResourceRecord, targets: [ListenAddress], key: TSIGKey?) {
        guard !stopped.load(ordering: .relaxed) else { return }
        let pending = Pending(soa: soa, serial: soa.soaSerial ?? 0, key: key)
        for target in targets {
            let slot = "\(origin.lowercased()) \(target)"
            let start = slots.withLock { s in
                s.latest[slot] = pending
                return s.active.insert(slot).inserted
            }
            guard start else { continue }  // the running sender picks the new serial up
            Thread.detachNewThread { [self] in run(origin: origin, target: target, slot: slot) }
        }
    }

    /// The sender of one slot: sends the newest serial until it is acknowledged or given up, then checks for a
    /// newer one before it stops.
    private func run(origin: DomainName, target: ListenAddress, slot: String) {
        var current = slots.withLock { $0.latest[slot] }
        while let p = current {
            let outcome = send(
                origin: origin, p, target: target,
                isCurrent: {
                    self.slots.withLock { $0.latest[slot]?.serial } == p.serial
                })
            if outcome != .superseded {
                tally.withLock {
                    var r = $0[slot] ?? Record(zone: origin.lowercased().description, secondary: "\(target)")
                    if outcome == .acknowledged { r.acknowledged += 1 } else { r.failed += 1 }
                    r.lastAt = Date()
                    r.lastSerial = p.serial
                    r.lastResult = "\(outcome)"
                    $0[slot] = r
                }
            }
            current = slots.withLock { s in
                guard let newest = s.latest[slot], newest.serial != p.serial || outcome == .superseded else {
                    s.active.remove(slot)
                    return nil
                }
                return newest
            }
        }
    }

    enum Outcome { case acknowledged, refused, unanswered, superseded }

    /// Stops: no NOTIFY starts from now on, and the senders stop retrying (a send under way ends with its timeout).
    public func stop() { stopped.store(true, ordering: .relaxed) }

    private func send(origin: DomainName, _ p: Pending, target: ListenAddress, isCurrent: () -> Bool) -> Outcome {
        guard let address = IPAddress(target.host) else { return .unanswered }
        for (attempt, wait) in waits.enumerated() {
            guard isCurrent() else { return .superseded }
            guard !stopped.load(ordering: .relaxed) else { return .superseded }
            let id = UInt16.random(in: 0...UInt16.max)
            var message = Notifier.message(id: id, origin: origin, soa: p.soa)
            var mac: [UInt8] = []
            if let key = p.key {
                let signed = TSIG.sign(message, key: key, time: UInt64(Date().timeIntervalSince1970))
                (message, mac) = (signed.message, signed.mac)
            }
            guard
                let reply = Notifier.exchange(
                    message, to: address, port: target.port, timeout: wait, id: id, while: isCurrent)
            else {
                continue
            }
            let rcode = RCode(rawValue: UInt16(reply[3] & 0x0F))
            if let key = p.key, !TSIG.verifyResponse(reply, key: key, requestMAC: mac) {
                logger.warning("NOTIFY \(origin) serial \(p.serial) to \(target): answer not signed with \(key.name)")
            }
            if rcode == .noError {
                logger.info("NOTIFY \(origin) serial \(p.serial) to \(target): acknowledged (try \(attempt + 1))")
                return .acknowledged
            }
            logger.warning("NOTIFY \(origin) serial \(p.serial) to \(target): answered \(rcode)")
            return .refused
        }
        logger.warning("NOTIFY \(origin) serial \(p.serial) to \(target): no answer after \(waits.count) tries")
        return .unanswered
    }

    /// A NOTIFY for `origin` (RFC 1996 §3.7: opcode NOTIFY, AA, the question `origin SOA`, and the new SOA in the
    /// answer section as a hint).
    static func message(id: UInt16, origin: DomainName, soa: ResourceRecord) -> [UInt8] {
        var w = MessageWriter()
        w.u16(id)
        w.u16(UInt16(OpCode.notify.rawValue) << 11 | Header.Flag.aa)
        w.u16(1)
        w.u16(1)
        w.u16(0)
        w.u16(0)
        w.question(origin, type: .soa, rrClass: .in)
        w.record(soa)
        return w.bytes
    }

    /// Sends `message` to `address:port` and returns the first datagram that answers it (QR set, same ID), or nil
    /// after `timeout` seconds — or as soon as `wanted` says the message is no longer worth waiting for (a newer
    /// serial came: it goes out at once rather than after a retry's wait for a secondary that was down).
    static func exchange(
        _ message: [UInt8], to address: IPAddress, port: UInt16, timeout: Double, id: UInt16,
        while wanted: () -> Bool = { true }
    ) -> [UInt8]? {
        let fd = socket(address.isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // Connected, so that an ICMP port unreachable (a secondary restarting, or between sockets) comes back as
        // ECONNREFUSED: the message is then sent again 100 ms later within this try, rather than after its timeout.
        guard address.withSockaddr(port: port, { connect(fd, $0, $1) }) == 0 else { return nil }
        func send() -> Bool { message.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) } == message.count }
        guard send() else { return nil }
        let deadline = Date().addingTimeInterval(timeout)
        var resend: Date?
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let left = deadline.timeIntervalSinceNow
            guard left > 0, wanted() else { return nil }
            if let at = resend, at.timeIntervalSinceNow <= 0 {
                resend = nil
                _ = send()
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            // In slices of at most 50 ms, so that `wanted` is asked while waiting.
            let ready = poll(&pfd, 1, Int32(min(left, 0.05) * 1000) + 1)
            guard ready > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == ECONNREFUSED {
                resend = Date().addingTimeInterval(0.1)
                continue
            }
            guard n >= 12 else { continue }
            let reply = Array(buffer[0..<n])
            if UInt16(reply[0]) << 8 | UInt16(reply[1]) == id, reply[2] & 0x80 != 0 { return reply }
        }
    }
}
