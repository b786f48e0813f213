// ResponderOptions: the server settings that shape answers (identity, version, NSID, EDNS size, signed zones).

import DNSWire

/// Settings that change what the responder says, as opposed to where it listens.
public struct ResponderOptions: Sendable, Equatable {
    /// Text for CHAOS `id.server` and `hostname.bind` (RFC 4892); nil = those queries are REFUSED.
    public var identity: String?
    /// Text for CHAOS `version.bind` and `version.server`; nil = those queries are REFUSED.
    public var version: String?
    /// The NSID payload (RFC 5001), returned to queries that ask for it; nil = never sent.
    public var nsid: [UInt8]?
    /// The UDP payload size we advertise and never exceed: 1232 (DNS Flag Day 2020, RFC 9715 guidance), which
    /// fits an IPv6 minimum MTU without fragmentation.
    public var ednsUDPSize: UInt16 = 1232
    /// The zones the server signs (`dnssec:`): their apex's DNSKEY, CDS, CDNSKEY and NSEC3PARAM are answered from
    /// the signed zone as it serves now, with or without DO (`CompiledZones`).
    public var signedZones: Set<DomainName> = []
    /// Compile the common alias and the common name with MX, PTR or SRV straight from the zone's arenas
    /// (`CompiledZones.Builder.compileAlias`, `compileRecords`), as the server always does. Off, they are compiled
    /// through the resolver: the answers must be the same bytes, which `AliasCompileTests` and `RecordsCompileTests`
    /// check. Not a configuration key.
    public var fromArenas = true

    /// Makes options.
    public init(
        identity: String? = nil, version: String? = nil, nsid: [UInt8]? = nil, ednsUDPSize: UInt16 = 1232,
        signedZones: Set<DomainName> = []
    ) {
        self.identity = identity
        self.version = version
        self.nsid = nsid
        self.ednsUDPSize = ednsUDPSize
        self.signedZones = signedZones
    }
}
