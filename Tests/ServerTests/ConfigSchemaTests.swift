// ConfigSchemaTests: the declared schema against the parser, `check`'s errors, the reload classes and the docs.

import DNSSEC
import DNSWire
import Foundation
import Server
import Testing
import Uplinks
import Yams

/// A config that sets every declared key, each leaf on a line of its own (its secret and token files are written by
/// `writeFiles`). ConfigSchemaTests checks that its keys are exactly the schema's.
let everyKey = """
    server:
      listen: ["127.0.0.1:5300"]
      freebind: false
      identity: ns1
      version: test
      chaos: true
      nsid: ns1
      edns-udp-size: 1232
      udp-workers: 1
      tcp:
        max-connections: 100
        max-per-client: 4
        idle-timeout: 5
        message-timeout: 1
      pid-file: run/uplinkdns.pid
      control: 127.0.0.1:5380
      control-token-file: token
      control-hosts: [dns.example.com]
      rrl:
        responses-per-second: 100
        slip: 2
        ipv4-prefix: 24
        ipv6-prefix: 56
        exempt: [127.0.0.0/8]
      user: nobody
      query-log:
        path: queries.dnstap
        format: dnstap
        enabled: false
    keys:
      - name: transfer.example.com.
        algorithm: hmac-sha256
        secret: c2VjcmV0LXNoYXJlZC1ieS1wcmltYXJ5LWFuZC1zZWNvbmRhcnk=
      - name: notify.example.com.
        secret-file: secret
    zones:
      - origin: example.com.
        file: example.com.zone
        transfer: [192.0.2.53]
        key: transfer.example.com.
        notify: ["192.0.2.53:53"]
        serial-policy: increment
        journal:
          max-changes: 10
          max-size: 65536
        dnssec:
          algorithm: ED25519
          signature-validity: 14d
          refresh: 7d
          jitter: 6h
          backdate: 2h
          key-directory: keys
          nsec3: false
    links:
      - name: isp a
        public: [192.0.2.10]
        inside: 192.168.168.1/24
        gateway: 192.168.168.11
        interface: eth0
        table: 1
        bandwidth: 2mbit
        weight: 4
        require: all
        interval: 5
        timeout: 2
        rise: 2
        fall: 3
        checks:
          - tcp: 203.0.113.80:80
            source: 192.168.168.1
            interval: 10
            timeout: 3
          - http: http://203.0.113.80/health
            expect: 200-399
          - icmp: 203.0.113.1
          - exec: /bin/true
          - file: /run/isp.state
          - routing: true
    pools:
      - name: www.example.com.
        names: [web.example.com.]
        names-file: names.txt
        links:
          - link: isp a
            addresses: [192.0.2.20]
        policy: weighted
        answers: all
        ttl: 60
        ttl-degraded: 30
        all-down: all
        by-network:
          clients a: [isp a]
    networks:
      - name: clients a
        file: nets.txt
        prefixes: [198.18.0.0/15]
    services: [tcp/80]
    health:
      state-dir: state
      on-change: [/bin/true]
      restore-max-age: 3600
    routing:
      default-route: keep
      apply: false
      gateway-command: bash
    director:
      apply: nft
      services:
        - name: web
          address: 192.0.2.80
          port: 80
          protocol: tcp
          mode: nat
          scheduler: wrr
          persistence: 300
          real-servers:
            - address: 198.18.1.12
              weight: 2
              checks:
                - tcp: 198.18.1.12:80
                  source: 198.18.0.1
                  interval: 2
                  timeout: 1
                - http: http://198.18.1.12/
                  expect: 200-399
                - icmp: 198.18.1.12
                - exec: /bin/true
                - file: /run/rs.state
          interval: 1
          timeout: 0.5
          rise: 1
          fall: 2
        - name: shop
          address: isp a
          fwmark: 6
          ports: [80, 443]
          real-servers:
            - address: 198.18.1.13
        - name: direct
          address: 192.0.2.81
          port: 80
          mode: dr
          interface: eth0
          real-servers:
            - address: 198.18.1.14

    """

