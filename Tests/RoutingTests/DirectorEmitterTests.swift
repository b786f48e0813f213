// DirectorEmitterTests: the seeds' director setups as config give the seeds' own ipvsadm commands; golden files for
// every format; keepalived and nft accept every emitted file; the slots a failed real server leaves.

import Foundation
import Routing
import TestSupport
import Testing
import Uplinks
import Yams

/// The `director:` section of `yaml` read as `check` reads it; fails the test on any error.
func director(_ yaml: String, links: [Link] = []) throws -> Director {
    var r = YAMLReader(file: "director.yaml")
    let root = try #require(try Yams.compose(yaml: yaml))
    guard case .mapping(let m) = root, let node = m["director"] else { throw DirectorTestError("no director") }
    let d = Director.read(node, links: links, &r)
    #expect(r.errors.isEmpty, "\(r.errors)")
    return d
}

struct DirectorTestError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// Seed 002's NAT cluster: VIP 172.16.5.11, two real servers behind the director's DIP, round robin.
let seed002NAT = """
    director:
      services:
        - name: web
          address: 172.16.5.11
          port: 80
          mode: nat
          scheduler: rr
          real-servers:
            - address: 192.168.1.12
            - address: 192.168.1.13
    """

/// Seed 002's DR cluster: the same VIP, the real servers holding it on lo, weighted 2 and 3.
let seed002DR = """
    director:
      services:
        - name: web
          address: 172.16.5.11
          port: 80
          mode: dr
          scheduler: wrr
          real-servers:
            - address: 192.168.1.12
              weight: 2
            - address: 192.168.1.13
              weight: 3
    """

/// Seed 004: DR on firewall mark 6 (http to VIP 172.16.2.100), per-firewall-mark persistence (PFM) of 300 s.
let seed004 = """
    director:
      services:
        - name: web
          address: 172.16.2.100
          fwmark: 6
          ports: [80]
          mode: dr
          scheduler: rr
          persistence: 300
          real-servers:
            - address: 172.16.2.12
              weight: 1
            - address: 172.16.2.14
              weight: 1
    """

/// The seeds' own commands (002 §三.6 and §二.3, 004 §(7), (8) and PFM), `ipvsadm` taken off the front.
let seedCommands: [(config: String, commands: [String])] = [
    (
        seed002NAT,
        [
            "-A -t 172.16.5.11:80 -s rr", "-a -t 172.16.5.11:80 -r 192.168.1.12 -m",
            "-a -t 172.16.5.11:80 -r 192.168.1.13 -m",
        ]
    ),
    (
        seed002DR,
        [
            "-A -t 172.16.5.11:80 -s wrr", "-a -t 172.16.5.11:80 -r 192.168.1.12 -g -w 2",
            "-a -t 172.16.5.11:80 -r 192.168.1.13 -g -w 3",
        ]
    ),
    (seed004, ["-A -f 6 -s rr -p 300", "-a -f 6 -r 172.16.2.12 -g -w 1", "-a -f 6 -r 172.16.2.14 -g -w 1"]),
]

/// Whether `tool` can be run here (an absolute path, executable).
func installed(_ tool: String) -> Bool { FileManager.default.isExecutableFile(atPath: tool) }

