// RDataLayout: where domain names sit inside the RDATA of the types that carry them.

/// The parts of a type's RDATA: runs of opaque octets and embedded domain names. Used to decompress names in
/// received messages (RFC 3597 §4) and to compress them when writing, for the types where that is allowed.
public enum RDataField: Sendable, Equatable {
    /// A domain name.
    case name
    /// A fixed number of opaque octets.
    case fixed(Int)
}

extension RRType {
    /// The RDATA layout for types whose RDATA embeds domain names, nil for opaque RDATA.
    public var rdataLayout: [RDataField]? {
        switch self {
        case .ns, .cname, .ptr, .dname, .mb, .mg, .mr: [.name]
        case .soa: [.name, .name, .fixed(20)]
        case .mx, .afsdb, .kx: [.fixed(2), .name]
        case .minfo, .rp: [.name, .name]
        case .srv: [.fixed(6), .name]
        default: nil
        }
    }

    /// Whether names inside this type's RDATA may be compressed on output: only the RFC 1035 types
    /// (RFC 3597 §4). SRV (RFC 2782), DNAME (RFC 6672 §2.5) and later types are written in full.
    public var mayCompressRData: Bool {
        switch self {
        case .ns, .cname, .soa, .mb, .mg, .mr, .ptr, .minfo, .mx: true
        default: false
        }
    }
}
