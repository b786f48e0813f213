// OutboundRouteTests: the main table's default route for the lines in answers (issue 26), the server script and the
// drift check that follow it, and the LAN gateway's groups.

import Foundation
import Routing
import Testing
import Uplinks

@Suite struct OutboundRouteTests {
    /// seedLines: unicom 2M (weight 4), cnc 512K (weight 1), both on eth0.
    @Test func everyLineInAnswersIsTheBootTimeMultipathRoute() {
        let all = OutboundRoute.desired(seedLines, up: ["unicom", "cnc"])
        #expect(all == OutboundRoute.desired(seedLines))
        #expect(all.kind == .multipath && all.lines == ["unicom", "cnc"] && all.out.isEmpty)
        #expect(
            all.arguments
                == "default nexthop via 192.168.168.11 dev eth0 weight 4 nexthop via 192.168.168.12 dev eth0 weight 1")
        #expect(RoutingEmitter.server(seedLines).contains("ip route replace \(all.arguments!)\n"))
    }

    @Test func aLineOutLeavesTheRouteToTheBestLineInAnswersFromItsInsideAddress() {
        let one = OutboundRoute.desired(seedLines, up: ["cnc"])
        #expect(one.kind == .single && one.lines == ["cnc"] && one.out == ["unicom"])
        #expect(one.arguments == "default via 192.168.168.12 dev eth0 src 192.168.168.2")
        #expect(one.description == "via cnc only (out: unicom)")
        // Three lines, one out: the best of the others by weight, then the first in config order among equals.
        var three = seedLines
        var ctc = three.links[1]
        ctc.name = "ctc"
        ctc.inside = IPAddress("192.168.168.3")
        ctc.gateway = IPAddress("192.168.168.13")
        ctc.table = 3
        three.links.append(ctc)
        #expect(OutboundRoute.desired(three, up: ["cnc", "ctc"]).lines == ["cnc"])
        #expect(OutboundRoute.desired(three, up: ["unicom", "ctc"]).lines == ["unicom"])
        three.links[2].explicitWeight = 8
        #expect(OutboundRoute.desired(three, up: ["unicom", "ctc"]).lines == ["ctc"])
        // The script for the lines in answers now says so where it replaces the route.
        let script = RoutingEmitter.server(seedLines, up: ["cnc"])
        #expect(script.contains("# REPLACES THE MAIN TABLE'S DEFAULT ROUTE: out of answers now: unicom."))
        #expect(script.contains("ip route replace default via 192.168.168.12 dev eth0 src 192.168.168.2\n"))
        #expect(script.contains("ip rule add from 192.168.168.1 table 1"))  // the line's own return path stays
    }

    @Test func noLineInAnswersHoldsTheRouteAndKeepNeverTouchesIt() {
        let none = OutboundRoute.desired(seedLines, up: [])
        #expect(none.kind == .held && none.arguments == nil && none.out == ["unicom", "cnc"])
        let held = RoutingEmitter.server(seedLines, up: []).split(separator: "\n")
        #expect(!held.contains { $0.hasPrefix("ip route replace default") && !$0.contains(" table ") })
        #expect(held.contains("# No line is in answers: the main table's default route is left as it is."))
        var keep = seedLines
        keep.defaultRoute = .keep
        #expect(OutboundRoute.desired(keep, up: ["cnc"]).kind == .keep)
        let bare = Uplinks(links: [Link(name: "x", publicAddresses: [IPAddress("192.0.2.1")!])])
        #expect(OutboundRoute.desired(bare).kind == .none)
    }

    @Test func theServerScriptWithALineOutMatchesTheGoldenFile() throws {
        let made = RoutingEmitter.server(seedLines, up: ["cnc"])
        #expect(made == (try golden("server-unicom-out.sh", made: made)))
    }
}

@Suite struct OutboundDriftTests {
    let addr = RoutingCheckTests().addr
    let rule = RoutingCheckTests().rule
    func routes(main: String) -> Data {
        Data(
            """
            [{"dst":"default","gateway":"192.168.168.11","dev":"eth0","table":"1"},
             {"dst":"default","gateway":"192.168.168.12","dev":"eth0","table":"2"}\(main.isEmpty ? "" : ",\n" + main)]
            """.utf8)
    }
    let multipath = """
        {"dst":"default","flags":[],"nexthops":[{"gateway":"192.168.168.11","dev":"eth0","weight":4,"flags":[]},
        {"gateway":"192.168.168.12","dev":"eth0","weight":1,"flags":[]}]}
        """
    let viaCnc = """
        {"dst":"default","gateway":"192.168.168.12","dev":"eth0","prefsrc":"192.168.168.2","flags":[]}
        """