/// Writes `text` to a fresh temporary file named `name`; its path.
func temporaryFile(_ name: String, _ text: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("director-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let path = dir.appendingPathComponent(name).path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

@Suite struct DirectorEmitterTests {
    /// "The seeds' commands come out of the seeds' setups": each seed's cluster written as config gives exactly the
    /// seed's ipvsadm commands, and the golden files hold them.
    @Test(arguments: [0, 1, 2])
    func theSeedsCommandsComeOutOfTheSeedsSetups(_ index: Int) throws {
        let (config, commands) = seedCommands[index]
        let made = DirectorEmitter.ipvsadm(try director(config))
        #expect(made.split(separator: "\n").map(String.init) == commands)
        let name = ["director-002-nat.ipvsadm", "director-002-dr.ipvsadm", "director-004-fwmark.ipvsadm"][index]
        #expect(made == (try golden(name, made: made)))
    }

    /// Seed 004 step (6): the firewall mark rule, as the seed writes it, added only once.
    @Test func theFwmarkRuleIsTheSeeds() throws {
        let made = DirectorEmitter.marks(try director(seed004))
        #expect(
            made.contains("iptables -t mangle -A PREROUTING -d 172.16.2.100 -p tcp --dport 80 -j MARK --set-mark 6"))
        #expect(made.contains("iptables -t mangle -C PREROUTING -d 172.16.2.100 -p tcp --dport 80"))
        #expect(made == (try golden("director-004-marks.sh", made: made)))
    }

    /// Seed 002's DR real servers: the ARP sysctls and the VIP on lo, as its echo/ifconfig/route steps set them.
    @Test func aDRRealServerGetsTheSeedsSettings() throws {
        let d = try director(seed002DR)
        let made = try #require(DirectorEmitter.realServer(d, address: IPAddress("192.168.1.12")!))
        for line in [
            "sysctl -qw net.ipv4.conf.lo.arp_ignore=1", "sysctl -qw net.ipv4.conf.all.arp_ignore=1",
            "sysctl -qw net.ipv4.conf.lo.arp_announce=2", "sysctl -qw net.ipv4.conf.all.arp_announce=2",
            "ip addr replace 172.16.5.11/32 dev lo",
        ] {
            #expect(made.contains(line + "\n"), "\(line)")
        }
        #expect(made == (try golden("director-002-dr-real-server.sh", made: made)))
        #expect(DirectorEmitter.realServer(d, address: IPAddress("192.168.1.99")!) == nil)
        var tun = d
        tun.services[0].mode = .tun
        let tunnelled = try #require(DirectorEmitter.realServer(tun, address: IPAddress("192.168.1.13")!))
        #expect(tunnelled.contains("ip addr replace 172.16.5.11/32 dev tunl0\n"))
        #expect(tunnelled.contains("sysctl -qw net.ipv4.conf.tunl0.rp_filter=0\n"))
        #expect(tunnelled == (try golden("director-tun-real-server.sh", made: tunnelled)))
    }

    /// Seed 002's DR with an interface: a netdev table whose ingress forwards each frame for the VIP unchanged to a
    /// real server, per connection by a hash (no conntrack there); `nft -c` accepts it (below).
    @Test func drGoesByNetdevFwd() throws {
        var d = try director(seed002DR)
        d.services[0].interface = "lo"
        let made = DirectorEmitter.nft(d)
        #expect(made.contains("table netdev uplinkdns_director_dr {"))
        #expect(made.contains("type filter hook ingress device \"lo\" priority filter; policy accept;"))
        #expect(
            made.contains(
                "ip daddr 172.16.5.11 tcp dport 80 fwd ip to jhash ip saddr . tcp sport mod 100 map @svc0_web device \"lo\""
            ))
        #expect(made == (try golden("director-002-dr.nft", made: made)))
        let s = d.services[0]
        #expect(
            DirectorEmitter.nftUpdate(s, index: 0, slots: []) == "flush map netdev uplinkdns_director_dr svc0_web\n")
        d.services[0].interface = nil
        #expect(DirectorEmitter.nft(d).contains("# skipped: service web (dr without interface)"))
    }

    /// The drift check reads `nft -j`: clean when the maps hold the slots, a map emptied by hand is named.
    @Test func theDriftCheckReadsTheLiveMaps() throws {
        let d = try director(directorSiteYAML)
        func json(_ flushed: String? = nil) throws -> Data {
            var items: [[String: Any]] = [["metainfo": ["json_schema_version": 1]]]
            for (i, s) in d.services.enumerated() {
                let name = DirectorEmitter.mapName(s, index: i)
                let slots = name == flushed ? [] : DirectorEmitter.slots(s)
                items.append([
                    "map": [
                        "family": "ip", "name": name, "table": "uplinkdns_director", "type": "integer",
                        "map": "ipv4_addr", "elem": slots.enumerated().map { [$0.offset, $0.element.description] },
                    ]
                ])
            }
            return try JSONSerialization.data(withJSONObject: ["nftables": items])
        }
        #expect(DirectorCheck.drift(d, out: [], json: [try json()]).isEmpty)
        #expect(
            DirectorCheck.drift(d, out: [], json: [try json("svc1_shop")])
                == ["director service shop: map svc1_shop differs in 100 of 100 slots (live: empty)"])
        let out = DirectorCheck.drift(d, out: ["web/198.18.1.13"], json: [try json()])
        #expect(
            out == [
                "director service web: map svc0_web differs in 60 of 100 slots (live: 198.18.1.12 40, 198.18.1.13 60)"
            ])
        #expect(DirectorCheck.drift(d, out: [], json: []).count == 3)
    }

    /// The site's keepalived.conf and nft file, as golden files.
    @Test func theSiteMatchesTheGoldenFiles() throws {
        let d = try director(directorSiteYAML)
        let keepalived = DirectorEmitter.keepalived(d)
        #expect(keepalived == (try golden("director-site.keepalived.conf", made: keepalived)))
        let nft = DirectorEmitter.nft(d)
        #expect(nft == (try golden("director-site.nft", made: nft)))
        let ipvsadm = DirectorEmitter.ipvsadm(d)
        #expect(ipvsadm == (try golden("director-site.ipvsadm", made: ipvsadm)))
        #expect(ipvsadm.contains("-A -u 203.0.113.82:53 -s sh\n"))
    }

    /// `keepalived --config-test` accepts every keepalived.conf emitted here (the seeds' and the site's).
    @Test(.enabled(if: installed("/usr/sbin/keepalived"), "needs keepalived (Debian package keepalived)"))
    func keepalivedAcceptsEveryEmittedConfig() throws {
        for config in [seed002NAT, seed002DR, seed004, directorSiteYAML] {
            let text = DirectorEmitter.keepalived(try director(config))
            let path = try temporaryFile("keepalived.conf", text)
            defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
            let (status, out) = try tool("/usr/sbin/keepalived", ["--config-test", "-f", path])
            #expect(status == 0, "keepalived refused:\n\(out)\n\(text)")
            #expect(!out.lowercased().contains("unknown keyword"), "\(out)")
        }
    }

    /// `nft -c -f` accepts every nft file emitted here (checked, not loaded), with real servers in and out.
    @Test(.enabled(if: installed("/usr/sbin/nft") && getuid() == 0, "needs nft and root (nft -c speaks netlink)"))
    func nftAcceptsEveryEmittedFile() throws {
        let site = try director(directorSiteYAML)
        var dr = try director(seed002DR)
        dr.services[0].interface = "lo"
        var files = [DirectorEmitter.nft(try director(seed002NAT)), DirectorEmitter.nft(site), DirectorEmitter.nft(dr)]
        files.append(DirectorEmitter.nft(dr) + DirectorEmitter.nftUpdate(dr.services[0], index: 0, slots: []))
        files.append(DirectorEmitter.nft(site, out: ["web/198.18.1.12", "shop/198.18.1.13"]))
        for (i, s) in site.services.enumerated() {
            let update = DirectorEmitter.nftUpdate(
                s, index: i, slots: DirectorEmitter.slots(s, out: ["web/198.18.1.13"]))
            files.append(DirectorEmitter.nft(site) + update)
        }
        for text in files {
            let path = try temporaryFile("director.nft", text)
            defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
            let (status, out) = try tool("/usr/sbin/nft", ["-c", "-f", path])
            #expect(status == 0, "nft refused:\n\(out)\n\(text)")
        }
    }
}

