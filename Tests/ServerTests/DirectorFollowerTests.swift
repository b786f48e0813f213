// DirectorFollowerTests: the follower's table changes as the real servers' health changes (the commands it would
// run, recorded, not run).

import Foundation
import Health
import Logging
import Routing
import Synchronization
import TestSupport
import Testing
import Uplinks

@testable import Server

@Suite struct DirectorFollowerTests {
    /// A prober whose answers the test sets, per check.
    final class Prober: Health.Prober {
        let down = Mutex<Set<String>>([])
        func probe(_ check: CheckSpec, source: IPAddress?) async -> CheckResult {
            let ok = !down.withLock { $0.contains(check.kind.description) }
            return CheckResult(ok: ok, detail: ok ? "connected" : "connection refused")
        }
    }

    /// The shared site (TestSupport): web is wrr 2:3 over 198.18.1.12 (http, tcp) and 198.18.1.13 (icmp, exec,
    /// file), interval 1, rise 2, fall 2.
    static let director: Director = {
        try! Config.parse("zones: [{origin: example.com., file: a.zone}]\n" + directorSiteYAML, path: "/x/c.yaml")
            .director
    }()

    /// The table is loaded at start for the real servers in; a server failing `fall` rounds has its slots moved in
    /// one nft transaction that touches only the map's elements (no rule, no conntrack entry: open connections stay);
    /// one bad round moves nothing; `rise` good rounds give it its slots back.
    @Test func aFailedRealServerLeavesTheMapAndComesBack() async throws {
        let prober = Prober()
        let scripts = Mutex<[String]>([])
        let follower = DirectorFollower(
            director: Self.director, stateDirectory: nil, logger: Logger(label: "test"), prober: prober,
            command: { _, _, input in
                scripts.withLock { $0.append(input ?? "") }
                return (0, "")
            })
        await follower.start(loops: false)
        let start = try #require(scripts.withLock { $0.first })
        #expect(start.contains("sysctl -qw net.ipv4.ip_forward=1") && start.contains("table ip uplinkdns_director {"))
        #expect(start.contains("dnat to numgen inc mod 100 map @svc0_web"))
        let target = try #require(Self.director.healthTargets.link("web/198.18.1.13"))
        prober.down.withLock { $0 = ["icmp 198.18.1.13"] }
        await follower.health.round(target)
        follower.settle()
        #expect(scripts.withLock { $0.count } == 1)  // one bad round: nothing moves
        await follower.health.round(target)
        follower.settle()
        let out = try #require(scripts.withLock { $0.count == 2 ? $0[1] : nil })
        #expect(out.contains("flush map ip uplinkdns_director svc0_web\nadd element ip uplinkdns_director svc0_web {"))
        #expect(!out.contains("198.18.1.13") && !out.contains("dnat") && !out.contains("conntrack"))
        #expect(follower.out == ["web/198.18.1.13"] && follower.current.out == ["web/198.18.1.13"])
        prober.down.withLock { $0 = [] }
        await follower.health.round(target)
        await follower.health.round(target)
        follower.settle()
        let back = try #require(scripts.withLock { $0.count == 3 ? $0[2] : nil })
        let slots = DirectorEmitter.slots(Self.director.services[0])
        #expect(back.contains(DirectorEmitter.nftUpdate(Self.director.services[0], index: 0, slots: slots)))
        #expect(follower.current.changes == 3 && follower.current.failures == 0)
    }

    /// A table changed by hand (the drift check says so) is written again whole; no drift, nothing written.
    @Test func aDriftedTableIsWrittenAgain() async throws {
        let scripts = Mutex<[String]>([])
        let drifted = Mutex<[String]>([])
        let follower = DirectorFollower(
            director: Self.director, stateDirectory: nil, logger: Logger(label: "test"), prober: Prober(),
            command: { _, _, input in
                scripts.withLock { $0.append(input ?? "") }
                return (0, "")
            },
            drift: { _, _ in drifted.withLock { $0 } })
        await follower.start(loops: false)
        follower.checkDriftNow()
        #expect(scripts.withLock { $0.count } == 1)
        drifted.withLock { $0 = ["director service web: map svc0_web differs in 40 of 100 slots"] }
        follower.checkDriftNow()
        let again = try #require(scripts.withLock { $0.count == 2 ? $0[1] : nil })
        #expect(again.contains("table ip uplinkdns_director {") && again.contains("map svc0_web {"))
    }

