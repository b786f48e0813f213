// ConfigTests: the YAML config — defaults, every key, and errors with file and line.

import Foundation
import Responder
import Server
import Testing
import Uplinks

/// A config with two lines, for the pool cases (lines 1–8; `pools:` can start on line 9).
let uplinksBase = """
    zones: [{origin: a., file: z}]
    links:
      - name: unicom
        public: [192.0.2.10]
        bandwidth: 2mbit
      - name: cnc
        public: [198.51.100.10]
        bandwidth: 512kbit

    """

@Suite struct ConfigTests {
    @Test func readsEveryKey() throws {
        let c = try Config.parse(
            """
            server:
              listen: ["127.0.0.1:5300", "[::1]:5300"]
              identity: ns1
              version: ""
              nsid: 0x6e7331
              edns-udp-size: 1400
              udp-workers: 3
              pid-file: run/uplinkdns.pid
              tcp:
                max-connections: 10
                idle-timeout: 2.5
                message-timeout: 0.5
              freebind: true
            zones:
              - origin: example.com
                file: zones/example.com.zone
            """, path: "/etc/uplinkdns/uplinkdns.yaml")
        #expect(c.listen.map(\.description) == ["127.0.0.1:5300", "[::1]:5300"])
        #expect(c.identity == "ns1" && c.version == nil)
        #expect(c.nsid == Array("ns1".utf8))
        #expect(c.ednsUDPSize == 1400 && c.udpWorkers == 3)
        #expect(c.tcpMaxConnections == 10 && c.tcpIdleTimeout == 2.5 && c.tcpMessageTimeout == 0.5)
        #expect(c.freebind)
        #expect(c.pidFile == "/etc/uplinkdns/run/uplinkdns.pid")
        #expect(c.zones.first?.origin.description == "example.com.")
        #expect(c.zones.first?.file == "/etc/uplinkdns/zones/example.com.zone")
    }

