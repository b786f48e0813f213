// TCPListener: DNS over TCP (RFC 7766) with SwiftNIO: framing, pipelining, idle timeout, a connection cap.

import Dispatch
import Logging
import NIOCore
import NIOPosix
import Responder
import Synchronization
import Uplinks

/// Serves DNS over TCP on one address. Each message is preceded by its 2-octet length (RFC 1035 §4.2.2);
/// several queries may be sent on one connection and are answered in order (RFC 7766 §6.2.1.1). What a connection
/// may hold is bounded (RFC 7766 §6.2, `TCPConnections`): a connection that completes no query for the idle
/// timeout is closed however many octets trickle in; a message must arrive whole within the message timeout of
/// its first octet; a zero-length frame resets the connection; beyond the caps (overall and per client) new
/// connections are closed at once, and when the table is nearly full the oldest idle connection makes room.
/// A client that half-closes (`shutdown(SHUT_WR)`) after sending gets every answer it asked for, then the close.
public final class TCPListener: Sendable {
    private let channel: Channel
    /// The address actually bound.
    public let address: ListenAddress
    /// The open connections, their limits and counters.
    public let connections: TCPConnections
    private let sweeper: RepeatedTask

    /// How often deadlines are checked.
    static let sweepInterval = TimeAmount.milliseconds(200)

    /// Binds and starts accepting; with `freebind`, `address` need not exist on this host yet.
    public init(
        address: ListenAddress, group: EventLoopGroup, store: SnapshotStore, stats: QueryStats.Block,
        transfer: ZoneTransfer? = nil, queryLog: QueryLog? = nil, limits: TCPConnections.Limits,
        freebind: Bool = false, logger: Logger
    ) throws {
        let connections = TCPConnections(limits: limits, now: { Int64(NIODeadline.now().uptimeNanoseconds) })
        self.connections = connections
        let scratch = LoopScratches()
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        if address.isIPv6 {
            // IPv6 only, as the UDP sockets: `[::]:53` next to `0.0.0.0:53` must not collide on the IPv4 side.
            bootstrap = bootstrap.serverChannelOption(
                ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only), value: 1)
        }
        if freebind {
            bootstrap = bootstrap.serverChannelOption(
                ChannelOptions.Types.SocketOption(level: .ip, name: .init(rawValue: IP_FREEBIND)), value: 1)
        }
        bootstrap = bootstrap.childChannelInitializer { channel in
            let peer = channel.remoteAddress?.ipAddress ?? ""
            guard let connection = connections.admit(client: peer, close: { channel.close(promise: nil) }) else {
                let l = connections.limits
                logger.debug(
                    "tcp connection from \(peer) closed: \(l.total) open, or \(l.perClient) from it")
                return channel.close()
            }
            channel.closeFuture.whenComplete { _ in connections.closed(connection) }
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    DNSTCPHandler(
                        store: store, stats: stats, transfer: transfer, queryLog: queryLog, connection: connection,
                        connections: connections, scratch: scratch.get(channel.eventLoop)))
            }
        }
        channel = try bootstrap.bind(host: address.host, port: Int(address.port)).wait()
        var bound = address
        bound.port = UInt16(channel.localAddress?.port ?? Int(address.port))
        self.address = bound
        sweeper = channel.eventLoop.scheduleRepeatedTask(
            initialDelay: Self.sweepInterval, delay: Self.sweepInterval
        ) { _ in connections.sweep() }
    }

    /// Applies new limits (a reload): at once, to open connections too.
    public func update(_ limits: TCPConnections.Limits) {
        connections.update(limits)
    }

    /// Stops accepting and closes the open connections.
    public func stop() {
        sweeper.cancel()
        try? channel.close().wait()
        connections.closeAll()
    }
}

/// The query path's buffers for the connections of one event loop: they run one at a time, so they share one
/// 64 KiB response buffer and one scratch (rather than each connection holding its own).
final class LoopScratch: @unchecked Sendable {
    // @unchecked: used only on the event loop it was made for (`LoopScratches.get`); never by two threads.
    let query = QueryScratch()
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: QueryProcessor.maxResponse, alignment: 16)
    deinit { out.deallocate() }
}

