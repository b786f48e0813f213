// QueryProcessor: turns one query's bytes into one response's bytes, from a snapshot, without allocating.

import DNSWire
import Zones

/// How a query arrived: it sets the response size limit (RFC 1035 §4.2.1, RFC 6891 §6.2.5, RFC 7766 §8).
public enum Transport: Sendable {
    /// UDP: at most 512 octets without EDNS, else the smaller of the client's and our payload size.
    case udp
    /// TCP: up to 65535 octets; answers are always complete.
    case tcp
}

/// Per-worker scratch memory for the query path: the lower-cased question name and its label offsets.
/// One per thread or event loop; never shared.
public final class QueryScratch {
    let lowerName: UnsafeMutablePointer<UInt8>
    let labels: UnsafeMutablePointer<UInt8>
    /// This worker's rotation counter: it advances with every response that has variants (round robin,
    /// weighted). Workers start at different points so that they do not hand out the same order in step.
    var rotation: UInt64
    /// The question type of the last query this worker parsed (0 if it had no readable question), for counting.
    public internal(set) var lastQType: UInt16 = 0
    /// The slot (`ZoneSlots`) of the zone that answered the last query (0: none did), for counting.
    public internal(set) var lastZoneSlot: UInt8 = 0
    /// What the last response was, for rate limiting: its compiled answer (a pool's group for pool answers),
    /// `.error` for error responses, `.other` for CHAOS and slow-path answers.
    public internal(set) var lastAnswer: AnswerRef = .error
    /// The client-network class the last pool answer went by (map << 16 | class; -1: none), for the query log.
    public internal(set) var lastNetwork: Int32 = -1
    /// Where the last query's question ended (12 when it had none): a truncated response keeps up to here.
    public internal(set) var lastQuestionEnd: Int = 12
    /// This worker's answers to DO queries of signed zones, encoded once per (name, type) and snapshot
    /// (`QueryProcessor.secure`); emptied when the worker moves to another snapshot.
    var secureAnswers = SecureAnswerCache()

    /// Allocates the scratch buffers (once per worker); `rotationSeed` fixes the starting point (tests).
    public init(rotationSeed: UInt64 = UInt64.random(in: 0..<UInt64(UInt32.max))) {
        lowerName = .allocate(capacity: 256)
        labels = .allocate(capacity: 128)
        rotation = rotationSeed
    }

    deinit {
        lowerName.deallocate()
        labels.deallocate()
    }
}

/// The query path. `respond` writes a response into `out` and returns its length (0: send nothing).
///
/// Decisions, in order (each documented where the RFC leaves a choice):
/// 1. Malformed or response packets: see `QueryView` (drop or FORMERR; NOTIMP instead for another opcode when the
///    question is missing or unreadable; OPT in the answer when a header-only query had one, RFC 6891 §7).
/// 2. Opcode other than QUERY: NOTIMP (RFC 1035 §4.1.1; NOTIFY and UPDATE are not accepted by this server).
/// 3. EDNS version above 0: BADVERS with our OPT (RFC 6891 §6.1.3).
/// 4. A TSIG record: handed to the server (`deferred`) when the caller takes signed queries, else NOTAUTH (RFC 8945
///    §5.2.1: no key is known here).
/// 5. Class CH: `version.bind`/`version.server`/`id.server`/`hostname.bind` TXT from config; anything else
///    REFUSED. Class ANY (255) is answered as IN but never with AA (RFC 6895 §3.2, as NSD). Other classes: REFUSED.
/// 6. AXFR/IXFR: handed to the server (`deferred`) when the caller serves transfers; else over UDP NOTIMP
///    (RFC 5936 §4.2 allows AXFR over TCP only) and over TCP REFUSED. Other meta types (OPT, TSIG, MAILB…) are looked up like any type, which gives
///    NODATA, as NSD and Knot do.
/// 7. Names outside every zone: REFUSED without AA (an authoritative-only server, RFC 2308 §2.1 / RFC 8906).
/// 8. Everything else: the compiled answer for the name and type.
public enum QueryProcessor {
    /// The largest response: a full TCP message.
    public static let maxResponse = 65535

    /// What `respond` returns, with `deferring` set, for a query the server answers itself: a TSIG-signed query,
    /// or a zone transfer (AXFR, IXFR).
    public static let deferred = -1

