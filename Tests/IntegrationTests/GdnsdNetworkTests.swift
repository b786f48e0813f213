// GdnsdNetworkTests: answers by the client's network, against gdnsd (issue 23). gdnsd's geoip plugin, given the same
// networks as a `nets` file, maps each network to the same ordered datacenters and everyone else to its
// `datacenters` order; a pool with `policy: failover` over that order is the same function. 10,000 client prefixes
// (IPv4 /24 and /32, IPv6 /48, /56 and /128; inside, between, at the edges of and outside the networks), sent with
// ECS to both servers: the same address and the same ECS scope, with every line up and with a line forced down.

import DNSWire
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// SplitMix64: a seeded generator, so that the networks and the clients are the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// A prefix of one of the networks; IPv4 in the low 32 bits (`width` 32), IPv6 whole (`width` 128).
struct NetPrefix: Hashable {
    var width: Int
    var start: UInt128
    var length: Int
    var network: Int

    static func hostBits(_ width: Int, _ length: Int) -> UInt128 {
        length >= width ? 0 : ~UInt128(0) >> UInt128(128 - width + length)
    }
    var end: UInt128 { start | Self.hostBits(width, length) }
    var text: String { "\(addressText(width, start))/\(length)" }
}

/// `a.b.c.d` or the IPv6 text form (inet_ntop).
func addressText(_ width: Int, _ a: UInt128) -> String {
    if width == 32 { return "\(a >> 24 & 255).\(a >> 16 & 255).\(a >> 8 & 255).\(a & 255)" }
    var bytes = (0..<16).map { UInt8(truncatingIfNeeded: a >> UInt128(120 - 8 * $0)) }
    var buf = [CChar](repeating: 0, count: 64)
    _ = inet_ntop(AF_INET6, &bytes, &buf, 64)
    return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The networks: four ISP-like lists over three lines, two sharing a list and one whose list is the pool's own order
/// (it answers as everyone else does); prefixes of realistic lengths, some lists unaggregated (two halves of a
/// block), /24s and /20s of one network inside another's blocks, /28s inside those; IPv6 likewise.
enum DiffNetworks {
    static let lines = ["a", "b", "c"]
    static let addresses = ["a": "192.0.2.1", "b": "192.0.2.2", "c": "192.0.2.3"]
    static let names = ["isp-a", "isp-b", "mobile-b", "isp-c"]
    static let lists = [["a", "b", "c"], ["b", "c", "a"], ["b", "c", "a"], ["c", "a", "b"]]
    /// gdnsd looks up the IPv4-like IPv6 spaces as IPv4 (v4compat ::/96, v4mapped, SIIT, the well-known NAT64
    /// prefix, Teredo, 6to4: gdnsd-plugin-geoip(8), "IPv4 Compatible Addresses"); UplinkDNS treats them as IPv6.
    /// The networks and clients stay out of them.
    static let v4LikeSpaces: [(start: UInt128, length: Int)] = [
        (0, 96), (UInt128(0xffff) << 32, 96), (UInt128(0xffff) << 48, 96), (UInt128(0x64_ff9b) << 96, 96),
        (UInt128(0x2001_0000) << 96, 32), (UInt128(0x2002) << 112, 16),
    ]

    struct Key: Hashable {
        var start: UInt128
        var length: Int
    }

    /// Every prefix, IPv4 then IPv6, with a fixed seed. No prefix is listed twice, and no block is covered whole
    /// by more specific prefixes of another list (where gdnsd's choice is documented as arbitrary).
    static func generate(seed: UInt64) -> [NetPrefix] {
        var rng = SeededGenerator(state: seed)
        var out: [NetPrefix] = []
        let families: [(width: Int, low: UInt128, high: UInt128, lengths: [Int], counts: [Int], nested: [Int])] = [
            (
                32, 0x0100_0000, 0xE000_0000,
                [11, 12, 13, 14, 15, 16, 16, 17, 17, 18, 18, 19, 19, 19, 20, 20, 20, 21, 21, 22, 22, 22, 23, 24],
                [900, 700, 250, 450], [24, 20, 28]
            ),
            (
                128, UInt128(0x2400) << 112, UInt128(0x2c00) << 112,
                [19, 20, 22, 24, 26, 28, 29, 29, 30, 32, 32, 32, 36, 40, 44, 48], [120, 100, 40, 80], [48, 44, 64]
            ),
        ]
        for f in families {
            var base: Set<Key> = []
            var covered: Set<Key> = []  // every base prefix and all its supernets
            let minLength = f.lengths.min()!
            func free(_ start: UInt128, _ length: Int) -> Bool {
                guard !covered.contains(Key(start: start, length: length)) else { return false }
                return (minLength...length).allSatisfy { l in
                    !base.contains(Key(start: start & ~NetPrefix.hostBits(f.width, l), length: l))
                }
            }
            func take(_ p: NetPrefix) {
                base.insert(Key(start: p.start, length: p.length))
                for l in minLength...p.length {
                    covered.insert(Key(start: p.start & ~NetPrefix.hostBits(f.width, l), length: l))
                }
                out.append(p)
            }
            var order = f.counts.enumerated().flatMap { n, count in Array(repeating: n, count: count) }
            order.shuffle(using: &rng)
            var bases: [NetPrefix] = []
            for network in order {
                while true {
                    let length = f.lengths.randomElement(using: &rng)!
                    let start = UInt128.random(in: f.low..<f.high, using: &rng) & ~NetPrefix.hostBits(f.width, length)
                    guard free(start, length) else { continue }
                    let split = length < f.width && Double.random(in: 0..<1, using: &rng) < 0.08
                    if split {
                        // An unaggregated list: the block as its two halves, isp-b's second half listed by
                        // mobile-b (the same list).
                        let half = NetPrefix.hostBits(f.width, length + 1) + 1
                        let second = network == 1 ? 2 : network
                        take(NetPrefix(width: f.width, start: start, length: length + 1, network: network))
                        take(NetPrefix(width: f.width, start: start + half, length: length + 1, network: second))
                    } else {
                        take(NetPrefix(width: f.width, start: start, length: length, network: network))
                    }
                    bases += out.suffix(split ? 2 : 1)
                    break
                }
            }
            // More specific prefixes of another network inside a block: f.nested[0] (many) and f.nested[1] (fewer)
            // inside blocks at least 4 bits shorter, not overlapping each other; then f.nested[2] inside those.
            func nest(_ layers: [(count: Int, length: Int)], in parents: [NetPrefix]) -> [NetPrefix] {
                var taken: Set<Key> = []
                var around: Set<Key> = []  // every prefix taken and all its supernets
                var made: [NetPrefix] = []
                for layer in layers {
                    let fitting = parents.filter { $0.length <= layer.length - 4 }
                    var count = 0
                    while count < layer.count {
                        let parent = fitting.randomElement(using: &rng)!
                        let offset = UInt128.random(in: 0...NetPrefix.hostBits(f.width, parent.length), using: &rng)
                        let start = (parent.start + offset) & ~NetPrefix.hostBits(f.width, layer.length)
                        let insideAnother = (parent.length...layer.length).contains { l in
                            taken.contains(Key(start: start & ~NetPrefix.hostBits(f.width, l), length: l))
                        }
                        guard !insideAnother, !around.contains(Key(start: start, length: layer.length)) else {
                            continue
                        }
                        var network = Int.random(in: 0..<names.count - 1, using: &rng)
                        if network >= parent.network { network += 1 }
                        taken.insert(Key(start: start, length: layer.length))
                        for l in parent.length...layer.length {
                            around.insert(Key(start: start & ~NetPrefix.hostBits(f.width, l), length: l))
                        }
                        made.append(NetPrefix(width: f.width, start: start, length: layer.length, network: network))
                        count += 1
                    }
                }
                return made
            }
            let outer = nest(
                [(f.width == 32 ? 150 : 40, f.nested[0]), (f.width == 32 ? 40 : 10, f.nested[1])], in: bases)
            let deep = nest([(f.width == 32 ? 30 : 10, f.nested[2])], in: outer)
            out += outer + deep
        }
        return out
    }

    /// One network's prefix list, as UplinkDNS reads it.
    static func file(_ prefixes: [NetPrefix], network: Int) -> String {
        "# \(names[network])\n" + prefixes.filter { $0.network == network }.map { $0.text + "\n" }.joined()
    }

    /// gdnsd's `nets` file: each prefix with its network's datacenters.
    static func gdnsdNets(_ prefixes: [NetPrefix]) -> String {
        prefixes.map { "\($0.text) => [ \(lists[$0.network].joined(separator: ", ")) ]\n" }.joined()
    }
}

/// A client prefix sent as ECS: the address with its host bits zero.
struct DiffClient {
    var width: Int
    var address: UInt128
    var source: Int

    var text: String { "\(addressText(width, address))/\(source)" }

    /// The ECS option (RFC 7871 §6).
    var option: [UInt8] {
        let octets = (source + 7) / 8
        let bytes = (0..<octets).map { UInt8(truncatingIfNeeded: address >> UInt128(width - 8 - 8 * $0)) }
        return [0, 8, 0, UInt8(4 + octets), 0, width == 32 ? 1 : 2, UInt8(source), 0] + bytes
    }

    /// `count` clients: inside a prefix, at a prefix's edges (just before its start, just after its end), in the
    /// gaps between the networks' blocks, and anywhere; 70 % IPv4.
    static func sample(_ count: Int, of prefixes: [NetPrefix], seed: UInt64) -> [DiffClient] {
        var rng = SeededGenerator(state: seed)
        let v4 = prefixes.filter { $0.width == 32 }.sorted { $0.start < $1.start }
        let v6 = prefixes.filter { $0.width == 128 }.sorted { $0.start < $1.start }
        var out: [DiffClient] = []
        while out.count < count {
            let ipv4 = Double.random(in: 0..<1, using: &rng) < 0.7
            let (width, list) = ipv4 ? (32, v4) : (128, v6)
            let max = NetPrefix.hostBits(width, 0)
            var a: UInt128
            let pi = Int.random(in: list.indices, using: &rng)
            let p = list[pi]
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<4:
                a = p.start + UInt128.random(in: 0...NetPrefix.hostBits(width, p.length), using: &rng)
            case 4..<6:
                // Just outside the prefix: up to a few of its own sizes away.
                let bits = Int.random(in: 0...min(width - 8, width - p.length + 2), using: &rng)
                let step = UInt128.random(in: 1...(UInt128(1) << UInt128(bits)), using: &rng)
                if Bool.random(using: &rng) {
                    guard p.start >= step else { continue }
                    a = p.start - step
                } else {
                    guard p.end <= max - step else { continue }
                    a = p.end + step
                }
            case 6..<8:
                // Between two blocks that follow each other (or, for a nested prefix, inside its parent).
                guard pi + 1 < list.count, list[pi + 1].start > p.end + 1 else { continue }
                a = UInt128.random(in: (p.end + 1)..<list[pi + 1].start, using: &rng)
            default:
                a = UInt128.random(in: 0...max, using: &rng)
            }
            let sources = ipv4 ? [24, 32] : [48, 56, 128]
            let source = sources.randomElement(using: &rng)!
            a &= ~NetPrefix.hostBits(width, source)
            if !ipv4,
                DiffNetworks.v4LikeSpaces.contains(where: {
                    a >> UInt128(128 - $0.length) == $0.start >> UInt128(128 - $0.length)
                })
            {
                continue
            }
            out.append(DiffClient(width: width, address: a, source: source))
        }
        return out
    }
}

