// uplinkdns: the command line — serve, check, reload.

import ArgumentParser
import DNSSEC
import DNSWire
import Foundation
import Logging
import Routing
import Server
import Uplinks
import Zones

/// The `uplinkdns` command.
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
}

/// Options every subcommand that reads the configuration shares.
struct ConfigOptions: ParsableArguments {
    @Option(
        name: .shortAndLong,
        help: ArgumentHelp(
            "The configuration file (default: $UPLINKDNS_CONFIG, else /etc/uplinkdns/uplinkdns.yaml).",
            valueName: "file"))
    var config: String?

    /// The default configuration file, as Debian's package installs it.
    static let defaultPath = "/etc/uplinkdns/uplinkdns.yaml"

    /// The file: `--config`, else `$UPLINKDNS_CONFIG`, else `defaultPath`.
    var path: String {
        if let config { return config }
        if let env = ProcessInfo.processInfo.environment["UPLINKDNS_CONFIG"], !env.isEmpty { return env }
        return Self.defaultPath
    }

    /// The config for a command that asks the running server: the file if it loads; else (an edit in progress,
    /// a typo) its errors as warnings and what can be read of it (control address, token, state directory), so
    /// the operator can still see and steer the server that runs the last good config.
    func loadForServer() -> Config {
        do {
            return try Config.load(path: path)
        } catch {
            for e in error.errors {
                FileHandle.standardError.write(Data("warning: \(e) (asking the running server anyway)\n".utf8))
            }
            return Config.controlSettings(path: path)
        }
    }

