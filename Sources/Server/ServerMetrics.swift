// ServerMetrics: the Prometheus registry every metric goes through — swift-metrics for what is measured off the
// query path, the query path's own lock-free counters mirrored into it at each scrape, and the process's metrics.

import CoreMetrics
import Foundation
import Prometheus
import Synchronization

/// One registry (swift-prometheus) per server. Three kinds of series go into it:
/// - what is measured off the query path, through swift-metrics (`factory`): the health module's probe timings,
///   probe results and transitions;
/// - the query path's counters, which stay lock-free atomics on the workers (a swift-metrics counter takes a lock
///   per increment in swift-prometheus: too dear at a million queries a second) and are mirrored into registry
///   counters at each scrape (`counter`: the registry counter moves by what the atomics moved since the last one);
/// - state read at scrape time (`gauge`): lines up, serials, connections open, the process's CPU and memory.
/// Label values are escaped by the registry (a line's name is free text); every label set is bounded (lines, pools,
/// zones and secondaries come from config; types and rcodes are fixed sets).
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    /// swift-metrics over the registry, with each family's help text.
    let factory: any MetricsFactory

    private struct Mirror {
        var counters: [String: (counter: Prometheus.Counter, value: Int64)] = [:]
        var gauges: [String: (gauge: Prometheus.Gauge, touched: Bool)] = [:]
    }
    private let mirror = Mutex(Mirror())
    private let scraping = Mutex<Void>(())

    /// CPU seconds, a floating-point count (the mirror is for integer counts), and the value it was last moved to.
    private let cpu: Prometheus.Counter
    private let cpuSeconds = Mutex<Double>(0)

    init() {
        factory = HelpingFactory(registry: registry)
        cpu = registry.makeCounter(descriptor: Self.descriptor("process_cpu_seconds_total"), labels: [])
    }

    /// When the machine booted (Unix time, /proc/stat's btime): a process's start time counts from it.
    private static let bootTime: Double? = (try? String(contentsOfFile: "/proc/stat", encoding: .utf8))?
        .split(separator: "\n").first(where: { $0.hasPrefix("btime ") }).flatMap { Double($0.split(separator: " ")[1]) }

    /// The help text of every family (swift-prometheus requires one text per family name).
    static let help: [String: String] = [
        "uplinkdns_build_info": "The running build: its version in the label, value 1.",
        "uplinkdns_link_up": "Whether the line is in answers (1) or out of them (0), overrides included.",
        "uplinkdns_link_probed_up": "Whether the line's probes say up (1), overrides aside.",
        "uplinkdns_link_override": "Whether an operator override (drain, force-up, force-down) is in force.",
        "uplinkdns_link_transitions_total": "Changes of the line's state in answers, by direction (up, down).",
        "uplinkdns_probe_duration_seconds": "How long each probe took, per line and check type.",
        "uplinkdns_probes_total": "Probes run, per line, check type and result (ok, failed).",
        "uplinkdns_pool_lines": "Lines in the pool.",
        "uplinkdns_pool_lines_up": "Lines of the pool in answers now (0: the pool answers with its all-down policy).",
        "uplinkdns_queries_total":
            "Queries by transport, answering zone (none: outside our zones), question type and response code "
            + "(dropped: no answer sent).",
        "uplinkdns_responses_first_total": "Responses whose first address was the line's, per pool.",
        "uplinkdns_network_responses_total":
            "Responses to a client network's clients (by-network), per pool and the line that answered them.",
        "uplinkdns_zone_serial": "The SOA serial each zone is served with.",
        "uplinkdns_secondary_serial":
            "The serial a secondary last had: from its IXFR request, or the transfer it was last sent.",
        "uplinkdns_notify_total": "NOTIFY messages per zone and secondary, acknowledged or given up on.",
        "uplinkdns_transfers_total":
            "Transfer requests and signed queries by outcome (axfr, ixfr, refused, tsig-error).",
        "uplinkdns_transfers_sent_total":
            "Transfers sent per secondary and kind (axfr; ixfr: incremental; ixfr-axfr: IXFR answered with the whole "
            + "zone; ixfr-current: the SOA alone).",
        "uplinkdns_transfer_bytes_total": "Octets of transfers sent, per secondary and kind.",
        "uplinkdns_reloads_total": "Reloads (SIGHUP, API, systemctl reload) by result (ok, failed).",
        "uplinkdns_config_last_reload_successful": "Whether the last reload succeeded (1) or failed (0).",
        "uplinkdns_config_last_reload_success_timestamp_seconds":
            "When the config last loaded successfully (start or reload), Unix time.",
        "uplinkdns_rrl_responses_total": "UDP responses held back by rate limiting: dropped, or sent truncated.",
        "uplinkdns_tcp_connections_open": "TCP connections open now.",
        "uplinkdns_tcp_connections_total":
            "TCP connections accepted, and refused at a cap (server.tcp.max-connections or max-per-client).",
        "uplinkdns_tcp_connections_closed_total":
            "TCP connections closed, by reason (client, idle, message-timeout, evicted, bad-frame, shutdown).",
        "uplinkdns_querylog_enabled": "Whether the query log is on (1) or off (0).",
        "uplinkdns_querylog_messages_total":
            "Query log messages written, and dropped because the writer fell behind (its queue was full).",
        "uplinkdns_routing_apply": "Whether the server keeps the host's routing (routing.apply) (1) or not (0).",
        "uplinkdns_routing_default_link":
            "Whether the main table's default route, as the server last set it, leaves by the line (1) or not (0).",
        "uplinkdns_routing_default_held":
            "Whether no line is in answers and the last default route is kept (1), or the route follows them (0).",
        "uplinkdns_routing_changes_total":
            "Changes of the host's routing by the server (the start's script, each default route), ok or failed.",
        "uplinkdns_real_server_up":
            "Whether the director's real server takes new connections (1) or is out of them (0), overrides included.",
        "uplinkdns_real_server_probed_up": "Whether the real server's probes say up (1), overrides aside.",
        "uplinkdns_director_changes_total":
            "Writes of the director's table by the server (the start's, each real server out or back), ok or failed.",
        "uplinkdns_snapshot_generation": "The generation of the answers serving now (each build adds one).",
        "process_cpu_seconds_total": "User and system CPU time spent, in seconds.",
        "process_resident_memory_bytes": "Resident memory size, in bytes.",
        "process_virtual_memory_bytes": "Virtual memory size, in bytes.",
        "process_open_fds": "Open file descriptors.",
        "process_max_fds": "The limit of open file descriptors.",
        "process_start_time_seconds": "When the process started, Unix time.",
    ]

    static func descriptor(_ name: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help[name] ?? "")
    }

    private static func key(_ name: String, _ labels: [(String, String)]) -> String {
        ([name] + labels.flatMap { [$0.0, $0.1] }).joined(separator: "\u{0}")
    }

    /// One scrape: `update` sets the mirrored series (`counter`, `gauge`), then the registry is written out. A gauge
    /// not set by this scrape (a line or zone a reload removed) leaves the registry.
    func scrape(_ update: () -> Void) -> String {
        scraping.withLock { _ in
            mirror.withLock { m in for k in m.gauges.keys { m.gauges[k]?.touched = false } }
            update()
            let gone = mirror.withLock { m in
                let gone = m.gauges.filter { !$0.value.touched }
                for k in gone.keys { m.gauges[k] = nil }
                return gone.values.map(\.gauge)
            }
            for g in gone { registry.unregisterGauge(g) }
            return registry.emitToString()
        }
    }

    /// Mirrors a monotonic count kept elsewhere (the query path's atomics) into the registry counter `name{labels}`.
    func counter(_ name: String, _ labels: [(String, String)] = [], _ total: some BinaryInteger) {
        let total = Int64(clamping: total)
        let key = Self.key(name, labels)
        let (counter, delta) = mirror.withLock { m -> (Prometheus.Counter, Int64) in
            let entry =
                m.counters[key] ?? (registry.makeCounter(descriptor: Self.descriptor(name), labels: labels), 0)
            m.counters[key] = (entry.counter, max(total, entry.value))
            return (entry.counter, max(0, total - entry.value))
        }
        if delta > 0 { counter.increment(by: delta) }
    }

    /// Sets the gauge `name{labels}` for this scrape.
    func gauge(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        let key = Self.key(name, labels)
        let gauge = mirror.withLock { m -> Prometheus.Gauge in
            let g = m.gauges[key]?.gauge ?? registry.makeGauge(descriptor: Self.descriptor(name), labels: labels)
            m.gauges[key] = (g, true)
            return g
        }
        gauge.set(to: value)
    }

    /// The process's CPU, memory, descriptors and start time, from /proc (Linux).
    func processMetrics() {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return }
        // Fields after the command name, which may hold spaces: state is field 3, so index i is field i + 3.
        let f = stat[stat.index(after: close)...].split(separator: " ").map(String.init)
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        func field(_ n: Int) -> Double { n - 3 < f.count ? Double(f[n - 3]) ?? 0 : 0 }
        gauge("process_resident_memory_bytes", [], field(24) * page)
        gauge("process_virtual_memory_bytes", [], field(23))
        let seconds = (field(14) + field(15)) / ticks
        let moved = cpuSeconds.withLock { last in
            defer { last = max(last, seconds) }
            return seconds - last
        }
        if moved > 0 { cpu.increment(by: moved) }
        if let boot = Self.bootTime { gauge("process_start_time_seconds", [], boot + field(22) / ticks) }
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        gauge("process_open_fds", [], Double(fds))
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            gauge("process_max_fds", [], Double(limit.rlim_cur))
        }
    }
}

/// swift-metrics' factory over a registry, giving each family its help text (swift-prometheus's own factory makes
/// families without one). Timers are histograms with buckets from 1 ms to 10 s (probes time out in seconds).
struct HelpingFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(descriptor: ServerMetrics.descriptor(label), labels: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(descriptor: ServerMetrics.descriptor(label), labels: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        registry.makeGauge(descriptor: ServerMetrics.descriptor(label), labels: dimensions)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(descriptor: ServerMetrics.descriptor(label), labels: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(
            descriptor: ServerMetrics.descriptor(label), labels: dimensions, buckets: Self.durationBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) {
        if let c = handler as? Prometheus.Counter { registry.unregisterCounter(c) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let c = handler as? Prometheus.Counter { registry.unregisterCounter(c) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let g = handler as? Prometheus.Gauge { registry.unregisterGauge(g) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let g = handler as? Prometheus.Gauge { registry.unregisterGauge(g) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let h = handler as? DurationHistogram { registry.unregisterDurationHistogram(h) }
    }
}
