// Serve: `uplinkdns serve` — serve the configured zones until SIGTERM.

import ArgumentParser
import Foundation
import Logging
import Server
import Uplinks

extension UplinkDNS {
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Serve the configured zones over UDP and TCP.")

        @OptionGroup var options: ConfigOptions

        @Option(name: .long, help: "Listen on HOST:PORT instead of server.listen (repeatable; port 0 picks one).")
        var listen: [String] = []

        @Option(name: .long, help: "Control API on HOST:PORT instead of server.control (port 0 picks one), or off.")
        var control: String?

        @Option(name: .long, help: "Log level.")
        var logLevel: Logger.Level = .info

        func validate() throws {
            for l in listen where ListenAddress(l) == nil {
                throw ValidationError("--listen \(l): expected a numeric HOST:PORT or [IPv6]:PORT")
            }
            if let c = control, c != "off", ListenAddress(c) == nil {
                throw ValidationError("--control \(c): expected a numeric HOST:PORT, or off")
            }
        }

        func run() throws {
            let level = logLevel
            LoggingSystem.bootstrap { label in
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = level
                return h
            }
            let logger = Logger(label: "uplinkdns")
            // A SIGHUP before the service group traps it (the PID file is written while starting) must not kill.
            signal(SIGHUP, SIG_IGN)
            let config = try options.load()
            // No state directory at all is a config error; a full or read-only one must not keep DNS down: the
            // server serves and says that what changes will not be saved (serials are, in their reserved space).
            if let problem = config.stateDirectoryProblem() {
                if problem.missing { throw failure(problem.message) }
                logger.error("\(problem.message): changes will not survive a restart")
            }
            let application: Application
            do {
                application = try Application.build(
                    config: config, listen: listen.isEmpty ? nil : listen.compactMap(ListenAddress.init),
                    control: control.map { $0 == "off" ? nil : ListenAddress($0) }, logger: logger)
            } catch let failure as ConfigFailure {
                printErrors(failure)
                throw ExitCode(1)
            } catch {
                logger.critical("\(error)")
                throw ExitCode(1)
            }
            // Serves until SIGTERM/SIGINT (SIGHUP reloads), then stops the parts in order. The main thread waits here
            // rather than becoming an async main: an async main's thread exits (libdispatch), and `ps` would then
            // show the process as the user it started as, though every live thread has dropped to `server.user`.
            let done = DispatchSemaphore(value: 0)
            let outcome = Outcome()
            Task.detached {
                do { try await application.run() } catch { outcome.set(error) }
                done.signal()
            }
            done.wait()
            if let error = outcome.error {
                logger.critical("\(error)")
                throw ExitCode(1)
            }
            logger.info("stopped")
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