/// One `LoopScratch` per event loop.
final class LoopScratches: Sendable {
    private let byLoop = Mutex<[ObjectIdentifier: LoopScratch]>([:])
    func get(_ loop: EventLoop) -> LoopScratch {
        byLoop.withLock { all in
            if let s = all[ObjectIdentifier(loop)] { return s }
            let s = LoopScratch()
            all[ObjectIdentifier(loop)] = s
            return s
        }
    }
}

/// Splits a connection's octets into messages by their 2-octet length prefix and answers each from the current
/// snapshot, in order; keeps the connection's deadlines (`TCPConnection`) up to date as messages arrive.
final class DNSTCPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let store: SnapshotStore
    private let scratch: QueryScratch
    private let out: UnsafeMutableRawBufferPointer
    private let loopScratch: LoopScratch
    private let connection: TCPConnection
    private let connections: TCPConnections

    private var client: ClientAddress?
    /// Octets of a message not yet complete (nil when none are held).
    private var held: ByteBuffer?
    /// The client half-closed: once every answer asked for is out, the connection is closed.
    private var inputClosed = false

    /// What follows an answer (the slow path, counting, the query log), as on UDP.
    private let completion: QueryCompletion

    init(
        store: SnapshotStore, stats: QueryStats.Block, transfer: ZoneTransfer?, queryLog: QueryLog? = nil,
        connection: TCPConnection, connections: TCPConnections, scratch: LoopScratch
    ) {
        self.store = store
        self.completion = QueryCompletion(stats: stats, transfer: transfer, limiter: nil, queryLog: queryLog)
        self.connection = connection
        self.connections = connections
        self.loopScratch = scratch
        self.scratch = scratch.query
        self.out = scratch.out
    }

    /// The client's port and the server's address and port a connection came in on (for the query log).
    static func ends(_ channel: Channel, network: String? = nil) -> QueryLog.Ends {
        QueryLog.Ends(
            clientPort: UInt16(channel.remoteAddress?.port ?? 0),
            local: channel.localAddress?.ipAddress.flatMap { IPAddress($0) },
            localPort: UInt16(channel.localAddress?.port ?? 0), network: network)
    }

    static func client(_ address: SocketAddress?) -> ClientAddress {
        guard let text = address?.ipAddress, let ip = IPAddress(text) else { return .unknown }
        return ClientAddress(ip)
    }

    /// The snapshot this connection answers from, refreshed when the store's generation moves; the store keeps a
    /// replaced one until the reader lets go, so the event loop never frees one.
    private var cached: (snapshot: Snapshot, generation: Int)?
    private var reader: SnapshotStore.Reader?

    func handlerAdded(context: ChannelHandlerContext) {
        reader = store.makeReader()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cached = nil
        if let reader { store.remove(reader) }
        reader = nil
    }

    private func snapshot() -> Snapshot {
        if let c = cached, c.generation == store.generation { return c.snapshot }
        let fresh = store.current()
        cached = fresh
        reader?.holding(fresh.1)
        return fresh.0
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        guard !inputClosed else { return }
        if held == nil {
            frames(context: context, &incoming)
            if incoming.readableBytes > 0 && context.channel.isActive { held = incoming }
        } else {
            held!.writeBuffer(&incoming)
            var buffer = held!
            held = nil
            frames(context: context, &buffer)
            if buffer.readableBytes > 0 && context.channel.isActive {
                buffer.discardReadBytes()
                held = buffer
            }
        }
    }

    /// Answers every whole message in `buffer`, leaving an incomplete one's octets unread.
    private func frames(context: ChannelHandlerContext, _ buffer: inout ByteBuffer) {
        var completed = false
        while let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) {
            guard length > 0 else {
                // Not a DNS message: the connection is reset, as NSD and Knot do. SO_LINGER on with a zero
                // timeout makes the close send an RST and drop what is still queued, not a FIN after it. The
                // option is set at once: this is the channel's event loop.
                _ = (context.channel as? SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
                connection.close(.badFrame)
                buffer.moveReaderIndex(to: buffer.writerIndex)
                return
            }
            guard buffer.readableBytes >= 2 + Int(length) else { break }
            buffer.moveReaderIndex(forwardBy: 2)
            answer(context: context, buffer.readSlice(length: Int(length))!)
            completed = true
        }
        // Deadlines: the idle timeout runs from the last completed query; the message timeout from the first
        // octet of the message still incomplete.
        let now = connections.now()
        if completed { connection.lastProgress.store(now, ordering: .relaxed) }
        if buffer.readableBytes == 0 {
            connection.messageStart.store(0, ordering: .relaxed)
        } else if completed || connection.messageStart.load(ordering: .relaxed) == 0 {
            connection.messageStart.store(now, ordering: .relaxed)
        }
    }

    private func answer(context: ChannelHandlerContext, _ query: ByteBuffer) {
        let snapshot = snapshot()
        let client = client ?? Self.client(context.channel.remoteAddress)
        self.client = client
        let len = query.withUnsafeReadableBytes { bytes in
            QueryProcessor.respond(
                snapshot: snapshot, query: bytes, transport: .tcp, scratch: scratch, client: client,
                deferring: completion.defers, into: out)
        }
        if len == QueryProcessor.deferred {
            // A transfer or a signed query: built off the event loop (a large zone takes a while), then written in
            // one go, so its messages are never interleaved with other answers (RFC 7766 §7 lets responses on a
            // connection come out of order).
            let bytes = Array(query.readableBytesView)
            let channel = context.channel
            let completion = self.completion
            let qtype = scratch.lastQType
            connection.pending.add(1, ordering: .relaxed)
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            DispatchQueue.global().async {
                let messages = completion.deferred(bytes, client: client, transport: .tcp)
                channel.eventLoop.execute {
                    let this = handler.value
                    (messages.first ?? []).withUnsafeBytes { response in
                        bytes.withUnsafeBytes {
                            completion.record(
                                query: $0, response: response, qtype: qtype, zone: 0, client: client,
                                ends: { Self.ends(channel) }, tcp: true)
                        }
                    }
                    for m in messages {
                        var buf = channel.allocator.buffer(capacity: m.count + 2)
                        buf.writeInteger(UInt16(m.count))
                        buf.writeBytes(m)
                        channel.write(buf, promise: nil)
                    }
                    channel.flush()
                    this.connection.lastProgress.store(this.connections.now(), ordering: .relaxed)
                    this.connection.pending.subtract(1, ordering: .relaxed)
                    this.closeIfDone(channel)
                }
            }
            return
        }
        let response = UnsafeRawBufferPointer(rebasing: out[0..<len])
        query.withUnsafeReadableBytes {
            completion.record(
                query: $0, response: response, qtype: scratch.lastQType, zone: scratch.lastZoneSlot, client: client,
                ends: { Self.ends(context.channel, network: snapshot.networkLabel(scratch.lastNetwork)) }, tcp: true)
        }
        guard len > 0 else { return }
        var buf = context.channel.allocator.buffer(capacity: len + 2)
        buf.writeInteger(UInt16(len))
        buf.writeBytes(response)
        context.write(wrapOutboundOut(buf), promise: nil)
    }

    /// After a half-close: once no answer is being built, the connection closes when what was written is out.
    private func closeIfDone(_ channel: Channel) {
        guard inputClosed, connection.pending.load(ordering: .relaxed) == 0 else { return }
        // Writes complete in order: when this empty one has, every answer before it has been sent.
        channel.writeAndFlush(channel.allocator.buffer(capacity: 0)).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        connection.stalled.store(!writable, ordering: .relaxed)
        // The client took some of a long answer: that is progress for the idle timeout.
        if writable { connection.lastProgress.store(connections.now(), ordering: .relaxed) }
        context.fireChannelWritabilityChanged()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            // The client sent all it will (RFC 7766 §6.2.3 lets it half-close): an incomplete message never will
            // be; every answer to a whole one is still sent before the close.
            inputClosed = true
            held = nil
            connection.messageStart.store(0, ordering: .relaxed)
            context.flush()
            closeIfDone(context.channel)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
