// DirectorConfigTests: `director:` read as the issue writes it, and each mistake refused with file and line.

import Foundation
import Testing
import Uplinks

@testable import Server

@Suite struct DirectorConfigTests {
    static let head = """
        zones: [{origin: example.com., file: a.zone}]
        links:
          - {name: unicom, public: [192.0.2.10]}

        """

    /// The issue's example reads whole: a line's name stands for its public address; defaults as ipvsadm's.
    @Test func theIssuesExampleReads() throws {
        let c = try Config.parse(
            Self.head + """
                director:
                  apply: nft
                  services:
                    - name: web
                      address: unicom
                      port: 80
                      scheduler: wrr
                      persistence: 300
                      real-servers:
                        - address: 198.18.1.12
                          weight: 2
                          checks: [{http: "http://198.18.1.12/"}]
                        - address: 198.18.1.13
                          weight: 3
                      interval: 1
                      rise: 1
                      fall: 2
                    - {name: mail, address: 203.0.113.25, port: 25, real-servers: [{address: 198.18.1.14}]}
                """, path: "/x/c.yaml")
        let d = c.director
        #expect(d.apply == .nft && d.services.count == 2)
        let web = d.services[0]
        #expect(web.address == IPAddress("192.0.2.10") && web.link == "unicom" && web.port == 80)
        #expect(web.scheduler == .wrr && web.persistence == 300 && web.mode == .nat && web.proto == "tcp")
        #expect(web.realServers.map(\.effectiveWeight) == [2, 3])
        #expect(web.realServers[0].health.checks.map(\.kind) == [.http(url: "http://198.18.1.12/", expect: 200...200)])
        #expect(web.realServers[0].health.checks[0].interval == 1 && web.realServers[0].health.fall == 2)
        #expect(d.services[1].scheduler == .wlc && d.services[1].realServers[0].weight == nil)
        #expect(d.healthTargets.links.map(\.name) == ["web/198.18.1.12", "web/198.18.1.13", "mail/198.18.1.14"])
    }

    /// Each mistake is refused at its line, with what to write instead.
    @Test(arguments: [
        ("address: nosuch\n      port: 80", 8, "neither an address nor a line's name (lines: unicom)"),
        ("address: 203.0.113.80\n      port: 80\n      fwmark: 6", 10, "set port, or fwmark with ports, not both"),
        ("address: 203.0.113.80\n      fwmark: 6", 9, "a fwmark service needs 'ports'"),
        ("address: 203.0.113.80", 7, "needs 'port' (e.g. 80), or 'fwmark' with 'ports'"),
        (
            "address: 203.0.113.80\n      port: 80\n      mode: dr", 5,
            "nft forwards NAT services, and DR with an interface"
        ),
        ("address: 203.0.113.80\n      port: 80\n      scheduler: lblc", 10, "is not one of rr | wrr | sh | lc | wlc"),
    ])
    func mistakesAreRefusedAtTheirLine(_ service: String, _ line: Int, _ words: String) throws {
        let text =
            Self.head + "director:\n  apply: nft\n  services:\n    - name: web\n      \(service)\n"
            + "      real-servers: [{address: 198.18.1.12}]\n"
        do {
            _ = try Config.parse(text, path: "/x/c.yaml")
            Issue.record("accepted: \(service)")
        } catch {
            #expect(
                error.errors.contains { $0.line == line && $0.message.contains(words) },
                "\(error.errors.map(\.description))")
        }
    }

    /// A real server listed twice, one of the other family, none at all, a routing check: refused.
    @Test func realServerMistakesAreRefused() throws {
        let text =
            Self.head + """
                director:
                  services:
                    - name: web
                      address: 203.0.113.80
                      port: 80
                      real-servers:
                        - address: 198.18.1.12
                        - address: 198.18.1.12
                        - address: 2001:db8::12
                        - {address: 198.18.1.13, checks: [{routing: true}]}
                    - {name: web, address: 203.0.113.81, port: 80, real-servers: [{address: 198.18.1.12}]}
                    - {name: none, address: 203.0.113.82, port: 80}
                """
        do {
            _ = try Config.parse(text, path: "/x/c.yaml")
            Issue.record("accepted")
        } catch {
            let e = error.errors.map { "\($0.line ?? 0): \($0.message)" }
            #expect(e.contains { $0.hasPrefix("11: ") && $0.contains("lists real server 198.18.1.12 twice") }, "\(e)")
            #expect(e.contains { $0.hasPrefix("12: ") && $0.contains("an IPv6 real server behind") }, "\(e)")
            #expect(e.contains { $0.hasPrefix("13: ") && $0.contains("unknown key 'routing'") }, "\(e)")
            #expect(e.contains { $0.hasPrefix("14: ") && $0.contains("'web' is defined twice") }, "\(e)")
            #expect(e.contains { $0.hasPrefix("15: ") && $0.contains("needs 'real-servers'") }, "\(e)")
        }
    }
}