    /// Loads the config, printing every error with file and line, exiting 1 on error.
    func load() throws -> Config {
        do {
            return try Config.load(path: path)
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

        @Option(name: .long, help: "Control API on HOST:PORT instead of server.control (port 0 picks one), or off.")
        var control: String?

        @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
        var logLevel: String = "info"

        func validate() throws {
            for l in listen where ListenAddress(l) == nil {
                throw ValidationError("--listen \(l): expected a numeric HOST:PORT or [IPv6]:PORT")
            }
            guard Logger.Level(rawValue: logLevel) != nil else {
                throw ValidationError("unknown --log-level \(logLevel)")
            }
            if let c = control, c != "off", ListenAddress(c) == nil {
                throw ValidationError("--control \(c): expected a numeric HOST:PORT, or off")
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

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the configuration and every zone; print each error as file:line and exit 1 if any.")

        @OptionGroup var options: ConfigOptions

        func run() throws {
            let config = try options.load()
            if let problem = config.stateDirectoryProblem() { throw failure(problem.message) }
            do {
                let zones = try config.loadZones()
                let names = zones.zones.values.reduce(0) { $0 + $1.nodeCount }
                let u = config.uplinks
                // Warnings (servable, but worth a look) go where errors go, in file order; they do not fail the check.
                let warnings = zones.zones.values.sorted { $0.origin < $1.origin }.flatMap(\.warnings)
                for w in warnings { FileHandle.standardError.write(Data((w.warning + "\n").utf8)) }
                let warned = warnings.isEmpty ? "" : ", \(warnings.count) warning(s)"
                print(
                    "ok: \(config.path): \(zones.zones.count) zone(s), \(names) names, \(u.links.count) line(s), "
                        + "\(u.pools.count) pool(s)\(warned)")
            } catch {
                printErrors(error)
                throw ExitCode(1)
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the running server's lines and pools (control API).",
            discussion: """
                Each line: in answers or not (an override shows as drained, forced up or forced down), what its probes
                say, since when, why, and its last probe results; then each pool with how many of its lines are in
                answers. With --check, exit 0 when every line is in answers, 1 when some is not, 2 when a pool has
                none, 3 when the server does not answer (for monitoring). With a LINK, that line's recent probe
                results per check (newest first, with their latency) and its recent transitions.
                """)

        @OptionGroup var options: ConfigOptions

        @Argument(help: "A line: show its probe history and transitions.")
        var link: String?

        @Flag(
            name: .long,
            help:
                "Exit 0 all lines in answers, 1 degraded, 2 a pool with no line in answers, 3 no answer from the server."
        )
        var check = false

        func run() throws {
            let config = options.loadForServer()
            if let link {
                let body = try api(
                    config, "GET",
                    "/v1/links/\(link.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? link)")
                guard let line = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
                    throw failure("the control API's answer for \(link) is not a line")
                }
                print(StatusReport.history(line))
                return
            }
            let body: Data
            do {
                body = try api(config, "GET", "/v1/links")
            } catch let code as ExitCode where check {
                // Monitoring: the state is unknown (3), which is neither degraded (1) nor a pool down (2).
                _ = code
                throw ExitCode(3)
            }
            guard let list = try? JSONSerialization.jsonObject(with: body) as? [[String: Any]] else {
                throw failure("the control API's /v1/links answer is not a list of lines")
            }
            let lines = list.compactMap(StatusReport.Line.init(json:))
            print(StatusReport.text(lines: lines, pools: config.uplinks.pools))
            if check {
                let health = StatusReport.health(pools: config.uplinks.pools, lines: lines)
                if health != .allUp { throw ExitCode(health.rawValue) }
            }
        }
    }

    struct Link: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drain or force a line for a failover drill, or return it to auto (control API).")

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The line's name.")
        var name: String

        @Argument(help: "drain | force-up | force-down | auto")
        var state: String

        @Option(name: .customLong("for"), help: "Undo the override after this long (30s, 10m, 2h).")
        var duration: String?

        @Flag(name: .long, help: "Take the line out even when it is the last one in answers of a pool.")
        var force = false

        /// A line's name as a path segment (names are free text).
        static func encoded(_ name: String) -> String {
            var allowed = CharacterSet.alphanumerics
            allowed.insert(charactersIn: "-._~")
            return name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name
        }

        func validate() throws {
            guard ["drain", "force-up", "force-down", "auto"].contains(state) else {
                throw ValidationError("state must be drain, force-up, force-down or auto")
            }
        }

        func run() throws {
            let config = options.loadForServer()
            var body: [String: Any] = ["state": state]
            if let duration { body["for"] = duration }
            if force { body["force"] = true }
            if (state == "drain" || state == "force-down") && !force {
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
            _ = try api(config, "POST", "/v1/links/\(Self.encoded(name))", json: body)
            print("link \(name): \(state)" + (duration.map { " for \($0)" } ?? "") + " (the answers show it now)")
        }
    }

    struct DrillCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "drill",
            abstract: "Failover drill: drain each line in turn, check every pool's answers drop it and get it back.")

        @OptionGroup var options: ConfigOptions

        @Option(name: .long, help: "The DNS server to query (default: the first server.listen address).")
        var server: String?

        @Flag(name: .long, help: "Drill even with lines out of answers or overridden (overrides are put back after).")
        var force = false

        func run() throws {
            let config = try options.load()
            let target = try server.map { s -> ListenAddress in
                guard let a = ListenAddress(s) else { throw ValidationError("--server \(s): expected HOST:PORT") }
                return a
            }
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

    struct RoutingCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "routing",
            abstract:
                "Print the source-routing (server) or DNAT/SNAT (a line's firewall) config; check or apply it on this machine."
        )

        @OptionGroup var options: ConfigOptions

        @Option(name: .customLong("for"), help: "server, or firewall:LINK.")
        var target: String = "server"

        @Option(name: .long, help: "iproute2 (server); nft or iptables (firewall).")
        var format: String?

        @Flag(name: .long, help: "Compare the live system (ip -j) with what would be emitted; exit 1 on drift.")
        var check = false

        @Flag(
            name: .long,
            help: "Apply the server's routing to this machine (needs CAP_NET_ADMIN), then check it; exit 1 on failure.")
        var apply = false

        func run() throws {
            let config = try options.load()
            let u = config.uplinks
            if apply {
                guard target == "server", !check else { throw ValidationError("--apply applies --for server alone") }
                try Self.apply(RoutingEmitter.server(u), config: config)
                return
            }
            if check {
                guard target == "server" else { throw ValidationError("--check reads this machine: use --for server") }
                let drift = RoutingCheck.live(u)
                for d in drift { print("drift: \(d)") }
                if drift.isEmpty { print("ok: the live routing matches \(config.path)") } else { throw ExitCode(1) }
                return
            }
            if target == "server" {
                guard format == nil || format == "iproute2" else {
                    throw ValidationError("--for server takes --format iproute2")
                }
                print(RoutingEmitter.server(u), terminator: "")
            } else if target.hasPrefix("firewall:") {
                let link = String(target.dropFirst("firewall:".count))
                guard u.link(link) != nil else {
                    throw ValidationError("no link '\(link)' (links: \(u.links.map(\.name).joined(separator: ", ")))")
                }
                let text: String?
                switch format ?? "nft" {
                case "nft": text = RoutingEmitter.nft(u, link: link)
                case "iptables": text = RoutingEmitter.iptables(u, link: link)
                default: throw ValidationError("--for firewall:LINK takes --format nft or iptables")
                }
                guard let text else { throw ValidationError("link '\(link)' needs an IPv4 inside address") }
                print(text, terminator: "")
            } else {
                throw ValidationError("--for is server or firewall:LINK")
            }
        }

        /// Runs the emitted script with bash, then checks the live system against the config (what the boot unit
        /// `uplinkdns-routing.service` does).
        static func apply(_ script: String, config: Config) throws {
            let routable = RoutingEmitter.routable(config.uplinks)
            for why in RoutingEmitter.skipped(config.uplinks) {
                FileHandle.standardError.write(Data("not routed: \(why)\n".utf8))
            }
            guard !routable.isEmpty else {
                // Nothing to route (the packaged example): change nothing on this machine, rp_filter included.
                print("ok: no line of \(config.path) can be routed (above): nothing to apply")
                return
            }
            let bash = Process()
            bash.executableURL = URL(fileURLWithPath: "/bin/bash")
            bash.arguments = ["-s"]
            let input = Pipe()
            bash.standardInput = input
            do { try bash.run() } catch { throw failure("cannot run /bin/bash: \(error)") }
            input.fileHandleForWriting.write(Data(script.utf8))
            try? input.fileHandleForWriting.close()
            bash.waitUntilExit()
            guard bash.terminationStatus == 0 else {
                throw failure("applying the routing failed (bash exited \(bash.terminationStatus)); see above")
            }
            let drift = RoutingCheck.live(config.uplinks)
            for d in drift { print("drift: \(d)") }
            guard drift.isEmpty else { throw failure("the routing was applied but the live system still differs") }
            print("ok: applied the routing of \(routable.count) line(s) from \(config.path)")
        }
    }

    struct Reload: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Reload the running server's config and zones (control API; with it off, SIGHUP to server.pid-file).")

        @OptionGroup var options: ConfigOptions

        func run() throws {
            let config = options.loadForServer()
            if config.control != nil {
                let data = try api(config, "POST", "/v1/reload")
                let reply = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
                print("reloaded: generation \(reply["generation"] ?? "?") serves the new config")
                let lines = reply["lines"] as? [String: [String]] ?? [:]
                for (key, what) in [
                    ("added", "lines added"), ("removed", "lines removed"), ("reprobed", "lines changed (probed anew)"),
                ] {
                    if let names = lines[key], !names.isEmpty { print("  \(what): \(names.joined(separator: ", "))") }
                }
                if let later = reply["needs_restart"] as? [String], !later.isEmpty {
                    print("  not applied until the server restarts: \(later.joined(separator: ", "))")
                }
                return
            }
            guard let pidFile = config.pidFile else {
                throw failure("server.control is off and server.pid-file is not set: send SIGHUP to the server")
            }
            guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
            else {
                throw failure("cannot read a PID from \(pidFile): is the server running?")
            }
            guard kill(pid, SIGHUP) == 0 else {
                throw failure("cannot signal PID \(pid): \(String(cString: strerror(errno)))")
            }
            // Without the control API the outcome cannot be known here: the server logs it (and tells systemd).
            print(
                "sent SIGHUP to \(pid); the outcome is in the server's log (with server.control on, reload waits for it)"
            )
        }
    }
}

