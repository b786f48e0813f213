// NetworkConfigTests: `networks:` and a pool's `by-network` — read from files and the config, each mistake with its
// file and line, prefixes in two networks warned about, pools with the same choices sharing one map.

import Foundation
import Server
import Testing
import Uplinks

@Suite struct NetworkConfigTests {
    /// Writes `files` into a fresh directory and the config as `uplinkdns.yaml` there; returns its path.
    func write(_ config: String, files: [String: String] = [:]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: dir.appendingPathComponent("nets"), withIntermediateDirectories: true)
        for (name, text) in files {
            try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        let path = dir.appendingPathComponent("uplinkdns.yaml").path
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Removes what `write` made.
    func remove(_ path: String) {
        try? FileManager.default.removeItem(at: URL(fileURLWithPath: path).deletingLastPathComponent())
    }

    let pools = """
        pools:
          - name: www.a.
            links: [unicom, cnc]
            policy: weighted
            by-network:
              unicom-clients: [unicom, cnc]
              cnc-clients: [cnc, unicom]
          - name: ftp.a.
            links: [unicom, cnc]
            policy: weighted
            by-network:
              unicom-clients: [unicom, cnc]
              cnc-clients: [cnc, unicom]

        """

    @Test func networksComeFromFilesAndTheConfig() throws {
        let path = try write(
            uplinksBase + pools + """
                networks:
                  - name: unicom-clients
                    file: nets/unicom.txt
                  - name: cnc-clients
                    prefixes: [198.19.0.0/16, "2001:db8:100::/40"]
                """,
            files: ["nets/unicom.txt": "# unicom\n198.18.0.0/16\n203.0.113.0/25 # a customer\n"])
        defer { remove(path) }
        let c = try Config.load(path: path)
        #expect(c.uplinks.networks.map(\.name) == ["unicom-clients", "cnc-clients"])
        #expect(c.uplinks.networks.map(\.prefixes.count) == [2, 2])
        #expect(c.uplinks.pools[0].byNetwork.map(\.network) == ["unicom-clients", "cnc-clients"])
        // Pools with the same choices share one map (built once, however many names).
        let maps = c.uplinks.pools.compactMap(\.networkMap)
        #expect(maps.count == 2 && maps[0] === maps[1])
        #expect(c.uplinks.networkWarnings.isEmpty)
    }

    @Test func aBadPrefixIsRefusedAtItsFileAndLine() throws {
        let path = try write(
            uplinksBase + pools + """
                networks:
                  - name: unicom-clients
                    file: nets/unicom.txt
                  - name: cnc-clients
                    prefixes: [198.19.0.0/33]
                """,
            files: ["nets/unicom.txt": "198.18.0.0/16\n\n198.18.300.0/24\n"])
        defer { remove(path) }
        let failure = try #require(throws: ConfigFailure.self) { try Config.load(path: path) }
        let text = failure.errors.map(\.description)
        #expect(
            text.contains {
                $0.hasSuffix(
                    "nets/unicom.txt:3: '198.18.300.0/24' is not an IPv4 or IPv6 prefix (e.g. 198.18.0.0/15, 2001:db8::/32)"
                )
            }, "\(text)")
        #expect(text.contains { $0.contains("uplinkdns.yaml:26:") && $0.contains("at most /32") }, "\(text)")
        #expect(failure.errors.count == 2, "\(text)")
    }

    @Test func byNetworkNamesDefinedNetworksAndThePoolsOwnLines() throws {
        let text =
            uplinksBase + """
                pools:
                  - name: www.a.
                    links: [unicom]
                    by-network:
                      nosuch: [unicom]
                      clients: [cnc]
                      others: []
                networks:
                  - name: clients
                    prefixes: [198.18.0.0/15]
                  - name: others
                    prefixes: [198.20.0.0/16]
                  - name: clients
                    prefixes: [198.21.0.0/16]
                  - name: empty
                """
        let failure = try #require(throws: ConfigFailure.self) { try Config.parse(text, path: "/x/c.yaml") }
        let messages = failure.errors.map(\.description)
        #expect(
            messages == [
                "/x/c.yaml:21: network 'clients' is defined twice (first on line 17)",
                "/x/c.yaml:23: network 'empty' needs 'file' (a prefix list) or 'prefixes'",
                "/x/c.yaml:13: pools[www.a.].by-network: no network 'nosuch' (networks: clients, others, empty)",
                "/x/c.yaml:14: pools[www.a.].by-network.clients: 'cnc' is not one of pool www.a.'s lines (unicom)",
                "/x/c.yaml:14: pools[www.a.].by-network.clients needs at least one of the pool's lines",
                "/x/c.yaml:15: pools[www.a.].by-network.others needs at least one of the pool's lines",
            ], "\(messages)")
    }

    @Test func aPrefixInTwoNetworksIsAWarningAndTheFirstKeepsIt() throws {
        let c = try Config.parse(
            uplinksBase + pools + """
                networks:
                  - name: unicom-clients
                    prefixes: [198.18.0.0/16, 203.0.113.0/24]
                  - name: cnc-clients
                    prefixes: [198.19.0.0/16, 203.0.113.0/24]
                """, path: "/x/c.yaml")
        #expect(
            c.uplinks.networkWarnings.map(\.warning) == [
                "/x/c.yaml:25: warning: 203.0.113.0/24 is in networks 'unicom-clients' and 'cnc-clients': "
                    + "'unicom-clients' (the first) keeps it"
            ])
        let map = try #require(c.uplinks.pools[0].networkMap)
        #expect(map.lookup(family: 4, hi: UInt64(0xCB00_7105) << 32, lo: 0).cls == 1)
    }

    /// A list that is not a regular file (a device would never end) is refused, not read.
    @Test func aListThatIsNotAFileIsRefused() throws {
        let failure = try #require(throws: ConfigFailure.self) {
            try Config.parse(
                uplinksBase + pools + """
                    networks:
                      - name: unicom-clients
                        file: /dev/zero
                      - name: cnc-clients
                        prefixes: [198.19.0.0/16]
                    """, path: "/x/c.yaml")
        }
        #expect(failure.errors.map(\.message) == ["networks[unicom-clients].file: /dev/zero is not a regular file"])
    }
}
