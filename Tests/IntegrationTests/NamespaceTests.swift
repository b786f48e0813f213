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
        let script = packageRoot.appendingPathComponent("tests/netns/two-lines.sh").path
        let r = try run("/bin/bash", [script, binaryPath], timeout: 180)
        if r.status == 77 {
            Issue.record("skipped: \(r.out)")  // the script could not build its topology here
            return
        }
        #expect(r.status == 0 && r.out.contains("PASS"), "\(r.out)\(r.err)")
    }
}
