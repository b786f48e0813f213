// ControlRouterTests: the control API's routing driven directly — every endpoint, the token, the Host check, bad
// names and bodies, the last line's 409 — with stub actions and no socket.

import Foundation
import Health
import Logging
import NIOHTTP1
import Synchronization
import Testing

@testable import Server

@Suite struct ControlRouterTests {
    /// What the stub actions were asked to do.
    final class Calls: Sendable {
        let overrides = Mutex<[(name: String, override: Override?, duration: TimeInterval?)]>([])
        let queryLog = Mutex<[(on: Bool, duration: TimeInterval?)]>([])
        let reloads = Mutex(0)
    }

    static let lines = ["line one", #"isp "b" \ 512k"#]

    /// A router over two lines (`line one` drained for 10 minutes) and a zone, with the token `t`.
    static func router(
        reload: DNSServer.ReloadOutcome = DNSServer.ReloadOutcome(), queryLogProblem: String? = nil,
        lastLineOf: String? = nil, status: ControlAPI.Status? = nil
    ) -> (ControlRouter, Calls) {
        let calls = Calls()
        let now = Date()
        var drained = LinkHealth(name: lines[0], since: now)
        drained.override = .drain
        drained.overrideUntil = now.addingTimeInterval(600)
        let health = [drained, LinkHealth(name: lines[1], probed: .down, since: now, reason: "timed out")]
        let actions = ControlActions(
            links: { health },
            addresses: { $0 == lines[0] ? ["192.0.2.10"] : [] },
            setOverride: { name, o, d in
                guard lines.contains(name) else { return .noSuchLink }
                calls.overrides.withLock { $0.append((name, o, d)) }
                return .applied
            },
            linkNames: { lines },
            afterBuilds: { $0(7) },
            generation: { 6 },
            reload: { done in
                calls.reloads.withLock { $0 += 1 }
                done(reload)
            },
            metrics: { "uplinkdns_build_info 1\n" },
            export: { $0 == "example.com." ? "example.com. 300 IN SOA ns1 hostmaster 1 3600 900 1209600 300\n" : nil },
            zones: { [(origin: "example.com.", serial: 42)] },
            status: { status },
            link: { name in
                guard lines.contains(name) else { return nil }
                return ControlAPI.LinkDetail(
                    name: name, state: "down", probed: "up", override: "drain", since: "", reason: "operator: drain",
                    weight: 1, addresses: [], checks: [], transitions: [])
            },
            queryLog: { QueryLog.Status(enabled: false, path: "/tmp/q.dnstap", format: .dnstap) },
            setQueryLog: { on, d in
                calls.queryLog.withLock { $0.append((on, d)) }
                return queryLogProblem
            },
            stats: { nil },
            lastLineOf: { $0 == lines[1] ? lastLineOf : nil })
        return (
            ControlRouter(token: "t", hosts: ["dns1.example.net"], actions: actions, logger: Logger(label: "test")),
            calls
        )
    }

    static func request(
        _ method: HTTPMethod, _ uri: String, body: String = "", token: String? = "t", host: String? = "127.0.0.1:8053"
    ) -> ControlRequest {
        var headers = HTTPHeaders()
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let host { headers.add(name: "Host", value: host) }
        return ControlRequest(method: method, uri: uri, headers: headers, body: Array(body.utf8))
    }

    static func problem(_ r: ControlResponse) -> ControlAPI.Problem? {
        ControlAPI.decode(ControlAPI.Problem.self, from: Data(r.body.utf8))
    }

    @Test func aNameIsOnePathSegmentAndTheRouterReadsItBack() async {
        #expect(ControlAPI.linkPath("line one") == "/v1/links/line%20one")
        #expect(ControlAPI.segment(#"isp "b" \ 512k"#) == "isp%20%22b%22%20%5C%20512k")
        #expect(ControlAPI.segment("a/b?c#d%é") == "a%2Fb%3Fc%23d%25%C3%A9")
        #expect(ControlAPI.segment("cnc-2_x.y~") == "cnc-2_x.y~")
        let (router, _) = Self.router()
        for name in Self.lines {
            let r = await router.respond(Self.request(.GET, ControlAPI.linkPath(name)))
            #expect(r.status == .ok, "\(name): \(r.body)")
            #expect(ControlAPI.decode(ControlAPI.LinkDetail.self, from: Data(r.body.utf8))?.name == name)
        }
        // The page's encodeURIComponent leaves !'()* as they are: the server reads those too.
        let page = await router.respond(Self.request(.GET, "/v1/links/line%20one"))
        #expect(page.status == .ok)
    }

    @Test func readingNeedsNoToken() async {
        let (router, _) = Self.router()
        let health = await router.respond(Self.request(.GET, "/healthz", token: nil))
        #expect(health.status == .ok && health.body == "ok\n" && health.type == "text/plain")
        let metrics = await router.respond(Self.request(.GET, "/metrics", token: nil))
        #expect(metrics.status == .ok && metrics.body.contains("uplinkdns_build_info"))
        let links = await router.respond(Self.request(.GET, "/v1/links", token: nil))
        let list = ControlAPI.decode([ControlAPI.LinkSummary].self, from: Data(links.body.utf8)) ?? []
        #expect(list.map(\.name) == Self.lines)
        #expect(list.first?.override == "drain" && list.first?.overrideUntil != nil && list.first?.state == "down")
        #expect(list.first?.addresses == ["192.0.2.10"])
        #expect(list.last?.override == "auto" && list.last?.overrideUntil == nil && list.last?.reason == "timed out")
        let zones = await router.respond(Self.request(.GET, "/v1/zones", token: nil))
        #expect(
            ControlAPI.decode([ControlAPI.ZoneSerial].self, from: Data(zones.body.utf8)) == [
                ControlAPI.ZoneSerial(origin: "example.com.", serial: 42)
            ])
        let log = await router.respond(Self.request(.GET, "/v1/querylog", token: nil))
        #expect(ControlAPI.decode(ControlAPI.QueryLogState.self, from: Data(log.body.utf8))?.format == "dnstap")
    }

