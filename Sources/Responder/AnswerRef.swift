// AnswerRef: what a name and type answer with — a compiled body, a pool's group of bodies, or a marker — in 4 bytes.

/// A reference to an answer in a snapshot. It is a tagged `Int32` (a million names hold several of them, so its
/// size matters), read through `kind`, which the optimiser turns into the same compares a bare integer needed.
public struct AnswerRef: Hashable, Sendable {
    /// The tagged value: bodies from 0 up, groups from -1 down, the markers at the bottom of the range.
    public let raw: Int32

    @inline(__always) init(raw: Int32) { self.raw = raw }

    /// What the reference names.
    public enum Kind: Equatable, Sendable {
        /// A compiled body of the zones (an index into `CompiledZones.answers`).
        case body(Int)
        /// A pool's variants (an index into the overlay's groups): the body is picked per response.
        case group(Int)
        /// Nothing: the name answers for itself (a node's `block`), or has no such answer (`dsAnswer`).
        case none
        /// A DNAME above the name decides (RFC 6672): synthesised on the slow path.
        case belowDNAME
        /// An error response (REFUSED, FORMERR, NOTIMP…): what rate limiting accounts it as.
        case error
        /// A CHAOS or slow-path answer: what rate limiting accounts it as.
        case other
    }

    /// Markers sit at the bottom of the range; groups stop above them.
    private static let lowestGroup = Int32.min + 8

    /// A body of the zones.
    @inline(__always) public static func body(_ index: Int) -> AnswerRef { AnswerRef(raw: Int32(index)) }
    /// A pool's group of bodies.
    @inline(__always) public static func group(_ index: Int) -> AnswerRef { AnswerRef(raw: -Int32(index) - 1) }
    /// No answer here.
    public static let none = AnswerRef(raw: Int32.min)
    /// Below a DNAME.
    public static let belowDNAME = AnswerRef(raw: Int32.min + 1)
    /// An error response.
    public static let error = AnswerRef(raw: Int32.min + 2)
    /// A CHAOS or slow-path answer.
    public static let other = AnswerRef(raw: Int32.min + 3)

    /// What the reference names.
    @inline(__always)
    public var kind: Kind {
        if raw >= 0 { return .body(Int(raw)) }
        if raw >= AnswerRef.lowestGroup { return .group(Int(-(raw + 1))) }
        switch raw {
        case Int32.min: return .none
        case Int32.min + 1: return .belowDNAME
        case Int32.min + 2: return .error
        default: return .other
        }
    }
}
