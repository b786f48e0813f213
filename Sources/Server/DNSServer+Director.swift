// DNSServer+Director: the director's real servers in the server — started after the lines, reported as they are.

import Foundation
import Uplinks

extension DNSServer {
    /// Starts the director's health (one probe round, then its table with `director.apply`, then the probe loops);
    /// returns once the table is written. Nothing without services.
    func startDirector() {
        let follower = director
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            await follower.start()
            done.signal()
        }
        done.wait()
    }

    /// The real servers as `/v1/status` gives lines (`SERVICE/ADDRESS`: in or out of new connections, why, since,
    /// probes, transitions); nil without a director.
    func realServerDetails(now: Date, iso: ISO8601DateFormatter) -> [ControlAPI.LinkDetail]? {
        let d = director.configured
        guard !d.services.isEmpty else { return nil }
        var weights: [String: Int] = [:]
        var addresses: [String: [String]] = [:]
        for (s, r) in d.realServers {
            let name = RealServer.name(service: s.name, address: r.address)
            weights[name] = r.effectiveWeight
            addresses[name] = [r.address.description]
        }
        let config = state.withLock { $0.config }
        return linkDetails(
            config: config, now: now, iso: iso, checker: director.health, weights: weights,
            addresses: { addresses[$0] ?? [] })
    }

    /// `director.apply` and what the follower did; nil without a director.
    func directorStatus(iso: ISO8601DateFormatter) -> ControlAPI.DirectorStatus? {
        guard !director.configured.services.isEmpty else { return nil }
        let r = director.current
        return ControlAPI.DirectorStatus(
            apply: r.apply.rawValue, out: (r.out ?? []).sorted(), since: r.since.map(iso.string(from:)),
            error: r.error, changes: r.changes, failures: r.failures)
    }

    /// The director's series: each real server up (and probed up) by service and address, and the table's writes.
    func directorMetrics(_ m: ServerMetrics, now: Date) {
        let d = director.configured
        guard !d.services.isEmpty else { return }
        let states = Dictionary(director.health.links.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (s, r) in d.realServers {
            guard let h = states[RealServer.name(service: s.name, address: r.address)] else { continue }
            let labels = [("service", s.name), ("address", r.address.description)]
            m.gauge("uplinkdns_real_server_up", labels, h.effective(at: now) == .up ? 1 : 0)
            m.gauge("uplinkdns_real_server_probed_up", labels, h.probed == .up ? 1 : 0)
        }
        let record = director.current
        m.counter("uplinkdns_director_changes_total", [("result", "ok")], record.changes)
        m.counter("uplinkdns_director_changes_total", [("result", "failed")], record.failures)
    }
}