    /// Answers `query` into `out`, which must hold the transport's limit: `maxResponse` octets for TCP, the
    /// snapshot's `ednsUDPSize` (at most 4096) for UDP. Returns the response length, 0 to send nothing, or
    /// `deferred` (only when `deferring`) for a signed query or a transfer, which the caller answers.
    public static func respond(
        snapshot s: Snapshot, query: UnsafeRawBufferPointer, transport: Transport, scratch: QueryScratch,
        client: ClientAddress = .unknown, deferring: Bool = false, into out: UnsafeMutableRawBufferPointer
    ) -> Int {
        var q = QueryView()
        let outcome = q.parse(query, lowerName: scratch.lowerName, labelOffsets: scratch.labels)
        scratch.lastQType = outcome == .ok ? q.qtype : 0
        scratch.lastAnswer = .error
        scratch.lastNetwork = -1
        scratch.lastZoneSlot = 0
        scratch.lastQuestionEnd = outcome == .ok || outcome == .formErr(withQuestion: true) ? q.questionEnd : 12
        switch outcome {
        case .drop:
            return 0
        case .formErr(let withQuestion):
            // Without a readable question the opcode decides first: NOTIMP for anything but QUERY (NSD and Knot
            // answer a header-only DSO message, RFC 8490, so). The OPT only if the header-only parse found one.
            let rcode: RCode = !withQuestion && q.opcode != 0 ? .notImp : .formErr
            return error(rcode, q, query, s, out, question: withQuestion, opt: !withQuestion && q.hasEDNS)
        case .ok:
            break
        }
        // A pool that answers by the client's network reads its map at the client's address: start loading that
        // now, so that the cache miss overlaps the name lookup below instead of stalling the pick.
        if !s.overlay.networkMaps.isEmpty { prefetchNetworks(s.overlay, q, client: client) }
        guard q.opcode == 0 else { return error(.notImp, q, query, s, out, question: true, opt: q.hasEDNS) }
        if q.hasEDNS && q.ednsVersion > 0 {
            return error(.badVers, q, query, s, out, question: true, opt: true)
        }
        if q.hasTSIG {
            return deferring ? deferred : error(.notAuth, q, query, s, out, question: true, opt: q.hasEDNS)
        }
        if q.qclass == RRClass.ch.rawValue {
            scratch.lastAnswer = .other
            return chaos(q, query, s, out, scratch: scratch, transport: transport)
        }
        guard q.qclass == RRClass.in.rawValue || q.qclass == RRClass.any.rawValue else {
            return error(.refused, q, query, s, out, question: true, opt: q.hasEDNS)
        }
        if q.qtype == RRType.axfr.rawValue || q.qtype == RRType.ixfr.rawValue {
            if deferring { return deferred }
            return error(transport == .udp ? .notImp : .refused, q, query, s, out, question: true, opt: q.hasEDNS)
        }

        // Closest encloser: probe the query name, then each parent, in the table of every name we serve.
        let b = s.base
        let qlen = q.qnameLength
        var found: Int32 = -1
        var depth = 0
        for i in 0...q.labelCount {
            let off = i < q.labelCount ? Int(scratch.labels[i]) : qlen - 1
            if let n = b.table.find(UnsafeRawBufferPointer(start: scratch.lowerName + off, count: qlen - off)) {
                found = n
                depth = i
                break
            }
        }
        guard found >= 0 else { return error(.refused, q, query, s, out, question: true, opt: q.hasEDNS) }
        let node = b.nodes[Int(found)]
        scratch.lastZoneSlot = b.zones[Int(node.zone)].statsSlot
        // DO=1 in a signed zone: the answer with its signatures and proofs (docs/dnssec.md), decided below with the
        // compiled answer it stands for (its identity for RRL).
        var secureZone = q.dnssecOK && !s.secure.isEmpty ? s.secure[Int(node.zone)] : nil
        var answer: AnswerRef
        if depth == 0 {
            if q.qtype == RRType.ds.rawValue && node.dsAnswer != .none {
                answer = node.dsAnswer
                // The DS of a child zone served here is the parent's to answer (RFC 4035 §3.1.4.1): signed by the
                // parent when the parent is signed, else the parent's unsigned answer.
                if q.dnssecOK && !s.secure.isEmpty && !node.isCut {
                    secureZone = parentSecureZone(q, query, s)
                }
            } else if node.block == .none {
                answer = b.answer(node: found, qtype: q.qtype)
            } else if node.block == .belowDNAME {
                scratch.lastAnswer = .other
                if let z = secureZone { return secure(z, q, query, s, out, transport: transport, scratch: scratch) }
                return slowPath(q, query, s, out, transport: transport)
            } else {
                answer = node.block
            }
        } else if node.block == .belowDNAME || (node.block == .none && node.hasDNAME) {
            scratch.lastAnswer = .other
            if let z = secureZone { return secure(z, q, query, s, out, transport: transport, scratch: scratch) }
            return slowPath(q, query, s, out, transport: transport)
        } else if node.block != .none {
            answer = node.block
        } else if node.wildcard >= 0 {
            answer = b.answer(node: node.wildcard, qtype: q.qtype)
        } else {
            answer = b.zones[Int(node.zone)].nxDomain
        }
        if let z = secureZone {
            // RRL counts it as the answer it signs (NXDOMAINs of a zone share one, as in NSD and BIND).
            scratch.lastAnswer = answer
            let nx = answer == b.zones[Int(node.zone)].nxDomain && depth > 0
            // A pool's answer: the variant the compiled path would pick, signed as that variant.
            var variant: SecureVariant?
            if case .group(let index) = answer.kind {
                let ref = b.groupRefs[index]
                let unit = Int(ref.recipe)
                if let pool = s.overlay.groupPools[unit] {
                    let (i, _) = pick(s.overlay, unit, q, scratch: scratch, client: client)
                    s.overlay.counter(step: i, pool: ref.pool)?.increment()
                    // A class's group was compiled for one of its pools: the answer is for the one asked about.
                    let name = b.recipes[unit].shared && ref.pool >= 0 ? b.pools[Int(ref.pool)] : pool.name
                    variant = SecureVariant(pool: name, type: pool.type, index: Int(s.overlay.stepVariants[i]))
                }
            }
            return secure(
                z, q, query, s, out, transport: transport, scratch: scratch, nxDomain: nx, variant: variant)
        }
        scratch.lastAnswer = answer
        let serials = s.overlay.serials
        switch answer.kind {
        case .body(let index):
            return b.bodyBytes.withUnsafeBufferPointer { bytes in
                b.fixups.withUnsafeBufferPointer { fixups in
                    serials.withUnsafeBufferPointer { serials in
                        emit(
                            b.answers[index], bytes: bytes, fixups: fixups, serials: serials, q, query, s, out,
                            transport: transport)
                    }
                }
            }
        case .group(let index):
            // A pool's variants: the worker's counter, the client network's bucket (sticky) or the client's network
            // (`by-network`) picks one, with the ECS scope that goes with it (`pick`).
            let o = s.overlay
            let ref = b.groupRefs[index]
            let (i, ecsScope) = pick(o, Int(ref.recipe), q, scratch: scratch, client: client)
            o.counter(step: i, pool: ref.pool)?.increment()
            let scope = ecsScope
            let body = o.answers[Int(o.steps[i])]
            if ref.join >= 0 {
                // An alias to a pool: its chain, then the pool's body (or, with no record of the type now, the
                // chain's NODATA). An MX to a pool: its records, then the pool's as additional data (or none).
                let join = b.joins[Int(ref.join)]
                guard body.answerCount > 0 else {
                    guard case .body(let empty) = join.empty.kind else {
                        return error(.servFail, q, query, s, out, question: true, opt: q.hasEDNS)
                    }
                    return b.bodyBytes.withUnsafeBufferPointer { bytes in
                        b.fixups.withUnsafeBufferPointer { fixups in
                            serials.withUnsafeBufferPointer { serials in
                                emit(
                                    b.answers[empty], bytes: bytes, fixups: fixups, serials: serials, q, query, s,
                                    out, transport: transport, ecsScope: scope)
                            }
                        }
                    }
                }
                return b.bodyBytes.withUnsafeBufferPointer { chain in
                    o.bodyBytes.withUnsafeBufferPointer { bytes in
                        emitJoined(
                            chain: b.answers[Int(join.prefix)], chainBytes: chain, body, bytes: bytes,
                            owner: join.owner, additional: join.additional, literal: Int(join.literal), q, query, s,
                            out, transport: transport, ecsScope: scope)
                    }
                }
            }
            return o.bodyBytes.withUnsafeBufferPointer { bytes in
                o.fixups.withUnsafeBufferPointer { fixups in
                    serials.withUnsafeBufferPointer { serials in
                        emit(
                            body, bytes: bytes, fixups: fixups, serials: serials, q, query, s, out,
                            transport: transport, ecsScope: scope)
                    }
                }
            }
        case .none, .belowDNAME, .error, .other:
            return error(.servFail, q, query, s, out, question: true, opt: q.hasEDNS)
        }
    }

