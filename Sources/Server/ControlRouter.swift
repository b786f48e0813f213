// ControlRouter: the control API's requests to actions and replies — no sockets, so tests drive it directly.

import DNSWire
import Dispatch
import Foundation
import Health
import Logging
import NIOHTTP1
import Uplinks

/// A request as the router sees it.
struct ControlRequest: Sendable {
    var method: HTTPMethod
    var uri: String
    var headers: HTTPHeaders = [:]
    var body: [UInt8] = []
}

/// A response: status, content type, body, and any headers besides those three.
struct ControlResponse: Sendable {
    var status: HTTPResponseStatus
    var type: String
    var body: String
    var headers: [(String, String)] = []

    /// A JSON reply (`ControlAPI.json`).
    static func json(_ status: HTTPResponseStatus, _ value: some Encodable) -> ControlResponse {
        ControlResponse(status: status, type: "application/json", body: ControlAPI.json(value))
    }

    /// An error reply: `{"error": …}`.
    static func problem(_ status: HTTPResponseStatus, _ error: String) -> ControlResponse {
        json(status, ControlAPI.Problem(error: error))
    }
}

/// A reply: ready now, or made off the event loop and handed to the callback.
enum ControlReply: Sendable {
    case now(ControlResponse)
    case later(@Sendable (@escaping @Sendable (ControlResponse) -> Void) -> Void)
}

/// Routes each control-API request to its action (ControlServer's doc comment lists the endpoints).
struct ControlRouter: Sendable {
    /// `Bearer TOKEN`, as the Authorization header must carry it.
    let token: [UInt8]
    /// The names besides localhost and addresses that `Host` may carry (`server.control-hosts`, lower case).
    let hosts: Set<String>
    let actions: ControlActions
    let logger: Logger