    @Test func statusIsThePageAndItsJSONNeverCached() async throws {
        let status = ControlAPI.Status(
            version: "1", now: "2026-01-01T00:00:00Z", uptimeSeconds: 5, generation: 3, links: [], pools: [],
            zones: [ControlAPI.ZoneStatus(zone: "example.com.", serial: 1, signed: false, secondaries: [])],
            reload: ControlAPI.ReloadStatus(
                ok: 0, failed: 0, lastSuccessful: true, lastSuccess: "2026-01-01T00:00:00Z", errors: []),
            querylog: ControlAPI.QueryLogState(enabled: false, path: "q", format: "dnstap"), queries: ["NOERROR": 2],
            tcpOpen: 0, listen: ["127.0.0.1:5300"])
        let (router, _) = Self.router(status: status)
        let json = await router.respond(Self.request(.GET, "/v1/status", token: nil))
        #expect(json.status == .ok && json.headers.contains { $0 == ("Cache-Control", "no-store") })
        #expect(ControlAPI.decode(ControlAPI.Status.self, from: Data(json.body.utf8)) == status)
        #expect(json.body.contains(#""uptime_seconds" : 5"#) && json.body.contains(#""tcp_open" : 0"#))
        let page = await router.respond(Self.request(.GET, "/", token: nil))
        #expect(page.status == .ok && page.type.hasPrefix("text/html"))
        #expect(page.headers.contains { $0.0 == "Content-Security-Policy" })
        #expect(page.body.contains("example.com."))
        // No status (the server is stopping): 503, not an empty page.
        let (stopping, _) = Self.router()
        #expect(await stopping.respond(Self.request(.GET, "/v1/status")).status == .serviceUnavailable)
        #expect(await stopping.respond(Self.request(.GET, "/v1/stats")).status == .serviceUnavailable)
    }

