// HealthCheckerTests: rounds with a fake prober and a manual clock; publication, hooks, restore; real probes.

import Foundation
import Health
import Logging
import Synchronization
import Testing
import Uplinks

/// A prober whose answers the test sets per check.
final class FakeProber: Prober {
    let results = Mutex<[String: Bool]>([:])
    func set(_ check: String, _ ok: Bool) { results.withLock { $0[check] = ok } }
    func probe(_ check: CheckSpec, source: IPAddress?) async -> CheckResult {
        let ok = results.withLock { $0[check.kind.description] } ?? true
        return CheckResult(ok: ok, detail: ok ? "ok" : "timed out")
    }
}

/// What the checker published, in order.
final class Published: Sendable {
    let sets = Mutex<[Set<String>]>([])
    func add(_ s: Set<String>) { sets.withLock { $0.append(s) } }
    var all: [Set<String>] { sets.withLock { $0 } }
}

func lines(require: Requirement = .all) -> Uplinks {
    let checks = [CheckSpec(kind: .tcp(host: "203.0.113.80", port: 80)), CheckSpec(kind: .file(path: "/x"))]
    var unicom = Link(name: "unicom", publicAddresses: [IPAddress("192.0.2.10")!])
    unicom.health = HealthSpec(checks: [checks[0]], rise: 2, fall: 3)
    var cnc = Link(name: "cnc", publicAddresses: [IPAddress("198.51.100.10")!], inside: IPAddress("192.0.2.2"))
    cnc.health = HealthSpec(checks: checks, require: require, rise: 2, fall: 3)
    return Uplinks(links: [unicom, cnc])
}

@Suite struct HealthCheckerTests {
    @Test func roundsFlipALineAfterFallAndRiseAndPublish() async {
        let prober = FakeProber()
        let published = Published()
        let u = lines()
        let checker = HealthChecker(uplinks: u, prober: prober, logger: Logger(label: "t"), onChange: published.add)
        await checker.initialRound()
        #expect(checker.up == ["unicom", "cnc"] && published.all.isEmpty)
        prober.set("file /x", false)
        let cnc = u.links[1]
        await checker.round(cnc)
        await checker.round(cnc)
        #expect(checker.up == ["unicom", "cnc"])  // two bad rounds: not yet
        await checker.round(cnc)
        #expect(checker.up == ["unicom"] && published.all == [["unicom"]])
        #expect(checker.links[1].reason == "file /x timed out 3/3")
        #expect(checker.links[1].lastResults == ["tcp 203.0.113.80:80 ok", "file /x timed out"])
        prober.set("file /x", true)
        await checker.round(cnc)
        await checker.round(cnc)
        #expect(published.all == [["unicom"], ["unicom", "cnc"]] && checker.transitions == 2)
    }

    @Test func requireAnyNeedsOneCheck() async {
        let prober = FakeProber()
        let checker = HealthChecker(uplinks: lines(require: .any), prober: prober, logger: Logger(label: "t")) { _ in }
        prober.set("file /x", false)
        await checker.initialRound()
        #expect(checker.up.contains("cnc"))
        prober.set("tcp 203.0.113.80:80", false)
        for _ in 0..<3 { await checker.round(lines().links[1]) }
        #expect(!checker.up.contains("cnc"))
    }

    @Test func theFirstRoundDecidesAtOnceWithoutRestoredState() async {
        let prober = FakeProber()
        prober.set("file /x", false)  // only cnc has the file check
        let checker = HealthChecker(uplinks: lines(), prober: prober, logger: Logger(label: "t")) { _ in }
        await checker.initialRound()
        #expect(checker.up == ["unicom"])  // one failed round, no waiting for `fall`
    }

    @Test func aDrainSurvivesARestartAndHooksGetTheirEnvironment() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hc-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/hook.out"
        let hook = "echo \"$LINK $STATE $REASON\" >> \(out)"
        let first = HealthChecker(
            uplinks: lines(), prober: FakeProber(), logger: Logger(label: "t"),
            stateDirectory: dir, hooks: [hook]
        ) { _ in }
        #expect(first.setOverride("cnc", .drain, for: 600))
        #expect(!first.setOverride("nope", .drain))
        #expect(first.up == ["unicom"])
        // A new process (after kill -9): the same state directory restores the drain before the first round.
        let second = HealthChecker(
            uplinks: lines(), prober: FakeProber(), logger: Logger(label: "t"),
            stateDirectory: dir
        ) { _ in }
        #expect(second.restore())
        await second.initialRound()
        #expect(second.up == ["unicom"] && second.links[1].override == .drain)
        for _ in 0..<100 where (try? String(contentsOfFile: out, encoding: .utf8)) == nil {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "cnc down operator: drain for 600 s\n")
    }
}