/// What a server answered one client: the A records' addresses and the ECS scope echoed (nil: no ECS option).
struct DiffAnswer: Equatable, CustomStringConvertible {
    var addresses: [String]
    var scope: Int?
    var description: String { "\(addresses.joined(separator: ","))/\(scope.map(String.init) ?? "-")" }
}

/// Asks `port` for www.example.com A once per client over one UDP socket, up to 100 queries in flight (each query's
/// ID is its index); the ones without an answer are sent again, twice at most.
func askAll(port: UInt16, _ clients: [DiffClient]) throws -> [DiffAnswer] {
    precondition(clients.count <= 65536)
    let socket = LoopbackUDP(port: port, timeout: 0.5, receiveBuffer: 1 << 21)
    var answers = [DiffAnswer?](repeating: nil, count: clients.count)
    for _ in 0..<3 {
        let missing = answers.indices.filter { answers[$0] == nil }
        var next = 0
        var inFlight = 0
        while next < missing.count || inFlight > 0 {
            while inFlight < 100, next < missing.count {
                let i = missing[next]
                socket.send(
                    queryBytes(
                        "www.example.com.", .a, id: UInt16(i), edns: EDNSQuery(options: clients[i].option)))
                next += 1
                inFlight += 1
            }
            guard let bytes = socket.receive() else { break }
            let m = try Message(bytes: bytes)
            let i = Int(m.header.id)
            guard i < answers.count, answers[i] == nil else { continue }
            inFlight -= 1
            answers[i] = DiffAnswer(
                addresses: m.answers.filter { $0.type == .a && $0.rdata.count == 4 }.map {
                    $0.rdata.map(String.init).joined(separator: ".")
                },
                scope: ecsScope(m.opt?.rdata ?? []))
        }
        if !answers.contains(where: { $0 == nil }) { break }
    }
    let lost = answers.filter { $0 == nil }.count
    guard lost == 0 else { throw HarnessError(description: "\(lost) of \(clients.count) queries got no answer") }
    return answers.map { $0! }
}

