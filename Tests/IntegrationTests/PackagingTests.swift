// PackagingTests: the Debian package made from the binary under test (scripts/deb.sh, what `make deb` runs) passes
// tests/packaging/check-deb.sh: control fields, contents, lintian, and an install, reinstall, remove and purge with
// the real dpkg and maintainer scripts in a scratch root (this machine's users and packages are left alone).

import Foundation
import Testing

/// The man page `make man` writes; deb.sh refuses to build without it.
let manPageDirectory = packageRoot.appendingPathComponent(".build/man")

/// The binary packaged: $UPLINKDNS_DEB_BIN, else the one `make test` builds with the Swift runtime linked in (as
/// `make deb` ships it; the test binary links it dynamically from the toolchain, which lintian rightly refuses).
var packagedBinaryPath: String {
    ProcessInfo.processInfo.environment["UPLINKDNS_DEB_BIN"]
        ?? packageRoot.appendingPathComponent(".build-static/debug/uplinkdns").path
}

@Suite struct PackagingTests {
    @Test(
        .enabled(
            if: FileManager.default.fileExists(atPath: manPageDirectory.appendingPathComponent("uplinkdns.1").path),
            "needs the man page: run `make man` first (`make test` does)"),
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: packagedBinaryPath),
            "needs .build-static/debug/uplinkdns (`make test` builds it) or $UPLINKDNS_DEB_BIN"),
        .enabled(
            if: (try? tool("dpkg-deb")) != nil && (try? tool("dpkg-shlibdeps")) != nil,
            "needs dpkg-deb and dpkg-shlibdeps (Debian package dpkg-dev)")
    )
    func theDebianPackageBuildsAndInstallsInAScratchRoot() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("deb-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let build = try run(
            try tool("bash"),
            [
                packageRoot.appendingPathComponent("scripts/deb.sh").path, "--binary", packagedBinaryPath, "--man-dir",
                manPageDirectory.path, "--out-dir", out.path,
            ], timeout: 600)
        try #require(build.status == 0, "\(build.out)\(build.err)")
        let deb = try #require(build.out.split(separator: "\n").last.map(String.init))
        #expect(deb.hasPrefix(out.path + "/uplinkdns_") && deb.hasSuffix(".deb"), "\(deb)")
        let check = try run(
            try tool("bash"), [packageRoot.appendingPathComponent("tests/packaging/check-deb.sh").path, deb],
            timeout: 600)
        #expect(check.status == 0, "\(check.out)\(check.err)")
        #expect(check.out.contains("passed"), "\(check.out)")
    }
}

@Suite struct ManPageTests {
    /// Issue 25: the man page had no configuration reference and no FILES or SIGNALS, and its generated EXIT STATUS
    /// (">0 on error") contradicted `status --check`. It has them now: every key docs/config.md lists (the schema),
    /// and it renders without a warning.
    @Test(
        .enabled(
            if: FileManager.default.fileExists(atPath: manPageDirectory.appendingPathComponent("uplinkdns.1").path),
            "needs the man page: run `make man` first (`make test` does)"))
    func theManPageHasTheConfigurationFilesSignalsAndExitStatus() throws {
        let page = manPageDirectory.appendingPathComponent("uplinkdns.1")
        let text = try String(contentsOf: page, encoding: .utf8)
        for section in [".Sh CONFIGURATION", ".Sh FILES", ".Sh SIGNALS", #".Sh "EXIT STATUS""#] {
            #expect(text.contains(section), "\(section)")
        }
        #expect(!text.contains(".Ex -std"))
        let reference = try String(
            contentsOf: packageRoot.appendingPathComponent("docs/config.md"), encoding: .utf8)
        let keys = reference.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `") else { return nil }
            return line.dropFirst(3).split(separator: "`").first.map(String.init)
        }
        #expect(keys.count > 90)
        for key in keys { #expect(text.contains(".It Cm \(key)\n"), "\(key)") }
        let groff = try run(try tool("groff"), ["-mdoc", "-Tutf8", "-ww", "-z", page.path])
        #expect(groff.status == 0 && groff.err.isEmpty, "\(groff.err)")
    }
}
