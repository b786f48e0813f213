// RouteFollowerTests: routing.apply's follower without touching this machine — the commands it would run, for the
// lines in answers as they change (issue 26).

import Foundation
import Logging
import Synchronization
import Testing
import Uplinks

@testable import Server

@Suite struct RouteFollowerTests {
    /// The seed's two lines: unicom (weight 4) and cnc (weight 1) on eth0.
    static let uplinks: Uplinks = {
        let config = try! Config.parse(
            """
            zones: [{origin: example.com., file: a.zone}]
            links:
              - {name: unicom, public: [192.0.2.10], inside: 198.18.168.1/24, gateway: 198.18.168.11,
                 interface: eth0, table: 1, weight: 4}
              - {name: cnc, public: [198.51.100.10], inside: 198.18.168.2/24, gateway: 198.18.168.12,
                 interface: eth0, table: 2, weight: 1}
            routing: {apply: true}
            """, path: "/x/c.yaml")
        return config.uplinks
    }()

    /// A follower whose commands are recorded, not run; `fails` makes `ip` fail.
    final class Fake: Sendable {
        let up = Mutex<Set<String>>(["unicom", "cnc"])
        let commands = Mutex<[String]>([])
        /// What the gateway command was given, each time.
        let gatewayScripts = Mutex<[String]>([])
        let fails = Atomic<Bool>(false)
        func follower(enabled: Bool = true, gateway: String? = nil) -> RouteFollower {
            RouteFollower(
                uplinks: RouteFollowerTests.uplinks, enabled: enabled, gateway: gateway, logger: Logger(label: "test"),
                answering: { self.up.withLock { $0 } },
                command: { path, arguments, input in
                    if path == "/bin/sh" {
                        self.gatewayScripts.withLock { $0.append("\(arguments.last ?? "")\n\(input ?? "")") }
                        return (0, "")
                    }
                    guard path.hasSuffix("/ip") else { return (0, "") }
                    self.commands.withLock { $0.append(arguments.joined(separator: " ")) }
                    return self.fails.load(ordering: .relaxed)
                        ? (2, "RTNETLINK answers: Operation not permitted") : (0, "")
                })
        }
    }

    @Test func theDefaultRouteFollowsTheLinesInAnswersAndComesBack() {
        let fake = Fake()
        let f = fake.follower()
        f.follow()
        f.settle()
        let multipath =
            "route replace default nexthop via 198.18.168.11 dev eth0 weight 4 nexthop via 198.18.168.12 dev eth0 weight 1"
        #expect(fake.commands.withLock { $0 } == [multipath])
        // The same lines again: nothing to do.
        f.follow()
        f.settle()
        #expect(fake.commands.withLock { $0 }.count == 1)
        fake.up.withLock { $0 = ["cnc"] }
        f.follow()
        f.settle()
        #expect(
            fake.commands.withLock { $0 }.last == "route replace default via 198.18.168.12 dev eth0 src 198.18.168.2")
        #expect(f.current.applied?.lines == ["cnc"] && f.current.changes == 2 && f.current.error == nil)
        // No line in answers: the last route stays, and the record says so.
        fake.up.withLock { $0 = [] }
        f.follow()
        f.settle()
        #expect(fake.commands.withLock { $0 }.count == 2)
        #expect(f.current.desired?.kind == .held && f.current.applied?.lines == ["cnc"])
        fake.up.withLock { $0 = ["unicom", "cnc"] }
        f.follow()
        f.settle()
        #expect(fake.commands.withLock { $0 }.last == multipath)
    }

    @Test func aFailureIsRecordedAndOffChangesNothing() {
        let fake = Fake()
        fake.fails.store(true, ordering: .relaxed)
        let f = fake.follower()
        f.follow()
        f.settle()
        #expect(f.current.failures == 1 && f.current.error?.contains("Operation not permitted") == true)
        #expect(f.current.applied == nil)
        fake.fails.store(false, ordering: .relaxed)
        f.follow()
        f.settle()
        #expect(f.current.error == nil && f.current.applied?.kind == .multipath)
        let off = Fake()
        let g = off.follower(enabled: false)
        g.applyAtStart()
        g.follow()
        g.settle()
        #expect(off.commands.withLock { $0 }.isEmpty)
    }

    /// routing.gateway-command: the gateway's script for the lines in answers is piped into it at the first follow
    /// and at each change of them, and only then.
    @Test func theGatewaysGroupsArePipedIntoItsCommandOnEachChange() {
        let fake = Fake()
        let f = fake.follower(enabled: false, gateway: "ssh root@gw bash")
        f.follow()
        f.settle()
        f.follow()
        f.settle()
        fake.up.withLock { $0 = ["cnc"] }
        f.follow()
        f.settle()
        let scripts = fake.gatewayScripts.withLock { $0 }
        #expect(scripts.count == 2 && fake.commands.withLock { $0 }.isEmpty)
        #expect(scripts.first?.hasPrefix("ssh root@gw bash\n#!/usr/bin/env bash") == true)
        #expect(scripts.first?.contains("map { 0-204 : 1, 205-255 : 2 }") == true, "\(scripts.first ?? "")")
        #expect(scripts.last?.contains("map { 0-255 : 2 }") == true, "\(scripts.last ?? "")")
        #expect(f.current.gatewayLines == ["cnc"] && f.current.changes == 2)
    }
}
