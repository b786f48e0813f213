// ControlServer: the HTTP control API's socket and its actions — line states, overrides, reload, metrics, liveness.

import DNSWire
import Dispatch
import Foundation
import Health
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Responder
import Uplinks

/// What the control API can read and do; the server supplies it, tests can too.
struct ControlActions: Sendable {
    var links: @Sendable () -> [LinkHealth]
    var addresses: @Sendable (String) -> [String]
    var setOverride: @Sendable (String, Override?, TimeInterval?) -> HealthChecker.OverrideResult
    /// The lines' names (for a message about a line that does not exist).
    var linkNames: @Sendable () -> [String] = { [] }
    /// Calls back, off the event loop, once every build asked for so far serves, with the generation serving then.
    var afterBuilds: @Sendable (@escaping @Sendable (Int) -> Void) -> Void = { $0(0) }
    /// Why the last build could not save what it must (the served serials), if it could not.
    var saveProblem: @Sendable () -> String? = { nil }
    /// The snapshot generation serving now.
    var generation: @Sendable () -> Int = { 0 }
    /// Reloads off the event loop and calls back with what it did, once the result serves.
    var reload: @Sendable (@escaping @Sendable (DNSServer.ReloadOutcome) -> Void) -> Void
    var metrics: @Sendable () -> String
    /// The zone `origin` as transferred now, as master-file text (nil: not served).
    var export: @Sendable (String) -> String? = { _ in nil }
    /// Every zone with its served serial.
    var zones: @Sendable () -> [(origin: String, serial: UInt32)] = { [] }
    /// Everything the status page shows (`/v1/status`, embedded in `/`); nil: the server is stopping.
    var status: @Sendable () -> ControlAPI.Status? = { nil }
    /// One line with its probe history and transitions (`/v1/links/NAME`); nil: no such line.
    var link: @Sendable (String) -> ControlAPI.LinkDetail? = { _ in nil }
    /// The query log's state, and switching it (on: for how long, nil = until off); returns why it could not.
    var queryLog: @Sendable () -> QueryLog.Status? = { nil }
    var setQueryLog: @Sendable (Bool, TimeInterval?) -> String? = { _, _ in "no query log" }
    /// The counters (`/v1/stats`); nil: the server is stopping.
    var stats: @Sendable () -> ControlAPI.Stats? = { nil }
    /// The pool of which `link` is the last line in answers, if any (taking it out leaves the pool with none).
    var lastLineOf: @Sendable (String) -> String? = { _ in nil }
}

/// Serves the control API on one address (loopback by default):
/// - `GET /v1/links`: every line's state, probed state, override and expiry, since, reason, addresses;
/// - `POST /v1/links/{name}` with `{"state": "drain"|"force-up"|"force-down"|"auto", "for": "10m"}`: answered
///   once the change serves, with the snapshot generation that carries it; taking out a pool's last line in
///   answers needs `"force": true` (else 409);
/// - `POST /v1/reload`: reload config and zones (the old data keeps serving on error; the errors are returned),
///   answered once the new data serves;
/// - `GET /v1/zones`: every zone with its served serial;
/// - `GET /v1/zones/{origin}/export`: the zone as transferred now, master-file text (needs the token: it is the
///   whole zone, which AXFR also guards);
/// - `GET /`: the status page (HTML, no external assets); `GET /v1/status`: what it shows, as JSON;
/// - `GET /v1/links/{name}`: one line with its probe history and transitions;
/// - `GET /v1/querylog`, `POST /v1/querylog` with `{"state": "on"|"off", "for": "10m"}`: the query log;
/// - `GET /v1/stats`: query, TCP, transfer and reload counters as JSON;
/// - `GET /metrics`: Prometheus text; `GET /healthz`: `ok`.
/// Mutating calls need `Authorization: Bearer TOKEN` (compared in constant time); without it they get 401 and
/// change nothing. A request whose `Host` is a name other than `localhost` or one of `server.control-hosts` gets 403:
/// a web page cannot read the API by pointing a name of its own at 127.0.0.1 (DNS rebinding). IP literals are
/// always accepted (a rebinding needs a name). The requests and replies are `ControlAPI`'s types; which action a
/// request reaches is `ControlRouter`'s (tested without sockets); this class and `ControlHandler` are the socket.
final class ControlServer: Sendable {
    private let channel: Channel
    /// The address bound.
    let address: ListenAddress

    init(
        address: ListenAddress, group: EventLoopGroup, token: String, hosts: [String] = [], actions: ControlActions,
        logger: Logger
    ) throws {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        ControlHandler(
                            router: ControlRouter(token: token, hosts: hosts, actions: actions, logger: logger)))
                }
            }
        channel = try bootstrap.bind(host: address.host, port: Int(address.port)).wait()
        var bound = address
        bound.port = UInt16(channel.localAddress?.port ?? Int(address.port))
        self.address = bound
    }

    func stop() { try? channel.close().wait() }

    /// `30s`, `10m`, `2h`, `1d` or plain seconds, more than none and at most a year (`ConfigKey.seconds`).
    static func duration(_ text: String) -> TimeInterval? {
        ConfigKey.seconds(text).flatMap { $0 > 0 ? $0 : nil }
    }
}

/// One connection's HTTP: collects a request, hands it to the router, writes the response and closes.
final class ControlHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let router: ControlRouter
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(router: ControlRouter) { self.router = router }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
        case .body(var b):
            if body.count < 65536 { body += b.readBytes(length: b.readableBytes) ?? [] }
        case .end:
            guard let head else { return }
            let request = ControlRequest(method: head.method, uri: head.uri, headers: head.headers, body: body)
            switch router.route(request) {
            case .now(let response):
                respond(context: context, version: head.version, response)
            case .later(let work):
                // Built off the event loop (the builder); the reply comes back to the loop when it is done, so the
                // loop keeps serving TCP and other API calls meanwhile.
                let loop = context.eventLoop
                let bound = NIOLoopBound((self, context), eventLoop: loop)
                work { response in
                    loop.execute {
                        let (handler, context) = bound.value
                        handler.respond(context: context, version: head.version, response)
                    }
                }
            }
        }
    }

    private func respond(context: ChannelHandlerContext, version: HTTPVersion, _ response: ControlResponse) {
        var headers = HTTPHeaders(response.headers)
        headers.add(name: "Content-Type", value: response.type)
        headers.add(name: "Content-Length", value: "\(response.body.utf8.count)")
        headers.add(name: "Connection", value: "close")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: version, status: response.status, headers: headers))),
            promise: nil)
        context.write(
            wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: response.body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