@Suite struct SystemProberTests {
    @Test func tcpConnectsToAListenerAndNotToAClosedPort() async throws {
        // The listener is closed once, by hand, half-way through (no `defer`: a second close could hit a descriptor
        // that a test running in parallel has opened since).
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr)
        let bound = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 8) == 0 else {
            close(fd)
            Issue.record("cannot listen on 127.0.0.1")
            return
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        let port = UInt16(bigEndian: sa.sin_port)
        let p = SystemProber()
        // Generous timeouts: a loopback connect is immediate, but CI runs every suite at once on two cores.
        let open = await p.probe(
            CheckSpec(kind: .tcp(host: "127.0.0.1", port: port), timeout: 5), source: IPAddress("127.0.0.1"))
        close(fd)
        #expect(open.ok, "open port: \(open.detail)")
        // A closed port that stays ours: bound but never listening (a connect gets a reset, as from a closed port),
        // so that a test running in parallel cannot start listening on it meanwhile (the listener's port, once
        // closed, could be taken: CI saw that).
        let quiet = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var qa = sockaddr_in()
        qa.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &qa.sin_addr)
        _ = withUnsafePointer(to: &qa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(quiet, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var qlen = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &qa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(quiet, $0, &qlen) }
        }
        let closedPort = UInt16(bigEndian: qa.sin_port)
        let closed = await p.probe(CheckSpec(kind: .tcp(host: "127.0.0.1", port: closedPort), timeout: 5), source: nil)
        close(quiet)
        #expect(!closed.ok, "closed port: \(closed.detail)")
        #expect(closed.detail.contains("refused"), "closed port: \(closed.detail)")
        // A source address this host does not have: bind fails (EADDRNOTAVAIL), unless the kernel allows non-local
        // binds (net.ipv4.ip_nonlocal_bind=1), in which case the SYN's reply cannot come back. Down either way.
        let badSource = await p.probe(
            CheckSpec(kind: .tcp(host: "127.0.0.1", port: port), timeout: 1), source: IPAddress("192.0.2.99"))
        #expect(!badSource.ok, "source 192.0.2.99: \(badSource.detail)")
        let nonlocal = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_nonlocal_bind", encoding: .utf8))
        if nonlocal?.hasPrefix("0") ?? true {
            #expect(badSource.detail.hasPrefix("bind 192.0.2.99"), "source 192.0.2.99: \(badSource.detail)")
        }
    }

    @Test func fileAndExecChecks() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("state-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let p = SystemProber()
        try "up\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(await p.probe(CheckSpec(kind: .file(path: path)), source: nil).ok)
        try "down by ip-down\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(!(await p.probe(CheckSpec(kind: .file(path: path)), source: nil).ok))
        #expect(await p.probe(CheckSpec(kind: .exec(command: "exit 0")), source: nil).ok)
        #expect(
            await p.probe(CheckSpec(kind: .exec(command: "exit 3")), source: nil)
                == CheckResult(ok: false, detail: "exit 3"))
        let slow = await p.probe(CheckSpec(kind: .exec(command: "sleep 5"), timeout: 0.2), source: nil)
        #expect(slow == CheckResult(ok: false, detail: "timed out"))
    }

    @Test func icmpThroughTheSystemPing() async {
        let p = SystemProber()
        let ok = await p.probe(CheckSpec(kind: .icmp(host: "127.0.0.1"), timeout: 1), source: IPAddress("127.0.0.1"))
        #expect(ok.ok, "\(ok.detail)")
        // A source address the machine does not have: ping cannot bind it, so the line is down.
        let bad = await p.probe(CheckSpec(kind: .icmp(host: "127.0.0.1"), timeout: 1), source: IPAddress("192.0.2.1"))
        #expect(!bad.ok)
    }

    @Test func routingCheckFailsWhereTheReturnPathIsMissing() async {
        // This machine has no table or rule for the line: its return path is missing, so the line counts as down.
        var link = Link(
            name: "cnc", publicAddresses: [IPAddress("198.51.100.10")!], inside: IPAddress("198.18.168.2"),
            gateway: IPAddress("198.18.168.12"), interface: "eth0", table: 202)
        link.insidePrefix = 24
        let r = await SystemProber().probe(CheckSpec(kind: .routing(link: link)), source: nil)
        #expect(!r.ok && r.detail.contains("no rule 'from 198.18.168.2 lookup 202'"), "\(r.detail)")
    }
}

@Suite struct InPlaceFileTests {
    /// Written in reserved space: a shorter content reads back exactly (no tail of the longer one), and the raw file
    /// stays readable JSON (padding is spaces, never the zeros of the allocation).
    @Test func shorterContentReadsBackAndTheFileStaysJSON() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("inplace-\(UUID().uuidString).json")
            .path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try InPlaceFile.write(Data("{\"a\": \"\(String(repeating: "x", count: 500))\"}".utf8), to: path)
        try InPlaceFile.write(Data("{\"b\": 1}".utf8), to: path)
        #expect(InPlaceFile.read(path) == Data("{\"b\": 1}".utf8))
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(raw.count >= InPlaceFile.reserve && !raw.contains(0))
        #expect((try? JSONSerialization.jsonObject(with: raw)) as? [String: Int] == ["b": 1])
    }
}

