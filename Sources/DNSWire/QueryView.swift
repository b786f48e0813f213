// QueryView: the hot-path parse of a query — header, question and OPT — in place, without allocating.

/// What the hot path needs of a query, read in place from the receive buffer.
///
/// Parsing is strict where RFCs require it and documented where they leave a choice:
/// - shorter than a header, or QR=1: `.drop` (never answer a response; RFC 1035 §4.1.1);
/// - QDCOUNT 0 or above 1, a question name with a compression pointer (nothing precedes it to point at), a bad
///   label type, a label over 63 or a name over 255 octets, a short question: `.formErr`;
/// - ANCOUNT or NSCOUNT non-zero in a QUERY: `.formErr` (as NSD does; Knot ignores them), but for IXFR's one
///   authority SOA (RFC 1995 §3);
/// - a second OPT, an OPT not owned by the root (as NSD; Knot ignores it), or malformed option TLVs: `.formErr`
///   (RFC 6891 §6.1.1);
/// - a TSIG record that is not the last record: `.formErr` (RFC 8945 §5.1); a last one sets `hasTSIG`;
/// - records after the question that run past the end: `.formErr`; octets after the last record: ignored (as
///   NSD; Knot answers FORMERR).
/// Other opcodes get the same parse (their answer and authority records are skipped), so NOTIMP can carry OPT.
/// A message without exactly one question is `.formErr(withQuestion: false)`; when it has none, its records are
/// still read for an OPT (so FORMERR, or NOTIMP for another opcode, can carry ours: RFC 6891 §7).
public struct QueryView: Sendable {
    /// The query's ID.
    public var id: UInt16 = 0
    /// The query's flag word.
    public var flags: UInt16 = 0
    /// Wire length of the question name (including the root label).
    public var qnameLength: Int = 0
    /// The question type.
    public var qtype: UInt16 = 0
    /// The question class.
    public var qclass: UInt16 = 0
    /// Labels in the question name (not counting the root).
    public var labelCount: Int = 0
    /// Whether the query carries an OPT record (EDNS, RFC 6891).
    public var hasEDNS = false
    /// The requestor's advertised UDP payload size (RFC 6891 §6.2.3).
    public var ednsUDPSize: UInt16 = 0
    /// The EDNS version (RFC 6891 §6.1.3).
    public var ednsVersion: UInt8 = 0
    /// The DO bit (RFC 3225), copied into the response.
    public var dnssecOK = false
    /// Whether the query asks for the NSID option (RFC 5001 §2.1).
    public var wantsNSID = false
    /// Whether the query ends with a TSIG record (RFC 8945).
    public var hasTSIG = false
    /// Whether the query carries an EDNS Client Subnet option (RFC 7871).
    public var hasECS = false
    /// ECS address family: 1 = IPv4, 2 = IPv6 (RFC 7871 §6).
    public var ecsFamily: UInt16 = 0
    /// ECS source prefix length.
    public var ecsSourcePrefix: UInt8 = 0
    /// ECS address octets (at most 16), left-aligned in two big-endian words; bits past the prefix are zero.
    public var ecsAddress: (UInt64, UInt64) = (0, 0)

    /// The opcode.
    public var opcode: UInt8 { UInt8((flags >> 11) & 0xF) }
    /// End of the question section: where a response's body starts.
    public var questionEnd: Int { 12 + qnameLength + 4 }

    /// The outcome of parsing.
    public enum Outcome: Equatable, Sendable {
        /// A well-formed query; the view is filled in.
        case ok
        /// No answer at all.
        case drop
        /// Answer FORMERR; `withQuestion` tells whether the question section was readable and may be echoed.
        case formErr(withQuestion: Bool)
    }

    /// Makes an empty view.
    public init() {}

    /// OPT option codes the server acts on.
    public enum OptionCode {
        /// RFC 5001 name server identifier.
        public static let nsid: UInt16 = 3
        /// RFC 7871 client subnet.
        public static let clientSubnet: UInt16 = 8
    }

