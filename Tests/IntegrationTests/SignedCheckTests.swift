// SignedCheckTests: `uplinkdns check` on zones that come signed in their file, next to kzonecheck — zones signed by
// ldns-signzone (NSEC, NSEC3, RSA), Knot's kzonesign and BIND's dnssec-signzone pass without a warning; their
// expired and tampered copies are refused with file:line; a signature about to expire is a warning. And the zone
// checks around them: an address below a delegation that is not glue, and warnings that come with the errors.

import Foundation
import Testing

@Suite struct SignedCheckTests {
    /// A zone with what tripped the checks on signed data: signatures over types of different TTLs at one name
    /// (the apex, `mail`), a delegation with its glue, a wildcard.
    static let zone = """
        $ORIGIN example.org.
        $TTL 3600
        @ IN SOA ns1 hostmaster 2026120601 3600 900 1209600 300
        @ IN NS ns1
        @ 600 IN MX 10 mail
        @ 300 IN TXT "v=spf1 -all"
        ns1 IN A 192.0.2.1
        mail 300 IN A 192.0.2.2
        mail IN AAAA 2001:db8::2
        www 60 IN A 192.0.2.10
        *.pages 60 IN TXT "wildcard"
        sub IN NS ns.sub
        ns.sub IN A 192.0.2.53

        """

    /// A scratch directory with the zone in `z.zone`.
    static func directory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("signed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try zone.write(to: dir.appendingPathComponent("z.zone"), atomically: true, encoding: .utf8)
        return dir
    }

    /// Runs `script` with `sh` in `dir`, expecting it to succeed.
    static func shell(_ dir: URL, _ script: String) throws {
        let r = try run("/bin/sh", ["-c", "cd '\(dir.path)' && \(script)"], timeout: 60)
        #expect(r.status == 0, "\(script): \(r.out)\(r.err)")
    }

    /// `uplinkdns check` with a config serving `file` as example.org.
    static func check(_ dir: URL, _ file: String) throws -> (status: Int32, out: String, err: String) {
        let config = dir.appendingPathComponent("check-\(file).yaml")
        try """
        server: {control: "off"}
        zones: [{origin: example.org., file: \(file)}]
        health: {state-dir: state}
        """.write(to: config, atomically: true, encoding: .utf8)
        return try run(binaryPath, ["check", "--config", config.path], timeout: 60)
    }

    /// kzonecheck's verdict on the same file (the reference).
    static func kzonecheck(_ dir: URL, _ file: String) throws -> Int32 {
        try run(try tool("kzonecheck"), ["-o", "example.org.", dir.appendingPathComponent(file).path]).status
    }

    /// ldns-signzone's keys: a KSK and a ZSK of `algorithm`; their stems, for ldns-signzone.
    static func ldnsKeys(_ dir: URL, _ algorithm: String) throws -> String {
        try shell(
            dir,
            "ldns-keygen -a \(algorithm) -k example.org > ksk && ldns-keygen -a \(algorithm) example.org > zsk")
        return "$(cat ksk) $(cat zsk)"
    }

    @Test(arguments: [
        ("ECDSAP256SHA256", ""), ("ECDSAP256SHA256", "-n"), ("ED25519", ""), ("RSASHA256", "-b 2048"),
    ])
    func zonesSignedByLdnsPassAndTheirBrokenCopiesAreRefused(algorithm: String, option: String) throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try tool("ldns-signzone")
        let keyArgs = option == "-b 2048" ? "RSASHA256 -b 2048" : algorithm
        let keys = try Self.ldnsKeys(dir, keyArgs)
        let nsec3 = option == "-n" ? "-n" : ""
        try Self.shell(dir, "ldns-signzone \(nsec3) -o example.org. -f signed.zone z.zone \(keys)")
        #expect(try Self.kzonecheck(dir, "signed.zone") == 0)
        let ok = try Self.check(dir, "signed.zone")
        #expect(ok.status == 0 && !ok.err.contains("warning") && !ok.err.contains("note"), "\(ok.out)\(ok.err)")
        #expect(ok.out.hasPrefix("ok: "), "\(ok.out)")