    /// The step of a pool's group that answers this query (an index into the overlay's steps), and the ECS scope
    /// (RFC 7871 §7.2.1: how far the answer depends on the client). The client is the ECS source prefix when the
    /// query has one, else the source address; an ECS source prefix of 0 says nothing about the client, who then
    /// gets the pool's policy with scope 0.
    /// - A pool with client networks (`by-network`): the class of the client's longest-matching network picks its
    ///   line; the scope is the largest prefix around the client with the same class (never narrower or wider).
    /// - Sticky: the client network's bucket; the scope at least the source prefix.
    /// - Otherwise the worker's rotation counter (or variant 0).
    @inline(__always)
    static func pick(
        _ o: PoolOverlay, _ index: Int, _ q: QueryView, scratch: QueryScratch, client: ClientAddress
    ) -> (Int, UInt8) {
        let g = o.groups[index]
        var ecsScope: UInt8 = 0
        scratch.lastNetwork = -1
        if g.networks >= 0 {
            let map = o.networkMaps[Int(g.networks)]
            let (cls, scope): (Int, UInt8)
            if q.hasECS {
                (cls, scope) =
                    q.ecsSourcePrefix == 0
                    ? (0, 0)
                    : map.lookup(family: q.ecsFamily == 2 ? 6 : 4, hi: q.ecsAddress.0, lo: q.ecsAddress.1)
            } else {
                (cls, scope) = map.lookup(family: client.family, hi: client.hi, lo: client.lo)
            }
            ecsScope = scope
            scratch.lastNetwork = Int32(g.networks) << 16 | Int32(cls)
            if cls > 0 {
                let step = o.networkSteps[Int(g.networkStart) + cls - 1]
                if step >= 0 { return (Int(step), ecsScope) }
            }
        }
        let step: Int
        switch g.selection {
        case .fixed:
            step = 0
        case .rotate:
            step = Int(scratch.rotation % UInt64(g.count))
            scratch.rotation &+= 1
        case .sticky:
            if q.hasECS {
                step = ClientAddress.bucket(
                    family: q.ecsFamily == 2 ? 6 : 4, hi: q.ecsAddress.0, lo: q.ecsAddress.1,
                    prefix: Int(q.ecsSourcePrefix))
                ecsScope = max(ecsScope, q.ecsSourcePrefix)
            } else {
                step = ClientAddress.bucket(family: client.family, hi: client.hi, lo: client.lo, prefix: 128)
            }
        }
        return (Int(g.start) + step % Int(g.count), ecsScope)
    }

