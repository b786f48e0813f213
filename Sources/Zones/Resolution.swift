// Resolution: what the zone says in answer to one question, before it is encoded.

import DNSWire

/// How a lookup ended (STYLE.md: outcomes as enums, not flags).
public enum Outcome: Equatable, Sendable {
    /// The name has the RRset asked for (exact or wildcard-synthesised).
    case answer
    /// The name is an alias; the answer holds the CNAME (and whatever its chain reached inside the zone).
    case cname
    /// The name lies below a DNAME; the answer holds the DNAME and the synthesised CNAME (RFC 6672).
    case dname
    /// The name is at or below a zone cut: a referral to the child's servers (RFC 1034 §4.3.2 step 3b).
    case referral
    /// The name exists but has no data of that type (RFC 2308 §2.2).
    case noData
    /// The name does not exist (RFC 2308 §2.1).
    case nxDomain
}

/// A decided answer: sections as records, the rcode and the AA flag. Encoding is the Responder's job.
public struct Resolution: Equatable, Sendable {
    /// How the lookup ended (for a chain: how its first step ended).
    public var outcome: Outcome
    /// The response code: NOERROR, NXDOMAIN (also at the end of a CNAME chain, RFC 6604 §3) or YXDOMAIN.
    public var rcode: RCode = .noError
    /// Whether the answer is authoritative (false for a bare referral).
    public var authoritative = true
    /// The answer section.
    public var answer: [ResourceRecord] = []
    /// The authority section.
    public var authority: [ResourceRecord] = []
    /// Additional records a response needs (glue below the cut; RFC 9471 requires it or TC).
    public var glue: [ResourceRecord] = []
    /// Additional records that help but may be left out when space is short (MX/SRV/NS target addresses).
    public var additional: [ResourceRecord] = []

    /// Makes a resolution.
    public init(outcome: Outcome) { self.outcome = outcome }

    /// This resolution with `transform` applied to each section's records.
    public func mapSections(_ transform: ([ResourceRecord]) -> [ResourceRecord]) -> Resolution {
        var r = self
        r.answer = transform(answer)
        r.authority = transform(authority)
        r.glue = transform(glue)
        r.additional = transform(additional)
        return r
    }
}
