// DNSSECDigTests: a signed zone as secondaries and registrars get it — the AXFR and the export verified by BIND's
// dnssec-verify, the DS of `uplinkdns keys` and the registrar view matching dnssec-dsfromkey's, and a real Knot
// secondary whose answers delv validates with that DS as the trust anchor, before and after a line is drained.

import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct DNSSECDigTests {
    /// The transfer config with `dnssec: true` on the zone.
    static func config(notify: UInt16? = nil) -> String {
        transferConfig(notify: notify).replacingOccurrences(
            of: "    key: transfer.example.\n", with: "    key: transfer.example.\n    dnssec: true\n")
    }

    /// `text` written to a file and checked by dnssec-verify (-z: one combined signing key).
    func verify(_ text: String, in dir: URL, _ name: String) throws -> (ok: Bool, out: String) {
        let file = dir.appendingPathComponent(name)
        try text.write(to: file, atomically: true, encoding: .utf8)
        let r = try run(try tool("dnssec-verify"), ["-z", "-o", "example.com.", file.path])
        return (r.status == 0 && (r.out + r.err).contains("Zone fully signed"), r.out + r.err)
    }

    @Test func theSignedZoneVerifiesAndItsDSMatchesBINDs() throws {
        let s = try ServerProcess(files: ["uplinkdns.yaml": Self.config(), "example.com.zone": try exampleZoneFile])
        defer { s.stop() }
        // A combined signing key made at the first start, its private half readable by its owner alone.
        let keyDir = s.dir.appendingPathComponent("state/keys")
        let files = try FileManager.default.contentsOfDirectory(atPath: keyDir.path)
        let privateFile = try #require(files.first { $0.hasSuffix(".private") })
        let mode =
            try FileManager.default.attributesOfItem(atPath: keyDir.appendingPathComponent(privateFile).path)[
                .posixPermissions] as? Int
        #expect(mode == 0o600)
        // Issue 25: making the key and signing the zone the first time are said, with the key's tag and its DS.
        let tag = privateFile.split(separator: "+").last.map { String($0.dropLast(".private".count)) } ?? "?"
        let generated = s.log.split(separator: "\n").first { $0.contains("generated key") } ?? ""
        #expect(
            generated.contains("zone example.com. had no key: generated key \(Int(tag) ?? -1)")
                && generated.contains("IN DS"), "\(s.log)")
        #expect(s.log.contains("DNSSEC: zone example.com. signed with key \(Int(tag) ?? -1) and NSEC"), "\(s.log)")
        let axfr = try run(
            try tool("dig"), ["@127.0.0.1", "-p", "\(s.port)", "+onesoa", "example.com", "AXFR", "-y", tsigSpec])
        // dig prints the transfer's TSIG records too (class ANY): not zone data.
        let records = axfr.out.split(separator: "\n").filter { !$0.contains("\tTSIG\t") }.joined(separator: "\n")
        let checked = try verify(records + "\n", in: s.dir, "axfr.txt")
        #expect(checked.ok, "\(checked.out)")
        // And by ldns-verify-zone (NLnet Labs' implementation): every RRSIG and the NSEC chain.
        let ldns = try run(try tool("ldns-verify-zone"), [s.dir.appendingPathComponent("axfr.txt").path])
        #expect(
            ldns.status == 0 && (ldns.out + ldns.err).contains("Zone is verified and complete"),
            "\(ldns.out)\(ldns.err)")
        // The export, through the running server, is the same signed zone.
        let config = s.dir.appendingPathComponent("uplinkdns.yaml").path
        let export = try run(binaryPath, ["export", "example.com", "--config", config])
        #expect(export.status == 0 && export.out.contains("RRSIG"), "\(export.err)")
        #expect(try verify(export.out, in: s.dir, "export.txt").ok)
        let ldnsExport = try run(try tool("ldns-verify-zone"), [s.dir.appendingPathComponent("export.txt").path])
        #expect(ldnsExport.status == 0, "\(ldnsExport.out)\(ldnsExport.err)")
        // `keys` and the registrar view give the DS that BIND computes from the key file.
        let stem = String(privateFile.dropLast(".private".count))
        let bind = try run(try tool("dnssec-dsfromkey"), ["-2", keyDir.appendingPathComponent(stem + ".key").path])
        let dsRDATA = bind.out.split(separator: " ").suffix(4).joined(separator: " ")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(dsRDATA.count > 64, "\(bind.out)")
        let keys = try run(binaryPath, ["keys", "example.com", "--config", config])
        #expect(keys.status == 0 && keys.out.contains("example.com. IN DS \(dsRDATA)"), "\(keys.out)\(keys.err)")
        // Issue 25: the one key signs both ways, a CSK (it said "ksk"); JSON as written, `/` not escaped.
        let keysJSON = try run(binaryPath, ["keys", "example.com", "--config", config, "--json"])
        #expect(keysJSON.out.contains(#""role" : "csk""#) && !keysJSON.out.contains(#"\/"#), "\(keysJSON.out)")
        let registrar = try run(
            binaryPath, ["export", "example.com", "--config", config, "--format", "registrar", "--json"])
        let json = try JSONSerialization.jsonObject(with: Data(registrar.out.utf8)) as? [String: Any]
        #expect(json?["ds"] as? [String] == [dsRDATA], "\(registrar.out)")
    }

    /// The trust anchor file for delv: the zone's DS from `uplinkdns keys`, as a parent would publish it.
    func anchor(_ s: ServerProcess) throws -> URL {
        let keys = try run(
            binaryPath, ["keys", "example.com", "--config", s.dir.appendingPathComponent("uplinkdns.yaml").path])
        let ds = try #require(keys.out.split(separator: "\n").first { $0.contains(" IN DS ") })
            .split(separator: " ").suffix(4).map(String.init)
        let file = s.dir.appendingPathComponent("anchor.conf")
        try "trust-anchors {\n  example.com. static-ds \(ds[0]) \(ds[1]) \(ds[2]) \"\(ds[3])\";\n};\n".write(
            to: file, atomically: true, encoding: .utf8)
        return file
    }

    /// delv's output for `name type`, asked of the server at `port` and validated from `anchor`.
    func delv(_ port: UInt16, _ anchor: URL, _ name: String, _ type: String) throws -> String {
        let r = try run(
            try tool("delv"), ["@127.0.0.1", "-p", "\(port)", "-a", anchor.path, "+root=example.com", name, type])
        return r.out + r.err
    }

    /// UplinkDNS's own answers to DO queries (RFC 4035 §3.1), validated by delv: every kind of answer, and the
    /// pool before and after a drain.
    @Test(arguments: [false, true])
    func delvValidatesEveryKindOfAnswerFromUplinkDNSItself(nsec3: Bool) throws {
        let zone =
            try exampleZoneFile
            + "secure  IN NS ns.secure\nns.secure IN A 192.0.2.99\n"
            + "secure  IN DS 12345 13 2 \(String(repeating: "5A", count: 32))\n"
        let config =
            nsec3
            ? Self.config().replacingOccurrences(of: "dnssec: true", with: "dnssec: {nsec3: true}") : Self.config()
        let s = try ServerProcess(files: ["uplinkdns.yaml": config, "example.com.zone": zone])
        defer { s.stop() }
        let anchor = try anchor(s)
        // The denial records the zone uses: NSEC3 (with NSEC3PARAM) or NSEC.
        let proof = try run(try tool("kdig"), ["@127.0.0.1", "-p", "\(s.port)", "+dnssec", "nx.www.example.com", "A"])
        #expect(proof.out.contains(nsec3 ? "NSEC3" : "NSEC") && (nsec3 || !proof.out.contains("NSEC3")), "\(proof.out)")
        for (name, type, what) in [
            ("www.example.com", "A", "the pool"),
            ("example.com", "MX", "a static RRset"),
            ("example.com", "DNSKEY", "the keys"),
            ("example.com", "SOA", "the SOA with the served serial"),
            ("ftp.example.com", "A", "a CNAME to the pool"),
            ("anything.example.com", "TXT", "a wildcard answer"),
            ("anything.example.com", "A", "a wildcard NODATA"),
            ("www.example.com", "MX", "NODATA"),
            ("nx.www.example.com", "A", "NXDOMAIN"),
            ("secure.example.com", "DS", "a DS at a delegation"),
            ("branch.example.com", "DS", "an insecure delegation (no DS, proven)"),
        ] {
            let out = try delv(s.port, anchor, name, type)
            #expect(out.contains("fully validated"), "\(nsec3 ? "NSEC3" : "NSEC"): \(what): \(out)")
        }
        // The pool's variants: both lines, then cnc drained.
        #expect(try delv(s.port, anchor, "www.example.com", "A").contains("198.51.100.10"))
        let (status, _) = try httpRequest(
            port: s.controlPort, "POST", "/v1/links/cnc", headers: ["Authorization: Bearer test-token"],
            body: "{\"state\":\"drain\"}")
        #expect(status == 200)
        let after = try delv(s.port, anchor, "www.example.com", "A")
        #expect(after.contains("fully validated") && !after.contains("198.51.100.10"), "\(after)")
        // kdig shows the records with DO, and none without it.
        let signed = try run(try tool("kdig"), ["@127.0.0.1", "-p", "\(s.port)", "+dnssec", "www.example.com", "A"])
        #expect(signed.out.contains("RRSIG"), "\(signed.out)")
        let plain = try run(try tool("kdig"), ["@127.0.0.1", "-p", "\(s.port)", "www.example.com", "A"])
        #expect(!plain.out.contains("RRSIG"), "\(plain.out)")
    }

    /// What independent validators ask, as Knot answers it: DNSSEC records asked for by type without DO come
    /// without signatures (RFC 4035 §3.1.1), a negative answer's RRSIGs carry the negative TTL of the RRsets they
    /// cover (RFC 4034 §3, RFC 2308 §3), and an NSEC3 owner name is answered as if it did not exist (RFC 5155
    /// §7.2.8) — and delv validates that.
    @Test(arguments: [false, true])
    func dnssecRecordsWithoutDOAndNegativeAnswersAsKnotGivesThem(nsec3: Bool) throws {
        let config =
            nsec3
            ? Self.config().replacingOccurrences(of: "dnssec: true", with: "dnssec: {nsec3: true}") : Self.config()
        let s = try ServerProcess(files: ["uplinkdns.yaml": config, "example.com.zone": try exampleZoneFile])
        defer { s.stop() }
        func kdig(_ args: [String]) throws -> String {
            try run(try tool("kdig"), ["@127.0.0.1", "-p", "\(s.port)"] + args).out
        }
        /// The records of a kdig answer's section, as `[owner, ttl, class, type, rdata...]`.
        func records(_ out: String, _ section: String) -> [[String]] {
            var inside = false
            var rows: [[String]] = []
            for line in out.split(separator: "\n") {
                if line.hasPrefix(";;") {
                    inside = line.contains("\(section) SECTION")
                    continue
                }
                let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                if inside && f.count >= 4 { rows.append(f) }
            }
            return rows
        }
        var asked = [("example.com", "DNSKEY"), ("example.com", "CDS"), ("example.com", "CDNSKEY")]
        asked +=
            nsec3
            ? [("example.com", "NSEC3PARAM")]
            : [
                ("example.com", "NSEC"), ("mail.example.com", "NSEC"), ("www.example.com", "NSEC"),
            ]
        for (name, type) in asked {
            let out = try kdig([name, type])
            let answer = records(out, "ANSWER")
            #expect(out.contains("NOERROR") && !answer.isEmpty, "\(name) \(type) without DO: \(out)")
            #expect(answer.allSatisfy { $0[3] == type }, "\(name) \(type) without DO, no RRSIG: \(out)")
            let signed = records(try kdig(["+dnssec", name, type]), "ANSWER")
            #expect(Set(signed.map { $0[3] }) == [type, "RRSIG"], "\(name) \(type) with DO: \(signed)")
        }
        // Negative answers: every RRSIG at the TTL of the RRset it covers, the SOA and the proofs at 300 (the SOA's
        // minimum, below its TTL of 3600).
        for (name, type) in [("nx.www.example.com", "A"), ("www.example.com", "MX")] {
            let authority = records(try kdig(["+dnssec", name, type]), "AUTHORITY")
            var ttl: [String: String] = [:]
            for r in authority where r[3] != "RRSIG" { ttl[r[0] + " " + r[3]] = r[1] }
            #expect(authority.contains { $0[3] == "SOA" && $0[1] == "300" }, "\(name) \(type): \(authority)")
            for r in authority where r[3] == "RRSIG" {
                #expect(r.count > 4 && ttl[r[0] + " " + r[4]] == r[1], "\(name) \(type): \(r) in \(authority)")
            }
            #expect(authority.filter { $0[3].hasPrefix("NSEC") }.allSatisfy { $0[1] == "300" }, "\(authority)")
        }
        // An NSEC3 owner name is answered as if it did not exist (RFC 5155 §7.2.8), as Knot does: in this zone the
        // apex's wildcard (TXT) answers it, with the proof that no closer name exists; other types get the
        // wildcard's NODATA. (In a zone without the wildcard, NXDOMAIN: SecureAnswerTests.)
        if nsec3 {
            let proof = records(try kdig(["+dnssec", "nx.www.example.com", "A"]), "AUTHORITY")
            let owner = try #require(proof.first { $0[3] == "NSEC3" }?[0])
            let txt = try kdig(["+dnssec", owner, "TXT"])
            #expect(txt.contains("NOERROR") && records(txt, "ANSWER").contains { $0[3] == "TXT" }, "\(txt)")
            #expect(records(txt, "AUTHORITY").contains { $0[3] == "NSEC3" }, "\(txt)")
            let anchor = try anchor(s)
            for type in ["TXT", "A"] {
                let validated = try delv(s.port, anchor, owner, type)
                #expect(validated.contains("fully validated"), "\(owner) \(type): \(validated)")
            }
        }
    }

    /// A pool's policy holds for DO queries too: with `answers: 1`, each signed answer carries one address (the
    /// variant the compiled path picks) with that variant's own signature, and validates.
    @Test func doAnswersOfAWeightedPoolCarryTheVariantTheyPickSigned() throws {
        let config = Self.config().replacingOccurrences(of: "policy: weighted}", with: "policy: weighted, answers: 1}")
        let s = try ServerProcess(files: ["uplinkdns.yaml": config, "example.com.zone": try exampleZoneFile])
        defer { s.stop() }
        var seen = Set<String>()
        for _ in 0..<30 {
            let r = try run(
                try tool("kdig"), ["@127.0.0.1", "-p", "\(s.port)", "+dnssec", "+short", "www.example.com", "A"])
            let lines = r.out.split(separator: "\n").map(String.init)
            let addresses = lines.filter { $0.first?.isNumber == true && $0.contains(".") && !$0.contains(" ") }
            #expect(addresses.count == 1 && lines.contains { $0.hasPrefix("A 13 3 ") }, "\(r.out)")
            seen.formUnion(addresses)
        }
        #expect(seen == ["192.0.2.10", "198.51.100.10"], "weighted over both lines: \(seen)")
        let anchor = try anchor(s)
        for _ in 0..<4 {
            let out = try delv(s.port, anchor, "www.example.com", "A")
            #expect(out.contains("fully validated"), "\(out)")
        }
    }

    /// A pool with an IPv4 and an IPv6 line: while the IPv6 line is drained the pool has no AAAA, and its NSEC
    /// (or NSEC3) says so — signed per build — so the NODATA validates; the transfer stays consistent.
    @Test(arguments: [false, true])
    func aPoolsDenialFollowsItsFamilies(nsec3: Bool) throws {
        var config = Self.config().replacingOccurrences(
            of: "  - {name: cnc, public: [198.51.100.10]}", with: "  - {name: cnc, public: [\"2001:db8::10\"]}")
        if nsec3 { config = config.replacingOccurrences(of: "dnssec: true", with: "dnssec: {nsec3: true}") }
        let s = try ServerProcess(files: ["uplinkdns.yaml": config, "example.com.zone": try exampleZoneFile])
        defer { s.stop() }
        let anchor = try anchor(s)
        let before = try delv(s.port, anchor, "www.example.com", "AAAA")
        #expect(before.contains("fully validated") && before.contains("2001:db8::10"), "\(before)")
        let (status, _) = try httpRequest(
            port: s.controlPort, "POST", "/v1/links/cnc", headers: ["Authorization: Bearer test-token"],
            body: "{\"state\":\"drain\"}")
        #expect(status == 200)
        let nodata = try delv(s.port, anchor, "www.example.com", "AAAA")
        #expect(nodata.contains("negative response, fully validated"), "\(nodata)")
        #expect(try delv(s.port, anchor, "www.example.com", "A").contains("fully validated"))
        // The transfer of this version: every NSEC bitmap matches the data.
        let axfr = try run(
            try tool("dig"), ["@127.0.0.1", "-p", "\(s.port)", "+onesoa", "example.com", "AXFR", "-y", tsigSpec])
        let records = axfr.out.split(separator: "\n").filter { !$0.contains("\tTSIG\t") }.joined(separator: "\n")
        let checked = try verify(records + "\n", in: s.dir, "axfr-drained.txt")
        #expect(checked.ok, "\(checked.out)")
    }

    @Test func aKnotSecondaryOfTheSignedZoneValidatesWithDelv() throws {
        let knotPort = freePort()
        let s = try ServerProcess(
            files: ["uplinkdns.yaml": Self.config(notify: knotPort), "example.com.zone": try exampleZoneFile])
        defer { s.stop() }
        let knot = try KnotSecondary(primary: s.port, in: s.dir, port: knotPort)
        defer { knot.stop() }
        let ours = try #require(try s.dig("example.com", "SOA").soaSerial)
        #expect(try knot.wait(10) { try knot.serial() == ours } != nil, "\(knot.logText)")
        let anchor = try anchor(s)
        func delv(_ name: String, _ type: String) throws -> String { try self.delv(knotPort, anchor, name, type) }
        for (name, type, what) in [
            ("www.example.com", "A", "the pool"), ("example.com", "MX", "a static answer"),
            ("www.example.com", "MX", "NODATA"), ("nx.www.example.com", "A", "NXDOMAIN"),
        ] {
            let out = try delv(name, type)
            #expect(out.contains("fully validated"), "\(what): \(out)")
        }
        #expect(try delv("www.example.com", "A").contains("198.51.100.10"))
        // Drain cnc: the secondary follows, and the new pool RRset validates too.
        let (status, _) = try httpRequest(
            port: s.controlPort, "POST", "/v1/links/cnc", headers: ["Authorization: Bearer test-token"],
            body: "{\"state\":\"drain\"}")
        #expect(status == 200)
        #expect(
            try knot.wait(5) { !(try knot.dig("www.example.com", "A").answer.joined().contains("198.51.100.10")) }
                != nil)
        let after = try delv("www.example.com", "A")
        #expect(after.contains("fully validated") && !after.contains("198.51.100.10"), "\(after)")
        #expect(s.log.contains("ixfr from"), "the change went by IXFR, signatures included")
    }
}