    /// `ClientNetworkMap.prefetch` for the client `pick` would look up, in each of the first few maps.
    static func prefetchNetworks(_ o: PoolOverlay, _ q: QueryView, client: ClientAddress) {
        for i in 0..<min(o.networkMaps.count, 4) {
            if !q.hasECS {
                o.networkMaps[i].prefetch(family: client.family, hi: client.hi, lo: client.lo)
            } else if q.ecsSourcePrefix > 0 {
                o.networkMaps[i].prefetch(family: q.ecsFamily == 2 ? 6 : 4, hi: q.ecsAddress.0, lo: q.ecsAddress.1)
            }
        }
    }

    /// The size a response may have (RFC 6891 §6.2.5: never below 512, never above what we advertise).
    @inline(__always)
    static func limit(_ q: QueryView, _ s: Snapshot, _ transport: Transport) -> Int {
        switch transport {
        case .tcp: return maxResponse
        case .udp:
            guard q.hasEDNS else { return 512 }
            return max(512, Int(min(q.ednsUDPSize, s.options.ednsUDPSize)))
        }
    }

    /// Length of our OPT record for this query (0 without EDNS).
    @inline(__always)
    static func optLength(_ q: QueryView, _ s: Snapshot) -> Int {
        guard q.hasEDNS else { return 0 }
        var n = 11
        if q.wantsNSID, let nsid = s.options.nsid { n += 4 + nsid.count }
        if q.hasECS { n += 8 + (Int(q.ecsSourcePrefix) + 7) / 8 }
        return n
    }

    /// Writes header, question, the body (whole, without optional additional data, or none with TC=1) and OPT.
    static func emit(
        _ a: CompiledAnswer, bytes: UnsafeBufferPointer<UInt8>, fixups: UnsafeBufferPointer<Fixup>,
        serials: UnsafeBufferPointer<UInt32>, _ q: QueryView, _ query: UnsafeRawBufferPointer, _ s: Snapshot,
        _ out: UnsafeMutableRawBufferPointer,
        transport: Transport, ecsScope: UInt8 = 0
    ) -> Int {
        let qend = q.questionEnd
        let room = limit(q, s, transport) - qend - optLength(q, s)
        var flags = Header.Flag.qr | (q.flags & Header.Flag.rd) | a.flags
        if q.qclass == RRClass.any.rawValue { flags &= ~Header.Flag.aa }
        var an = a.answerCount
        var ns = a.authorityCount
        var ar = a.additionalCountFull
        var len = Int(a.length)
        if len > room {
            if Int(a.minLength) <= room {
                len = Int(a.minLength)
                ar = a.additionalCountMin
            } else {
                // RFC 2181 §9 / RFC 9471: what is required does not fit; the client retries over TCP.
                flags |= Header.Flag.tc
                (an, ns, ar, len) = (0, 0, 0, 0)
            }
        }
        var p = header(out, id: q.id, flags: flags, an: an, ns: ns, ar: ar + (q.hasEDNS ? 1 : 0))
        copy(query, from: 12, count: qend - 12, to: out, at: &p)
        if len > 0 {
            let base = p
            out.baseAddress!.advanced(by: p).copyMemory(from: bytes.baseAddress! + Int(a.offset), byteCount: len)
            p += len
            var f = Int(a.fixupStart)
            let fend = f + Int(a.fixupCount)
            while f < fend {
                let fx = fixups[f]
                if fx.zone < 0 {
                    if Int(fx.at) < len {
                        let v = UInt16(0xC000) | UInt16(12 + q.qnameLength + Int(fx.delta))
                        out[base + Int(fx.at)] = UInt8(v >> 8)
                        out[base + Int(fx.at) + 1] = UInt8(v & 0xFF)
                    }
                } else if Int(fx.at) + 4 <= len, Int(fx.zone) < serials.count {
                    // The zone's served serial (the overlay's): it moves without recompiling the body.
                    let serial = serials[Int(fx.zone)]
                    put16(out, base + Int(fx.at), UInt16(truncatingIfNeeded: serial >> 16))
                    put16(out, base + Int(fx.at) + 2, UInt16(truncatingIfNeeded: serial))
                }
                f += 1
            }
        }
        if q.hasEDNS { opt(q, s, out, at: &p, extendedRCode: 0, ecsScope: ecsScope) }
        return p
    }

