// DNSServer+Control: the control API's token, its actions on the server, and the metrics text.

import CUplinkSys
import DNSWire
import Dispatch
import Foundation
import Health
import Logging
import Responder
import Routing
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
                return snapshot.origins.sorted().map { ($0.description, snapshot.serial($0) ?? 0) }
            },
            status: { [weak self] in self?.status() },
            link: { [weak self] name in self?.linkDetail(name) },
            queryLog: { [queryLog] in queryLog.status },
            setQueryLog: { [queryLog] on, duration in
                guard on else {
                    queryLog.disable()
                    return nil
                }
                return queryLog.enable(for: duration)
            },
            stats: { [weak self] in self?.stats() },
            lastLineOf: { [weak self] name in
                guard let self else { return nil }
                let now = Date()
                let lines = health.links.map {
                    Drill.Before(name: $0.name, inAnswers: $0.effective(at: now) == .up, override: nil, remaining: nil)
                }
                let pools = state.withLock { $0.config.uplinks.pools }
                guard lines.first(where: { $0.name == name })?.inAnswers == true else { return nil }
                return Drill.lastLineOf(name, lines: lines, pools: pools)?.name.description
            })
    }

    /// The TCP listeners' connections, summed: open now, accepted, refused at a cap, and closed by reason.
    func tcpTotals() -> (open: Int, accepted: Int, refused: Int, closed: [(reason: TCPCloseReason, count: Int)]) {
        let tables = state.withLock { $0.tcp.map(\.connections) }
        let counts = tables.map(\.counts)
        return (
            tables.reduce(0) { $0 + $1.count }, counts.reduce(0) { $0 + $1.opened },
            counts.reduce(0) { $0 + $1.refused },
            TCPCloseReason.allCases.map { reason in
                (reason, counts.reduce(0) { sum, c in sum + (c.closed.first { $0.reason == reason }?.count ?? 0) })
            }
        )
    }

    /// The counters `uplinkdns stats` prints: queries by transport, zone, type and rcode; TCP; transfers; reloads.
    func stats() -> ControlAPI.Stats {
        let tcp = tcpTotals()
        let rrl = limiter.counts
        let reloads = reloadRecord.withLock { $0 }
        let notifies = notifier.counts
        return ControlAPI.Stats(
            uptimeSeconds: Int(Date().timeIntervalSince(startedAt)),
            queries: queryStats.counts.map {
                .init(transport: $0.transport, zone: $0.zone, type: $0.type, rcode: $0.rcode, count: $0.count)
            },
            tcp: .init(
                open: tcp.open, accepted: tcp.accepted, refused: tcp.refused,
                closed: Dictionary(uniqueKeysWithValues: tcp.closed.map { ("\($0.reason)", $0.count) })),
            rrl: .init(dropped: rrl.dropped, slipped: rrl.slipped),
            transfers: transfer.transfersSent.map {
                .init(secondary: $0.secondary, kind: $0.kind, transfers: $0.transfers, octets: $0.octets)
            },
            notify: .init(acknowledged: notifies.acknowledged, failed: notifies.failed),
            reloads: .init(ok: reloads.ok, failed: reloads.failed, lastSuccessful: reloads.lastSucceeded),
            firstPlaces: counters.networkCounts.map {
                .init(pool: $0.pool, link: $0.line, count: $0.count, network: $0.network.isEmpty ? nil : $0.network)
            })
    }

    /// Prometheus text from the server's registry (`ServerMetrics`): swift-metrics' series (the health module's),
    /// the query path's counters mirrored in, and the state read now. Base units; bounded labels.
    func metricsText() -> String {
        metrics.scrape {
            let m = metrics
            let now = Date()
            let config = state.withLock { $0.config }
            m.gauge("uplinkdns_build_info", [("version", Config.softwareVersion)], 1)
            m.processMetrics()
            let links = health.links
            for h in links {
                m.gauge("uplinkdns_link_up", [("link", h.name)], h.effective(at: now) == .up ? 1 : 0)
                m.gauge("uplinkdns_link_probed_up", [("link", h.name)], h.probed == .up ? 1 : 0)
                m.gauge("uplinkdns_link_override", [("link", h.name)], h.activeOverride(at: now) != nil ? 1 : 0)
            }
            let route = routing.current
            m.gauge("uplinkdns_routing_apply", [], route.enabled ? 1 : 0)
            if route.enabled {
                let carrying = Set(route.applied?.lines ?? [])
                for name in RoutingEmitter.routable(config.uplinks) {
                    m.gauge("uplinkdns_routing_default_link", [("link", name)], carrying.contains(name) ? 1 : 0)
                }
                m.gauge("uplinkdns_routing_default_held", [], route.desired?.kind == .held ? 1 : 0)
                m.counter("uplinkdns_routing_changes_total", [("result", "ok")], route.changes)
                m.counter("uplinkdns_routing_changes_total", [("result", "failed")], route.failures)
            }
            directorMetrics(m, now: now)
            let up = health.up
            for pool in config.uplinks.pools {
                let labels = [("pool", pool.name.lowercased().description)]
                m.gauge("uplinkdns_pool_lines", labels, Double(pool.members.count))
                m.gauge("uplinkdns_pool_lines_up", labels, Double(pool.members.filter { up.contains($0.link) }.count))
            }
            for c in queryStats.counts {
                m.counter(
                    "uplinkdns_queries_total",
                    [("transport", c.transport), ("zone", c.zone), ("type", c.type), ("rcode", c.rcode)], c.count)
            }
            let byNetwork = counters.networkCounts
            for c in counters.counts {
                m.counter("uplinkdns_responses_first_total", [("pool", c.pool), ("link", c.line)], c.count)
            }
            for c in byNetwork where !c.network.isEmpty {
                m.counter(
                    "uplinkdns_network_responses_total", [("pool", c.pool), ("network", c.network), ("link", c.line)],
                    c.count)
            }
            let snapshot = store.current().0
            m.gauge("uplinkdns_snapshot_generation", [], Double(store.generation))
            for zone in snapshot.origins.sorted() {
                m.gauge(
                    "uplinkdns_zone_serial", [("zone", zone.lowercased().description)],
                    Double(snapshot.serial(zone) ?? 0))
            }
            for s in transfer.secondaryStates {
                m.gauge("uplinkdns_secondary_serial", [("zone", s.zone), ("secondary", s.secondary)], Double(s.serial))
            }
            // Every configured (zone, target) from the start, at 0: a rate sees the first failure too.
            var notifies: [String: Notifier.Record] = [:]
            for z in config.zones {
                for t in z.notify {
                    let r = Notifier.Record(zone: z.origin.lowercased().description, secondary: "\(t)")
                    notifies["\(r.zone) \(r.secondary)"] = r
                }
            }
            for r in notifier.records { notifies["\(r.zone) \(r.secondary)"] = r }
            for r in notifies.values {
                let labels = [("zone", r.zone), ("secondary", r.secondary)]
                m.counter("uplinkdns_notify_total", labels + [("result", "acknowledged")], r.acknowledged)
                m.counter("uplinkdns_notify_total", labels + [("result", "failed")], r.failed)
            }
            for o in transfer.outcomes { m.counter("uplinkdns_transfers_total", [("outcome", o.outcome)], o.count) }
            for t in transfer.transfersSent {
                let labels = [("secondary", t.secondary), ("kind", t.kind)]
                m.counter("uplinkdns_transfers_sent_total", labels, t.transfers)
                m.counter("uplinkdns_transfer_bytes_total", labels, t.octets)
            }
            let reloads = reloadRecord.withLock { $0 }
            m.counter("uplinkdns_reloads_total", [("result", "ok")], reloads.ok)
            m.counter("uplinkdns_reloads_total", [("result", "failed")], reloads.failed)
            m.gauge("uplinkdns_config_last_reload_successful", [], reloads.lastSucceeded ? 1 : 0)
            m.gauge(
                "uplinkdns_config_last_reload_success_timestamp_seconds", [],
                reloads.lastSuccess.timeIntervalSince1970)
            let rrl = limiter.counts
            m.counter("uplinkdns_rrl_responses_total", [("action", "dropped")], rrl.dropped)
            m.counter("uplinkdns_rrl_responses_total", [("action", "slipped")], rrl.slipped)
            let tcp = tcpTotals()
            m.gauge("uplinkdns_tcp_connections_open", [], Double(tcp.open))
            m.counter("uplinkdns_tcp_connections_total", [("result", "accepted")], tcp.accepted)
            m.counter("uplinkdns_tcp_connections_total", [("result", "refused")], tcp.refused)
            for c in tcp.closed {
                m.counter("uplinkdns_tcp_connections_closed_total", [("reason", "\(c.reason)")], c.count)
            }
            let log = queryLog.counts
            m.gauge("uplinkdns_querylog_enabled", [], log.enabled ? 1 : 0)
            m.counter("uplinkdns_querylog_messages_total", [("result", "written")], log.written)
            m.counter("uplinkdns_querylog_messages_total", [("result", "dropped")], log.dropped)
        }
    }
}