    @Test func changesNeedTheTokenAndChangeNothingWithout() async {
        let (router, calls) = Self.router()
        for (uri, body) in [
            ("/v1/links/line%20one", #"{"state": "auto"}"#), ("/v1/reload", ""), ("/v1/querylog", #"{"state": "on"}"#),
        ] {
            let none = await router.respond(Self.request(.POST, uri, body: body, token: nil))
            #expect(none.status == .unauthorized && Self.problem(none)?.error?.contains("is required") == true)
            let wrong = await router.respond(Self.request(.POST, uri, body: body, token: "t2"))
            #expect(wrong.status == .unauthorized && Self.problem(wrong)?.error?.contains("was refused") == true)
        }
        let export = await router.respond(Self.request(.GET, "/v1/zones/example.com./export", token: nil))
        #expect(export.status == .unauthorized)
        #expect(calls.overrides.withLock { $0.isEmpty } && calls.queryLog.withLock { $0.isEmpty })
        #expect(calls.reloads.withLock { $0 } == 0)
    }

    @Test func aHostThatIsNotOursIs403() async {
        let (router, _) = Self.router()
        #expect(await router.respond(Self.request(.GET, "/v1/links", host: "attacker.example")).status == .forbidden)
        #expect(await router.respond(Self.request(.GET, "/v1/links", host: "DNS1.example.net:80")).status == .ok)
        #expect(await router.respond(Self.request(.GET, "/v1/links", host: "localhost")).status == .ok)
        #expect(await router.respond(Self.request(.GET, "/v1/links", host: nil)).status == .ok)
    }

    @Test func unknownEndpointsLinesAndZonesAre404() async {
        let (router, calls) = Self.router()
        #expect(await router.respond(Self.request(.GET, "/v2/links")).status == .notFound)
        #expect(await router.respond(Self.request(.DELETE, "/v1/links")).status == .notFound)
        let line = await router.respond(Self.request(.GET, "/v1/links/nosuch"))
        #expect(line.status == .notFound && Self.problem(line)?.links == Self.lines)
        let change = await router.respond(Self.request(.POST, "/v1/links/nosuch", body: #"{"state": "drain"}"#))
        #expect(change.status == .notFound && Self.problem(change)?.error?.contains("no link 'nosuch'") == true)
        let zone = await router.respond(Self.request(.GET, "/v1/zones/nosuch.example./export"))
        #expect(zone.status == .notFound)
        let served = await router.respond(Self.request(.GET, "/v1/zones/example.com./export"))
        #expect(served.status == .ok && served.type == "text/dns" && served.body.contains("SOA"))
        #expect(calls.overrides.withLock { $0.isEmpty })
    }

    @Test func badNamesAndBodiesAre400() async {
        let (router, calls) = Self.router()
        #expect(await router.respond(Self.request(.GET, "/v1/links/%ZZ")).status == .badRequest)
        #expect(
            await router.respond(Self.request(.POST, "/v1/links/line%2", body: #"{"state": "auto"}"#)).status
                == .badRequest)
        for body in [
            "", "not json", #"{"state": "sideways"}"#, #"{"state": "drain", "for": "infh"}"#,
            #"{"state": "drain", "for": 1e308}"#, #"{"state": "drain", "for": "-5m"}"#, #"{"for": "5m"}"#,
        ] {
            let r = await router.respond(Self.request(.POST, "/v1/links/line%20one", body: body))
            #expect(r.status == .badRequest, "\(body)")
        }
        let sideways = await router.respond(
            Self.request(.POST, "/v1/links/line%20one", body: #"{"state": "sideways"}"#))
        #expect(Self.problem(sideways)?.error == "state 'sideways' is not drain, force-up, force-down or auto")
        for body in [#"{"state": "maybe"}"#, #"{"state": "off", "for": "10m"}"#, #"{"state": "on", "for": "x"}"#] {
            let r = await router.respond(Self.request(.POST, "/v1/querylog", body: body))
            #expect(r.status == .badRequest, "\(body)")
        }
        #expect(calls.overrides.withLock { $0.isEmpty } && calls.queryLog.withLock { $0.isEmpty })
    }

    @Test func aChangeIsAnsweredWithTheGenerationThatServesIt() async {
        let (router, calls) = Self.router()
        let r = await router.respond(
            Self.request(.POST, ControlAPI.linkPath(Self.lines[1]), body: #"{"state": "force-up", "for": "10m"}"#))
        #expect(r.status == .ok, "\(r.body)")
        let reply = ControlAPI.decode(ControlAPI.LinkChanged.self, from: Data(r.body.utf8))
        #expect(
            reply?.ok == true && reply?.generation == 7 && reply?.link == Self.lines[1] && reply?.state == "force-up")
        // A duration as a JSON number is seconds; auto clears the override.
        #expect(
            await router.respond(Self.request(.POST, "/v1/links/line%20one", body: #"{"state": "auto", "for": 90}"#))
                .status == .ok)
        let made = calls.overrides.withLock { $0 }
        #expect(made.count == 2)
        #expect(made.first?.name == Self.lines[1] && made.first?.override == .forceUp && made.first?.duration == 600)
        #expect(made.last?.name == "line one" && made.last?.override == nil && made.last?.duration == 90)
    }

    @Test func takingOutAPoolsLastLineNeedsForce() async {
        let (router, calls) = Self.router(lastLineOf: "www.example.com.")
        let path = ControlAPI.linkPath(Self.lines[1])
        for state in ["drain", "force-down"] {
            let r = await router.respond(Self.request(.POST, path, body: #"{"state": "\#(state)"}"#))
            #expect(r.status == .conflict && Self.problem(r)?.pool == "www.example.com.", "\(r.body)")
        }
        #expect(calls.overrides.withLock { $0.isEmpty })
        // Forcing it up is no risk; with "force": true it is done.
        #expect(await router.respond(Self.request(.POST, path, body: #"{"state": "force-up"}"#)).status == .ok)
        #expect(
            await router.respond(Self.request(.POST, path, body: #"{"state": "drain", "force": true}"#)).status == .ok)
        #expect(calls.overrides.withLock { $0.map(\.override) } == [.forceUp, .drain])
    }

    @Test func aReloadSaysWhatItDidOrEveryError() async {
        var applied = DNSServer.ReloadOutcome()
        applied.generation = 9
        applied.needsRestart = ["server.listen"]
        applied.lines.added = ["line three"]
        let (ok, calls) = Self.router(reload: applied)
        let r = await ok.respond(Self.request(.POST, "/v1/reload"))
        let reply = ControlAPI.decode(ControlAPI.ReloadReply.self, from: Data(r.body.utf8))
        #expect(r.status == .ok && reply?.ok == true && reply?.generation == 9, "\(r.body)")
        #expect(reply?.needsRestart == ["server.listen"] && reply?.lines?.added == ["line three"])
        #expect(calls.reloads.withLock { $0 } == 1)

        let (failed, _) = Self.router(reload: DNSServer.ReloadOutcome(errors: ["u.yaml:3: bad", "z.zone:9: worse"]))
        let f = await failed.respond(Self.request(.POST, "/v1/reload"))
        #expect(f.status == .unprocessableEntity && Self.problem(f)?.errors == ["u.yaml:3: bad", "z.zone:9: worse"])

        var unsaved = DNSServer.ReloadOutcome()
        unsaved.saveProblem = "disk full"
        let (live, _) = Self.router(reload: unsaved)
        let u = await live.respond(Self.request(.POST, "/v1/reload"))
        let notSaved = ControlAPI.decode(ControlAPI.ReloadReply.self, from: Data(u.body.utf8))
        #expect(u.status == .internalServerError && notSaved?.applied == true && notSaved?.ok == false)
        #expect(notSaved?.error?.contains("disk full") == true)
    }

    @Test func theQueryLogSwitches() async {
        let (router, calls) = Self.router()
        let on = await router.respond(Self.request(.POST, "/v1/querylog", body: #"{"state": "on", "for": "2m"}"#))
        #expect(
            on.status == .ok && ControlAPI.decode(ControlAPI.QueryLogState.self, from: Data(on.body.utf8))?.ok == true)
        #expect(await router.respond(Self.request(.POST, "/v1/querylog", body: #"{"state": "off"}"#)).status == .ok)
        #expect(calls.queryLog.withLock { $0.map(\.on) } == [true, false])
        #expect(calls.queryLog.withLock { $0.first?.duration } == 120)
        let (broken, _) = Self.router(queryLogProblem: "cannot open /nope")
        let r = await broken.respond(Self.request(.POST, "/v1/querylog", body: #"{"state": "on"}"#))
        #expect(r.status == .internalServerError && Self.problem(r)?.error == "cannot open /nope")
    }

    /// The page's script encodes a name as `ControlAPI.segment` does (run with node, where it is installed).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/node"), "needs node"))
    func thePageEncodesANameAsTheCommandsDo() throws {
        let names = ["line one", #"isp "b" \ 512k"#, "a/b?c#d%é", "it's (x)*!", "日本 ~-._", "+&=;:@,$"]
        let function = try #require(StatusPage.script.split(separator: "\n").first { $0.contains("const segment = ") })
        let list = String(decoding: try JSONEncoder().encode(names), as: UTF8.self)
        let node = Process()
        node.executableURL = URL(fileURLWithPath: "/usr/bin/node")
        node.arguments = ["-e", "\(function)\nconsole.log(JSON.stringify(\(list).map(segment)));"]
        let out = Pipe()
        node.standardOutput = out
        try node.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        node.waitUntilExit()
        #expect(try JSONDecoder().decode([String].self, from: data) == names.map(ControlAPI.segment))
    }
}
