// Zones: `uplinkdns zones` — the running server's zones and secondaries.

import ArgumentParser
import Foundation
import Server
import Uplinks

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
            let zones = try decoded(ControlAPI.Status.self, body, "the server's status").zones
            if json {
                print(ControlAPI.json(zones), terminator: "")
                return
            }
            print(StatusReport.zones(zones))
        }
    }
}
