// NamespaceTests: the routing emitter proven with real ip and nft in network namespaces (tests/netns/two-lines.sh).

import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Whether this machine can make network namespaces (root and `ip netns`); checked by making and removing one.
let namespacesAvailable: Bool = {
    guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") else { return false }
    let name = "uplk-probe-\(getpid())"
    guard (try? run("/usr/sbin/ip", ["netns", "add", name]).status) == 0 else { return false }
    _ = try? run("/usr/sbin/ip", ["netns", "del", name])
    return true
}()

@Suite struct NamespaceTests {
    @Test(.enabled(if: namespacesAvailable, "needs root and ip netns to build the two-line site in namespaces"))
    func replyLeavesByTheLineItCameInOnAndFailoverFollowsTheLine() throws {
        try runScript("two-lines.sh", timeout: 180)
    }

    /// Issue 26: with `routing.apply`, the server applies its routing at start, moves the main default route off a
    /// line whose far side is cut (no route via it from fall × interval + 1 s on; 50 unbound outbound connections
    /// succeed before and after), puts it back within rise × interval + 1 s, follows a drain; the emitted gateway rules
    /// spread a LAN's clients over both lines and the server's on-change hook moves the cut line's group
    /// (tests/netns/follow-health.sh).
    @Test(.enabled(if: namespacesAvailable, "needs root and ip netns to build the two-line site in namespaces"))
    func outboundRoutingAndGatewayGroupsFollowTheLinesInAnswers() throws {
        try runScript("follow-health.sh", timeout: 240)
    }

    /// Issue 24: the director in seed 002's NAT topology with `director.apply: nft` — rr 250/250 and wrr 2:3 over 500
    /// connections, persistence, fwmark 6 over 80 and 443 to one real server, an open connection left with a server
    /// taken out, a killed real server out within fall × interval + 1 s with no failed connection after and back after
    /// it returns, in status, metrics and the hook (tests/netns/director.sh).
    @Test(.enabled(if: namespacesAvailable, "needs root and ip netns to build the director's site in namespaces"))
    func theDirectorSpreadsConnectionsAndFollowsTheRealServersHealth() throws {
        try runScript("director.sh", timeout: 240)
    }

    /// Issue 24: seed 002's DR topology forwarded by nftables' netdev fwd with `director.apply: nft`: the real servers
    /// set up by `routing --for real-server:RIP`, every connection answered straight from a real server (none of the
    /// replies from the director's MAC), a killed real server out within fall × interval + 1 s and back
    /// (tests/netns/director-dr.sh).
    @Test(.enabled(if: namespacesAvailable, "needs root and ip netns to build the director's DR site in namespaces"))
    func directRoutingSendsTheRepliesStraightFromTheRealServers() throws {
        try runScript("director-dr.sh", timeout: 180)
    }

    /// Runs `tests/netns/NAME` with the binary; it passes when it says PASS, and is recorded as skipped when it could
    /// not build its topology here (exit 77).
    func runScript(_ name: String, timeout: Double) throws {
        let script = packageRoot.appendingPathComponent("tests/netns/\(name)").path
        let r = try run("/bin/bash", [script, binaryPath], timeout: timeout)
        if r.status == 77 {
            Issue.record("skipped: \(r.out)")
            return
        }
        #expect(r.status == 0 && r.out.contains("PASS"), "\(r.out)\(r.err)")
    }
}
