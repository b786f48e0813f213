// ValidatorTests: independent validators on the example zone signed by UplinkDNS (issue 22) — zonemaster-cli, dnsviz
// and a validating unbound, in loopback-only network namespaces with a fake root and com. that carry the zone's DS,
// and Knot serving the same signed zone as the reference (tests/validators/run.sh; docs/dnssec.md, "Independent
// validators").

import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Whether this machine lets us make a network and PID namespace with `unshare` (root): checked by making one.
let unshareAvailable: Bool = {
    guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return false }
    return (try? run("/usr/bin/unshare", ["--net", "--pid", "--fork", "true"]).status) == 0
}()

@Suite struct ValidatorTests {
    /// NSEC and NSEC3: zonemaster (every test case) reports nothing above NOTICE that Knot serving the same signed
    /// zone, or the zone unsigned, does not also get; dnsviz reports no error and no warning, with our KSK as the
    /// trust anchor and from the fake root's key; unbound validates the pool before and after a drain, AAAA,
    /// NXDOMAIN, wildcards, NODATA and CNAMEs with AD. The script prints every finding; a failure says which.
    @Test(.enabled(if: unshareAvailable, "needs root to make loopback-only network namespaces (unshare --net)"))
    func zonemasterDnsvizAndUnboundFindNothingThatKnotDoesNotGet() throws {
        let script = packageRoot.appendingPathComponent("tests/validators/run.sh").path
        let r = try run("/bin/bash", [script, binaryPath], timeout: 170)
        #expect(r.status == 0 && r.out.hasSuffix("PASS\n"), "exit \(r.status)\n\(r.out)\(r.err)")
        // What the run checked, so that a pass that checked nothing cannot hide.
        for variant in ["nsec", "nsec3"] {
            #expect(r.out.contains("\(variant): unbound: 18 of 18 validated with AD"), "\(r.out)")
            #expect(
                r.out.contains("\(variant): dnsviz, trust anchor our KSK: 0 errors and warnings, 0 not secure"),
                "\(r.out)")
        }
    }
}
