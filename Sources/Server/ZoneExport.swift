// ZoneExport: the zone as plain, standard DNS for a registrar or another server — pools materialised as A/AAAA
// records — and the registrar's view of it (name servers, glue, DS).

import DNSSEC
import DNSWire
import Foundation
import Responder
import Uplinks
import Zones

/// Builds exports without a running server (the CLI's fallback and `--addresses all`).
public enum ZoneExport {
    /// Which addresses the pools contribute.
    public enum Addresses: Sendable {
        /// What the pools answer with these lines up (nil = all lines up).
        case up(Set<String>?)
        /// Every line's addresses, whatever the policy and health.
        case every
    }

    /// Why an export cannot be built.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The zone `origin` of `config`, read from its file, with its pools filled in per `addresses` and the serial
    /// a server with this state directory would serve for that content (`SerialKeeper`, not saved).
    public static func zone(_ origin: DomainName, config: Config, addresses: Addresses) throws -> Zone {
        guard config.zones.contains(where: { $0.origin == origin }) else {
            let names = config.zones.map(\.origin.description).joined(separator: ", ")
            throw Failure(description: "\(origin) is not a zone in \(config.path) (zones: \(names))")
        }
        let zones: ZoneSet
        do { zones = try config.loadZones() } catch {
            throw Failure(description: error.errors.map(\.description).joined(separator: "\n"))
        }
        guard let zone = zones.zones[origin] else { throw Failure(description: "\(origin) did not load") }
        let sets: [RRset]
        let records: (Int) -> [RRset]
        switch addresses {
        case .up(let up):
            let plans = config.plans(up: up)
            sets = ZoneContent.poolSets(plans, in: origin)
            records = { plans[$0].transferSets }
        case .every:
            let pools = config.uplinks.pools
            sets = pools.filter { $0.name.isSubdomain(of: origin) }.flatMap { everySets($0, config.uplinks) }
            records = { everySets(pools[$0], config.uplinks) }
        }
        // As the server fingerprints it (`DNSServer.decideSerials`): per class of pools.
        let fingerprint = ZoneContent.fingerprint(
            file: zone.contentFingerprint, origin: origin, pools: config.uplinks.pools, digests: PoolDigests(),
            records: records)
        let serial = SerialKeeper(directory: config.stateDirectory).serial(
            for: origin, fileSerial: zone.fileSerial, fingerprint: fingerprint,
            policy: config.serialPolicies[origin] ?? .increment
        ).serial
        return ZoneContent.zone(zone, pools: sets, serial: serial)
    }

    /// A pool with every member's addresses (config order), at the pool's TTL.
    static func everySets(_ pool: Pool, _ uplinks: Uplinks) -> [RRset] {
        let all = pool.members.flatMap { $0.addresses ?? uplinks.link($0.link)?.publicAddresses ?? [] }
        var out: [RRset] = []
        for (type, v6) in [(RRType.a, false), (.aaaa, true)] {
            var seen: [IPAddress] = []
            for a in all where a.isIPv6 == v6 && !seen.contains(a) { seen.append(a) }
            if !seen.isEmpty {
                out.append(RRset(name: pool.name, type: type, ttl: pool.ttl, rdatas: seen.map(\.octets)))
            }
        }
        return out
    }

    /// The zone as master-file text with a header saying what it is; `dnssec`: what signing adds (DNSKEY, NSEC,
    /// RRSIG…), printed after the zone's own records.
    public static func text(_ zone: Zone, addresses: String, dnssec: [ResourceRecord] = []) -> String {
        var header = [
            "\(zone.origin) exported by UplinkDNS \(Config.softwareVersion): serial \(zone.fileSerial)",
            "pools as A/AAAA records: \(addresses)",
        ]
        if !dnssec.isEmpty { header.append("signed (DNSSEC): \(dnssec.filter { $0.type == .rrsig }.count) signatures") }
        let text = ZoneText.render(zone, header: header)
        return dnssec.isEmpty ? text : text + dnssec.map { ZoneText.line($0) + "\n" }.joined()
    }

    /// The keys of `origin` if it is signed: those in its key directory (none before the server's first start
    /// generated them). Nil when the zone is not signed.
    public static func keys(_ origin: DomainName, config: Config) throws -> [SigningKey]? {
        guard let settings = config.zones.first(where: { $0.origin == origin })?.dnssec else { return nil }
        return try SigningKey.all(
            in: ZoneSigning.keyDirectory(settings, stateDirectory: config.stateDirectory), zone: origin)
    }

