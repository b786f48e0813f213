// Export: `uplinkdns export ZONE` — a zone as master-file text, or what a registrar needs.

import ArgumentParser
import DNSWire
import Foundation
import Server
import Uplinks
import Zones

extension UplinkDNS {
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

        @Argument(help: "The zone, e.g. example.com.", completion: Completion.zones)
        var zone: String

        @Option(name: .long, help: "current (lines up now) or all (every line).")
        var addresses: Addresses = .current

        @Option(name: .long, help: "zone (master-file text) or registrar.")
        var format: Format = .zone

        /// The lines whose addresses the pools get.
        enum Addresses: String, ExpressibleByArgument, CaseIterable {
            case current, all
        }

        /// What to print.
        enum Format: String, ExpressibleByArgument, CaseIterable {
            case zone, registrar
        }

        @Flag(name: .long, help: "With --format registrar: JSON instead of text.")
        var json = false

        func validate() throws {
            if json && format != .registrar { throw ValidationError("--json goes with --format registrar") }
        }

        func run() throws {
            let config = try options.load()
            guard let origin = try? DNSWire.DomainName(zone.hasSuffix(".") ? zone : zone + ".") else {
                throw failure("'\(zone)' is not a domain name")
            }
            var text: String?
            var zoneValue: Zones.Zone?
            if addresses == .current, let c = ControlClient(config: config) {
                do {
                    let (status, data) = try c.request("GET", ControlAPI.exportPath(origin.description))
                    guard status == 200 else { throw failure(problem(status, data, from: c)) }
                    text = String(decoding: data, as: UTF8.self)
                } catch let e as ControlError {
                    FileHandle.standardError.write(Data("note: \(e); exporting with every line up\n".utf8))
                }
            }
            if text == nil || format == .registrar {
                do {
                    if let text {
                        zoneValue = try Zones.ZoneFileLoader.load(
                            text: text, origin: origin, displayPath: "(server export)")
                    } else {
                        zoneValue = try ZoneExport.zone(
                            origin, config: config, addresses: addresses == .all ? .every : .up(nil))
                    }
                } catch {
                    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                    throw ExitCode(1)
                }
            }
            if format == .registrar, let zoneValue {
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
                    print(ControlAPI.json(r), terminator: "")
                } else {
                    print(ZoneExport.registrarText(r), terminator: "")
                }
                return
            }
            if let text {
                print(text, terminator: "")
            } else if let zoneValue {
                let what = addresses == .all ? "every line" : "every line up (no server answering)"
                let signed = try ZoneExport.signatures(zoneValue, config: config)
                print(ZoneExport.text(zoneValue, addresses: what, dnssec: signed), terminator: "")
            }
        }
    }
}
