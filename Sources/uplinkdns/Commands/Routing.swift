// Routing: `uplinkdns routing` — source routing and firewall rules: print, check, apply.

import ArgumentParser
import Foundation
import Routing
import Server
import Uplinks

extension UplinkDNS {
    struct RoutingCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "routing",
            abstract:
                "Print the source-routing (server) or DNAT/SNAT (a line's firewall) config; check or apply it on this machine."
        )

        @OptionGroup var options: ConfigOptions

        @Option(name: .customLong("for"), help: "server, or firewall:LINK.", completion: Completion.routingTargets)
        var target: Target = .server

        @Option(name: .long, help: "iproute2 (server); nft or iptables (firewall).")
        var format: Format?

        @Flag(name: .long, help: "Compare the live system (ip -j) with what would be emitted; exit 1 on drift.")
        var check = false

        @Flag(
            name: .long,
            help: "Apply the server's routing to this machine (needs CAP_NET_ADMIN), then check it; exit 1 on failure.")
        var apply = false

        /// What the routing is for: this server, or the firewall of one line.
        enum Target: ExpressibleByArgument, Equatable {
            case server
            case firewall(String)

            init?(argument: String) {
                if argument == "server" {
                    self = .server
                } else if argument.hasPrefix("firewall:"), argument.count > "firewall:".count {
                    self = .firewall(String(argument.dropFirst("firewall:".count)))
                } else {
                    return nil
                }
            }

            static var allValueStrings: [String] { ["server", "firewall:LINK"] }
        }

        /// The text to print: a script for the server, rules for a firewall.
        enum Format: String, ExpressibleByArgument, CaseIterable {
            case iproute2, nft, iptables
        }

        func validate() throws {
            if apply && (target != .server || check) { throw ValidationError("--apply applies --for server alone") }
            if check && target != .server { throw ValidationError("--check reads this machine: use --for server") }
            switch (target, format) {
            case (.server, .some(let f)) where f != .iproute2:
                throw ValidationError("--for server takes --format iproute2")
            case (.firewall, .iproute2): throw ValidationError("--for firewall:LINK takes --format nft or iptables")
            default: break
            }
        }

        func run() throws {
            let config = try options.load()
            let u = config.uplinks
            if apply {
                try Self.apply(RoutingEmitter.server(u), config: config)
                return
            }
            if check {
                let drift = RoutingCheck.live(u)
                for d in drift { print("drift: \(d)") }
                if drift.isEmpty { print("ok: the live routing matches \(config.path)") } else { throw ExitCode(1) }
                return
            }
            switch target {
            case .server:
                print(RoutingEmitter.server(u), terminator: "")
            case .firewall(let link):
                // The config's lines are known only now: a line it does not have is a failure (1), not a usage error.
                guard u.link(link) != nil else {
                    let names = u.links.map(\.name)
                    throw failure(
                        "no link '\(link)' "
                            + (names.isEmpty ? "(there are no links)" : "(links: \(names.joined(separator: ", ")))"))
                }
                let text =
                    format == .iptables ? RoutingEmitter.iptables(u, link: link) : RoutingEmitter.nft(u, link: link)
                guard let text else { throw failure("link '\(link)' needs an IPv4 inside address") }
                print(text, terminator: "")
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
}
