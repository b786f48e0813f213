// uplinkdns: the command line. Each command is in Commands/; this is the root and its exit codes.

import ArgumentParser
import Foundation
import Server
import Uplinks

/// The `uplinkdns` command.
@main
struct UplinkDNS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uplinkdns",
        abstract: "An authoritative DNS server for sites that reach the internet over several ISP lines.",
        discussion: """
            Every command that reads the configuration takes --config FILE; without it, $UPLINKDNS_CONFIG, else \
            /etc/uplinkdns/uplinkdns.yaml. The commands that ask the running server (status, link, drill, reload, \
            zones, stats, querylog, export) reach its control API at server.control with the token in \
            server.control-token or <state-dir>/control.token. The status page is the control API's / in a \
            browser; metrics are at /metrics. Shell completion: uplinkdns --generate-completion-script \
            bash|zsh|fish. Exit status: 0 done, 1 failed, 2 a command line that does not parse.
            """,
        version: Config.softwareVersion,
        subcommands: [
            Serve.self, Check.self, Status.self, Link.self, DrillCommand.self, RoutingCommand.self, Reload.self,
            Export.self, Keys.self, ZonesCommand.self, Stats.self, QueryLogCommand.self,
        ]
    )

    /// Parses, then runs. Exit codes (README): 2 for a command line that does not parse (ArgumentParser's usage and
    /// validation errors, `validate()` included), never for what goes wrong while running: a command's `ExitCode`
    /// as it is (1 failed; `status --check`'s 0–3), any other error 1 with its message.
    static func main() {
        var command: ParsableCommand
        do {
            command = try parseAsRoot(Completion.withCursor(Array(CommandLine.arguments.dropFirst())))
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)  // --help, --version: printed, exit 0
        }
        do {
            try command.run()
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            // Help asked for at run time (`uplinkdns help export`): printed, exit 0.
            if exitCode(for: error) == .success { exit(withError: error) }
            FileHandle.standardError.write(Data("error: \(message(for: error))\n".utf8))
            Foundation.exit(1)
        }
    }
}