/// The SCOPE PREFIX-LENGTH of the ECS option in an OPT record's data.
func ecsScope(_ rdata: [UInt8]) -> Int? {
    var i = 0
    while i + 4 <= rdata.count {
        let code = Int(rdata[i]) << 8 | Int(rdata[i + 1])
        let length = Int(rdata[i + 2]) << 8 | Int(rdata[i + 3])
        if code == 8, length >= 4, i + 8 <= rdata.count { return Int(rdata[i + 7]) }
        i += 4 + length
    }
    return nil
}

@Suite(.enabled(if: gdnsdInstalled, "gdnsd is not installed (make test installs it)"), .serialized)
struct GdnsdNetworkTests {
    static let zone = """
        $ORIGIN example.com.
        $TTL 3600
        @ 300 IN SOA ns1 hostmaster 1 3600 900 1209600 300
        @ IN NS ns1
        ns1 IN A 192.0.2.53
        """

    /// UplinkDNS: the three lines, a failover pool over them in gdnsd's `datacenters` order, by-network as the nets.
    static func uplinkConfig() -> String {
        let links = DiffNetworks.lines.map { "  - name: \($0)\n    public: [\(DiffNetworks.addresses[$0]!)]\n" }
        let choices = DiffNetworks.names.indices.map {
            "      \(DiffNetworks.names[$0]): [\(DiffNetworks.lists[$0].joined(separator: ", "))]\n"
        }
        let networks = DiffNetworks.names.map { "  - name: \($0)\n    file: \($0).txt\n" }
        return """
            server:
              udp-workers: 1
              control-token: test-token
            zones:
              - origin: example.com.
                file: example.com.zone
            links:
            \(links.joined())pools:
              - name: www.example.com.
                links: [\(DiffNetworks.lines.joined(separator: ", "))]
                policy: failover
                ttl: 60
                by-network:
            \(choices.joined())networks:
            \(networks.joined())
            """
    }