    /// Writes an answer joined at query time (`CompiledZones.Join`): header, question, the alias's chain or the MX
    /// records (`chain`, compiled for the name asked: final bytes), then the pool's records (`body`, each owned by the
    /// query name as the pool answers for itself) with each owner pointing at the target's name in the chain. An
    /// alias's are required (the answer section): what does not fit is truncated (TC), as `emit` does. An MX's are
    /// optional additional data (`additional`): what does not fit leaves them out with the chain's own, as `emit`
    /// leaves out a body's. With `literal`, the chain ends in the first record's owner (that many octets, `Join.
    /// literal`), which then takes the place of the body's first owner.
    static func emitJoined(
        chain: CompiledAnswer, chainBytes: UnsafeBufferPointer<UInt8>, _ body: CompiledAnswer,
        bytes: UnsafeBufferPointer<UInt8>, owner: UInt16, additional: Bool = false, literal: Int = 0, _ q: QueryView,
        _ query: UnsafeRawBufferPointer, _ s: Snapshot, _ out: UnsafeMutableRawBufferPointer, transport: Transport,
        ecsScope: UInt8 = 0
    ) -> Int {
        let qend = q.questionEnd
        let room = limit(q, s, transport) - qend - optLength(q, s)
        var flags = Header.Flag.qr | (q.flags & Header.Flag.rd) | chain.flags
        if q.qclass == RRClass.any.rawValue { flags &= ~Header.Flag.aa }
        var first = Int(chain.length)
        // The body's first owner (a 2-octet pointer) gives way to the chain's literal one.
        let skip = literal > 0 ? 2 : 0
        var len = first + Int(body.length) - skip
        var an = chain.answerCount
        var ns = chain.authorityCount
        var ar = chain.additionalCountFull
        if additional { ar += body.answerCount } else { an += body.answerCount }
        if len > room {
            if additional, Int(chain.minLength) <= room {
                (first, len, ar) = (Int(chain.minLength), Int(chain.minLength), chain.additionalCountMin)
            } else {
                flags |= Header.Flag.tc
                (an, ns, ar, first, len) = (0, 0, 0, 0, 0)
            }
        }
        var p = header(out, id: q.id, flags: flags, an: an, ns: ns, ar: ar + (q.hasEDNS ? 1 : 0))
        copy(query, from: 12, count: qend - 12, to: out, at: &p)
        if len > 0 {
            let dst = out.baseAddress!.advanced(by: p)
            dst.copyMemory(from: chainBytes.baseAddress! + Int(chain.offset), byteCount: first)
            dst.advanced(by: first).copyMemory(
                from: bytes.baseAddress! + Int(body.offset) + skip, byteCount: len - first)
            // Each record: owner (a 2-octet pointer), type, class, TTL, RDATA length, RDATA; the first one's owner
            // already written when it is the chain's literal.
            var r = p + first
            let end = p + len
            if skip > 0, r + 10 <= end { r += 10 + (Int(out[r + 8]) << 8 | Int(out[r + 9])) }
            while r + 12 <= end {
                put16(out, r, owner)
                r += 12 + (Int(out[r + 10]) << 8 | Int(out[r + 11]))
            }
            p = end
        }
        if q.hasEDNS { opt(q, s, out, at: &p, extendedRCode: 0, ecsScope: ecsScope) }
        return p
    }

