// UDPListener: UDP service with plain sockets, one SO_REUSEPORT socket and thread per worker, batched I/O.

import CUplinkSys
import Logging
import Responder
import Synchronization
import Uplinks

#if canImport(Glibc)
    import Glibc
#endif

/// Serves UDP on one address with `workers` threads. Each thread owns a socket bound to the same address with
/// SO_REUSEPORT (the kernel spreads clients over them), receives up to `batch` datagrams with one `recvmmsg`,
/// answers them from the current snapshot and sends the answers with one `sendmmsg`.
///
/// On a wildcard address (`0.0.0.0`, `::`) each reply leaves from the address its query was sent to: the socket
/// reports every datagram's destination (IP_PKTINFO, IPV6_RECVPKTINFO) and the reply carries it back as its
/// source. Without that the kernel picks the source from the main routing table, and on a multihomed host a
/// reply to a query that came in through the second line comes from the first line's address and misses the
/// line's `ip rule from ADDR` (the client drops it anyway: it is not from the address it asked).
///
/// Why not SwiftNIO for UDP: NIO allocates a buffer and an envelope per datagram; this loop allocates nothing per
/// query, which is what DESIGN.md's hot path asks for. TCP, where connection handling matters more than
/// per-packet cost, uses NIO (`TCPListener`). The choice stays behind this type.
public final class UDPListener: Sendable {
    /// How many datagrams one system call moves (NSD and Knot use batches of this order).
    static let batch = 32
    /// Receive buffer per datagram: larger than any sane query; a longer one is dropped.
    static let receiveSize = 4096
    /// Send buffer per datagram: the largest UDP response we build (edns-udp-size is capped at 4096).
    static let sendSize = 4096

    private let fds: [Int32]
    /// The address actually bound (with the port the kernel chose for port 0).
    public let address: ListenAddress
    private let running = Atomic<Bool>(true)
    private let threads = Mutex<[pthread_t]>([])
    /// Whether replies name their source address (wildcard sockets).
    private let replySource: Bool

    /// Binds `workers` sockets to `address` (port 0: the first socket picks a port, the others join it); with
    /// `freebind`, `address` need not exist on this host yet.
    public init(address: ListenAddress, workers: Int, freebind: Bool = false) throws(ListenError) {
        var fds: [Int32] = []
        var bound = address
        let replySource = address.isWildcard
        do throws(ListenError) {
            for _ in 0..<max(1, workers) {
                let fd = try Sockets.bound(
                    bound, type: Int32(SOCK_DGRAM.rawValue), reusePort: workers > 1, freebind: freebind)
                fds.append(fd)
                if replySource && uplink_enable_pktinfo(fd, address.isIPv6 ? 1 : 0) != 0 {
                    throw ListenError(address: address, reason: "IP_PKTINFO: \(Sockets.errnoText())")
                }
                if bound.port == 0 { bound.port = Sockets.port(of: fd) }
            }
        } catch {
            for fd in fds { close(fd) }
            throw error
        }
        self.fds = fds
        self.address = bound
        self.replySource = replySource
    }

    /// Starts one thread per socket.
    /// `transfer` answers what the compiled path defers (TSIG-signed queries, IXFR); without it those get the
    /// compiled path's own answer (NOTAUTH, NOTIMP).
    /// `limiter`: response rate limiting (RRL) for the answers of this listener.
    public func start(
        store: SnapshotStore, stats: QueryStats, transfer: ZoneTransfer? = nil, limiter: RateLimiter? = nil,
        queryLog: QueryLog? = nil, logger: Logger
    ) {
        for fd in fds {
            let box = Unmanaged.passRetained(
                WorkerContext(
                    fd: fd, store: store, stats: stats.makeBlock(transport: "udp"), transfer: transfer,
                    limiter: limiter, queryLog: queryLog, listener: self))
            var tid = pthread_t()
            let rc = pthread_create(
                &tid, nil,
                { arg in
                    let ctx = Unmanaged<WorkerContext>.fromOpaque(arg!).takeRetainedValue()
                    ctx.listener.run(
                        fd: ctx.fd, store: ctx.store, stats: ctx.stats, transfer: ctx.transfer, limiter: ctx.limiter,
                        queryLog: ctx.queryLog)
                    return nil
                }, box.toOpaque())
            if rc == 0 {
                threads.withLock { $0.append(tid) }
            } else {
                box.release()
                logger.error("cannot start a UDP worker thread", metadata: ["errno": "\(rc)"])
            }
        }
    }