@Suite struct DirectorSlotTests {
    func counts(_ slots: [IPAddress]) -> [String: Int] {
        var out: [String: Int] = [:]
        for a in slots { out[a.description, default: 0] += 1 }
        return out
    }

    /// wrr 2:3 over whole runs of the slots is exact; rr ignores weights; any Σweights consecutive slots are exact.
    @Test func sharesFollowTheWeights() throws {
        let web = try director(directorSiteYAML).services[0]
        let slots = DirectorEmitter.slots(web)
        #expect(slots.count == 100)
        #expect(counts(slots) == ["198.18.1.12": 40, "198.18.1.13": 60])
        for start in stride(from: 0, to: 100, by: 5) {
            #expect(counts(Array(slots[start..<start + 5])) == ["198.18.1.12": 2, "198.18.1.13": 3])
        }
        var rr = web
        rr.scheduler = .rr
        #expect(counts(DirectorEmitter.slots(rr)) == ["198.18.1.12": 50, "198.18.1.13": 50])
    }

    /// A failed real server's slots, and only those, go to the others; it gets its own back; with every server out
    /// the slots stay as configured (fail open); weight 0 gets none.
    @Test func aFailedServersSlotsAndOnlyThoseMove() throws {
        var web = try director(directorSiteYAML).services[0]
        web.realServers.append(RealServer(address: IPAddress("198.18.1.14")!, weight: 5))
        let all = DirectorEmitter.slots(web)
        let out = DirectorEmitter.slots(web, out: ["web/198.18.1.13"])
        let moved = all.indices.filter { all[$0] != out[$0] }
        #expect(moved.allSatisfy { all[$0].description == "198.18.1.13" })
        #expect(moved.count == counts(all)["198.18.1.13"])
        #expect(counts(out)["198.18.1.13"] == nil)
        // The orphaned slots go 2:5 to the servers still in.
        let share = counts(moved.map { out[$0] })
        #expect(abs(share["198.18.1.12"]! * 5 - share["198.18.1.14"]! * 2) <= 7, "\(share)")
        let everyone = Set(web.realServers.map { RealServer.name(service: "web", address: $0.address) })
        #expect(DirectorEmitter.slots(web, out: everyone) == all)
        web.realServers[0].weight = 0
        #expect(counts(DirectorEmitter.slots(web))["198.18.1.12"] == nil)
    }
}