    /// What signing adds to `zone` as exported without a server (`zone`), with the keys in its key directory:
    /// nothing when the zone is not signed or has no keys yet.
    public static func signatures(_ zone: Zone, config: Config) throws -> [ResourceRecord] {
        guard let settings = config.zones.first(where: { $0.origin == zone.origin })?.dnssec,
            let keys = try keys(zone.origin, config: config), !keys.isEmpty
        else { return [] }
        return try ZoneSigner(policy: settings.policy).additions(
            origin: zone.origin, records: zone.records, keys: keys, denial: settings.denial,
            now: UInt32(Date().timeIntervalSince1970))
    }

    /// What a registrar asks for.
    public struct Registrar: Codable, Equatable {
        /// One name server of the zone.
        public struct NameServer: Codable, Equatable {
            /// The NS target.
            public var name: String
            /// Its glue addresses (only for names inside the zone; a registrar needs none for others).
            public var addresses: [String]
            /// The lines whose public address each glue address is ("" for an address on no line).
            public var lines: [String]
        }
        public var zone: String
        public var nameservers: [NameServer]
        /// DS RDATA in presentation form for the parent (`12345 13 2 ABCD…`; none while the zone is not signed).
        public var ds: [String]
        /// Things an operator should fix before handing this over.
        public var warnings: [String]
    }

    /// The registrar's view of `zone`: its apex NS names with glue, checked against the lines (one name server per
    /// line is the expected set-up, so that losing a line does not lose the zone's only server).
    /// `ds`: the DS RDATA (presentation form) of the zone's KSKs, when it is signed.
    public static func registrar(_ zone: Zone, uplinks: Uplinks, ds: [String] = []) -> Registrar {
        var servers: [Registrar.NameServer] = []
        var warnings: [String] = []
        let lineOf: (String) -> String = { address in
            uplinks.links.first { $0.publicAddresses.map(\.description).contains(address) }?.name ?? ""
        }
        let targets = zone.rrset(zone.origin, .ns)?.records.compactMap(\.target) ?? []
        for target in targets {
            var addresses: [String] = []
            if target.isSubdomain(of: zone.origin) {
                for type in [RRType.a, .aaaa] {
                    for rdata in zone.rrset(target, type)?.rdatas ?? [] {
                        if let a = IPAddress(octets: rdata) { addresses.append(a.description) }
                    }
                }
                if addresses.isEmpty {
                    warnings.append("\(target) is inside the zone but has no A/AAAA record: the registrar needs glue")
                }
            }
            let lines = addresses.map(lineOf)
            for (a, l) in zip(addresses, lines) where l.isEmpty {
                warnings.append("\(target) \(a) is no line's public address")
            }
            servers.append(.init(name: target.description, addresses: addresses, lines: lines))
        }
        let served = Set(servers.flatMap(\.lines))
        for link in uplinks.links where !served.contains(link.name) {
            warnings.append(
                "line \(link.name) carries no name server: while the others are down the zone is unreachable")
        }
        if targets.count < 2 { warnings.append("registries require at least two name servers (RFC 1034 §4.1)") }
        return Registrar(zone: zone.origin.description, nameservers: servers, ds: ds, warnings: warnings)
    }

    /// The registrar view as text.
    public static func registrarText(_ r: Registrar) -> String {
        var out = "; Name servers for \(r.zone), as the registrar's form asks for them\n"
        let width = r.nameservers.map(\.name.count).max() ?? 0
        for ns in r.nameservers {
            let pad = String(repeating: " ", count: width - ns.name.count)
            if ns.addresses.isEmpty {
                out += "\(ns.name)\(pad)  (outside the zone: no glue)\n"
            }
            for (a, l) in zip(ns.addresses, ns.lines) {
                out += "\(ns.name)\(pad)  \(a)\(l.isEmpty ? "" : "  ; line \(l)")\n"
            }
        }
        out +=
            r.ds.isEmpty
            ? "; DS: none (the zone is not signed)\n"
            : "; DS for the parent zone (RFC 4509, SHA-256):\n" + r.ds.map { "\(r.zone) IN DS \($0)\n" }.joined()
        for w in r.warnings { out += "; warning: \(w)\n" }
        return out
    }
}
