// Stats: `uplinkdns stats` — the running server's counters.

import ArgumentParser
import Foundation
import Server
import Uplinks

extension UplinkDNS {
    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the running server's counters: queries, TCP, rate limiting, transfers, NOTIFY, reloads.",
            discussion: """
                Counts since the server started, from the control API (the same numbers /metrics exports). Queries
                are summed by transport, zone, type and response code.
                """)

        @OptionGroup var options: ConfigOptions

        @Flag(name: .long, help: "Print the control API's JSON.")
        var json = false

        func run() throws {
            let config = options.loadForServer()
            let body = try api(config, "GET", "/v1/stats")
            let stats = try decoded(ControlAPI.Stats.self, body, "the server's counters")
            if json {
                print(String(decoding: body, as: UTF8.self), terminator: "")
                return
            }
            print(StatusReport.stats(stats))
        }
    }
}
