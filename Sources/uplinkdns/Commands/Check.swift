// Check: `uplinkdns check` — the config and every zone, each error as file:line.

import ArgumentParser
import Foundation
import Server
import Uplinks
import Zones

extension UplinkDNS {
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the configuration and every zone; print each error as file:line and exit 1 if any.")

        @OptionGroup var options: ConfigOptions

        func run() throws {
            let config = try options.load()
            if let problem = config.stateDirectoryProblem() { throw failure(problem.message) }
            let zones: ZoneSet
            do {
                zones = try config.loadZones()
            } catch {
                // Every error, and the warnings found with them.
                printErrors(error)
                throw ExitCode(1)
            }
            let names = config.nameCount(zones)
            let u = config.uplinks
            // Warnings (servable, but worth a look) go where errors go, in file order; they do not fail the check.
            var warnings = zones.zones.values.sorted { $0.origin < $1.origin }.flatMap(\.warnings).map {
                ConfigError(file: $0.file, line: $0.line, message: $0.message)
            }
            // Zones that come signed in their file: every signature verified, as kzonecheck does.
            let now = UInt32(truncatingIfNeeded: Int64(Date().timeIntervalSince1970))
            let signatures = config.checkSignatures(zones, now: now)
            warnings += signatures.warnings
            warnings += u.networkWarnings
            for n in signatures.notes { FileHandle.standardError.write(Data((n.labelled("note") + "\n").utf8)) }
            guard signatures.errors.isEmpty else {
                printErrors(ConfigFailure(errors: signatures.errors, warnings: warnings))
                throw ExitCode(1)
            }
            printWarnings(warnings)
            let warned = warnings.isEmpty ? "" : ", \(warnings.count) warning(s)"
            let prefixes = u.networks.reduce(0) { $0 + $1.prefixes.count }
            let networks = u.networks.isEmpty ? "" : ", \(u.networks.count) network(s) of \(prefixes) prefixes"
            print(
                "ok: \(config.path): \(zones.zones.count) zone(s), \(names), \(u.links.count) line(s), "
                    + "\(u.pools.count) pool(s)\(networks)\(warned)")
        }
    }
}