extension UplinkDNS {
    struct ZonesCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "zones",
            abstract: "List the running server's zones: serial, signing, and each secondary's serial, transfer, NOTIFY."
        )

        @OptionGroup var options: ConfigOptions

        @Flag(name: .long, help: "Print the control API's JSON.")
        var json = false

        func run() throws {
            let config = options.loadForServer()
            let body = try api(config, "GET", "/v1/status")
            guard let status = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any],
                let zones = status["zones"] as? [[String: Any]]
            else { throw failure("the control API's /v1/status answer has no zones") }
            if json {
                print(StatusReport.json(zones), terminator: "")
                return
            }
            print(StatusReport.zones(zones))
        }
    }

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
            guard let stats = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
                throw failure("the control API's /v1/stats answer is not an object")
            }
            if json {
                print(String(decoding: body, as: UTF8.self), terminator: "")
                return
            }
            print(StatusReport.stats(stats))
        }
    }

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
        var state: String?

        @Option(name: .customLong("for"), help: "With on: switch off after this long (30s, 10m, 2h).")
        var duration: String?

        func validate() throws {
            if let state, state != "on" && state != "off" { throw ValidationError("state is on or off") }
            if duration != nil && state != "on" { throw ValidationError("--for goes with on") }
        }

        func run() throws {
            let config = options.loadForServer()
            let body: Data
            if let state {
                var request: [String: Any] = ["state": state]
                if let duration { request["for"] = duration }
                body = try api(config, "POST", "/v1/querylog", json: request)
            } else {
                body = try api(config, "GET", "/v1/querylog")
            }
            let log = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:]
            let on = log["enabled"] as? Bool ?? false
            var line = "query log \(on ? "on" : "off"): \(log["format"] ?? "?") to \(log["path"] ?? "?")"
            if let until = log["until"] as? String { line += " until \(until)" }
            print(line)
            if let error = log["error"] as? String { print("  last error: \(error)") }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a zone as master-file text with its pools as A/AAAA records, or what a registrar needs.",
            discussion: """
                --addresses current (default) asks the running server (control API) for the zone exactly as it
                transfers it now; with no server answering, every line counts as up. --addresses all puts every
                line's addresses into the pools whatever their health. --format registrar prints the zone's name
                servers with their glue addresses and lines (and DS records once the zone is signed).
                """)

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The zone, e.g. example.com.")
        var zone: String

        @Option(name: .long, help: "current (lines up now) or all (every line).")
        var addresses: String = "current"

        @Option(name: .long, help: "zone (master-file text) or registrar.")
        var format: String = "zone"

        @Flag(name: .long, help: "With --format registrar: JSON instead of text.")
        var json = false

        func validate() throws {
            guard ["current", "all"].contains(addresses) else { throw ValidationError("--addresses is current or all") }
            guard ["zone", "registrar"].contains(format) else { throw ValidationError("--format is zone or registrar") }
            if json && format != "registrar" { throw ValidationError("--json goes with --format registrar") }
        }

        func run() throws {
            let config = try options.load()
            guard let origin = try? DNSWire.DomainName(zone.hasSuffix(".") ? zone : zone + ".") else {
                throw ValidationError("'\(zone)' is not a domain name")
            }
            var text: String?
            var zoneValue: Zones.Zone?
            if addresses == "current", let c = ControlClient(config: config) {
                do {
                    let (status, data) = try c.request("GET", "/v1/zones/\(origin)/export")
                    guard status == 200 else {
                        throw failure("the server answered \(status): \(String(decoding: data, as: UTF8.self))")
                    }
                    text = String(decoding: data, as: UTF8.self)
                } catch let e as ControlError {
                    FileHandle.standardError.write(Data("note: \(e); exporting with every line up\n".utf8))
                }
            }
            if text == nil || format == "registrar" {
                do {
                    if let text {
                        zoneValue = try Zones.ZoneFileLoader.load(
                            text: text, origin: origin, displayPath: "(server export)")
                    } else {
                        zoneValue = try ZoneExport.zone(
                            origin, config: config, addresses: addresses == "all" ? .every : .up(nil))
                    }
                } catch {
                    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                    throw ExitCode(1)
                }
            }
            if format == "registrar", let zoneValue {
                var ds: [String] = []
                var extra: [String] = []
                if let keys = try ZoneExport.keys(origin, config: config) {
                    ds = keys.filter(\.isKSK).map(\.dsPresentation)
                    if keys.isEmpty {
                        extra.append(
                            "the zone is to be signed but has no keys yet: the server makes them at its first start")
                    }
                }
                var r = ZoneExport.registrar(zoneValue, uplinks: config.uplinks, ds: ds)
                r.warnings += extra
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    print(String(decoding: try encoder.encode(r), as: UTF8.self))
                } else {
                    print(ZoneExport.registrarText(r), terminator: "")
                }
                return
            }
            if let text {
                print(text, terminator: "")
            } else if let zoneValue {
                let what = addresses == "all" ? "every line" : "every line up (no server answering)"
                let signed = try ZoneExport.signatures(zoneValue, config: config)
                print(ZoneExport.text(zoneValue, addresses: what, dnssec: signed), terminator: "")
            }
        }
    }
}