    @Test func theMainDefaultIsComparedWithTheRouteAsItShouldBeNow() {
        let all = OutboundRoute.desired(seedLines)
        let cncOnly = OutboundRoute.desired(seedLines, up: ["cnc"])
        #expect(
            RoutingCheck.drift(seedLines, addr: addr, rule: rule, route: routes(main: multipath), outbound: all) == [])
        #expect(
            RoutingCheck.drift(seedLines, addr: addr, rule: rule, route: routes(main: viaCnc), outbound: cncOnly) == [])
        // The boot-time route while a line is out is drift, and the other way round.
        let stale = RoutingCheck.drift(
            seedLines, addr: addr, rule: rule, route: routes(main: multipath), outbound: cncOnly)
        #expect(stale.count == 1 && stale[0].contains("should be via cnc only (out: unicom)"), "\(stale)")
        #expect(
            RoutingCheck.drift(seedLines, addr: addr, rule: rule, route: routes(main: viaCnc), outbound: all).count
                == 1)
        // The right gateway from the wrong source is drift: unbound connections would leave by the other line.
        let wrongSource = viaCnc.replacingOccurrences(of: "192.168.168.2", with: "192.168.168.1")
        #expect(
            RoutingCheck.drift(seedLines, addr: addr, rule: rule, route: routes(main: wrongSource), outbound: cncOnly)
                .count == 1)
        let missing = RoutingCheck.drift(seedLines, addr: addr, rule: rule, route: routes(main: ""), outbound: all)
        #expect(missing.count == 1 && missing[0].hasPrefix("no default route in the main table"), "\(missing)")
        // No line in answers expects nothing; a line's own health check never looks at the main default.
        #expect(
            RoutingCheck.drift(
                seedLines, addr: addr, rule: rule, route: routes(main: ""),
                outbound: OutboundRoute.desired(seedLines, up: [])) == [])
        #expect(
            RoutingCheck.drift(
                seedLines, addr: addr, rule: rule, route: routes(main: multipath), only: "unicom", outbound: cncOnly)
                == [])
    }
}

@Suite struct GatewayGroupTests {
    @Test func groupsFollowTheWeightsAndOnlyALineOutsGroupsMove() {
        let all = RoutingEmitter.groups(seedLines)
        #expect(all.count == RoutingEmitter.gatewayBuckets)
        // 4 : 1 of 256: 205 and 51 (largest remainder), in contiguous runs.
        #expect(all.filter { $0.name == "unicom" }.count == 205 && all.filter { $0.name == "cnc" }.count == 51)
        let cncOut = RoutingEmitter.groups(seedLines, up: ["unicom"])
        #expect(cncOut.allSatisfy { $0.name == "unicom" })
        // Three lines, one out: its groups are dealt to the others by weight, and no other group moves.
        var three = seedLines
        var ctc = three.links[1]
        ctc.name = "ctc"
        ctc.table = 3
        ctc.explicitWeight = 3
        three.links[1].explicitWeight = 1
        three.links[0].explicitWeight = 4
        three.links.append(ctc)
        let before = RoutingEmitter.groups(three)
        let after = RoutingEmitter.groups(three, up: ["unicom", "ctc"])
        for (b, a) in zip(before, after) where b.name != "cnc" { #expect(a.name == b.name) }
        let moved = zip(before, after).filter { $0.0.name == "cnc" }.map(\.1.name)
        #expect(!moved.contains("cnc") && !moved.isEmpty)
        let toUnicom = moved.filter { $0 == "unicom" }.count
        let toCtc = moved.filter { $0 == "ctc" }.count
        #expect(abs(toUnicom * 3 - toCtc * 4) <= 7, "moved \(toUnicom) to unicom, \(toCtc) to ctc")
        // Every line out: nothing moves (no line to move to).
        #expect(RoutingEmitter.groups(three, up: []).map(\.name) == before.map(\.name))
    }

    @Test func theGatewayScriptMatchesTheGoldenFiles() throws {
        let made = RoutingEmitter.gateway(seedLines)
        #expect(made == (try golden("gateway.sh", made: made)))
        let out = RoutingEmitter.gateway(seedLines, up: ["cnc"])
        #expect(out == (try golden("gateway-unicom-out.sh", made: out)))
        #expect(out.contains("map { 0-255 : 2 }") && out.contains("# Out of answers now: unicom"))
        // Idempotent by construction: every rule deleted before it is added; the nft table replaced whole.
        #expect(made.components(separatedBy: "ip rule add").count == made.components(separatedBy: "ip rule del").count)
        #expect(made.contains("delete table ip uplinkdns_gateway"))
    }
}
