// ControlServer: the HTTP control API — line states, operator overrides, reload, Prometheus metrics, liveness.

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
    /// Everything the status page shows, as JSON text (`/v1/status`, embedded in `/`).
    var status: @Sendable () -> String = { "{}" }
    /// One line with its probe history and transitions, as JSON text (`/v1/links/NAME`); nil: no such line.
    var link: @Sendable (String) -> String? = { _ in nil }
    /// The query log's state, and switching it (on: for how long, nil = until off); returns why it could not.
    var queryLog: @Sendable () -> QueryLog.Status? = { nil }
    var setQueryLog: @Sendable (Bool, TimeInterval?) -> String? = { _, _ in "no query log" }
    /// Counters as JSON text (`/v1/stats`).
    var stats: @Sendable () -> String = { "{}" }
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
/// always accepted (a rebinding needs a name).
final class ControlServer: Sendable {
    private let channel: Channel
    /// The address bound.
    let address: ListenAddress

    init(
        address: ListenAddress, group: EventLoopGroup, token: String, hosts: [String] = [], actions: ControlActions,
        logger: Logger
    ) throws {
        let hosts = Set(hosts.map { $0.lowercased() })
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        ControlHandler(token: token, hosts: hosts, actions: actions, logger: logger))
                }
            }
        channel = try bootstrap.bind(host: address.host, port: Int(address.port)).wait()
        var bound = address
        bound.port = UInt16(channel.localAddress?.port ?? Int(address.port))
        self.address = bound
    }

    func stop() { try? channel.close().wait() }

    /// `30s`, `10m`, `2h`, `1d` or plain seconds.
    /// At most a year: an override is a drill or a maintenance window, and an unbounded number (`infh`, `1e300s`)
    /// must not reach date and integer arithmetic.
    static func duration(_ text: String) -> TimeInterval? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var seconds: Double?
        if let u = text.last, let f = units[u], let v = Double(text.dropLast()) {
            seconds = v * f
        } else {
            seconds = Double(text)
        }
        guard let s = seconds, s.isFinite, s > 0, s <= 366 * 86400 else { return nil }
        return s
    }
}