    /// A response without records: FORMERR, NOTIMP, REFUSED or BADVERS.
    static func error(
        _ rcode: RCode, _ q: QueryView, _ query: UnsafeRawBufferPointer, _ s: Snapshot,
        _ out: UnsafeMutableRawBufferPointer, question: Bool, opt withOPT: Bool
    ) -> Int {
        // Opcode and RD are echoed (RFC 1035 §4.1.1); AA is never set on these.
        let flags = Header.Flag.qr | (q.flags & (0x7800 | Header.Flag.rd)) | (rcode.rawValue & 0xF)
        var p = header(
            out, id: q.id, flags: flags, an: 0, ns: 0, ar: withOPT ? 1 : 0, qd: question ? 1 : 0)
        if question { copy(query, from: 12, count: q.questionEnd - 12, to: out, at: &p) }
        if withOPT { opt(q, s, out, at: &p, extendedRCode: UInt8(rcode.rawValue >> 4)) }
        return p
    }

    /// Writes `answer` from `bytes`/`fixups` (an arena without serial fixups: CHAOS, and answers made per query).
    static func emit(
        _ answer: CompiledAnswer, bytes: [UInt8], fixups: [Fixup], _ q: QueryView, _ query: UnsafeRawBufferPointer,
        _ s: Snapshot, _ out: UnsafeMutableRawBufferPointer, transport: Transport
    ) -> Int {
        bytes.withUnsafeBufferPointer { bytes in
            fixups.withUnsafeBufferPointer { fixups in
                emit(
                    answer, bytes: bytes, fixups: fixups, serials: UnsafeBufferPointer(start: nil, count: 0), q,
                    query, s, out, transport: transport)
            }
        }
    }

    /// CHAOS-class queries (RFC 4892): identity and version as TXT, everything else REFUSED.
    static func chaos(
        _ q: QueryView, _ query: UnsafeRawBufferPointer, _ s: Snapshot, _ out: UnsafeMutableRawBufferPointer,
        scratch: QueryScratch, transport: Transport
    ) -> Int {
        if q.qtype == RRType.txt.rawValue {
            let name = UnsafeRawBufferPointer(start: scratch.lowerName, count: q.qnameLength)
            let b = s.base
            for entry in b.chaos where entry.name.elementsEqual(name) {
                guard case .body(let index) = entry.answer.kind else { break }
                return emit(
                    b.answers[index], bytes: b.bodyBytes, fixups: b.fixups, q, query, s, out, transport: transport)
            }
        }
        return error(.refused, q, query, s, out, question: true, opt: q.hasEDNS)
    }

    /// Answers that cannot be precompiled (DNAME synthesis, RFC 6672): resolved and encoded per query.
    static func slowPath(
        _ q: QueryView, _ query: UnsafeRawBufferPointer, _ s: Snapshot, _ out: UnsafeMutableRawBufferPointer,
        transport: Transport
    ) -> Int {
        // The zone as it answers now holds the pools' current records and the served serial: no fixups needed.
        perQuery(q, query, s, out, transport: transport) { qname in
            s.zoneSet.zone(for: qname, qtype: RRType(q.qtype))?.resolve(qname, RRType(q.qtype))
        }
    }

    /// A signed zone's answer to a query with DO set: resolved with its RRSIGs and NSEC proofs
    /// (`Zone.resolveSecure`; the signatures were all made when the snapshot was built) and encoded the first time
    /// this worker is asked the name and type, then copied from its cache like a compiled answer.
    /// `nxDomain`: the compiled path would answer NXDOMAIN; then the answer is the same for every name its proofs
    /// cover (`Zone.nxDomainProofKey`), and is kept once for them all, compiled against the zone's apex as the
    /// unsigned negative answers are.
    /// `variant`: the pool variant the compiled path picked for this query; the answer carries it, with its own
    /// signature, in place of the pool's whole RRset.
    static func secure(
        _ zone: Zone, _ q: QueryView, _ query: UnsafeRawBufferPointer, _ s: Snapshot,
        _ out: UnsafeMutableRawBufferPointer, transport: Transport, scratch: QueryScratch, nxDomain: Bool = false,
        variant: SecureVariant? = nil
    ) -> Int {
        // The cache key: the name, and the variant after it (a wire name ends in 0: no name is such a key).
        var key = Array(UnsafeRawBufferPointer(start: scratch.lowerName, count: q.qnameLength))
        if let v = variant {
            key += [0xFE, UInt8(truncatingIfNeeded: v.index), UInt8(truncatingIfNeeded: v.index >> 8)]
        }
        if let hit = key.withUnsafeBytes({ scratch.secureAnswers.find(snapshot: s, name: $0, qtype: q.qtype) }) {
            return emit(hit.answer, bytes: hit.bytes, fixups: hit.fixups, q, query, s, out, transport: transport)
        }
        var reader = WireReader(Array(query[12..<(12 + q.qnameLength)]))
        guard let qname = try? reader.name() else {
            return error(.servFail, q, query, s, out, question: true, opt: q.hasEDNS)
        }
        if nxDomain, let key = zone.nxDomainProofKey(qname) {
            // 0xFF cannot begin a wire name: the proofs' key never meets a name's.
            var proofs: [UInt8] = [0xFF]
            for i in key { for b in 0..<4 { proofs.append(UInt8(truncatingIfNeeded: i >> (8 * b))) } }
            let found = proofs.withUnsafeBytes { scratch.secureAnswers.find(snapshot: s, name: $0, qtype: 0) }
            if let hit = found {
                return emit(hit.answer, bytes: hit.bytes, fixups: hit.fixups, q, query, s, out, transport: transport)
            }
            var arena = AnswerArena()
            guard
                case .body(let index) = arena.add(
                    zone.resolveSecure(qname, RRType(q.qtype)), template: zone.origin, anchor: zone.origin
                ).kind
            else {
                return error(.servFail, q, query, s, out, question: true, opt: q.hasEDNS)
            }
            let entry = SecureAnswerCache.Entry(answer: arena.answers[index], bytes: arena.bytes, fixups: arena.fixups)
            proofs.withUnsafeBytes { scratch.secureAnswers.insert(snapshot: s, name: $0, qtype: 0, entry) }
            return emit(entry.answer, bytes: entry.bytes, fixups: entry.fixups, q, query, s, out, transport: transport)
        }
        var res = zone.resolveSecure(qname, RRType(q.qtype))
        if let v = variant { res = substitute(res, v, s) }
        var arena = AnswerArena()
        guard case .body(let index) = arena.add(res, template: qname).kind else {
            return error(.servFail, q, query, s, out, question: true, opt: q.hasEDNS)
        }
        key.withUnsafeBytes {
            scratch.secureAnswers.insert(
                snapshot: s, name: $0, qtype: q.qtype,
                SecureAnswerCache.Entry(answer: arena.answers[index], bytes: arena.bytes, fixups: arena.fixups))
        }
        return emit(
            arena.answers[index], bytes: arena.bytes, fixups: arena.fixups, q, query, s, out, transport: transport)
    }