        // Expired: signed for a window in 2019. kzonecheck refuses it too.
        try Self.shell(
            dir,
            "ldns-signzone \(nsec3) -i 20190101000000 -e 20200101000000 -o example.org. -f expired.zone z.zone \(keys)")
        #expect(try Self.kzonecheck(dir, "expired.zone") != 0)
        let expired = try Self.check(dir, "expired.zone")
        #expect(expired.status == 1, "\(expired.out)\(expired.err)")
        let expiredLine = try #require(
            Self.line(in: dir.appendingPathComponent("expired.zone"), where: { $0.hasPrefix("www.example.org.") }))
        #expect(
            expired.err.contains(
                "expired.zone:\(expiredLine): www.example.org. A: its RRSIG by key "),
            "\(expired.err)")
        #expect(expired.err.contains("expired on 2020-01-01 00:00:00 UTC"), "\(expired.err)")

        // Tampered: one address changed after signing. kzonecheck refuses it too.
        let signed = try String(contentsOf: dir.appendingPathComponent("signed.zone"), encoding: .utf8)
        let tampered = signed.replacingOccurrences(of: "192.0.2.10", with: "192.0.2.99")
        #expect(tampered != signed)
        try tampered.write(to: dir.appendingPathComponent("tampered.zone"), atomically: true, encoding: .utf8)
        #expect(try Self.kzonecheck(dir, "tampered.zone") != 0)
        let bad = try Self.check(dir, "tampered.zone")
        #expect(bad.status == 1, "\(bad.out)\(bad.err)")
        let badLine = try #require(
            Self.line(in: dir.appendingPathComponent("tampered.zone"), where: { $0.contains("192.0.2.99") }))
        #expect(
            bad.err.contains("tampered.zone:\(badLine): www.example.org. A: its RRSIG by key "),
            "\(bad.err)")
        #expect(bad.err.contains("does not verify"), "\(bad.err)")
        #expect(bad.err.split(separator: "\n").filter { $0.hasPrefix("error:") }.count == 1, "\(bad.err)")
    }

    /// Signatures that expire in three days, less than the refresh margin (7 days): a warning each, exit 0.
    @Test func signaturesAboutToExpireAreWarnings() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let keys = try Self.ldnsKeys(dir, "ECDSAP256SHA256")
        let formatter = DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss"
        let soon = formatter.string(from: Date().addingTimeInterval(3 * 86400))
        try Self.shell(dir, "ldns-signzone -e \(soon) -o example.org. -f soon.zone z.zone \(keys)")
        let r = try Self.check(dir, "soon.zone")
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(r.err.contains("within the refresh margin (7 days): sign the zone anew before then"), "\(r.err)")
        #expect(r.out.contains("warning(s)"), "\(r.out)")
    }

    /// Knot's kzonesign (automatic keys, NSEC) and BIND's dnssec-signzone (KSK and ZSK, multi-line records):
    /// no error, no warning.
    @Test func zonesSignedByKnotAndBindPass() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try tool("kzonesign")
        // Knot's configuration takes block style only.
        try """
        server:
            rundir: "\(dir.path)"
        database:
            storage: "\(dir.path)/knotdb"
        policy:
          - id: p
            algorithm: ecdsap256sha256
        zone:
          - domain: example.org.
            file: "\(dir.path)/z.zone"
            dnssec-signing: on
            dnssec-policy: p
        """.write(to: dir.appendingPathComponent("knot.conf"), atomically: true, encoding: .utf8)
        try Self.shell(
            dir,
            "mkdir -p knotdb knot && kzonesign -c knot.conf -o knot example.org. && cp knot/z.zone knot.zone")
        try Self.shell(
            dir,
            "dnssec-keygen -q -a ECDSAP256SHA256 -f KSK -K . example.org && dnssec-keygen -q -a ECDSAP256SHA256 -K . "
                + "example.org && dnssec-signzone -q -S -K . -o example.org. -f bind.zone z.zone")
        for file in ["knot.zone", "bind.zone"] {
            #expect(try Self.kzonecheck(dir, file) == 0, "\(file)")
            let r = try Self.check(dir, file)
            #expect(r.status == 0 && !r.err.contains("warning"), "\(file): \(r.out)\(r.err)")
        }
    }

    /// An address below a delegation that no NS names is not glue: a warning. And a zone with an error still
    /// shows its warnings (here an MX to an alias).
    @Test func nonGlueIsWarnedAndWarningsComeWithErrors() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try (Self.zone + "www.sub IN A 192.0.2.54\n").write(
            to: dir.appendingPathComponent("glue.zone"), atomically: true, encoding: .utf8)
        let glue = try Self.check(dir, "glue.zone")
        #expect(glue.status == 0, "\(glue.out)\(glue.err)")
        #expect(
            glue.err.contains(
                "glue.zone:14: warning: www.sub.example.org. A is below the delegation sub.example.org. and is not "
                    + "glue"), "\(glue.err)")
        try (Self.zone + "alias IN CNAME www\n@ IN MX 20 alias\nx IN CNAME www\nx IN TXT \"beside\"\n").write(
            to: dir.appendingPathComponent("both.zone"), atomically: true, encoding: .utf8)
        let both = try Self.check(dir, "both.zone")
        #expect(both.status == 1, "\(both.out)\(both.err)")
        #expect(both.err.contains("both.zone:16: x.example.org. has a CNAME and other data"), "\(both.err)")
        #expect(
            both.err.contains("both.zone:5: warning: example.org. MX alias.example.org.: the target is an alias"),
            "\(both.err)")
    }

    /// The 1-based number of the first line of `file` that `matches`.
    static func line(in file: URL, where matches: (String) -> Bool) -> Int? {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return nil }
        return text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { matches(String($0)) }
            .map { $0 + 1 }
    }
}
