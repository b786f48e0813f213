// Drill: `uplinkdns drill` — drain each line in turn and watch the answers.

import ArgumentParser
import Foundation
import Server
import Uplinks

extension UplinkDNS {
    struct DrillCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "drill",
            abstract: "Failover drill: drain each line in turn, check every pool's answers drop it and get it back.")

        @OptionGroup var options: ConfigOptions

        @Option(
            name: .long, help: "The DNS server to query (default: the first address the running server answers on).")
        var server: String?

        @Flag(name: .long, help: "Drill even with lines out of answers or overridden (overrides are put back after).")
        var force = false

        func validate() throws {
            if let server, ListenAddress(server) == nil {
                throw ValidationError("--server \(server): expected HOST:PORT")
            }
        }

        /// Where the running server answers DNS, as it says (a wildcard address asked on loopback).
        static func answering(_ config: Config) throws -> ListenAddress? {
            let status = try decoded(ControlAPI.Status.self, try api(config, "GET", "/v1/status"), "the status")
            guard var first = status.listen.first.flatMap(ListenAddress.init) else { return nil }
            if first.host == "0.0.0.0" { first.host = "127.0.0.1" }
            if first.host == "::" { first.host = "::1" }
            return first
        }

        func run() throws {
            let config = try options.load()
            // The server answers where it bound at start (a changed server.listen waits for a restart): ask it.
            let target = try server.flatMap(ListenAddress.init) ?? Self.answering(config)
            let drill = Drill(config: config, control: try client(config), server: target, force: force)
            let found: [Drill.Before]
            do { found = try drill.lines() } catch { throw failure("\(error)") }
            // Ctrl-C or a stop: every override back as it was before leaving.
            let stop = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
            let term = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
            for (sig, source) in [(SIGINT, stop), (SIGTERM, term)] {
                signal(sig, SIG_IGN)
                source.setEventHandler {
                    FileHandle.standardError.write(
                        Data("drill interrupted: putting the lines back as they were\n".utf8))
                    drill.restore(found)
                    Foundation.exit(1)
                }
                source.resume()
            }
            let rows: [Drill.Row]
            do {
                rows = try drill.run()
            } catch let refusal as Drill.Refusal {
                throw failure(refusal.description)
            } catch {
                drill.restore(found)
                throw failure("\(error)")
            }
            func ms(_ v: Double?) -> String { v.map { "\(Int($0 * 1000)) ms" } ?? "never" }
            print("LINE        OUT OF ANSWERS  BACK IN ANSWERS  RESULT")
            for r in rows {
                let cols = [
                    r.link, r.skipped ? "-" : ms(r.out), r.skipped ? "-" : ms(r.back),
                    r.skipped ? "SKIP" : r.passed ? "PASS" : "FAIL",
                ]
                let widths = [12, 16, 17, 6]
                print(
                    zip(cols, widths).map { $0.padding(toLength: max($1, $0.count + 1), withPad: " ", startingAt: 0) }
                        .joined()
                        + (r.note.isEmpty ? "" : " (\(r.note))"))
            }
            if !rows.allSatisfy(\.passed) { throw ExitCode(1) }
        }
    }
}