extension UplinkDNS {
    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a signed zone's DNSSEC keys with the DS records the parent zone needs.",
            discussion: """
                The keys are BIND key files (K<zone>+<alg>+<tag>.key/.private) in zones[].dnssec.key-directory, by
                default <state-dir>/keys, where the server generates a combined signing key at its first start.
                Files from dnssec-keygen or ldns-keygen placed there are used instead. docs/dnssec.md.
                """)

        @OptionGroup var options: ConfigOptions

        @Argument(help: "The zone, e.g. example.com.")
        var zone: String

        @Flag(name: .long, help: "JSON instead of text.")
        var json = false

        func run() throws {
            let config = try options.load()
            guard let origin = try? DNSWire.DomainName(zone.hasSuffix(".") ? zone : zone + ".") else {
                throw ValidationError("'\(zone)' is not a domain name")
            }
            let keys: [SigningKey]
            do {
                guard let found = try ZoneExport.keys(origin, config: config) else {
                    throw failure("\(origin) is not signed: set zones[].dnssec in \(config.path)")
                }
                keys = found
            } catch let e as KeyFileError {
                throw failure("\(e)")
            }
            guard !keys.isEmpty else {
                throw failure("\(origin) has no keys yet: the server generates them at its first start")
            }
            if json {
                let list: [[String: Any]] = keys.map {
                    [
                        "tag": Int($0.keyTag), "algorithm": $0.algorithm.description, "flags": Int($0.flags),
                        "role": $0.isKSK ? "ksk" : "zsk", "file": $0.fileStem, "ds": $0.isKSK ? $0.dsPresentation : "",
                        "dnskey": "\($0.flags) 3 \($0.algorithm.rawValue) \(Data($0.publicKey).base64EncodedString())",
                    ]
                }
                let data = try JSONSerialization.data(
                    withJSONObject: ["zone": origin.description, "keys": list], options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            for k in keys {
                let role = k.isKSK ? (keys.count == 1 ? "CSK (combined signing key)" : "KSK") : "ZSK"
                print("; \(role) \(k.keyTag), \(k.algorithm) (\(k.algorithm.rawValue)), \(k.fileStem)")
                if k.isKSK { print(k.dsText) }
            }
        }
    }
}