/// The keys `everyKey` cannot set beside others (one excludes the other): `control-token` beside
/// `control-token-file`.
let everyOtherKey = """
    server:
      control-token: secret
    zones:
      - origin: example.com.
        file: example.com.zone

    """

/// Writes the files `everyKey` names into `dir` and returns the config's path there.
func writeEveryKey(to dir: URL, text: String = everyKey) throws -> String {
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    try "token-from-file\n".write(to: dir.appendingPathComponent("token"), atomically: true, encoding: .utf8)
    try "c2VjcmV0LXNoYXJlZC1ieS1wcmltYXJ5LWFuZC1zZWNvbmRhcnk=\n".write(
        to: dir.appendingPathComponent("secret"), atomically: true, encoding: .utf8)
    try "shop.example.com.  # a customer\n".write(
        to: dir.appendingPathComponent("names.txt"), atomically: true, encoding: .utf8)
    try "203.0.113.0/24  # a client network\n".write(
        to: dir.appendingPathComponent("nets.txt"), atomically: true, encoding: .utf8)
    let path = dir.appendingPathComponent("uplinkdns.yaml").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// The keys whose mappings hold names, not keys (`pools[].by-network`): `keyPaths` does not go below them.
let mapKeyPaths = Set(Config.schemaPaths.filter { if case .map = $0.key.kind { true } else { false } }.map(\.path))

/// The key paths written in a YAML document (`server.tcp.idle-timeout`, `links[].checks[].tcp`), with the line of
/// each path's first occurrence.
func keyPaths(_ node: Node, prefix: String = "", into out: inout [String: Int]) {
    switch node {
    case .mapping(let m):
        for (k, v) in m {
            guard let key = k.string else { continue }
            let path = prefix.isEmpty ? key : "\(prefix).\(key)"
            if out[path] == nil { out[path] = k.mark?.line ?? 0 }
            if !mapKeyPaths.contains(path) { keyPaths(v, prefix: path, into: &out) }
        }
    case .sequence(let s):
        for item in s { keyPaths(item, prefix: prefix + "[]", into: &out) }
    default: break
    }
}

@Suite struct ConfigSchemaTests {
    let declared = Set(Config.schemaPaths.map(\.path))

    /// A key declared and not read would be accepted and ignored (as `jitter` and `backdate` were): every declared
    /// key is read by the parser, and `everyKey` sets exactly the declared keys.
    @Test func everyDeclaredKeyIsReadByTheParser() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try writeEveryKey(to: dir)
        var written: [String: Int] = [:]
        var read: Set<String> = []
        for text in [everyKey, everyOtherKey] {
            keyPaths(try #require(try Yams.compose(yaml: text)), into: &written)
            let (config, keys, errors) = Config.parseReporting(text, path: path)
            #expect(errors.isEmpty, "\(errors)")
            #expect(config != nil)
            read.formUnion(keys)
        }
        #expect(Set(written.keys) == declared, "not in everyKey: \(declared.subtracting(written.keys).sorted())")
        #expect(declared.subtracting(read).isEmpty, "declared but not read: \(declared.subtracting(read).sorted())")
    }

    /// Values that are right in form but not of their key's kind or range, for every leaf key: derived from the kind,
    /// and for free forms listed here (a key of a new form without wrong values here fails the test).
    static let formMistakes: [String: [String]] = [
        "zones[].origin": ["a..b"], "zones[].key": ["nokey"], "zones[].notify": ["[ns2.example.net]"],
        "keys[].name": ["a..b"], "keys[].secret": ["c2hvcnQ="], "server.nsid": ["0x1", "\"\""],
        "links[].inside": ["192.0.2.300/24", "192.0.2.1/33"],
        "links[].checks[].tcp": ["203.0.113.80", "localhost:80", "203.0.113.80:0"],
        "links[].checks[].http": ["https://203.0.113.80/", "http://localhost/health"],
        "links[].checks[].expect": ["600", "banana"], "links[].checks[].routing": ["false"],
        "links[].require": ["none", "0", "65"], "pools[].name": ["a..b"], "pools[].links": ["[nope]"],
        "pools[].answers": ["0", "some"], "server.control": ["nohost"], "zones[].journal": ["maybe"],
        "zones[].dnssec": ["maybe"], "services": ["[sctp/9]"], "server.rrl.exempt": ["[banana/99]"],
        "server.query-log.path": ["\"\"", "unix:"], "server.control-token-file": ["/nonexistent/token"],
        "keys[].secret-file": ["/nonexistent/secret"], "links[].name": ["\"\""],
        "pools[].by-network": ["[a]"], "pools[].names": ["[a..b]"], "pools[].names-file": ["/nonexistent/names"],
        "networks[].name": ["\"\""], "networks[].file": ["/nonexistent/nets"],
        "director.services[].name": ["\"\""], "director.services[].address": ["nosuchline", "192.0.2.300"],
        "director.services[].real-servers[].checks[].tcp": ["198.18.1.12", "localhost:80"],
        "director.services[].real-servers[].checks[].http": ["https://198.18.1.12/", "http://localhost/"],
        "director.services[].real-servers[].checks[].expect": ["600", "banana"],
    ]

    static func mistakes(_ kind: ConfigKey.Kind) -> [String] {
        switch kind {
        case .int(let r): ["banana", "\(r.lowerBound - 1)", "\(r.upperBound + 1)"]
        case .number(let r): ["banana", ".inf", "\(r.lowerBound > 0 ? r.lowerBound / 2 : -1)", "\(r.upperBound * 2)"]
        case .bool: ["maybe"]
        case .text, .path: ["{a: 1}"]
        case .choice: ["nosuch"]
        case .duration(let min, let max): ["banana", min > 0 ? "\(min - 1)" : "-5", "\(max / 86400 + 1)d"]
        case .address: ["192.0.2.300", "localhost"]
        case .hostPort: ["nohost", "localhost:53"]
        case .prefix: ["banana/99"]
        case .rate: ["fast"]
        case .list(let k): mistakes(k).map { "[\($0)]" }
        case .form, .section, .entries, .either, .map: []
        }
    }

    /// `check` refuses a wrong value of every key with the file and the line (issue 21: `jitter: banana` and
    /// `backdate: -5` passed).
    @Test func aWrongValueOfAnyKeyIsRefusedWithItsLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try writeEveryKey(to: dir)
        var lines: [String: Int] = [:]
        var others: [String: Int] = [:]
        keyPaths(try #require(try Yams.compose(yaml: everyKey)), into: &lines)
        keyPaths(try #require(try Yams.compose(yaml: everyOtherKey)), into: &others)
        var tried = 0
        for (keyPath, key) in Config.schemaPaths {
            if case .section = key.kind { continue }
            if case .entries = key.kind { continue }
            let wrong = Self.formMistakes[keyPath] ?? Self.mistakes(key.kind)
            if keyPath == "pools[].links" || keyPath == "links[].checks" { continue }  // lists of mappings, below
            #expect(!wrong.isEmpty, "no wrong values for \(keyPath) (\(key.kind.summary)): add them to formMistakes")
            let inOther = lines[keyPath] == nil
            let line = try #require(lines[keyPath] ?? others[keyPath], "\(keyPath) is not in everyKey")
            let text = (inOther ? everyOtherKey : everyKey).split(separator: "\n", omittingEmptySubsequences: false)
                .map(String.init)
            for value in wrong {
                var edited = text
                let current = edited[line - 1]
                let colon = try #require(current.firstIndex(of: ":"))
                edited[line - 1] = current[...colon] + " " + value
                let (_, _, errors) = Config.parseReporting(edited.joined(separator: "\n"), path: path)
                tried += 1
                #expect(
                    errors.contains { $0.line != nil && $0.file == path && abs($0.line! - line) <= 3 },
                    "\(keyPath): \(value) accepted or reported without its line: \(errors)")
            }
        }
        #expect(tried > 100)
    }

    /// The keys a reload cannot apply are the schema's `.restart` keys, each compared by its own field.
    @Test func restartKeysComeFromTheSchema() throws {
        #expect(
            Set(Config.restartKeys) == [
                "server.listen", "server.freebind", "server.udp-workers", "server.pid-file", "server.control",
                "server.control-token", "server.control-token-file", "server.control-hosts", "server.user",
                "server.query-log.enabled",
                "health.state-dir", "health.restore-max-age",
            ])
        let base = try Config.parse("zones: [{origin: a., file: z}]", path: "/x/c.yaml")
        let changed = try Config.parse(
            """
            zones: [{origin: a., file: z}]
            server: {listen: ["127.0.0.1:1"], udp-workers: 2, control: "off", user: nobody, edns-udp-size: 1400}
            health: {restore-max-age: 10}
            """, path: "/x/c.yaml")
        #expect(
            base.restartOnlyChanges(to: changed) == [
                "server.listen", "server.udp-workers", "server.control", "server.user", "health.restore-max-age",
            ])
        let applied = base.applyingReloadable(from: changed)
        #expect(
            applied.listen == base.listen && applied.udpWorkers == base.udpWorkers && applied.control == base.control)
        #expect(applied.user == nil && applied.restoreMaxAge == base.restoreMaxAge)
        #expect(applied.ednsUDPSize == 1400)  // applies
    }

    /// docs/config.md is the schema, written out: a key's kind, default, reload class and doc line in one place.
    /// `UPLINKDNS_WRITE_DOCS=1 swift test --filter ConfigSchemaTests` rewrites it.
    @Test func theConfigReferenceIsTheSchema() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/config.md")
        let made = Config.referenceMarkdown()
        if ProcessInfo.processInfo.environment["UPLINKDNS_WRITE_DOCS"] == "1" {
            try made.write(to: docs, atomically: true, encoding: .utf8)
        }
        let committed = try String(contentsOf: docs, encoding: .utf8)
        #expect(committed == made, "docs/config.md differs from the schema: UPLINKDNS_WRITE_DOCS=1 swift test …")
        for (path, _) in Config.schemaPaths { #expect(committed.contains("`\(path)`")) }
    }

    /// The README's annotated config names only declared keys.
    @Test func theReadmeNamesOnlyDeclaredKeys() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        var blocks: [String] = []
        var current: [Substring]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "```yaml" {
                current = []
            } else if line == "```", let c = current {
                blocks.append(c.joined(separator: "\n"))
                current = nil
            } else {
                current?.append(line)
            }
        }
        var written: [String: Int] = [:]
        for block in blocks {
            if let node = try Yams.compose(yaml: block) { keyPaths(node, into: &written) }
        }
        #expect(written.count > 60)
        #expect(Set(written.keys).subtracting(declared).isEmpty, "\(Set(written.keys).subtracting(declared))")
        // "What a reload applies": the row of keys that need a restart names exactly the schema's.
        let row = try #require(text.split(separator: "\n").first { $0.contains("| needs restart:") })
        let cell = row.split(separator: "|")[0]
        let named = cell.split(separator: "`").enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
        #expect(Set(named) == Set(Config.restartKeys))
    }
}

