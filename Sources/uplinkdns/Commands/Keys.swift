// Keys: `uplinkdns keys ZONE` — a signed zone's keys and DS records.

import ArgumentParser
import DNSSEC
import DNSWire
import Foundation
import Server
import Uplinks

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

        @Argument(help: "The zone, e.g. example.com.", completion: Completion.signedZones)
        var zone: String

        @Flag(name: .long, help: "JSON instead of text.")
        var json = false

        func run() throws {
            let config = try options.load()
            guard let origin = try? DNSWire.DomainName(zone.hasSuffix(".") ? zone : zone + ".") else {
                throw failure("'\(zone)' is not a domain name")
            }
            guard config.zones.contains(where: { $0.origin == origin }) else {
                let names = config.zones.map(\.origin.description).joined(separator: ", ")
                throw failure("\(origin) is not a zone in \(config.path) (zones: \(names))")
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
                let list = KeyList(
                    zone: origin.description,
                    keys: keys.map {
                        KeyList.Key(
                            tag: Int($0.keyTag), algorithm: $0.algorithm.description, flags: Int($0.flags),
                            role: $0.isKSK ? (keys.count == 1 ? "csk" : "ksk") : "zsk", file: $0.fileStem,
                            ds: $0.isKSK ? $0.dsPresentation : "",
                            dnskey: "\($0.flags) 3 \($0.algorithm.rawValue) \(Data($0.publicKey).base64EncodedString())"
                        )
                    })
                print(ControlAPI.json(list), terminator: "")
                return
            }
            for k in keys {
                let role = k.isKSK ? (keys.count == 1 ? "CSK (combined signing key)" : "KSK") : "ZSK"
                print("; \(role) \(k.keyTag), \(k.algorithm) (\(k.algorithm.rawValue)), \(k.fileStem)")
                if k.isKSK { print(k.dsText) }
            }
        }

        /// `keys --json`: the zone and each key with its DS (KSKs) and DNSKEY.
        struct KeyList: Encodable {
            struct Key: Encodable {
                var tag: Int
                var algorithm: String
                var flags: Int
                var role: String
                var file: String
                var ds: String
                var dnskey: String
            }
            var zone: String
            var keys: [Key]
        }
    }
}