/// A prober that counts the probes of each check.
final class CountingProber: Prober {
    let counts = Mutex<[String: Int]>([:])
    func probe(_ check: CheckSpec, source: IPAddress?) async -> CheckResult {
        counts.withLock { $0[check.kind.description, default: 0] += 1 }
        return CheckResult(ok: true, detail: "ok")
    }
    func count(_ check: String) -> Int { counts.withLock { $0[check] ?? 0 } }
}

@Suite struct CheckIntervalTests {
    /// Issue 21: a tcp check with `interval: 5` beside a file check with `interval: 0.5` connected 12 times in 6 s
    /// (every round ran every check at the shortest interval). Each check keeps its own schedule now; rounds run at
    /// the shortest interval and a check not yet due counts with its last result.
    @Test func eachCheckIsProbedOnItsOwnInterval() async {
        let prober = CountingProber()
        let clock = ManualClock()
        var link = Link(name: "isp", publicAddresses: [IPAddress("192.0.2.10")!])
        link.health = HealthSpec(checks: [
            CheckSpec(kind: .tcp(host: "203.0.113.80", port: 80), interval: 5, timeout: 1),
            CheckSpec(kind: .file(path: "/run/isp.state"), interval: 0.5, timeout: 0.25),
        ])
        let checker = HealthChecker(
            uplinks: Uplinks(links: [link]), prober: prober, logger: Logger(label: "t"), clock: { clock.read() },
            onChange: { _ in })
        await checker.initialRound()  // t = 0: every check
        for _ in 1..<12 {  // t = 0.5 … 5.5
            clock.advance(0.5)
            await checker.round(link)
        }
        #expect(prober.count("file /run/isp.state") == 12)
        #expect(prober.count("tcp 203.0.113.80:80") == 2)  // t = 0 and t = 5
        // The rounds in between still count the tcp check, with its last result.
        #expect(checker.links[0].lastResults == ["tcp 203.0.113.80:80 ok", "file /run/isp.state ok"])
    }

    /// A slow check's failure stands in until its next probe, but counts once towards `fall`: the line goes down after
    /// `fall` failed probes of that check in a row (at 5, 10, 15 s), not `fall` rounds after the first (5.5 s).
    @Test func aSlowChecksFailureCountsOncePerProbe() async {
        let prober = FakeProber()
        let clock = ManualClock()
        var link = Link(name: "isp", publicAddresses: [IPAddress("192.0.2.10")!])
        link.health = HealthSpec(
            checks: [
                CheckSpec(kind: .tcp(host: "203.0.113.80", port: 80), interval: 5, timeout: 1),
                CheckSpec(kind: .file(path: "/run/isp.state"), interval: 0.5, timeout: 0.25),
            ], rise: 2, fall: 3)
        let checker = HealthChecker(
            uplinks: Uplinks(links: [link]), prober: prober, logger: Logger(label: "t"), clock: { clock.read() },
            onChange: { _ in })
        await checker.initialRound()
        prober.set("tcp 203.0.113.80:80", false)
        var downAt: Double?
        for step in 1...32 {  // t = 0.5 … 16
            clock.advance(0.5)
            await checker.round(link)
            if downAt == nil, checker.up.isEmpty { downAt = Double(step) * 0.5 }
        }
        #expect(downAt == 15)
    }
}

@Suite struct AnsweringTests {
    /// What answers are built for, read at one moment: the lines up, and those an operator took out (a drain or a
    /// force-down, which a pool's fail-open must not bring back); a forced-up line is not held.
    @Test func heldLinesAreTheOperatorsDrainsAndForcedDowns() async {
        let prober = FakeProber()
        let checker = HealthChecker(uplinks: lines(), prober: prober, logger: Logger(label: "t"), onChange: { _ in })
        await checker.initialRound()
        checker.setOverride("cnc", .drain)
        #expect(checker.answering.up == ["unicom"] && checker.answering.held == ["cnc"])
        checker.setOverride("unicom", .forceDown)
        checker.setOverride("cnc", .forceUp)
        #expect(checker.answering.up == ["cnc"] && checker.answering.held == ["unicom"])
        checker.setOverride("unicom", nil)
        #expect(checker.answering.held.isEmpty)
    }

    /// A drain of a line the probes already took out changes no state, but what a pool failing open answers: it
    /// is published, so the answers drop the line (the drain holds), and `auto` brings it back to the fail-open.
    @Test func holdingALineAlreadyDownIsPublished() async {
        let prober = FakeProber()
        let published = Published()
        let u = lines()
        let checker = HealthChecker(uplinks: u, prober: prober, logger: Logger(label: "t"), onChange: published.add)
        prober.set("file /x", false)
        await checker.initialRound()
        #expect(checker.up == ["unicom"])
        let before = published.all.count
        checker.setOverride("cnc", .drain)
        #expect(published.all.count == before + 1 && checker.answering.held == ["cnc"])
        checker.setOverride("cnc", nil)
        #expect(published.all.count == before + 2 && checker.answering.held.isEmpty)
        // Forcing up a line that is up changes nothing, and nothing is published.
        checker.setOverride("unicom", .forceUp)
        #expect(published.all.count == before + 2)
    }
}