/// The defects of issue 21 that were config keys accepted and ignored, or refused only at run time.
@Suite struct ConfigDefectTests {
    /// `jitter: 6h` changed nothing (the expirations spread over the fixed 1 h) and `backdate` was not read.
    @Test func dnssecJitterAndBackdateAreRead() throws {
        let c = try Config.parse(
            "zones: [{origin: example.com., file: z, dnssec: {jitter: 6h, backdate: 2h}}]", path: "/x/c.yaml")
        let settings = try #require(c.zones[0].dnssec)
        #expect(settings.policy.jitter == 6 * 3600 && settings.policy.backdate == 2 * 3600)
        let signer = ZoneSigner(policy: settings.policy)
        let key = SigningKey.generate(zone: try DomainName("example.com."), algorithm: .ed25519)
        let window = signer.validity(at: 1_800_000_000)
        #expect(window.inception == 1_800_000_000 - 1_800_000_000 % (7 * 86400) - 2 * 3600)
        var expirations: [UInt32] = []
        for i in 0..<200 {
            let rr = ResourceRecord(
                name: try DomainName("h\(i).example.com."), type: .a, ttl: 60, rdata: [192, 0, 2, UInt8(i)])
            let sig = try signer.signature([rr], key: key, validity: window).rdata
            expirations.append(sig[8...11].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        }
        // Spread over (most of) the 6 hours, not the 1 hour default.
        #expect(expirations.max()! - expirations.min()! > 5 * 3600)
        #expect(expirations.allSatisfy { $0 >= window.expiration && $0 < window.expiration + 6 * 3600 })
    }

    /// More exempt networks than the limiter's table holds were silently cut at 64.
    @Test func tooManyRRLExemptionsAreRefused() throws {
        let nets = (0..<65).map { "\"198.18.\($0).0/24\"" }.joined(separator: ", ")
        do {
            _ = try Config.parse(
                "zones: [{origin: a., file: z}]\nserver:\n  rrl:\n    exempt: [\(nets)]\n", path: "c.yaml")
            Issue.record("65 exempt networks accepted")
        } catch {
            #expect(error.errors.contains { $0.line == 4 && $0.message.contains("at most 64") }, "\(error.errors)")
        }
        let sixtyFour = (0..<64).map { "\"198.18.\($0).0/24\"" }.joined(separator: ", ")
        let c = try Config.parse(
            "zones: [{origin: a., file: z}]\nserver: {rrl: {exempt: [\(sixtyFour)]}}", path: "c.yaml")
        #expect(c.rrl.exempt.count == 64)
    }

    /// A key written wrong keeps its declared default where the command line reads what it can of a broken config
    /// (to reach the running server): a wrong `server.control` is not "off".
    @Test func aLenientReadKeepsTheDefaultOfAWrongValue() throws {
        let c = try Config.parse(
            "server: {control: localhost:5380, edns-udp-size: 9}\nzones: [{origin: a., file: z}]", path: "/x/c.yaml",
            lenient: true)
        #expect(c.control?.description == "127.0.0.1:5380" && c.ednsUDPSize == 1232)
        #expect(c.stateDirectory == "/x/state")
    }

    /// Issue 25: wrong indentation gave libyaml's raw text with three positions. One file:line, the column, plain
    /// words and what to look at.
    @Test func aYAMLSyntaxErrorIsPlainWords() {
        let text = "zones: [{origin: a., file: z}]\nlinks:\n  - name: a\n    public: [192.0.2.1]\n   rise: 2\n"
        do {
            _ = try Config.parse(text, path: "/x/c.yaml")
            Issue.record("accepted")
        } catch {
            let e = error.errors
            #expect(e.count == 1 && e[0].line != nil, "\(e)")
            #expect(e[0].message.hasPrefix("YAML syntax, column ") && e[0].message.contains("indentation"), "\(e)")
            #expect(!e[0].message.contains("error: parser") && !e[0].message.contains("\n"), "\(e)")
        }
    }

    /// DNSSEC durations take fractions and stop at a year (signature times must not wrap).
    @Test func dnssecDurationsTakeFractionsUpToAYear() throws {
        let c = try Config.parse(
            "zones: [{origin: a., file: z, dnssec: {signature-validity: 1.5d, refresh: 12h}}]", path: "/x/c.yaml")
        #expect(c.zones[0].dnssec?.policy.validity == 129_600)
        #expect(throws: ConfigFailure.self) {
            try Config.parse("zones: [{origin: a., file: z, dnssec: {backdate: 400d}}]", path: "/x/c.yaml")
        }
    }

    /// `tcp: localhost:80` passed `check`, and the line never came up (the prober refuses names).
    @Test func probeTargetsMustBeAddresses() {
        for (check, words) in [
            ("tcp: localhost:80", "'localhost' is not a numeric address"),
            ("http: http://www.example.com/health", "'www.example.com' is not a numeric address"),
            ("{tcp: 203.0.113.80:80, expect: 200}", "expect is for http checks only"),
        ] {
            let text = uplinksBase.replacingOccurrences(
                of: "bandwidth: 512kbit\n", with: "bandwidth: 512kbit\n    checks:\n      - \(check)\n")
            do {
                _ = try Config.parse(text, path: "c.yaml")
                Issue.record("accepted \(check)")
            } catch {
                #expect(error.errors.contains { $0.line == 10 && $0.message.contains(words) }, "\(error.errors)")
            }
        }
    }
}
