// DNSWireError: why a name or message could not be parsed or built.

/// A wire-format or presentation-format error, with the offset or text that caused it.
public enum DNSWireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The message ended before the field that starts at `offset`.
    case truncated(offset: Int)
    /// A label longer than 63 octets (RFC 1035 §2.3.4) at `offset`.
    case labelTooLong(offset: Int)
    /// A name longer than 255 octets in wire form (RFC 1035 §2.3.4).
    case nameTooLong
    /// A compression pointer that loops or points forward (RFC 1035 §4.1.4) at `offset`.
    case badPointer(offset: Int)
    /// A label type other than a normal label or a pointer (RFC 6891 §5 retired the others) at `offset`.
    case badLabelType(offset: Int)
    /// A name in presentation format that cannot be read.
    case badPresentation(String)
    /// A record whose RDLENGTH runs past the end of the message, or whose RDATA does not match its type.
    case badRData(offset: Int)

    public var description: String {
        switch self {
        case .truncated(let o): "message truncated at offset \(o)"
        case .labelTooLong(let o): "label longer than 63 octets at offset \(o)"
        case .nameTooLong: "name longer than 255 octets"
        case .badPointer(let o): "bad compression pointer at offset \(o)"
        case .badLabelType(let o): "unsupported label type at offset \(o)"
        case .badPresentation(let s): "cannot read name '\(s)'"
        case .badRData(let o): "bad RDATA at offset \(o)"
        }
    }
}