    /// `res` (a signed answer holding a pool's whole RRset) with the variant `v` instead: its addresses, in its
    /// order, and its signatures in place of the whole set's.
    static func substitute(_ res: Resolution, _ v: SecureVariant, _ s: Snapshot) -> Resolution {
        guard let plan = s.overlay.plan(named: v.pool) else { return res }
        let family = v.type == .aaaa ? plan.v6 : plan.v4
        guard v.index >= 0, v.index < family.variants.count else { return res }
        let addresses = family.variants[v.index]
        let sigs = s.variantSignatures[VariantKey(name: v.pool, type: v.type, rdatas: addresses.map(\.octets))] ?? []
        let swapped = PoolOverlay.substitute(res, plan: plan, type: v.type, addresses: addresses)
        func covers(_ r: ResourceRecord) -> Bool {
            r.type == .rrsig && r.name == v.pool && r.rdata.count >= 2
                && UInt16(r.rdata[0]) << 8 | UInt16(r.rdata[1]) == v.type.rawValue
        }
        func resign(_ records: [ResourceRecord]) -> [ResourceRecord] {
            var out = records.filter { !covers($0) }
            guard let last = out.lastIndex(where: { $0.type == v.type && $0.name == v.pool }) else { return out }
            let owner = out[last].name
            out.insert(
                contentsOf: sigs.map {
                    var r = $0; r.name = owner; return r
                }, at: last + 1)
            return out
        }
        return swapped.mapSections(resign)
    }

    /// The signed zone that holds the DS of the child apex asked about: the deepest served zone above it, if signed.
    static func parentSecureZone(_ q: QueryView, _ query: UnsafeRawBufferPointer, _ s: Snapshot) -> Zone? {
        var reader = WireReader(Array(query[12..<(12 + q.qnameLength)]))
        guard let qname = try? reader.name(), let parent = s.zoneSet.zone(for: qname, qtype: .ds) else { return nil }
        return s.secure.first { $0?.origin == parent.origin } ?? nil
    }

    /// An answer resolved and encoded for this query alone (`resolve` of the query name; nil: SERVFAIL).
    static func perQuery(
        _ q: QueryView, _ query: UnsafeRawBufferPointer, _ s: Snapshot, _ out: UnsafeMutableRawBufferPointer,
        transport: Transport, resolve: (DomainName) -> Resolution?
    ) -> Int {
        var reader = WireReader(Array(query[12..<(12 + q.qnameLength)]))
        var arena = AnswerArena()
        guard let qname = try? reader.name(), let res = resolve(qname),
            case .body(let index) = arena.add(res, template: qname).kind
        else {
            return error(.servFail, q, query, s, out, question: true, opt: q.hasEDNS)
        }
        return emit(
            arena.answers[index], bytes: arena.bytes, fixups: arena.fixups, q, query, s, out, transport: transport)
    }