    @Test func readsKeysTransferAndNotify() throws {
        let c = try Config.parse(
            """
            keys:
              - name: transfer.example.com
                algorithm: hmac-sha256
                secret: c2VjcmV0LXNoYXJlZC1ieS1wcmltYXJ5LWFuZC1zZWNvbmRhcnk=
            zones:
              - origin: example.com.
                file: z
                transfer: [192.0.2.53, 198.51.100.0/24, "2001:db8::/32"]
                key: transfer.example.com.
                notify: ["192.0.2.53:53", "[2001:db8::53]:5353", 198.51.100.53]
              - {origin: example.net., file: y}
            """, path: "/etc/u.yaml")
        #expect(c.keys.count == 1 && c.keys[0].name.description == "transfer.example.com.")
        #expect(c.keys[0].secret == Array("secret-shared-by-primary-and-secondary".utf8))
        let z = try #require(c.zones.first)
        #expect(z.transfer.map(\.description) == ["192.0.2.53", "198.51.100.0/24", "2001:db8::/32"])
        #expect(z.key == c.keys[0])
        #expect(z.notify.map(\.description) == ["192.0.2.53:53", "[2001:db8::53]:5353", "198.51.100.53:53"])
        // A secret can come from a file (base64, surrounding whitespace ignored), relative to the config.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "  c2VjcmV0LXNoYXJlZC1ieS1wcmltYXJ5LWFuZC1zZWNvbmRhcnk=\n".write(
            to: dir.appendingPathComponent("t.key"), atomically: true, encoding: .utf8)
        let fromFile = try Config.parse(
            "keys: [{name: t., secret-file: t.key}]\nzones: [{origin: a., file: z, key: t}]",
            path: dir.appendingPathComponent("c.yaml").path)
        #expect(fromFile.zones[0].key?.secret == c.keys[0].secret)
        // Without any of them: no transfers, no key, no NOTIFY.
        #expect(c.zones[1].transfer.isEmpty && c.zones[1].key == nil && c.zones[1].notify.isEmpty)
    }

    /// A repeated key names its line and the first one's, without quoting the file (as Yams's message does).
    @Test func aRepeatedKeyNamesBothLines() {
        for (text, line, first, key) in [
            ("zones: []\nhealth: {state-dir: s}\nzones: []\n", 3, 1, "zones"),
            (
                "server:\n  listen: [\"127.0.0.1:1\"]\n  # note\n  listen: [\"127.0.0.1:2\"]\nzones: []\n", 4, 2,
                "listen"
            ),
            ("links:\n  - name: a\n    public: [192.0.2.1]\n    name: b\nzones: []\n", 4, 2, "name"),
        ] {
            do {
                _ = try Config.parse(text, path: "/x/c.yaml")
                Issue.record("no error for \(text)")
            } catch {
                let e = error.errors.first
                #expect(e?.line == line, "\(text)")
                #expect(e?.message == "'\(key)' appears twice in the same mapping (first at line \(first)): keep one")
                #expect(e?.message.contains("Context") == false)
            }
        }
    }

    @Test func defaultsAreUnprivileged() throws {
        let c = try Config.parse("zones: [{origin: example.com., file: z}]", path: "/x/c.yaml")
        #expect(c.listen.map(\.description) == ["127.0.0.1:5300"])
        #expect(c.ednsUDPSize == 1232)
        // 16 addresses at the per-client cap hold a quarter of the table (RFC 7766 §6.2.2: limits that a few
        // clients cannot exhaust).
        #expect(c.tcpMaxConnections == 1024 && c.tcpMaxPerClient == 16 && c.tcpIdleTimeout == 10)
        #expect(c.tcpMessageTimeout == 2 && !c.freebind)
        #expect(c.version?.hasPrefix("UplinkDNS") == true)
    }

    /// Numbers and booleans are read from the text, around which a space of any kind is ignored: a tab, or a no-break
    /// or ideographic space pasted after a value (YAML keeps them in a plain scalar).
    @Test func spacesAroundNumbersAndBooleansAreIgnored() throws {
        let c = try Config.parse(
            "server: {edns-udp-size: \"1400\t\", chaos: false\u{3000}, tcp: {max-connections: 512\u{A0}}}\n"
                + "zones: [{origin: example.com., file: z}]", path: "c.yaml")
        #expect(c.ednsUDPSize == 1400 && c.identity == nil && c.tcpMaxConnections == 512)
    }

    @Test func chaosFalseTurnsOffIdentityAndVersion() throws {
        let c = try Config.parse("server: {chaos: false}\nzones: [{origin: example.com., file: z}]", path: "c.yaml")
        #expect(c.identity == nil && c.version == nil)
    }

    /// Each mistake is reported at its line, with a message that says what to do.
    @Test(arguments: [
        ("server:\n  listn: [\"127.0.0.1:53\"]\nzones: [{origin: a., file: z}]\n", 2, "unknown key 'listn' in server"),
        ("server:\n  listen: [\"localhost:53\"]\nzones: [{origin: a., file: z}]\n", 2, "numeric HOST:PORT"),
        ("server:\n  tcp:\n    max-connections: 0\nzones: [{origin: a., file: z}]\n", 3, "server.tcp.max-connections"),
        ("server:\n  edns-udp-size: 100\nzones: [{origin: a., file: z}]\n", 2, "edns-udp-size"),
        ("zones:\n  - origin: a.\n    file: z\n  - origin: a.\n    file: y\n", 4, "listed twice (first on line 2)"),
        ("zones:\n  - file: z\n", 2, "needs 'origin'"),
        ("zones:\n  - origin: a.\n", 2, "needs 'file'"),
        ("zones:\n  - origin: a.\n    file: z\n    ttl: 3\n", 4, "unknown key 'ttl'"),
        ("server: [1, 2\n", 2, "YAML"),
        ("monitoring: []\nzones: [{origin: a., file: z}]\n", 1, "unknown key 'monitoring'"),
        (
            uplinksBase.replacingOccurrences(
                of: "bandwidth: 512kbit\n", with: "bandwidth: 512kbit\n    checks:\n      - tcp: 203.0.113.80\n"),
            10, "tcp check '203.0.113.80' is HOST:PORT"
        ),
        (
            uplinksBase.replacingOccurrences(
                of: "bandwidth: 512kbit\n",
                with: "bandwidth: 512kbit\n    checks:\n      - {tcp: 203.0.113.80:80, file: /x}\n"),
            10, "exactly one of tcp, http, icmp, exec, file"
        ),
        (
            uplinksBase.replacingOccurrences(
                of: "bandwidth: 512kbit\n", with: "bandwidth: 512kbit\n    checks:\n      - http: https://x/\n"),
            10, "must be an http:// URL"
        ),
        (
            uplinksBase.replacingOccurrences(of: "bandwidth: 512kbit\n", with: "bandwidth: 512kbit\n    rise: 0\n"),
            9, "links[cnc].rise"
        ),
        (
            uplinksBase.replacingOccurrences(
                of: "bandwidth: 512kbit\n", with: "bandwidth: 512kbit\n    checks:\n      - routing: true\n"),
            10, "a routing check needs the link's inside, gateway, interface and table"
        ),
        ("zones: [{origin: a., file: z}]\nservices: [tcp/80, sctp/9]\n", 2, "services entries are tcp/PORT"),
        (uplinksBase + "pools:\n  - name: www.a.\n    links: [unicom, nope]\n", 11, "unknown link 'nope'"),
        (uplinksBase + "  - name: unicom\n    public: [192.0.2.99]\n", 9, "link 'unicom' is defined twice"),
        (
            uplinksBase + "pools:\n  - name: www.a.\n    links: [cnc]\n  - name: www.a.\n    links: [cnc]\n", 12,
            "pool www.a. is defined twice"
        ),
        ("zones: [{origin: a., file: z}]\nlinks:\n  - name: x\n    public: [192.0.2.300]\n", 4, "not an IPv4 or IPv6"),
        (
            "zones: [{origin: a., file: z}]\nlinks:\n  - name: x\n    public: [192.0.2.1]\n    weight: 0\n", 5,
            "links[x].weight must be a whole number from 1"
        ),
        (
            "zones: [{origin: a., file: z}]\nlinks:\n  - name: x\n    public: [192.0.2.1]\n    bandwidth: fast\n", 5,
            "bandwidth is a rate"
        ),
        ("zones: [{origin: a., file: z}]\nlinks:\n  - name: x\n", 3, "needs 'public'"),
        // Found by the config fuzzer: Yams reads `1:30` as a base-60 integer and traps when it overflows.
        (
            "server:\n  rrl: {responses-per-second: 211100000000001067:78265}\nzones: [{origin: a., file: z}]\n", 2,
            "server.rrl.responses-per-second must be a whole number"
        ),
        ("server:\n  tcp: {idle-timeout: .inf}\nzones: [{origin: a., file: z}]\n", 2, "idle-timeout must be a number"),
        // Found by the config fuzzer (CI smoke): an empty `inside:` indexed past the end of its parts.
        (
            "zones: [{origin: a., file: z}]\nlinks:\n  - name: x\n    public: [192.0.2.1]\n    inside: \"\"\n", 5,
            "is not an address"
        ),
        // Found by the config fuzzer: a rate too large for the arithmetic used to trap instead of being refused.
        (
            "zones: [{origin: a., file: z}]\nlinks:\n  - name: x\n    public: [192.0.2.1]\n"
                + "    bandwidth: 57777777777777777777777777777777777777777777712kbit\n", 5, "at most 1024tbit"
        ),
        (
            "zones: [{origin: a., file: z}]\nlinks:\n  - name: x\n    public: [192.0.2.1]\n    bandwidth: infkbit\n",
            5, "bandwidth is a rate"
        ),
        (uplinksBase + "pools:\n  - name: www.a.\n    links: [cnc]\n    policy: random\n", 12, "policy 'random'"),
        (uplinksBase + "pools:\n  - name: www.a.\n    links: [cnc]\n    all-down: maybe\n", 12, "all-down 'maybe'"),
        (uplinksBase + "pools:\n  - name: www.a.\n    links: [cnc, cnc]\n", 11, "lists link 'cnc' twice"),
        ("zones:\n  - origin: a.\n    file: z\n    key: nokey\n", 4, "no key named 'nokey' in 'keys:'"),
        ("zones:\n  - origin: a.\n    file: z\n    transfer: [192.0.2.0/33]\n", 4, "not an address or prefix"),
        ("zones:\n  - origin: a.\n    file: z\n    notify: [ns2.example.net]\n", 4, "is not ADDRESS or ADDRESS:PORT"),
        ("keys:\n  - name: k.\n    secret: c2hvcnQ=\nzones: [{origin: a., file: z}]\n", 3, "at least 16 octets"),
        (
            "keys:\n  - name: k.\n    algorithm: hmac-md5\n    secret: c2VjcmV0LXNoYXJlZC1ieS1wcmltYXJ5\n"
                + "zones: [{origin: a., file: z}]\n", 3, "use one of hmac-sha256, hmac-sha1, hmac-sha384, hmac-sha512"
        ),
        ("keys:\n  - name: k.\nzones: [{origin: a., file: z}]\n", 2, "needs 'secret' (base64) or 'secret-file'"),
        (
            "server: {user: nobody}\nzones: [{origin: a., file: z}]\nrouting:\n  apply: true\n", 4,
            "routing.apply changes routes, which needs CAP_NET_ADMIN; server.user drops"
        ),
    ])
    func reportsMistakesWithLines(text: String, line: Int, message: String) {
        do {
            _ = try Config.parse(text, path: "test.yaml")
            Issue.record("accepted: \(text)")
        } catch {
            #expect(
                error.errors.contains {
                    $0.line == line && $0.description.contains(message)
                        && $0.description.hasPrefix("test.yaml:\(line): ")
                }, "got: \(error.errors)")
        }
    }

    @Test func zoneErrorsCarryTheZoneFileAndLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.1\nbad IN A 300.1.1.1\n"
            .write(to: dir.appendingPathComponent("a.zone"), atomically: true, encoding: .utf8)
        try "zones:\n  - origin: example.com.\n    file: a.zone\n  - origin: example.net.\n    file: missing.zone\n"
            .write(to: dir.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        let config = try Config.load(path: dir.appendingPathComponent("c.yaml").path)
        do {
            _ = try config.loadZones()
            Issue.record("loaded a broken zone")
        } catch {
            #expect(error.errors.contains { $0.file.hasSuffix("a.zone") && $0.line == 4 })
            #expect(error.errors.contains { $0.file.hasSuffix("missing.zone") && $0.message.contains("cannot open") })
        }
    }

    /// Issue 25: `check` counted 8 names where `serve` counted 9 for the same zone (serve counted a pool's name the
    /// zone file does not have). Both count with `Config.nameCount`, which says what it counts, and it is what the
    /// compiled answers hold.
    @Test func checkAndServeCountNamesAlike() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let pools = """
            zones:
              - {origin: example.com., file: a.zone}
            links:
              - {name: unicom, public: [192.0.2.10]}
            pools:
              - {name: www.example.com., links: [unicom]}
              - {name: deep.in.example.com., links: [unicom]}
              - {name: ns1.example.com., links: [unicom]}
            """
        try pools.write(to: dir.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        // The name server ns1 is a pool: its addresses come from its lines.
        try "@ 300 IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nftp IN CNAME www\ntxt.www IN TXT \"x\"\n"
            .write(to: dir.appendingPathComponent("a.zone"), atomically: true, encoding: .utf8)
        let config = try Config.load(path: dir.appendingPathComponent("c.yaml").path)
        let zones = try config.loadZones()
        let count = config.nameCount(zones)
        // The file: apex, ftp, www (empty non-terminal), txt.www. The pools add deep.in and in, and ns1 (which the
        // file names only as a target); www is already there.
        #expect(count == NameCount(files: 4, pools: 3), "\(count)")
        #expect(count.description == "7 names (4 in the zone files, 3 added by the pools)")
        let served = Snapshot(zoneSet: zones, options: config.responderOptions, plans: config.plans())
        #expect(served.nameCount == 7)
        #expect(NameCount(files: 4).description == "4 names in the zone files")
    }

    @Test func listenAddresses() {
        #expect(ListenAddress("[::1]:53")?.isIPv6 == true)
        #expect(ListenAddress("0.0.0.0:0")?.port == 0)
        #expect(ListenAddress("127.0.0.1") == nil)
        #expect(ListenAddress("example.com:53") == nil)
        #expect(ListenAddress("127.0.0.1:70000") == nil)
    }

    @Test func readsLinksAndPools() throws {
        let c = try Config.parse(
            uplinksBase + """
                pools:
                  - name: www.a.
                    links: [unicom, {link: cnc, addresses: [198.51.100.20, 198.51.100.21]}]
                    policy: sticky
                    answers: 1
                    ttl: 30
                    all-down: servfail
                """, path: "c.yaml")
        #expect(c.uplinks.weights == ["unicom": 4, "cnc": 1])
        let pool = try #require(c.uplinks.pools.first)
        #expect(pool.policy == .sticky && pool.answers == 1 && pool.ttl == 30 && pool.allDown == .servfail)
        #expect(pool.members.map(\.link) == ["unicom", "cnc"])
        #expect(pool.members[1].addresses?.map(\.description) == ["198.51.100.20", "198.51.100.21"])
        #expect(pool.line == 10)
    }

    @Test func poolsMustBeInAZoneAndNotClashWithStaticAddresses() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try """
        @ 300 IN SOA ns1 h 1 2 3 4 5
        @ IN NS ns1
        ns1 IN A 192.0.2.1
        www IN A 192.0.2.2
        ftp IN CNAME www
        sub IN NS ns.other.net.
        """.write(to: dir.appendingPathComponent("a.zone"), atomically: true, encoding: .utf8)
        let text = """
            zones: [{origin: example.com., file: a.zone}]
            links:
              - name: unicom
                public: [192.0.2.10]
            pools:
              - name: www.example.com.
                links: [unicom]
              - name: www.example.org.
                links: [unicom]
              - name: ftp.example.com.
                links: [unicom]
              - name: www.sub.example.com.
                links: [unicom]
            """
        try text.write(to: dir.appendingPathComponent("c.yaml"), atomically: true, encoding: .utf8)
        let config = try Config.load(path: dir.appendingPathComponent("c.yaml").path)
        do {
            _ = try config.loadZones()
            Issue.record("accepted a pool beside static A records")
        } catch {
            #expect(
                error.errors.contains {
                    $0.line == 6 && $0.message.contains("static A records at")
                        && $0.message.contains("a.zone:4")
                }, "\(error.errors)")
            #expect(error.errors.contains { $0.line == 8 && $0.message.contains("outside every served zone") })
            #expect(error.errors.contains { $0.line == 10 && $0.message.contains("is an alias (CNAME") })
            #expect(
                error.errors.contains { $0.line == 12 && $0.message.contains("below the delegation sub.example.com.") })
        }
    }

    @Test func readsChecksAndTheHealthSection() throws {
        let c = try Config.parse(
            uplinksBase.replacingOccurrences(
                of: "bandwidth: 512kbit\n",
                with: """
                    bandwidth: 512kbit
                        interval: 2
                        fall: 4
                        require: any
                        checks:
                          - tcp: 203.0.113.80:80
                            source: 192.0.2.99
                          - http: http://203.0.113.80:8080/health
                            expect: 200-399
                            interval: 10
                          - file: /run/uplinkdns/cnc.state
                          - exec: /usr/local/bin/check-cnc
                          - icmp: 203.0.113.1

                    """) + """
                    health:
                      state-dir: var/health
                      on-change: ["/etc/ppp/ip-down.local"]
                      restore-max-age: 600
                    """, path: "/etc/uplinkdns/c.yaml")
        let cnc = try #require(c.uplinks.link("cnc"))
        #expect(cnc.health.fall == 4 && cnc.health.rise == 2 && cnc.health.require == .any)
        #expect(
            cnc.health.checks.map(\.kind.description) == [
                "tcp 203.0.113.80:80", "http http://203.0.113.80:8080/health", "file /run/uplinkdns/cnc.state",
                "exec /usr/local/bin/check-cnc", "icmp 203.0.113.1",
            ])
        #expect(cnc.health.checks[0].source?.description == "192.0.2.99")
        #expect(cnc.health.checks[0].interval == 2 && cnc.health.checks[0].timeout == 1)  // timeout: half the interval
        #expect(cnc.health.checks[1].interval == 10 && cnc.health.checks[1].timeout == 5)
        #expect(cnc.health.checks[1].kind == .http(url: "http://203.0.113.80:8080/health", expect: 200...399))
        #expect(c.stateDirectory == "/etc/uplinkdns/var/health" && c.onChange == ["/etc/ppp/ip-down.local"])
        #expect(c.restoreMaxAge == 600)
        #expect(try #require(c.uplinks.link("unicom")).health.checks.isEmpty)
    }
}
