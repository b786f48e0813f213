// TCPListener: DNS over TCP (RFC 7766) with SwiftNIO: framing, pipelining, idle timeout, a connection cap.

import Dispatch
import Logging
import NIOCore
import NIOPosix
import Responder
import Synchronization
import Uplinks

/// Serves DNS over TCP on one address. Each message is preceded by its 2-octet length (RFC 1035 §4.2.2);
/// several queries may be sent on one connection and are answered in order (RFC 7766 §6.2.1.1). A connection
/// idle for `idleTimeout` is closed (RFC 7766 §6.2.3); beyond `maxConnections` open ones, new connections are
/// closed at once (RFC 7766 §6.2.2). A connection that ends in the middle of a message gets no answer.
public final class TCPListener: Sendable {
    private let channel: Channel
    /// The address actually bound.
    public let address: ListenAddress
    private let open: ConnectionCount
    /// The idle timeout for new connections.
    private let idle: IdleTimeout

    /// Binds and starts accepting.
    public init(
        address: ListenAddress, group: EventLoopGroup, store: SnapshotStore, stats: QueryStats.Block,
        transfer: ZoneTransfer? = nil, maxConnections: Int, maxPerClient: Int = .max,
        idleTimeout: Double, logger: Logger
    ) throws {
        let open = ConnectionCount(limit: maxConnections, perClient: maxPerClient)
        let idle = IdleTimeout(idleTimeout)
        self.open = open
        self.idle = idle
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let peer = channel.remoteAddress?.ipAddress ?? ""
                guard open.acquire(peer) else {
                    logger.debug(
                        "tcp connection from \(peer) closed: \(maxConnections) open, or \(maxPerClient) from it")
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in open.release(peer) }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idle.amount))
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(DNSFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(
                        DNSTCPHandler(store: store, stats: stats, transfer: transfer))
                }
            }
        channel = try bootstrap.bind(host: address.host, port: Int(address.port)).wait()
        var bound = address
        bound.port = UInt16(channel.localAddress?.port ?? Int(address.port))
        self.address = bound
    }

    /// Applies new limits (a reload): the caps at once, the idle timeout to connections accepted from now on.
    public func update(maxConnections: Int, maxPerClient: Int, idleTimeout: Double) {
        open.update(limit: maxConnections, perClient: maxPerClient)
        idle.set(idleTimeout)
    }

    /// Stops accepting; open connections are closed with the event loop group.
    public func stop() {
        try? channel.close().wait()
    }
}

/// The idle timeout new connections get (a reload may change it).
final class IdleTimeout: Sendable {
    private let milliseconds: Atomic<Int64>
    init(_ seconds: Double) { milliseconds = Atomic(Int64(seconds * 1000)) }
    func set(_ seconds: Double) { milliseconds.store(Int64(seconds * 1000), ordering: .relaxed) }
    var amount: TimeAmount { .milliseconds(milliseconds.load(ordering: .relaxed)) }
}

/// Counts open connections against the cap, overall and per client address (so one client cannot take them all).
final class ConnectionCount: Sendable {
    private let open = Mutex<(total: Int, byClient: [String: Int])>((0, [:]))
    private let limits: Mutex<(total: Int, perClient: Int)>
    init(limit: Int, perClient: Int = .max) {
        limits = Mutex((limit, perClient))
    }

    /// Sets new caps (a reload); connections already open stay.
    func update(limit: Int, perClient: Int) { limits.withLock { $0 = (limit, perClient) } }

    /// Takes a slot for a connection from `client`; false when the server or that client is at its cap.
    func acquire(_ client: String) -> Bool {
        let (limit, perClient) = limits.withLock { $0 }
        return open.withLock { o in
            guard o.total < limit, o.byClient[client, default: 0] < perClient else { return false }
            o.total += 1
            o.byClient[client, default: 0] += 1
            return true
        }
    }