    /// Wakes the workers, so that an idle one takes the current snapshot and lets go of the one it held (which the
    /// builder then frees): empty datagrams from `tries` fresh ports, which SO_REUSEPORT spreads over the workers'
    /// sockets. An empty datagram is no query: it gets no answer and is not counted. Workers sleep without a timer
    /// (see `Sockets.bound`), so this is how they hear of a new snapshot when no query comes.
    public func wake(tries: Int = 64) {
        let host = address.host == "0.0.0.0" ? "127.0.0.1" : address.host == "::" ? "::1" : address.host
        guard let ip = IPAddress(host) else { return }
        for _ in 0..<tries {
            let fd = socket(ip.isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { return }
            _ = ip.withSockaddr(port: address.port) { sendto(fd, nil, 0, 0, $0, $1) }
            close(fd)
        }
    }

    /// Stops the workers and closes the sockets: `shutdown(2)` wakes a worker blocked in `recvmmsg`, which then
    /// sees `running` false and returns.
    public func stop() {
        running.store(false, ordering: .releasing)
        for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) }
        let tids = threads.withLock { t in
            defer { t = [] }; return t
        }
        for t in tids { pthread_join(t, nil) }
        for fd in fds { close(fd) }
    }

    private final class WorkerContext {
        let fd: Int32
        let store: SnapshotStore
        let stats: QueryStats.Block
        let transfer: ZoneTransfer?
        let limiter: RateLimiter?
        let queryLog: QueryLog?
        let listener: UDPListener
        init(
            fd: Int32, store: SnapshotStore, stats: QueryStats.Block, transfer: ZoneTransfer?, limiter: RateLimiter?,
            queryLog: QueryLog?, listener: UDPListener
        ) {
            self.limiter = limiter
            self.queryLog = queryLog
            self.fd = fd
            self.store = store
            self.stats = stats
            self.transfer = transfer
            self.listener = listener
        }
    }

    /// The worker loop: all buffers are allocated here, once.
    private func run(
        fd: Int32, store: SnapshotStore, stats: QueryStats.Block, transfer: ZoneTransfer?, limiter: RateLimiter?,
        queryLog: QueryLog?
    ) {
        let n = UDPListener.batch
        let rbuf = UnsafeMutableRawPointer.allocate(byteCount: n * UDPListener.receiveSize, alignment: 16)
        let sbuf = UnsafeMutableRawPointer.allocate(byteCount: n * UDPListener.sendSize, alignment: 16)
        let addrs = UnsafeMutablePointer<sockaddr_storage>.allocate(capacity: n)
        let riov = UnsafeMutablePointer<iovec>.allocate(capacity: n)
        let siov = UnsafeMutablePointer<iovec>.allocate(capacity: n)
        let rmsg = UnsafeMutablePointer<uplink_mmsghdr>.allocate(capacity: n)
        let smsg = UnsafeMutablePointer<uplink_mmsghdr>.allocate(capacity: n)
        // Control data: each datagram's destination as received, and the reply's source as sent (wildcard only).
        let space = Int(UPLINK_PKTINFO_SPACE)
        let rctl = UnsafeMutableRawPointer.allocate(byteCount: n * space, alignment: 16)
        let sctl = UnsafeMutableRawPointer.allocate(byteCount: n * space, alignment: 16)
        let replySource = self.replySource
        // The query log's record of where a query came in: the bound address, or on a wildcard socket each
        // datagram's destination (its control data).
        let boundAddress = IPAddress(address.host)
        let boundPort = address.port
        defer {
            rctl.deallocate()
            sctl.deallocate()
            rbuf.deallocate()
            sbuf.deallocate()
            addrs.deallocate()
            riov.deallocate()
            siov.deallocate()
            rmsg.deallocate()
            smsg.deallocate()
        }
        let scratch = QueryScratch()
        let completion = QueryCompletion(stats: stats, transfer: transfer, limiter: limiter, queryLog: queryLog)
        // The store keeps a replaced snapshot until this worker says it moved past it, so the worker never frees
        // one (a large zone's takes long). An idle worker is woken to move past it by `wake()`.
        let reader = store.makeReader()
        var (snapshot, generation) = store.current()
        reader.holding(generation)
        defer { store.remove(reader) }

        while running.load(ordering: .relaxed) {
            for i in 0..<n {
                riov[i] = iovec(iov_base: rbuf + i * UDPListener.receiveSize, iov_len: UDPListener.receiveSize)
                rmsg[i] = uplink_mmsghdr()
                rmsg[i].msg_hdr.msg_name = UnsafeMutableRawPointer(addrs + i)
                rmsg[i].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
                rmsg[i].msg_hdr.msg_iov = riov + i
                rmsg[i].msg_hdr.msg_iovlen = 1
                if replySource {
                    rmsg[i].msg_hdr.msg_control = rctl + i * space
                    rmsg[i].msg_hdr.msg_controllen = space
                }
            }
            let got = uplink_recvmmsg(fd, rmsg, UInt32(n))
            if store.generation != generation {
                (snapshot, generation) = store.current()
                reader.holding(generation)
            }
            // Shutdown (the loop condition then ends it), EINTR, or a transient error.
            if got <= 0 { continue }
            // RRL counts per second: one clock read per batch, and none while it is off.
            let now: UInt32? = limiter?.isOn ?? false ? UInt32(truncatingIfNeeded: time(nil)) : nil
            var out = 0
            for i in 0..<Int(got) {
                // A datagram larger than the buffer was cut short by the kernel (MSG_TRUNC): no sane query is
                // that long, so it is dropped rather than answered from a partial parse.
                if rmsg[i].msg_hdr.msg_flags & Int32(MSG_TRUNC) != 0 { continue }
                let len = Int(rmsg[i].msg_len)
                if len == 0 { continue }  // no query: `wake()`, or a stray empty datagram; nothing to answer or count
                let query = UnsafeRawBufferPointer(start: rbuf + i * UDPListener.receiveSize, count: len)
                let dst = UnsafeMutableRawBufferPointer(
                    start: sbuf + out * UDPListener.sendSize, count: UDPListener.sendSize)
                let client = Self.client(addrs + i)
                let rlen = completion.finishDatagram(
                    query: query,
                    length: QueryProcessor.respond(
                        snapshot: snapshot, query: query, transport: .udp, scratch: scratch,
                        client: client, deferring: completion.defers, into: dst),
                    into: dst, scratch: scratch, client: client, now: now,
                    ends: {
                        QueryLog.Ends(
                            clientPort: Self.port(addrs + i),
                            local: replySource ? Self.destination(&rmsg[i].msg_hdr) : boundAddress,
                            localPort: boundPort,
                            network: snapshot.networkLabel(scratch.lastNetwork))
                    })
                guard rlen > 0 else { continue }
                siov[out] = iovec(iov_base: dst.baseAddress, iov_len: rlen)
                smsg[out] = uplink_mmsghdr()
                smsg[out].msg_hdr.msg_name = UnsafeMutableRawPointer(addrs + i)
                smsg[out].msg_hdr.msg_namelen = rmsg[i].msg_hdr.msg_namelen
                smsg[out].msg_hdr.msg_iov = siov + out
                smsg[out].msg_hdr.msg_iovlen = 1
                if replySource {
                    let c = sctl + out * space
                    let clen = withUnsafePointer(to: &rmsg[i].msg_hdr) { uplink_reply_source($0, c, space) }
                    if clen > 0 {
                        smsg[out].msg_hdr.msg_control = c
                        smsg[out].msg_hdr.msg_controllen = clen
                    }
                }
                out += 1
            }
            var sent = 0
            while sent < out {
                let r = uplink_sendmmsg(fd, smsg + sent, UInt32(out - sent))
                if r < 0 && errno == EINTR { continue }
                // A reply the kernel refuses (an unreachable client, a source it will not send from) is dropped
                // alone: the batch goes on with the next one.
                sent += r > 0 ? Int(r) : 1
            }
        }
    }

    /// The address a datagram was sent to, from its control data (wildcard sockets; only asked while the query log
    /// is on).
    static func destination(_ header: UnsafePointer<msghdr>) -> IPAddress? {
        var octets = [UInt8](repeating: 0, count: 16)
        let n = octets.withUnsafeMutableBufferPointer { uplink_destination(header, $0.baseAddress) }
        return n > 0 ? IPAddress(octets: Array(octets.prefix(Int(n)))) : nil
    }

    /// The port of a received datagram's source (only asked while the query log is on).
    static func port(_ ss: UnsafeMutablePointer<sockaddr_storage>) -> UInt16 {
        switch Int32(ss.pointee.ss_family) {
        case AF_INET: ss.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        case AF_INET6:
            ss.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
        default: 0
        }
    }

    /// The client address of a received datagram.
    @inline(__always)
    static func client(_ ss: UnsafeMutablePointer<sockaddr_storage>) -> ClientAddress {
        switch Int32(ss.pointee.ss_family) {
        case AF_INET:
            return ss.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                ClientAddress(family: 4, hi: UInt64(UInt32(bigEndian: sin.pointee.sin_addr.s_addr)) << 32, lo: 0)
            }
        case AF_INET6:
            return ss.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                withUnsafeBytes(of: sin6.pointee.sin6_addr) { b in
                    ClientAddress(
                        family: 6, hi: UInt64(bigEndian: b.load(as: UInt64.self)),
                        lo: UInt64(bigEndian: b.load(fromByteOffset: 8, as: UInt64.self)))
                }
            }
        default:
            return .unknown
        }
    }
}