    /// A server started without a director gets one by a reload: its real servers are probed at once (out until a
    /// probe passes), the table is written, and once the probes pass their slots are theirs.
    @Test func aReloadAddsADirector() async throws {
        let scripts = Mutex<[String]>([])
        let follower = DirectorFollower(
            director: Director(), stateDirectory: nil, logger: Logger(label: "test"), prober: Prober(),
            command: { _, _, input in
                scripts.withLock { $0.append(input ?? "") }
                return (0, "")
            }, drift: { _, _ in [] })
        await follower.start()
        defer { follower.stop() }
        #expect(scripts.withLock { $0.isEmpty })
        follower.reconfigure(director: Self.director, hooks: [])
        // The rounds are driven here (rise 2) rather than waited for: the whole test run shares two cores'
        // cooperative threads, which a synchronous integration test can hold for minutes.
        for _ in 0..<2 {
            for target in Self.director.healthTargets.links { await follower.health.round(target) }
        }
        follower.settle()
        #expect(follower.current.out == [] && follower.out.isEmpty, "\(String(describing: follower.current.out))")
        #expect(scripts.withLock { $0.first?.contains("table ip uplinkdns_director {") ?? false })
    }

    /// A failed write is retried and reported; ipvs takes a failed server out by weight 0.
    @Test func ipvsTakesAFailedServerOutByWeightZero() async throws {
        var d = Self.director
        d.apply = .ipvs
        let prober = Prober()
        let scripts = Mutex<[String]>([])
        let follower = DirectorFollower(
            director: d, stateDirectory: nil, logger: Logger(label: "test"), prober: prober,
            command: { _, _, input in
                scripts.withLock { $0.append(input ?? "") }
                return (0, "")
            })
        await follower.start(loops: false)
        let start = try #require(scripts.withLock { $0.first })
        #expect(start.contains("ipvsadm -D -t 203.0.113.80:80 2>/dev/null || true"))
        #expect(
            start.contains("-a -t 203.0.113.80:80 -r 198.18.1.13 -m -w 3\n") && start.contains("-A -f 6 -s rr -p 300\n")
        )
        prober.down.withLock { $0 = ["tcp 198.18.1.12:80"] }
        let target = try #require(d.healthTargets.link("web/198.18.1.12"))
        for _ in 0..<2 { await follower.health.round(target) }
        follower.settle()
        #expect(scripts.withLock { $0.last } == "set -e\nipvsadm -e -t 203.0.113.80:80 -r 198.18.1.12 -m -w 0\n")
    }
}

/// The director in a server: its real servers in `/v1/status` (as lines are), `uplinkdns status`'s table and
/// `--check`, and a reload that changes them. `apply: none`: nothing on this host is touched.
@Suite struct DirectorStatusTests {
    @Test func realServersAreReportedAndReloaded() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("director-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
            .write(to: dir.appendingPathComponent("a.zone"), atomically: true, encoding: .utf8)
        try "down\n".write(to: dir.appendingPathComponent("rs13.state"), atomically: true, encoding: .utf8)
        let path = dir.appendingPathComponent("c.yaml")
        func write(servers: String) throws {
            try """
            zones: [{origin: example.com., file: a.zone}]
            health: {state-dir: state}
            director:
              services:
                - {name: web, address: 203.0.113.80, port: 80, real-servers: [\(servers)]}
            """.write(to: path, atomically: true, encoding: .utf8)
        }
        let rs13 = "{address: 198.18.1.13, checks: [{file: \(dir.path)/rs13.state}]}"
        try write(servers: "{address: 198.18.1.12}, " + rs13)
        let server = try DNSServer(config: try Config.load(path: path.path), logger: Logger(label: "test"))
        server.buildAnswers()
        await server.director.start(loops: false)
        let status = server.status()
        let servers = try #require(status.realServers)
        #expect(servers.map(\.name) == ["web/198.18.1.12", "web/198.18.1.13"])
        #expect(servers.map(\.state) == ["up", "down"] && servers[1].addresses == ["198.18.1.13"])
        #expect(servers[1].checks.first?.results.first?.detail == "file says down")
        #expect(status.director?.apply == "none")
        let text = try #require(StatusReport.director(status))
        #expect(text.hasPrefix("REAL SERVER") && text.contains("web/198.18.1.13  down"), "\(text)")
        #expect(text.contains("director: table not kept (director.apply: none)"))
        #expect(StatusReport.health(status) == .degraded)
        try write(servers: "{address: 198.18.1.12}")
        #expect(server.reloadOutcome().errors == nil)
        #expect(server.status().realServers?.map(\.name) == ["web/198.18.1.12"])
        #expect(StatusReport.health(server.status()) == .allUp)
        server.director.stop()
    }
}
