// DrillTests: when a drill may start, and which line it must never drain.

import DNSWire
import Server
import Testing
import Uplinks

@Suite struct DrillTests {
    static let pools = [
        Pool(
            name: try! DomainName("www.example.com."),
            members: [PoolMember(link: "unicom"), PoolMember(link: "cnc"), PoolMember(link: "ctc")], policy: .weighted,
            ttl: 60),
        Pool(name: try! DomainName("fo.example.com."), members: [PoolMember(link: "cnc")], policy: .failover, ttl: 60),
    ]

    static func line(_ name: String, _ inAnswers: Bool = true, _ override: String? = nil) -> Drill.Before {
        Drill.Before(name: name, inAnswers: inAnswers, override: override, remaining: nil)
    }

    @Test func aDrillStartsOnlyWithEveryLineUpAndNoOverride() {
        #expect(Drill.refusal([Self.line("unicom"), Self.line("cnc"), Self.line("ctc")], pools: Self.pools) == nil)
        let down = Drill.refusal([Self.line("unicom"), Self.line("cnc", false), Self.line("ctc")], pools: Self.pools)
        #expect(down?.contains("out of answers: cnc") == true)
        let drained = Drill.refusal(
            [Self.line("unicom"), Self.line("cnc", false, "drain"), Self.line("ctc")], pools: Self.pools)
        #expect(drained?.contains("overridden: cnc (drain)") == true)
        // A line in no pool does not hold the drill back.
        #expect(
            Drill.refusal(
                [Self.line("unicom"), Self.line("cnc"), Self.line("ctc"), Self.line("spare", false)], pools: Self.pools)
                == nil)
    }

    @Test func theLastLineInAnswersOfAPoolIsNeverDrained() {
        let all = [Self.line("unicom"), Self.line("cnc"), Self.line("ctc")]
        // cnc is the only line of fo.
        #expect(Drill.lastLineOf("cnc", lines: all, pools: Self.pools)?.name.description == "fo.example.com.")
        #expect(Drill.lastLineOf("unicom", lines: all, pools: Self.pools) == nil)
        let twoDown = [Self.line("unicom"), Self.line("cnc", false), Self.line("ctc", false)]
        #expect(Drill.lastLineOf("unicom", lines: twoDown, pools: Self.pools)?.name.description == "www.example.com.")
    }
}
