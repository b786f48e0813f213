// QueryLog: `uplinkdns querylog [on|off]` — the query log, at run time.

import ArgumentParser
import Foundation
import Server
import Uplinks

extension UplinkDNS {
    struct QueryLogCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "querylog",
            abstract: "Switch the query log on or off at run time, or show it (control API).",
            discussion: """
                The log goes to server.query-log.path (default: <state-dir>/queries.dnstap) in dnstap, which
                `kdig -G FILE` and `dnstap-read FILE` print; format: text writes one line per query instead.
                Switching on again moves the previous dnstap file to FILE.1. --for switches it off by itself.
                """)

        @OptionGroup var options: ConfigOptions

        @Argument(help: "on, off, or nothing to show the log's state.")
        var state: ControlAPI.QueryLogSwitch?

        @Option(name: .customLong("for"), help: "With on: switch off after this long (30s, 10m, 2h).")
        var duration: String?

        func validate() throws {
            if duration != nil && state != .on { throw ValidationError("--for goes with on") }
        }

        func run() throws {
            let config = options.loadForServer()
            let body: Data
            if let state {
                body = try api(
                    config, "POST", "/v1/querylog", json: ControlAPI.QueryLogChange(state: state, for: duration))
            } else {
                body = try api(config, "GET", "/v1/querylog")
            }
            let log = try decoded(ControlAPI.QueryLogState.self, body, "the query log's state")
            var line = "query log \(log.enabled ? "on" : "off"): \(log.format) to \(log.path)"
            if let until = log.until { line += " until \(until)" }
            print(line)
            if let error = log.error { print("  last error: \(error)") }
        }
    }
}

extension ControlAPI.QueryLogSwitch: ExpressibleByArgument {}