/// The control API client for `config`.
func client(_ config: Config) throws -> ControlClient {
    guard let c = ControlClient(config: config) else {
        throw failure("server.control is off in \(config.path): the control API is not there to ask")
    }
    return c
}

/// Prints `message` as an error and gives the exit code of a command that failed (1; usage errors are 2).
func failure(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    return ExitCode(1)
}

/// Asks the running server's control API; a server that cannot be reached, a refused token or a failed call
/// become one clear error line and exit 1. Returns the body of a 2xx answer.
func api(_ config: Config, _ method: String, _ path: String, json: [String: Any]? = nil) throws -> Data {
    let c = try client(config)
    let status: Int
    let data: Data
    do {
        (status, data) = try c.request(method, path, json: json)
    } catch {
        throw failure("\(error)")
    }
    guard (200..<300).contains(status) else {
        let reply = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        switch status {
        case 401:
            throw failure(
                "the control API at \(c.address) refused the token (401): set server.control-token or "
                    + "control-token-file to the server's, or run where the state directory's control.token is readable"
            )
        default:
            let why = reply?["error"] as? String ?? (reply?["errors"] as? [String])?.joined(separator: "\n  ")
            throw failure(why ?? "the control API at \(c.address) answered \(status)")
        }
    }
    return data
}

// Exit codes: 0 done, 1 failed, 2 usage (a command line that does not parse).
/// The error a background task ended with, for the thread that waited for it.
final class Outcome: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    func set(_ e: Error) { lock.withLock { stored = e } }
    var error: Error? { lock.withLock { stored } }
}

do {
    var command = try UplinkDNS.parseAsRoot()
    try command.run()
} catch {
    if UplinkDNS.exitCode(for: error) == .validationFailure {
        FileHandle.standardError.write(Data((UplinkDNS.fullMessage(for: error) + "\n").utf8))
        exit(2)
    }
    UplinkDNS.exit(withError: error)
}