    @inline(__always)
    static func header(
        _ out: UnsafeMutableRawBufferPointer, id: UInt16, flags: UInt16, an: UInt16, ns: UInt16, ar: UInt16,
        qd: UInt16 = 1
    ) -> Int {
        put16(out, 0, id)
        put16(out, 2, flags)
        put16(out, 4, qd)
        put16(out, 6, an)
        put16(out, 8, ns)
        put16(out, 10, ar)
        return 12
    }

    @inline(__always)
    static func put16(_ out: UnsafeMutableRawBufferPointer, _ at: Int, _ v: UInt16) {
        out[at] = UInt8(v >> 8)
        out[at + 1] = UInt8(v & 0xFF)
    }

    @inline(__always)
    static func copy(
        _ src: UnsafeRawBufferPointer, from: Int, count: Int, to out: UnsafeMutableRawBufferPointer, at p: inout Int
    ) {
        out.baseAddress!.advanced(by: p).copyMemory(from: src.baseAddress! + from, byteCount: count)
        p += count
    }

    /// Our OPT record (RFC 6891 §6.1.2): root owner, our payload size, extended rcode, version 0, DO copied
    /// (RFC 3225 §3), NSID when asked and configured (RFC 5001), the client subnet echoed with `ecsScope` when the
    /// query sent one (RFC 7871 §7.2.1). Unknown options are not echoed.
    static func opt(
        _ q: QueryView, _ s: Snapshot, _ out: UnsafeMutableRawBufferPointer, at p: inout Int, extendedRCode: UInt8,
        ecsScope: UInt8 = 0
    ) {
        out[p] = 0
        put16(out, p + 1, RRType.opt.rawValue)
        put16(out, p + 3, s.options.ednsUDPSize)
        out[p + 5] = extendedRCode
        out[p + 6] = 0
        out[p + 7] = q.dnssecOK ? 0x80 : 0
        out[p + 8] = 0
        let rdlenAt = p + 9
        p += 11
        let rdStart = p
        if q.wantsNSID, let nsid = s.options.nsid {
            put16(out, p, QueryView.OptionCode.nsid)
            put16(out, p + 2, UInt16(nsid.count))
            for (i, b) in nsid.enumerated() { out[p + 4 + i] = b }
            p += 4 + nsid.count
        }
        if q.hasECS {
            let octets = (Int(q.ecsSourcePrefix) + 7) / 8
            put16(out, p, QueryView.OptionCode.clientSubnet)
            put16(out, p + 2, UInt16(4 + octets))
            put16(out, p + 4, q.ecsFamily)
            out[p + 6] = q.ecsSourcePrefix
            out[p + 7] = ecsScope
            for i in 0..<octets {
                let word = i < 8 ? q.ecsAddress.0 : q.ecsAddress.1
                out[p + 8 + i] = UInt8(truncatingIfNeeded: word >> (56 - 8 * UInt64(i % 8)))
            }
            p += 8 + octets
        }
        put16(out, rdlenAt, UInt16(p - rdStart))
    }
}

/// One worker's encoded answers to DO queries (`QueryProcessor.secure`), for the snapshot it serves: a name and type
/// asked again costs a lookup and a copy. Bounded: emptied when full, and when the snapshot changes (a new one has
/// new pools, serials or signatures).
struct SecureAnswerCache {
    struct Entry {
        var answer: CompiledAnswer
        var bytes: [UInt8]
        var fixups: [Fixup]
    }

    struct Key: Hashable {
        var name: [UInt8]
        var qtype: UInt16
    }

    /// Entries kept per worker before the cache starts over.
    static let capacity = 4096

    /// The snapshot the entries are for, by its id: the cache must not keep a replaced snapshot alive, and a new one
    /// allocated where a freed one was must not pass for it (which an `ObjectIdentifier` would allow).
    private var snapshot: UInt64?
    private var entries: [Key: Entry] = [:]

    /// The entry for the lower-cased wire `name` and `qtype` in `snapshot`.
    mutating func find(snapshot s: Snapshot, name: UnsafeRawBufferPointer, qtype: UInt16) -> Entry? {
        guard snapshot == s.id, !entries.isEmpty else { return nil }
        return entries[Key(name: Array(name), qtype: qtype)]
    }

    mutating func insert(snapshot s: Snapshot, name: UnsafeRawBufferPointer, qtype: UInt16, _ entry: Entry) {
        if snapshot != s.id || entries.count >= SecureAnswerCache.capacity {
            entries.removeAll(keepingCapacity: true)
            snapshot = s.id
        }
        entries[Key(name: Array(name), qtype: qtype)] = entry
    }
}

/// Which variant of a pool a signed answer carries (`QueryProcessor.secure`).
struct SecureVariant {
    var pool: DomainName
    var type: RRType
    /// The variant's index in the pool's family (`PoolPlan.Family.variants`).
    var index: Int
}