    /// Parses `packet`. The lower-cased question name is written to `lowerName` (room for 255 octets) and the
    /// offset of each label within it to `labelOffsets` (room for 128 entries), so lookups need no copies.
    public mutating func parse(
        _ packet: UnsafeRawBufferPointer, lowerName: UnsafeMutablePointer<UInt8>,
        labelOffsets: UnsafeMutablePointer<UInt8>
    ) -> Outcome {
        let n = packet.count
        guard n >= 12 else { return .drop }
        @inline(__always) func u16(_ i: Int) -> UInt16 { UInt16(packet[i]) << 8 | UInt16(packet[i + 1]) }
        // Reset first: every return below leaves a consistent view (the answer to a FORMERR reads hasEDNS).
        qnameLength = 0
        id = u16(0)
        flags = u16(2)
        guard flags & Header.Flag.qr == 0 else { return .drop }
        hasEDNS = false
        wantsNSID = false
        hasTSIG = false
        hasECS = false
        ecsAddress = (0, 0)
        dnssecOK = false
        ednsVersion = 0
        ednsUDPSize = 0
        let qd = u16(4)
        guard qd == 1 else {
            // No question (or several): FORMERR, or NOTIMP for another opcode (DSO, RFC 8490, has none by
            // design). A header-only message's records are read for its OPT, so the answer carries ours
            // (RFC 6891 §7); if they are malformed, it carries none.
            let skipped = Int(u16(6)) + Int(u16(8))
            if qd == 0 && records(packet, from: 12, skipped: skipped, total: skipped + Int(u16(10))) != .ok {
                hasEDNS = false
            }
            return .formErr(withQuestion: false)
        }
        // Question name: plain labels only.
        var i = 12
        var labels = 0
        while true {
            guard i < n else { return .formErr(withQuestion: false) }
            let len = Int(packet[i])
            if len == 0 { break }
            guard len <= 63 else { return .formErr(withQuestion: false) }
            guard i + 1 + len < n, i + 1 + len - 12 < 255 else { return .formErr(withQuestion: false) }
            labelOffsets[labels] = UInt8(i - 12)
            labels += 1
            lowerName[i - 12] = UInt8(len)
            var j = i + 1
            while j <= i + len {
                lowerName[j - 12] = DomainName.fold(packet[j])
                j += 1
            }
            i += 1 + len
        }
        lowerName[i - 12] = 0
        labelCount = labels
        qnameLength = i - 12 + 1
        guard i + 5 <= n else { return .formErr(withQuestion: false) }
        qtype = u16(i + 1)
        qclass = u16(i + 3)
        if opcode == 0 {
            // A query has no answer or authority records, except IXFR's one SOA in authority (RFC 1995 §3).
            let ixfr = qtype == RRType.ixfr.rawValue && u16(6) == 0 && u16(8) == 1
            guard ixfr || (u16(6) == 0 && u16(8) == 0) else { return .formErr(withQuestion: true) }
        }
        let skipped = Int(u16(6)) + Int(u16(8))
        return records(packet, from: i + 5, skipped: skipped, total: skipped + Int(u16(10)))
    }

    /// Reads the records from `start` on: the first `skipped` (answer and authority) only for their extent, then
    /// the additional ones for OPT and TSIG.
    private mutating func records(_ packet: UnsafeRawBufferPointer, from start: Int, skipped: Int, total: Int)
        -> Outcome
    {
        let n = packet.count
        @inline(__always) func u16(_ i: Int) -> UInt16 { UInt16(packet[i]) << 8 | UInt16(packet[i + 1]) }
        var p = start
        var index = 0
        while index < total {
            defer { index += 1 }
            guard !hasTSIG else { return .formErr(withQuestion: true) }
            // Owner name: may be compressed; only its extent matters here.
            let ownerStart = p
            while true {
                guard p < n else { return .formErr(withQuestion: true) }
                let len = packet[p]
                if len == 0 { p += 1; break }
                if len & 0xC0 == 0xC0 { p += 2; break }
                guard len & 0xC0 == 0 else { return .formErr(withQuestion: true) }
                p += 1 + Int(len)
            }
            guard p + 10 <= n else { return .formErr(withQuestion: true) }
            let type = u16(p)
            let rdlen = Int(u16(p + 8))
            let rdStart = p + 10
            guard rdStart + rdlen <= n else { return .formErr(withQuestion: true) }
            if index < skipped {
                p = rdStart + rdlen
                continue
            }
            if type == RRType.tsig.rawValue { hasTSIG = true }
            if type == RRType.opt.rawValue {
                guard !hasEDNS, p - ownerStart == 1, packet[ownerStart] == 0 else {
                    return .formErr(withQuestion: true)
                }
                hasEDNS = true
                ednsUDPSize = u16(p + 2)
                ednsVersion = packet[p + 5]
                dnssecOK = packet[p + 6] & 0x80 != 0
                var o = rdStart
                while o < rdStart + rdlen {
                    guard o + 4 <= rdStart + rdlen else { return .formErr(withQuestion: true) }
                    let code = u16(o)
                    let olen = Int(u16(o + 2))
                    guard o + 4 + olen <= rdStart + rdlen else { return .formErr(withQuestion: true) }
                    if code == OptionCode.nsid { wantsNSID = true }
                    if code == OptionCode.clientSubnet {
                        guard parseECS(packet, at: o + 4, length: olen) else { return .formErr(withQuestion: true) }
                    }
                    o += 4 + olen
                }
            }
            p = rdStart + rdlen
        }
        return .ok
    }

    /// RFC 7871 §6: family 1 or 2, a source prefix no longer than the family allows, exactly ⌈prefix/8⌉ address
    /// octets, no bits set past the prefix, and only one such option; anything else is FORMERR.
    private mutating func parseECS(_ packet: UnsafeRawBufferPointer, at o: Int, length: Int) -> Bool {
        guard !hasECS, length >= 4 else { return false }
        let family = UInt16(packet[o]) << 8 | UInt16(packet[o + 1])
        let source = Int(packet[o + 2])
        guard (family == 1 && source <= 32) || (family == 2 && source <= 128) else { return false }
        let octets = (source + 7) / 8
        guard length == 4 + octets else { return false }
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        for i in 0..<octets {
            let b = UInt64(packet[o + 4 + i])
            if i < 8 { hi |= b << (56 - 8 * UInt64(i)) } else { lo |= b << (56 - 8 * UInt64(i - 8)) }
        }
        if source % 8 != 0, octets > 0 {
            let last = packet[o + 4 + octets - 1]
            guard last & (0xFF >> UInt8(source % 8)) == 0 else { return false }
        }
        hasECS = true
        ecsFamily = family
        ecsSourcePrefix = UInt8(source)
        ecsAddress = (hi, lo)
        return true
    }
}
