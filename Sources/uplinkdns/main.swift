// uplinkdns: the command line — serve, check, reload.

import ArgumentParser
import Foundation
import Logging
import Server
import Uplinks

/// The `uplinkdns` command.
struct UplinkDNS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uplinkdns",
        abstract: "An authoritative DNS server for sites that reach the internet over several ISP lines.",
        version: Config.softwareVersion,
        subcommands: [Serve.self, Check.self, Reload.self]
    )
}

/// Options every subcommand that reads the configuration shares.
struct ConfigOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The configuration file.")
    var config: String = "config/uplinkdns.yaml"

    /// Loads the config, printing every error with file and line, exiting 1 on error.
    func load() throws -> Config {
        do {
            return try Config.load(path: config)
        } catch {
            printErrors(error)
            throw ExitCode(1)
        }
    }
}

func printErrors(_ failure: ConfigFailure) {
    for e in failure.errors { FileHandle.standardError.write(Data("error: \(e)\n".utf8)) }
}

extension UplinkDNS {
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Serve the configured zones over UDP and TCP.")

        @OptionGroup var options: ConfigOptions

        @Option(name: .long, help: "Listen on HOST:PORT instead of server.listen (repeatable; port 0 picks one).")
        var listen: [String] = []

        @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
        var logLevel: String = "info"

        func validate() throws {
            for l in listen where ListenAddress(l) == nil {
                throw ValidationError("--listen \(l): expected a numeric HOST:PORT or [IPv6]:PORT")
            }
            guard Logger.Level(rawValue: logLevel) != nil else {
                throw ValidationError("unknown --log-level \(logLevel)")
            }
        }

        func run() throws {
            let level = Logger.Level(rawValue: logLevel) ?? .info
            LoggingSystem.bootstrap { label in
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = level
                return h
            }
            let logger = Logger(label: "uplinkdns")
            let config = try options.load()
            let server: DNSServer
            do {
                server = try DNSServer(
                    config: config, listen: listen.isEmpty ? nil : listen.compactMap(ListenAddress.init), logger: logger
                )
            } catch {
                printErrors(error)
                throw ExitCode(1)
            }
            do {
                try server.start()
            } catch {
                logger.critical("\(error)")
                server.stop()
                throw ExitCode(1)
            }
            server.runUntilSignalled()
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the configuration and every zone; print each error as file:line and exit 1 if any.")

        @OptionGroup var options: ConfigOptions

        func run() throws {
            let config = try options.load()
            do {
                let zones = try config.loadZones()
                let names = zones.zones.values.reduce(0) { $0 + $1.nodes.count }
                let u = config.uplinks
                print(
                    "ok: \(config.path): \(zones.zones.count) zone(s), \(names) names, \(u.links.count) line(s), "
                        + "\(u.pools.count) pool(s)")
            } catch {
                printErrors(error)
                throw ExitCode(1)
            }
        }
    }

    struct Reload: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask the running server to reload its config and zones (SIGHUP to the PID in server.pid-file).")

        @OptionGroup var options: ConfigOptions

        func run() throws {
            let config = try options.load()
            guard let pidFile = config.pidFile else {
                throw ValidationError("server.pid-file is not set in \(config.path); send SIGHUP to the server instead")
            }
            guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
            else {
                throw ValidationError("cannot read a PID from \(pidFile): is the server running?")
            }
            guard kill(pid, SIGHUP) == 0 else {
                throw ValidationError("cannot signal PID \(pid): \(String(cString: strerror(errno)))")
            }
            print("sent SIGHUP to \(pid); the server logs the outcome")
        }
    }
}

UplinkDNS.main()