final class ControlHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let token: [UInt8]
    private let hosts: Set<String>
    private let actions: ControlActions
    private let logger: Logger
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(token: String, hosts: Set<String> = [], actions: ControlActions, logger: Logger) {
        self.token = Array("Bearer \(token)".utf8)
        self.hosts = hosts
        self.actions = actions
        self.logger = logger
    }

    /// Whether a request's `Host` header may reach the API: none (HTTP/1.0), an IP literal, `localhost`, or a
    /// name listed in `server.control-hosts` (port and brackets ignored, case-insensitive).
    static func acceptable(host header: String?, extra: Set<String>) -> Bool {
        guard var host = header?.trimmingCharacters(in: .whitespaces).lowercased() else { return true }
        if host.hasPrefix("["), let end = host.firstIndex(of: "]") {
            host = String(host[host.index(after: host.startIndex)..<end])
        } else if let colon = host.lastIndex(of: ":"), host.firstIndex(of: ":") == colon {
            host = String(host[..<colon])
        }
        if host.hasSuffix(".") { host.removeLast() }
        return IPAddress(host) != nil || host == "localhost" || extra.contains(host)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
        case .body(var b):
            if body.count < 65536 { body += b.readBytes(length: b.readableBytes) ?? [] }
        case .end:
            guard let head else { return }
            switch route(head) {
            case .now(let status, let type, let text):
                var extra: [(String, String)] = []
                if type.hasPrefix("text/html") {
                    // The page runs its own inline script and talks to this server alone.
                    extra = [
                        ("Content-Security-Policy", StatusPage.contentSecurityPolicy),
                        ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
                    ]
                }
                if type.hasPrefix("text/html") || head.uri.hasPrefix("/v1/status") {
                    extra.append(("Cache-Control", "no-store"))
                }
                respond(context: context, head: head, status: status, type: type, text: text, headers: extra)
            case .later(let work):
                // Built off the event loop (the builder); the reply comes back to the loop when it is done, so the
                // loop keeps serving TCP and other API calls meanwhile.
                let loop = context.eventLoop
                let bound = NIOLoopBound((self, context), eventLoop: loop)
                work { status, type, text in
                    loop.execute {
                        let (handler, context) = bound.value
                        handler.respond(context: context, head: head, status: status, type: type, text: text)
                    }
                }
            }
        }
    }

    private func respond(
        context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, type: String, text: String,
        headers extra: [(String, String)] = []
    ) {
        var headers = HTTPHeaders(extra)
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: "\(text.utf8.count)")
        headers.add(name: "Connection", value: "close")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        context.write(
            wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    /// A reply: ready now, or made off the loop and handed to the callback.
    enum Reply {
        case now(HTTPResponseStatus, String, String)
        case later(
            @Sendable (@escaping @Sendable (HTTPResponseStatus, String, String) -> Void) -> Void)
    }

    private func json(_ object: Any) -> String { ControlHandler.json(object) }

    /// Why a request that needs the token was refused: no token, or not the server's.
    static func tokenProblem(_ head: HTTPRequestHead) -> String {
        head.headers["Authorization"].first == nil
            ? "a bearer token is required (Authorization: Bearer TOKEN)"
            : "the bearer token was refused: it is server.control-token, or <state-dir>/control.token on the server"
    }

    /// The query log's state as the API gives it.
    static func queryLogObject(_ s: QueryLog.Status) -> [String: Any] {
        var o: [String: Any] = ["enabled": s.enabled, "path": s.path, "format": s.format.rawValue]
        if let until = s.until { o["until"] = ISO8601DateFormatter().string(from: until) }
        if let error = s.error { o["error"] = error }
        return o
    }

    static func json(_ object: Any) -> String { StatusReport.json(object) }

    private func route(_ head: HTTPRequestHead) -> Reply {
        let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
        guard Self.acceptable(host: head.headers["Host"].first, extra: hosts) else {
            let host = head.headers["Host"].first ?? ""
            logger.notice(
                "control API: refused a request for Host \(host) (not localhost, an address or control-hosts)")
            return .now(
                .forbidden, "application/json",
                json([
                    "error":
                        "Host \(host) is not this control API's: use its address or localhost, or list the name in "
                        + "server.control-hosts"
                ]))
        }
        let authorized = head.headers["Authorization"].first.map { constantTimeEqual(Array($0.utf8), token) } ?? false
        switch (head.method, path) {
        case (.GET, "/healthz"):
            return .now(.ok, "text/plain", "ok\n")
        case (.GET, "/"), (.GET, "/index.html"):
            return .now(.ok, "text/html; charset=utf-8", StatusPage.html(status: actions.status()))
        case (.GET, "/v1/status"):
            return .now(.ok, "application/json", actions.status())
        case (.GET, "/v1/stats"):
            return .now(.ok, "application/json", actions.stats())
        case (.GET, let p) where p.hasPrefix("/v1/links/"):
            let name = String(p.dropFirst("/v1/links/".count)).removingPercentEncoding ?? ""
            guard let line = actions.link(name) else {
                let known = actions.linkNames()
                return .now(
                    .notFound, "application/json",
                    json(["error": "no link '\(name)' (links: \(known.joined(separator: ", ")))", "links": known]))
            }
            return .now(.ok, "application/json", line)
        case (.GET, "/v1/querylog"):
            guard let status = actions.queryLog() else {
                return .now(.notFound, "application/json", json(["error": "no query log"]))
            }
            return .now(.ok, "application/json", json(ControlHandler.queryLogObject(status)))
        case (.GET, "/metrics"):
            return .now(.ok, "text/plain; version=0.0.4", actions.metrics())
        case (.GET, "/v1/links"):
            let now = Date()
            let iso = ISO8601DateFormatter()
            let list: [[String: Any]] = actions.links().map { h in
                var o: [String: Any] = [
                    "name": h.name, "state": h.effective(at: now).rawValue, "probed": h.probed.rawValue,
                    "override": h.activeOverride(at: now)?.rawValue ?? "auto", "since": iso.string(from: h.since),
                    "reason": h.reason, "addresses": actions.addresses(h.name), "last_results": h.lastResults,
                ]
                if let until = h.overrideUntil, h.activeOverride(at: now) != nil {
                    o["override_until"] = iso.string(from: until)
                }
                return o
            }
            return .now(.ok, "application/json", json(list))
        case (.GET, "/v1/zones"):
            return .now(
                .ok, "application/json",
                json(actions.zones().map { ["origin": $0.origin, "serial": Int($0.serial)] as [String: Any] })
            )
        case (.GET, let p) where p.hasPrefix("/v1/zones/") && p.hasSuffix("/export"):
            guard authorized else {
                return .now(
                    .unauthorized, "application/json",
                    json(["error": ControlHandler.tokenProblem(head)])
                )
            }
            let origin = String(p.dropFirst("/v1/zones/".count).dropLast("/export".count))
            guard let text = actions.export(origin) else {
                return .now(.notFound, "application/json", json(["error": "no zone '\(origin)' is served here"]))
            }
            return .now(.ok, "text/dns", text)
        case (.POST, _) where !authorized:
            return .now(
                .unauthorized, "application/json",
                json(["error": ControlHandler.tokenProblem(head)])
            )
        case (.POST, "/v1/reload"):
            let actions = self.actions
            return .later { reply in
                actions.reload { outcome in
                    if let errors = outcome.errors {
                        reply(
                            .unprocessableEntity, "application/json",
                            ControlHandler.json(["ok": false, "errors": errors]))
                        return
                    }
                    let lines: [String: Any] = [
                        "added": outcome.lines.added, "removed": outcome.lines.removed,
                        "reprobed": outcome.lines.reprobed,
                    ]
                    var answer: [String: Any] = [
                        "ok": outcome.saveProblem == nil, "generation": outcome.generation,
                        "needs_restart": outcome.needsRestart, "lines": lines,
                    ]
                    // Applied and serving, but the served serials could not be saved: a failure to report.
                    if let why = outcome.saveProblem {
                        answer["applied"] = true
                        answer["error"] = "the reload is live but will not survive a restart: \(why)"
                    }
                    reply(
                        outcome.saveProblem == nil ? .ok : .internalServerError, "application/json",
                        ControlHandler.json(answer))
                }
            }
        case (.POST, "/v1/querylog"):
            guard let req = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
                let state = req["state"] as? String, state == "on" || state == "off"
            else {
                return .now(
                    .badRequest, "application/json",
                    json(["error": "body: {\"state\": \"on\"|\"off\", \"for\": \"10m\"}"]))
            }
            var duration: TimeInterval?
            if let f = req["for"] {
                guard state == "on", let d = ControlServer.duration("\(f)") else {
                    return .now(
                        .badRequest, "application/json",
                        json(["error": "for: with on, a duration such as 30s, 10m, 2h (at most 366d)"]))
                }
                duration = d
            }
            // Opening a socket reader or flushing the queue can take a while: off the event loop, which serves TCP.
            let (actions, logger, span) = (self.actions, self.logger, duration)
            return .later { reply in
                DispatchQueue.global().async {
                    if let why = actions.setQueryLog(state == "on", span) {
                        reply(
                            .internalServerError, "application/json", ControlHandler.json(["ok": false, "error": why]))
                        return
                    }
                    let lasting = span.map { " for \(Int($0)) s" } ?? ""
                    logger.notice("control: query log \(state)\(lasting)")
                    var answer: [String: Any] = ["ok": true]
                    if let status = actions.queryLog() { answer.merge(ControlHandler.queryLogObject(status)) { $1 } }
                    reply(.ok, "application/json", ControlHandler.json(answer))
                }
            }
        case (.POST, let p) where p.hasPrefix("/v1/links/"):
            // A line's name is free text: the page and the CLI percent-encode it.
            guard let name = String(p.dropFirst("/v1/links/".count)).removingPercentEncoding else {
                return .now(.badRequest, "application/json", json(["error": "the line's name is not percent-encoded"]))
            }
            guard let req = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
                let state = req["state"] as? String
            else {
                return .now(
                    .badRequest, "application/json",
                    json([
                        "error": "body: {\"state\": \"drain\"|\"force-up\"|\"force-down\"|\"auto\", \"for\": \"10m\"}"
                    ])
                )
            }
            let override: Override?
            if state == "auto" {
                override = nil
            } else if let o = Override(rawValue: state) {
                override = o
            } else {
                return .now(
                    .badRequest, "application/json",
                    json(["error": "state '\(state)' is not drain, force-up, force-down or auto"])
                )
            }
            var duration: TimeInterval?
            if let f = req["for"] {
                guard let d = ControlServer.duration("\(f)") else {
                    return .now(
                        .badRequest, "application/json",
                        json(["error": "for: a duration such as 30s, 10m, 2h (at most 366d)"])
                    )
                }
                duration = d
            }
            // The CLI's guard, here too (the page's buttons, scripts): taking out a pool's last line in answers leaves
            // the pool to its all-down policy, so it needs "force": true.
            if override == .drain || override == .forceDown, (req["force"] as? Bool) != true,
                let pool = actions.lastLineOf(name)
            {
                return .now(
                    .conflict, "application/json",
                    json([
                        "error":
                            "\(name) is the last line in answers of \(pool): taking it out leaves the pool with none "
                            + "(its all-down policy answers); send \"force\": true to do it anyway",
                        "pool": pool,
                    ]))
            }
            let before = actions.generation()
            let result = actions.setOverride(name, override, duration)
            if result == .noSuchLink {
                let known = actions.linkNames()
                return .now(
                    .notFound, "application/json",
                    json(["error": "no link '\(name)' (links: \(known.joined(separator: ", ")))", "links": known]))
            }
            let span = duration.map { " for \(Int($0)) s" } ?? ""
            logger.notice("control: link \(name) set to \(state)\(span)")
            // Answered once the answers show the change: the builder has built it (or it changed nothing). A change
            // that is live but could not be saved is a failure (500): it will not survive a restart.
            let actions = self.actions
            return .later { reply in
                actions.afterBuilds { generation in
                    var notSaved: String?
                    if case .notSaved(let why) = result { notSaved = why }
                    // The serials are the last build's: they speak for this change only if it made a build.
                    if generation != before, let why = actions.saveProblem() {
                        notSaved = [notSaved, why].compactMap { $0 }.joined(separator: "; ")
                    }
                    if let why = notSaved {
                        reply(
                            .internalServerError, "application/json",
                            ControlHandler.json([
                                "ok": false, "applied": true, "link": name, "state": state, "generation": generation,
                                "error": "the change is live but will not survive a restart: \(why)",
                            ]))
                        return
                    }
                    reply(
                        .ok, "application/json",
                        ControlHandler.json(["ok": true, "link": name, "state": state, "generation": generation]))
                }
            }
        default:
            return .now(.notFound, "application/json", json(["error": "no such endpoint: \(head.method) \(path)"]))
        }
    }
}