    init(token: String, hosts: [String] = [], actions: ControlActions, logger: Logger) {
        self.token = Array("Bearer \(token)".utf8)
        self.hosts = Set(hosts.map { $0.lowercased() })
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

    /// Why a request that needs the token was refused: no token, or not the server's.
    static func tokenProblem(_ headers: HTTPHeaders) -> String {
        headers["Authorization"].first == nil
            ? "a bearer token is required (Authorization: Bearer TOKEN)"
            : "the bearer token was refused: it is server.control-token, or <state-dir>/control.token on the server"
    }

    /// The reply to `request`, with the page's security headers.
    func route(_ request: ControlRequest) -> ControlReply {
        let reply = dispatch(request)
        guard case .now(var response) = reply else { return reply }
        if response.type.hasPrefix("text/html") {
            // The page runs its own inline script and talks to this server alone.
            response.headers += [
                ("Content-Security-Policy", StatusPage.contentSecurityPolicy), ("X-Content-Type-Options", "nosniff"),
                ("Referrer-Policy", "no-referrer"),
            ]
        }
        if response.type.hasPrefix("text/html") || request.uri.hasPrefix("/v1/status") {
            response.headers.append(("Cache-Control", "no-store"))
        }
        return .now(response)
    }

    /// The reply to `request`, waited for (tests).
    func respond(_ request: ControlRequest) async -> ControlResponse {
        switch route(request) {
        case .now(let response): return response
        case .later(let work): return await withCheckedContinuation { c in work { c.resume(returning: $0) } }
        }
    }

    private func dispatch(_ request: ControlRequest) -> ControlReply {
        let path = request.uri.split(separator: "?", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let headers = request.headers
        guard Self.acceptable(host: headers["Host"].first, extra: hosts) else {
            let host = headers["Host"].first ?? ""
            logger.notice(
                "control API: refused a request for Host \(host) (not localhost, an address or control-hosts)")
            return .now(
                .problem(
                    .forbidden,
                    "Host \(host) is not this control API's: use its address or localhost, or list the name in "
                        + "server.control-hosts"))
        }
        let authorized = headers["Authorization"].first.map { constantTimeEqual(Array($0.utf8), token) } ?? false
        switch (request.method, path) {
        case (.GET, "/healthz"):
            return .now(ControlResponse(status: .ok, type: "text/plain", body: "ok\n"))
        case (.GET, "/"), (.GET, "/index.html"):
            guard let status = actions.status() else { return .now(.problem(.serviceUnavailable, "stopping")) }
            return .now(
                ControlResponse(
                    status: .ok, type: "text/html; charset=utf-8",
                    body: StatusPage.html(status: ControlAPI.json(status))
                ))
        case (.GET, "/v1/status"):
            guard let status = actions.status() else { return .now(.problem(.serviceUnavailable, "stopping")) }
            return .now(.json(.ok, status))
        case (.GET, "/v1/stats"):
            guard let stats = actions.stats() else { return .now(.problem(.serviceUnavailable, "stopping")) }
            return .now(.json(.ok, stats))
        case (.GET, let p) where p.hasPrefix("/v1/links/"):
            guard let name = ControlAPI.name(fromSegment: p.dropFirst("/v1/links/".count)) else {
                return .now(.problem(.badRequest, "the line's name is not percent-encoded"))
            }
            guard let line = actions.link(name) else { return .now(Self.noSuchLink(name, actions)) }
            return .now(.json(.ok, line))
        case (.GET, "/v1/querylog"):
            guard let status = actions.queryLog() else { return .now(.problem(.notFound, "no query log")) }
            return .now(.json(.ok, ControlAPI.QueryLogState(status)))
        case (.GET, "/metrics"):
            return .now(ControlResponse(status: .ok, type: "text/plain; version=0.0.4", body: actions.metrics()))
        case (.GET, "/v1/links"):
            let now = Date()
            let iso = ISO8601DateFormatter()
            let list = actions.links().map { h in
                let override = h.activeOverride(at: now)
                return ControlAPI.LinkSummary(
                    name: h.name, state: h.effective(at: now).rawValue, probed: h.probed.rawValue,
                    override: override?.rawValue ?? "auto",
                    overrideUntil: override == nil ? nil : h.overrideUntil.map { iso.string(from: $0) },
                    since: iso.string(from: h.since), reason: h.reason, addresses: actions.addresses(h.name),
                    lastResults: h.lastResults)
            }
            return .now(.json(.ok, list))
        case (.GET, "/v1/zones"):
            return .now(
                .json(.ok, actions.zones().map { ControlAPI.ZoneSerial(origin: $0.origin, serial: Int($0.serial)) }))
        case (.GET, let p) where p.hasPrefix("/v1/zones/") && p.hasSuffix("/export"):
            guard authorized else { return .now(.problem(.unauthorized, Self.tokenProblem(headers))) }
            let segment = p.dropFirst("/v1/zones/".count).dropLast("/export".count)
            guard let origin = ControlAPI.name(fromSegment: segment) else {
                return .now(.problem(.badRequest, "the zone's name is not percent-encoded"))
            }
            guard let text = actions.export(origin) else {
                let served = actions.zones().map(\.origin)
                return .now(
                    .problem(
                        .notFound,
                        "no zone '\(origin)' is served here "
                            + (served.isEmpty ? "(it serves none)" : "(zones: \(served.joined(separator: ", ")))")))
            }
            return .now(ControlResponse(status: .ok, type: "text/dns", body: text))
        case (.POST, _) where !authorized:
            return .now(.problem(.unauthorized, Self.tokenProblem(headers)))
        case (.POST, "/v1/reload"):
            return reload()
        case (.POST, "/v1/querylog"):
            return setQueryLog(request.body)
        case (.POST, let p) where p.hasPrefix("/v1/links/"):
            // A line's name is free text: the page and the CLI percent-encode it (ControlAPI.segment).
            guard let name = ControlAPI.name(fromSegment: p.dropFirst("/v1/links/".count)) else {
                return .now(.problem(.badRequest, "the line's name is not percent-encoded"))
            }
            return setLink(name, request.body)
        default:
            return .now(.problem(.notFound, "no such endpoint: \(request.method) \(path)"))
        }
    }

    private static func noSuchLink(_ name: String, _ actions: ControlActions) -> ControlResponse {
        let known = actions.linkNames()
        return .json(
            .notFound,
            ControlAPI.Problem(
                error: "no link '\(name)' "
                    + (known.isEmpty ? "(there are no links)" : "(links: \(known.joined(separator: ", ")))"),
                links: known))
    }

    private func reload() -> ControlReply {
        let actions = self.actions
        return .later { reply in
            actions.reload { outcome in
                if let errors = outcome.errors {
                    reply(.json(.unprocessableEntity, ControlAPI.ReloadReply(ok: false, errors: errors)))
                    return
                }
                var answer = ControlAPI.ReloadReply(
                    ok: outcome.saveProblem == nil, generation: outcome.generation,
                    needsRestart: outcome.needsRestart,
                    lines: .init(
                        added: outcome.lines.added, removed: outcome.lines.removed,
                        reprobed: outcome.lines.reprobed))
                // Applied and serving, but the served serials could not be saved: a failure to report.
                if let why = outcome.saveProblem {
                    answer.applied = true
                    answer.error = "the reload is live but will not survive a restart: \(why)"
                }
                reply(.json(outcome.saveProblem == nil ? .ok : .internalServerError, answer))
            }
        }
    }

    private func setQueryLog(_ body: [UInt8]) -> ControlReply {
        guard let change = ControlAPI.decode(ControlAPI.QueryLogChange.self, from: Data(body)) else {
            return .now(.problem(.badRequest, "body: {\"state\": \"on\"|\"off\", \"for\": \"10m\"}"))
        }
        var duration: TimeInterval?
        if let f = change.for {
            guard change.state == .on, let d = ControlServer.duration(f.text) else {
                return .now(.problem(.badRequest, "for: with on, a duration such as 30s, 10m, 2h (at most 366d)"))
            }
            duration = d
        }
        // Opening a socket reader or flushing the queue can take a while: off the event loop, which serves TCP.
        let (actions, logger, span, on) = (self.actions, self.logger, duration, change.state == .on)
        return .later { reply in
            DispatchQueue.global().async {
                if let why = actions.setQueryLog(on, span) {
                    reply(.json(.internalServerError, ControlAPI.Problem(error: why, ok: false)))
                    return
                }
                let lasting = span.map { " for \(Int($0)) s" } ?? ""
                logger.notice("control: query log \(on ? "on" : "off")\(lasting)")
                guard var state = actions.queryLog().map(ControlAPI.QueryLogState.init) else {
                    return reply(.json(.ok, ControlAPI.Problem(ok: true)))
                }
                state.ok = true
                reply(.json(.ok, state))
            }
        }
    }

    private func setLink(_ name: String, _ body: [UInt8]) -> ControlReply {
        guard let change = ControlAPI.decode(ControlAPI.LinkChange.self, from: Data(body)) else {
            return .now(
                .problem(
                    .badRequest, "body: {\"state\": \"drain\"|\"force-up\"|\"force-down\"|\"auto\", \"for\": \"10m\"}"))
        }
        let state = change.state
        guard let wanted = ControlAPI.LinkState(rawValue: state) else {
            return .now(.problem(.badRequest, "state '\(state)' is not drain, force-up, force-down or auto"))
        }
        let override = wanted == .auto ? nil : Override(rawValue: state)
        var duration: TimeInterval?
        if let f = change.for {
            guard let d = ControlServer.duration(f.text) else {
                return .now(.problem(.badRequest, "for: a duration such as 30s, 10m, 2h (at most 366d)"))
            }
            duration = d
        }
        // The CLI's guard, here too (the page's buttons, scripts): taking out a pool's last line in answers leaves
        // the pool to its all-down policy, so it needs "force": true.
        if override == .drain || override == .forceDown, change.force != true, let pool = actions.lastLineOf(name) {
            return .now(
                .json(
                    .conflict,
                    ControlAPI.Problem(
                        error:
                            "\(name) is the last line in answers of \(pool): taking it out leaves the pool with none "
                            + "(its all-down policy answers); send \"force\": true to do it anyway",
                        pool: pool)))
        }
        // Applying saves the override (an fsync, which a busy disk can make slow): off the event loop, which also
        // serves TCP. Answered once the answers show the change: the builder has built it (or it changed nothing).
        // A change that is live but could not be saved is a failure (500): it will not survive a restart.
        let (actions, logger, lasting) = (self.actions, self.logger, duration)
        return .later { reply in
            DispatchQueue.global().async {
                let before = actions.generation()
                let result = actions.setOverride(name, override, lasting)
                if result == .noSuchLink { return reply(Self.noSuchLink(name, actions)) }
                let span = lasting.map { " for \(Int($0)) s" } ?? ""
                logger.notice("control: link \(name) set to \(state)\(span)")
                actions.afterBuilds { generation in
                    var notSaved: String?
                    if case .notSaved(let why) = result { notSaved = why }
                    // The serials are the last build's: they speak for this change only if it made a build.
                    if generation != before, let why = actions.saveProblem() {
                        notSaved = [notSaved, why].compactMap { $0 }.joined(separator: "; ")
                    }
                    var answer = ControlAPI.LinkChanged(ok: true, link: name, state: state, generation: generation)
                    if let why = notSaved {
                        answer.ok = false
                        answer.applied = true
                        answer.error = "the change is live but will not survive a restart: \(why)"
                    }
                    reply(.json(notSaved == nil ? .ok : .internalServerError, answer))
                }
            }
        }
    }
}

extension ControlAPI.QueryLogState {
    /// The query log's state as the API gives it.
    init(_ s: QueryLog.Status) {
        let until = s.until.map { ISO8601DateFormatter().string(from: $0) }
        self.init(enabled: s.enabled, path: s.path, format: s.format.rawValue, until: until, error: s.error)
    }
}
