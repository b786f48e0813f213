// DNSServer+Control: the control API's token, its actions on the server, and the metrics text.

import CUplinkSys
import DNSWire
import Dispatch
import Foundation
import Health
import Logging
import Responder
import Synchronization
import Uplinks
import Zones

extension DNSServer {
    /// The control token: `server.control-token` (or its file), else one generated once into the state directory
    /// (`control.token`, mode 0600), where `uplinkdns status`/`link` read it.
    func controlToken(_ config: Config) throws -> String {
        if let t = config.controlToken { return t }
        let path = (config.stateDirectory as NSString).appendingPathComponent("control.token")
        if let t = try? String(contentsOfFile: path, encoding: .utf8), !t.isEmpty {
            return t.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try FileManager.default.createDirectory(atPath: config.stateDirectory, withIntermediateDirectories: true)
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        return token
    }

    func controlActions() -> ControlActions {
        ControlActions(
            links: { [health] in health.links },
            addresses: { [weak self] name in
                self?.state.withLock { $0.config.uplinks.link(name)?.publicAddresses.map(\.description) } ?? []
            },
            setOverride: { [health] name, o, d in health.applyOverride(name, o, for: d) },
            linkNames: { [health] in health.linkNames },
            afterBuilds: { [weak self] done in
                guard let self else { return done(0) }
                self.afterBuilds(then: done)
            },
            saveProblem: { [weak self] in self?.state.withLock { $0.saveProblem } },
            generation: { [store] in store.generation },
            reload: { [weak self] done in
                guard let self else { return done(ReloadOutcome(errors: ["server stopping"])) }
                self.reload(then: done)
            },
            metrics: { [weak self] in self?.metricsText() ?? "" },
            export: { [store, signing] origin in
                guard let name = try? DomainName(origin.hasSuffix(".") ? origin : origin + "."),
                    let zone = store.current().0.transferZone(name)
                else { return nil }
                // A signed zone as its transfers carry it: with its DNSKEY, NSEC chain and signatures.
                let signed = signing.transferAdditions(zone.origin, serial: zone.fileSerial) ?? []
                return ZoneExport.text(zone, addresses: "current (from the running server)", dnssec: signed)
            },
            zones: { [store] in
                let snapshot = store.current().0
                return snapshot.zoneSet.zones.keys.sorted().map { ($0.description, snapshot.serial($0) ?? 0) }
            })
    }

    /// Prometheus text (base units, bounded labels: lines and pools come from config).
    func metricsText() -> String {
        var out = ""
        /// One metric family: its HELP and TYPE lines, then a sample per (labels, value).
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for s in samples { out += "\(name)\(s.labels.isEmpty ? "" : "{\(s.labels)}") \(s.value)\n" }
        }
        let now = Date()
        let links = health.links
        family(
            "uplinkdns_link_up", "gauge", "Whether the line is in answers (1) or out of them (0).",
            links.map { ("link=\"\($0.name)\"", $0.effective(at: now) == .up ? "1" : "0") })
        family(
            "uplinkdns_link_probed_up", "gauge", "Whether the line's probes say up (overrides aside).",
            links.map { ("link=\"\($0.name)\"", $0.probed == .up ? "1" : "0") })
        family(
            "uplinkdns_queries_total", "counter", "Queries by question type and response code (dropped: no answer).",
            queryStats.counts.map { ("type=\"\($0.type)\",rcode=\"\($0.rcode)\"", "\($0.count)") })
        family(
            "uplinkdns_probe_duration_seconds", "gauge", "How long the line's last probe round took.",
            links.map { ("link=\"\($0.name)\"", "\($0.lastRoundSeconds)") })
        family(
            "uplinkdns_link_transitions_total", "counter", "Changes of the lines' state in answers.",
            [("", "\(health.transitions)")])
        family(
            "uplinkdns_responses_first_total", "counter", "Responses whose first address was the line's, per pool.",
            counters.counts.map { ("pool=\"\($0.pool)\",link=\"\($0.line)\"", "\($0.count)") })
        let snapshot = store.current().0
        family(
            "uplinkdns_zone_serial", "gauge", "The SOA serial each zone is served with.",
            snapshot.zoneSet.zones.keys.sorted().map { ("zone=\"\($0)\"", "\(snapshot.serial($0) ?? 0)") })
        family(
            "uplinkdns_transfers_total", "counter",
            "Transfer requests and signed queries by outcome (axfr, ixfr, refused, tsig-error).",
            transfer.outcomes.map { ("outcome=\"\($0.outcome)\"", "\($0.count)") })
        let sent = transfer.transfersSent
        family(
            "uplinkdns_transfers_sent_total", "counter",
            "Transfers sent per secondary and kind (axfr; ixfr: incremental; ixfr-axfr: IXFR answered with the whole "
                + "zone; ixfr-current: the SOA alone).",
            sent.map { ("secondary=\"\($0.secondary)\",kind=\"\($0.kind)\"", "\($0.transfers)") })
        family(
            "uplinkdns_transfer_bytes_total", "counter", "Octets of transfers sent, per secondary and kind.",
            sent.map { ("secondary=\"\($0.secondary)\",kind=\"\($0.kind)\"", "\($0.octets)") })
        let rrl = limiter.counts
        family(
            "uplinkdns_rrl_responses_total", "counter",
            "UDP responses held back by rate limiting: dropped, or sent truncated (slipped).",
            [("action=\"dropped\"", "\(rrl.dropped)"), ("action=\"slipped\"", "\(rrl.slipped)")])
        let tcp = state.withLock { $0.tcp }.map { $0.connections }
        family(
            "uplinkdns_tcp_connections_open", "gauge", "TCP connections open now.",
            [("", "\(tcp.reduce(0) { $0 + $1.count })")])
        let tcpCounts = tcp.map(\.counts)
        family(
            "uplinkdns_tcp_connections_total", "counter",
            "TCP connections accepted, and refused at a cap (server.tcp.max-connections or max-per-client).",
            [
                ("result=\"accepted\"", "\(tcpCounts.reduce(0) { $0 + $1.opened })"),
                ("result=\"refused\"", "\(tcpCounts.reduce(0) { $0 + $1.refused })"),
            ])
        family(
            "uplinkdns_tcp_connections_closed_total", "counter",
            "TCP connections closed, by reason (client, idle, message-timeout, evicted, bad-frame, shutdown).",
            TCPCloseReason.allCases.map { reason in
                let n = tcpCounts.reduce(0) { sum, c in sum + (c.closed.first { $0.reason == reason }?.count ?? 0) }
                return ("reason=\"\(reason)\"", "\(n)")
            })
        let notifies = notifier.counts
        family(
            "uplinkdns_notify_total", "counter", "NOTIFY messages acknowledged or given up on.",
            [("result=\"acknowledged\"", "\(notifies.acknowledged)"), ("result=\"failed\"", "\(notifies.failed)")])
        return out
    }
}
