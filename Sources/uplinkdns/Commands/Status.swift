// Status: `uplinkdns status [LINK] [--check]` — the running server's lines and pools.

import ArgumentParser
import Foundation
import Server
import Uplinks

extension UplinkDNS {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the running server's lines and pools (control API).",
            discussion: """
                Each line: in answers or not (an override shows as drained, forced up or forced down), what its probes
                say, since when, why, and its last probe results; then each pool with how many of its lines are in
                answers, and the last reload if it failed. With --check, exit 0 when every line is in answers, 1 when
                some is not or the last reload failed, 2 when a pool has none, 3 when the server does not answer (for
                monitoring). With a LINK, that line's recent probe
                results per check (newest first, with their latency) and its recent transitions.
                """)

        @OptionGroup var options: ConfigOptions

        @Argument(help: "A line: show its probe history and transitions.", completion: Completion.lines)
        var link: String?

        @Flag(
            name: .long,
            help: ArgumentHelp(
                "Exit 0 all lines in answers, 1 degraded or the last reload failed, 2 a pool with no line in answers, 3 "
                    + "no answer from the server.")
        )
        var check = false

        @Flag(
            name: .long, help: "Print the server's status (or the line's, with LINK) as JSON, as /v1/status gives it.")
        var json = false

        func run() throws {
            let config = options.loadForServer()
            if let link {
                let body = try api(config, "GET", ControlAPI.linkPath(link))
                let detail = try decoded(ControlAPI.LinkDetail.self, body, "a line")
                print(json ? ControlAPI.json(detail) : StatusReport.history(detail), terminator: json ? "" : "\n")
                return
            }
            if json {
                let status = try decoded(ControlAPI.Status.self, try api(config, "GET", "/v1/status"), "the status")
                print(ControlAPI.json(status), terminator: "")
                return
            }
            let list: [ControlAPI.LinkSummary]
            let status: ControlAPI.Status
            do {
                list = try decoded(
                    [ControlAPI.LinkSummary].self, try api(config, "GET", "/v1/links"), "a list of lines")
                status = try decoded(ControlAPI.Status.self, try api(config, "GET", "/v1/status"), "the status")
            } catch let code as ExitCode where check {
                // Monitoring: the state is unknown (3), which is neither degraded (1) nor a pool down (2).
                _ = code
                throw ExitCode(3)
            }
            let lines = list.map(StatusReport.Line.init)
            // The pools the server runs (not the file's, which may hold an edit not yet reloaded), each with what it
            // answers now, failing open included.
            print(StatusReport.text(lines: lines, pools: status.pools))
            // A failed reload stays in view until a reload succeeds: the server serves the previous config.
            let reload = status.reload
            if let failed = StatusReport.failedReload(reload) { print(failed) }
            if let routing = status.routing.flatMap(StatusReport.routing) { print(routing) }
            if let director = StatusReport.director(status) { print(director) }
            if check {
                let health = StatusReport.health(pools: status.pools, lines: lines)
                if health != .allUp { throw ExitCode(health.rawValue) }
                if StatusReport.health(status) != .allUp { throw ExitCode(StatusReport.Health.degraded.rawValue) }
                if !reload.lastSuccessful { throw ExitCode(StatusReport.Health.degraded.rawValue) }
            }
        }
    }
}
