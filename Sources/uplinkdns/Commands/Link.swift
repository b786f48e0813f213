// Link: `uplinkdns link NAME STATE` — an operator override through the control API.

import ArgumentParser
import Foundation
import Server
import Uplinks

extension UplinkDNS {
    struct Link: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drain or force a line for a failover drill, or return it to auto (control API).")

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The line's name.", completion: Completion.lines)
        var name: String

        @Argument(help: "The override, or auto to return the line to its probes.")
        var state: ControlAPI.LinkState

        @Option(name: .customLong("for"), help: "Undo the override after this long (30s, 10m, 2h).")
        var duration: String?

        @Flag(name: .long, help: "Take the line out even when it is the last one in answers of a pool.")
        var force = false

        func run() throws {
            let config = options.loadForServer()
            let body = ControlAPI.LinkChange(state: state, for: duration, force: force)
            if (state == .drain || state == .forceDown) && !force {
                // The last line in answers of a pool: taking it out leaves the pool to its all-down policy.
                let lines: [Drill.Before]
                do { lines = try Drill(config: config, control: client(config)).lines() } catch let code as ExitCode {
                    throw code
                } catch { throw failure("\(error)") }
                if let pool = Drill.lastLineOf(name, lines: lines, pools: config.uplinks.pools),
                    lines.first(where: { $0.name == name })?.inAnswers == true
                {
                    throw failure(
                        "\(name) is the last line in answers of \(pool.name): taking it out leaves the pool with none "
                            + "(its all-down policy answers); add --force to do it anyway")
                }
            }
            _ = try api(config, "POST", ControlAPI.linkPath(name), json: body)
            print(
                "link \(name): \(state.rawValue)" + (duration.map { " for \($0)" } ?? "") + " (the answers show it now)"
            )
        }
    }
}

extension ControlAPI.LinkState: ExpressibleByArgument {}
