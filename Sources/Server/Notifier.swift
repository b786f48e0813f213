// Notifier: tells secondaries that a zone has a new serial (NOTIFY, RFC 1996), with retries, signed with the
// zone's TSIG key when it has one.

import DNSWire
import Dispatch
import Foundation
import Logging
import Synchronization
import Uplinks
import Zones

/// Sends NOTIFY for a zone to each of its targets over UDP and waits for the acknowledgement, retrying after 1, 2,
/// 4, 8 and 16 s (RFC 1996 §3.6 leaves the interval to the primary; a line flap should reach secondaries in
/// seconds, not the minute BIND waits). A newer serial for the same zone and target supersedes the retries of an
/// older one. An error answer (REFUSED, NOTAUTH…) ends the retries: the secondary has spoken.
public final class Notifier: Sendable {
    private let logger: Logger
    /// The latest serial per "zone target", so that older retries stop.
    private let latest = Mutex<[String: UInt32]>([:])
    /// Acknowledged and failed NOTIFYs, for metrics and tests.
    private let tally = Mutex<(acknowledged: Int, failed: Int)>((0, 0))
    /// Seconds to wait for an answer before each retry.
    let waits: [Double]

    /// Makes a notifier; `waits` sets the timeouts (tests shorten them).
    public init(logger: Logger, waits: [Double] = [1, 2, 4, 8, 16]) {
        self.logger = logger
        self.waits = waits
    }

    /// NOTIFYs acknowledged and given up on.
    public var counts: (acknowledged: Int, failed: Int) { tally.withLock { $0 } }

    /// Notifies every target of `soa`'s zone of its serial, in the background.
    public func notify(zone origin: DomainName, soa: ResourceRecord, targets: [ListenAddress], key: TSIGKey?) {
        let serial = soa.soaSerial ?? 0
        for target in targets {
            let slot = "\(origin.lowercased()) \(target)"
            latest.withLock { $0[slot] = serial }
            DispatchQueue.global().async { [self] in
                send(origin: origin, soa: soa, serial: serial, target: target, key: key, slot: slot)
            }
        }
    }

    private func send(
        origin: DomainName, soa: ResourceRecord, serial: UInt32, target: ListenAddress, key: TSIGKey?, slot: String
    ) {
        guard let address = IPAddress(target.host) else { return }
        for (attempt, wait) in waits.enumerated() {
            guard latest.withLock({ $0[slot] }) == serial else { return }  // a newer serial took over
            let id = UInt16.random(in: 0...UInt16.max)
            var message = Notifier.message(id: id, origin: origin, soa: soa)
            var mac: [UInt8] = []
            if let key {
                let signed = TSIG.sign(message, key: key, time: UInt64(Date().timeIntervalSince1970))
                (message, mac) = (signed.message, signed.mac)
            }
            guard let reply = Notifier.exchange(message, to: address, port: target.port, timeout: wait, id: id) else {
                continue
            }
            let rcode = RCode(rawValue: UInt16(reply[3] & 0x0F))
            if let key, !TSIG.verifyResponse(reply, key: key, requestMAC: mac) {
                logger.warning("NOTIFY \(origin) serial \(serial) to \(target): answer not signed with \(key.name)")
            }
            if rcode == .noError {
                logger.info("NOTIFY \(origin) serial \(serial) to \(target): acknowledged (try \(attempt + 1))")
                tally.withLock { $0.acknowledged += 1 }
            } else {
                logger.warning("NOTIFY \(origin) serial \(serial) to \(target): answered \(rcode)")
                tally.withLock { $0.failed += 1 }
            }
            return
        }
        logger.warning("NOTIFY \(origin) serial \(serial) to \(target): no answer after \(waits.count) tries")
        tally.withLock { $0.failed += 1 }
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
    /// after `timeout` seconds.
    static func exchange(_ message: [UInt8], to address: IPAddress, port: UInt16, timeout: Double, id: UInt16)
        -> [UInt8]?
    {
        let fd = socket(address.isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let sent = address.withSockaddr(port: port) { sa, len in
            message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, len) }
        }
        guard sent == message.count else { return nil }
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return nil }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, Int32(left * 1000) + 1) > 0 else { return nil }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n >= 12 else { continue }
            let reply = Array(buffer[0..<n])
            if UInt16(reply[0]) << 8 | UInt16(reply[1]) == id, reply[2] & 0x80 != 0 { return reply }
        }
    }
}