    func release(_ client: String) {
        open.withLock { o in
            o.total -= 1
            let n = o.byClient[client, default: 1] - 1
            o.byClient[client] = n > 0 ? n : nil
        }
    }
}

/// Splits the byte stream into messages by their 2-octet length prefix.
struct DNSFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
            buffer.readableBytes >= 2 + Int(length)
        else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        let message = buffer.readSlice(length: Int(length))!
        context.fireChannelRead(wrapInboundOut(message))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws
        -> DecodingState
    {
        // Complete messages still buffered are answered; a partial one at EOF is dropped (no answer).
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}

/// Answers each framed query from the current snapshot, in order.
final class DNSTCPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let store: SnapshotStore
    private let scratch = QueryScratch()
    private let out = UnsafeMutableRawBufferPointer.allocate(byteCount: QueryProcessor.maxResponse, alignment: 16)

    private var client: ClientAddress?
    /// Transfers and signed answers being built off the loop: the connection is not idle while one is.
    private var pending = 0
    /// Idle periods in a row during which the client read nothing of what is queued for it.
    private var stalls = 0

    private let stats: QueryStats.Block
    private let transfer: ZoneTransfer?

    init(store: SnapshotStore, stats: QueryStats.Block, transfer: ZoneTransfer?) {
        self.store = store
        self.stats = stats
        self.transfer = transfer
    }

    static func client(_ address: SocketAddress?) -> ClientAddress {
        guard let text = address?.ipAddress, let ip = IPAddress(text) else { return .unknown }
        return ClientAddress(ip)
    }

    deinit { out.deallocate() }

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
        let query = unwrapInboundIn(data)
        let snapshot = snapshot()
        let client = client ?? Self.client(context.channel.remoteAddress)
        self.client = client
        let len = query.withUnsafeReadableBytes { bytes in
            QueryProcessor.respond(
                snapshot: snapshot, query: bytes, transport: .tcp, scratch: scratch, client: client,
                deferring: transfer != nil, into: out)
        }
        if len == QueryProcessor.deferred, let transfer {
            // A transfer or a signed query: built off the event loop (a large zone takes a while), then written in
            // one go, so its messages are never interleaved with other answers (RFC 7766 §7 lets responses on a
            // connection come out of order).
            let bytes = Array(query.readableBytesView)
            let channel = context.channel
            let stats = self.stats
            let qtype = scratch.lastQType
            pending += 1
            let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
            DispatchQueue.global().async {
                let messages = transfer.respond(bytes, client: client.ipAddress, transport: .tcp)
                channel.eventLoop.execute {
                    handler.value.pending -= 1
                    if let first = messages.first {
                        first.withUnsafeBytes { stats.count(qtype: qtype, response: $0) }
                    }
                    for m in messages {
                        var buf = channel.allocator.buffer(capacity: m.count + 2)
                        buf.writeInteger(UInt16(m.count))
                        buf.writeBytes(m)
                        channel.write(buf, promise: nil)
                    }
                    channel.flush()
                }
            }
            return
        }
        stats.count(qtype: scratch.lastQType, response: UnsafeRawBufferPointer(rebasing: out[0..<len]))
        guard len > 0 else { return }
        var buf = context.channel.allocator.buffer(capacity: len + 2)
        buf.writeInteger(UInt16(len))
        buf.writeBytes(UnsafeRawBufferPointer(rebasing: out[0..<len]))
        context.write(wrapOutboundOut(buf), promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { stalls = 0 }  // the client is reading again
        context.fireChannelWritabilityChanged()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            // No query for the idle timeout (RFC 7766 §6.2.3): closed, unless an answer is still being built, or a
            // long one (a transfer) is still being delivered — for up to three idle periods without the client
            // reading any of it, so a reader that stops cannot hold the connection. (Watching writes with
            // `allTimeout` instead measured 20 % more CPU per TCP query.)
            guard pending == 0 else { return }
            if !context.channel.isWritable && stalls < 3 {
                stalls += 1
                return
            }
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