    /// gdnsd: the geoip plugin with the nets file only (no GeoIP database), one resource over the three lines.
    static let gdnsdConfig = """
        options => {
          listen => [ 127.0.0.1 ]
          dns_port => @PORT@
          udp_threads => 1
          tcp_threads => 1
          run_dir => @DIR@/run
          state_dir => @DIR@/state
        }
        plugins => { geoip => {
          maps => { clients => { datacenters => [ \(DiffNetworks.lines.joined(separator: ", ")) ], nets => clients.nets } }
          resources => { www => { map => clients, dcmap => {
            \(DiffNetworks.lines.map { "\($0) => \(DiffNetworks.addresses[$0]!)" }.joined(separator: ", "))
          } } }
        } }
        """

    /// Where gdnsd's scope must differ for an IPv6 client: gdnsd keeps its IPv4-like spaces apart in one tree,
    /// so a block holding one of them is never its scope; the shortest prefix around `c` that holds none.
    static func v4LikeBound(_ c: DiffClient) -> Int {
        guard c.width == 128 else { return 0 }
        return DiffNetworks.v4LikeSpaces.map { s in
            min(s.length, (c.address ^ s.start).leadingZeroBitCount) + 1
        }.max()!
    }

    @Test func answersAndScopesAgreeWithGdnsdForTenThousandClients() throws {
        let prefixes = DiffNetworks.generate(seed: 23)
        let clients = DiffClient.sample(10_000, of: prefixes, seed: 2323)
        var files = ["uplinkdns.yaml": Self.uplinkConfig(), "example.com.zone": Self.zone]
        for n in DiffNetworks.names.indices {
            files["\(DiffNetworks.names[n]).txt"] = DiffNetworks.file(prefixes, network: n)
        }
        let uplink = try ServerProcess(files: files)
        defer { uplink.stop() }
        let probe = queryBytes("www.example.com.", .a)
        let gdnsd = try GdnsdServer(
            config: Self.gdnsdConfig,
            zones: [
                "example.com": Self.zone.replacingOccurrences(of: "$ORIGIN example.com.\n", with: "")
                    + "\nwww 60 DYNA geoip!www\n"
            ],
            geoip: ["clients.nets": DiffNetworks.gdnsdNets(prefixes)], probe: probe)
        defer { gdnsd.stop() }

        // No prefix is in two networks, where gdnsd's choice is arbitrary (it warns of "Exact duplicate networks").
        #expect(!gdnsd.logText.contains("duplicate"), "\(gdnsd.logText)")

        let v4Count = prefixes.filter { $0.width == 32 }.count
        print(
            "\(prefixes.count) prefixes (\(v4Count) IPv4, \(prefixes.count - v4Count) IPv6), \(clients.count) clients")

        var previous: [DiffAnswer] = []
        for down in [nil, "b", "a"] as [String?] {
            if let down {
                // Force `down` out on both (gdnsd: the resource's datacenter in admin_state; UplinkDNS: the control
                // API), then wait until both move a client `down` served.
                try gdnsd.adminState("geoip/www/\(down) => DOWN\n")
                for line in DiffNetworks.lines.filter({ $0 != down }) + [down] {  // the line going down last
                    let (status, body) = try httpRequest(
                        port: uplink.controlPort, "POST", "/v1/links/\(line)",
                        headers: ["Authorization: Bearer test-token"],
                        body: "{\"state\":\"\(line == down ? "force-down" : "auto")\"}")
                    try #require(status == 200, "\(line): \(body)")
                }
                let address = DiffNetworks.addresses[down]!
                let i = try #require(previous.firstIndex { $0.addresses == [address] })
                let deadline = Date().addingTimeInterval(20)
                while Date() < deadline {
                    let now = try [uplink.port, gdnsd.port].map { try askAll(port: $0, [clients[i]])[0] }
                    if now.allSatisfy({ $0.addresses != [address] }) { break }
                    usleep(100_000)
                }
            }
            let ours = try askAll(port: uplink.port, clients)
            let theirs = try askAll(port: gdnsd.port, clients)
            var differences: [String] = []
            var v4LikeScopes = 0
            for (k, c) in clients.enumerated() {
                // gdnsd's scope for IPv6 is never wider than its IPv4-like spaces allow (see v4LikeBound).
                let expected = ours[k].scope.map { max($0, Self.v4LikeBound(c)) }
                if expected != ours[k].scope { v4LikeScopes += 1 }
                if ours[k].addresses != theirs[k].addresses || expected != theirs[k].scope {
                    differences.append("\(c.text): uplinkdns \(ours[k]), gdnsd \(theirs[k])")
                }
            }
            let state = down.map { "\($0) forced down" } ?? "every line up"
            let listed = differences.prefix(30).joined(separator: "\n")
            #expect(differences.count == 0, "\(state): \(differences.count) of \(clients.count) differ:\n\(listed)")
            // The comparison covers what it should: every line answers someone (the forced one nobody), a range of
            // scopes, scopes past the /24 source.
            let served = Set(ours.flatMap(\.addresses))
            let expectedLines = DiffNetworks.lines.filter { $0 != down }.map { DiffNetworks.addresses[$0]! }
            #expect(served == Set(expectedLines), "\(state): \(served)")
            let scopes = Set(ours.compactMap(\.scope))
            #expect(scopes.count > 20 && scopes.contains { $0 > 24 }, "\(state): scopes \(scopes.sorted())")
            let perLine = DiffNetworks.lines.map { l in
                "\(l) \(ours.filter { $0.addresses == [DiffNetworks.addresses[l]!] }.count)"
            }
            print(
                "\(state): \(clients.count - differences.count) of \(clients.count) agree (\(perLine.joined(separator: ", "))); "
                    + "\(scopes.count) scopes; \(v4LikeScopes) IPv6 scopes narrower at gdnsd by its IPv4-like spaces")
            previous = ours
        }
    }
}
