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
                "Print the source-routing (server), DNAT/SNAT (a line's firewall) or outbound groups (a LAN gateway) "
                + "config; check or apply it on this machine.",
            discussion: """
                The server's main default route and the gateway's groups follow the lines in answers of the running \
                server (asked through the control API); with no server answering, every line counts as in answers.
                """
        )

        @OptionGroup var options: ConfigOptions

        @Option(
            name: .customLong("for"),
            help: ArgumentHelp(
                "server, firewall:LINK, gateway (a LAN gateway's outbound groups), director (its services) or "
                    + "real-server:ADDRESS (what a DR or TUN real server needs)."),
            completion: Completion.routingTargets)
        var target: Target = .server

        @Option(
            name: .long,
            help: ArgumentHelp(
                "iproute2 (server, gateway, real-server); nft or iptables (firewall); ipvsadm, keepalived, nft or "
                    + "iptables (the fwmark rules) for the director."))
        var format: Format?

        @Flag(name: .long, help: "Compare the live system (ip -j) with what would be emitted; exit 1 on drift.")
        var check = false

        @Flag(
            name: .long,
            help:
                "Apply the server's (or the gateway's) routing to this machine (needs CAP_NET_ADMIN); exit 1 on failure."
        )
        var apply = false

        /// What the routing is for: this server, or the firewall of one line.
        enum Target: ExpressibleByArgument, Equatable {
            case server
            case gateway
            case firewall(String)
            case director
            case realServer(String)

            init?(argument: String) {
                if argument == "server" {
                    self = .server
                } else if argument == "gateway" {
                    self = .gateway
                } else if argument == "director" {
                    self = .director
                } else if argument.hasPrefix("real-server:"), argument.count > "real-server:".count {
                    self = .realServer(String(argument.dropFirst("real-server:".count)))
                } else if argument.hasPrefix("firewall:"), argument.count > "firewall:".count {
                    self = .firewall(String(argument.dropFirst("firewall:".count)))
                } else {
                    return nil
                }
            }

            static var allValueStrings: [String] {
                ["server", "firewall:LINK", "gateway", "director", "real-server:ADDRESS"]
            }
        }

        /// The text to print: a script for the server, rules for a firewall.
        enum Format: String, ExpressibleByArgument, CaseIterable {
            case iproute2, nft, iptables, ipvsadm, keepalived
        }

        func validate() throws {
            if apply && (check || !(target == .server || target == .gateway)) {
                throw ValidationError("--apply applies --for server or --for gateway")
            }
            if check && target != .server { throw ValidationError("--check reads this machine: use --for server") }
            if format == .ipvsadm || format == .keepalived, target != .director {
                throw ValidationError("--format \(format!.rawValue) is for --for director")
            }
            switch (target, format) {
            case (.director, .some(.iproute2)):
                throw ValidationError("--for director takes --format ipvsadm, keepalived, nft or iptables")
            case (.realServer, .some(let f)) where f != .iproute2:
                throw ValidationError("--for real-server:ADDRESS takes --format iproute2")
            case (.server, .some(let f)) where f != .iproute2:
                throw ValidationError("--for server takes --format iproute2")
            case (.gateway, .some(let f)) where f != .iproute2:
                throw ValidationError("--for gateway takes --format iproute2 (a bash script with its nft table)")
            case (.firewall, .iproute2): throw ValidationError("--for firewall:LINK takes --format nft or iptables")
            default: break
            }
        }

        func run() throws {
            let config = try options.load()
            let u = config.uplinks
            // The server's default route follows the lines in answers only with routing.apply; the gateway's groups
            // always do (whoever applies them).
            let up = target == .gateway || config.routingApply ? Self.linesInAnswers(config) : nil
            if apply {
                let script = target == .gateway ? RoutingEmitter.gateway(u, up: up) : RoutingEmitter.server(u, up: up)
                try Self.applyScript(script, config: config, gateway: target == .gateway, up: up)
                return
            }
            if check {
                let outbound = OutboundRoute.desired(u, up: up)
                var drift = RoutingCheck.live(u, outbound: outbound)
                if config.director.apply == .nft {
                    drift += DirectorCheck.live(config.director, out: Self.realServersOut(config))
                }
                for d in drift { print("drift: \(d)") }
                let why =
                    config.routingApply
                    ? (up == nil ? " (no server answering: every line counts as in answers)" : " (routing.apply)")
                    : ""
                print("outbound default route: \(outbound)\(why)")
                if drift.isEmpty { print("ok: the live routing matches \(config.path)") } else { throw ExitCode(1) }
                return
            }
            switch target {
            case .server:
                print(RoutingEmitter.server(u, up: up), terminator: "")
            case .gateway:
                print(RoutingEmitter.gateway(u, up: up), terminator: "")
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
            case .director:
                let d = config.director
                guard !d.services.isEmpty else { throw failure("\(config.path) has no director services") }
                switch format ?? .ipvsadm {
                case .keepalived: print(DirectorEmitter.keepalived(d), terminator: "")
                case .nft: print(DirectorEmitter.nft(d), terminator: "")
                case .iptables: print(DirectorEmitter.marks(d), terminator: "")
                default: print(DirectorEmitter.ipvsadm(d), terminator: "")
                }
            case .realServer(let text):
                let known = config.director.services.flatMap(\.realServers).map(\.address)
                let list = Set(known).sorted().map(\.description).joined(separator: ", ")
                guard let address = IPAddress(text),
                    let script = DirectorEmitter.realServer(config.director, address: address)
                else {
                    throw failure(
                        "no real server '\(text)' " + (list.isEmpty ? "(there are none)" : "(real servers: \(list))"))
                }
                print(script, terminator: "")
            }
        }

        /// The real servers the running server has out (`SERVICE/ADDRESS`), or none when no server answers.
        static func realServersOut(_ config: Config) -> Set<String> {
            guard let c = ControlClient(config: config), let (code, data) = try? c.request("GET", "/v1/status"),
                code == 200, let status = ControlAPI.decode(ControlAPI.Status.self, from: data)
            else { return [] }
            return Set((status.realServers ?? []).filter { $0.state != "up" }.map(\.name))
        }

        /// The lines in answers of the running server (its control API), or nil when no server answers (every line
        /// counts as in answers).
        static func linesInAnswers(_ config: Config) -> Set<String>? {
            guard let c = ControlClient(config: config), let (code, data) = try? c.request("GET", "/v1/status"),
                code == 200, let status = ControlAPI.decode(ControlAPI.Status.self, from: data)
            else { return nil }
            return Set(status.links.filter { $0.state == "up" }.map(\.name))
        }

        /// Runs the emitted script with bash, then checks the live system against the config (what the boot unit
        /// `uplinkdns-routing.service` does); a gateway's script is checked by its exit status alone.
        static func applyScript(_ script: String, config: Config, gateway: Bool = false, up: Set<String>? = nil) throws
        {
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
            if gateway {
                print("ok: applied the outbound groups of \(routable.count) line(s) from \(config.path)")
                return
            }
            let drift = RoutingCheck.live(config.uplinks, outbound: OutboundRoute.desired(config.uplinks, up: up))
            for d in drift { print("drift: \(d)") }
            guard drift.isEmpty else { throw failure("the routing was applied but the live system still differs") }
            print("ok: applied the routing of \(routable.count) line(s) from \(config.path)")
        }
    }
}
