// ControlAPI: every control-API request and reply, declared once — the server writes them, the CLI, the drill and
// the status page (StatusPage.swift's script) read them; and the one encoder of a name in a path.

import Foundation

/// The control API's requests, replies and paths. The server encodes these types, `uplinkdns` and the drill decode
/// them, and the status page's script reads `/v1/status` as `Status` encodes it. Keys are snake_case; absent
/// optional values are left out.
public enum ControlAPI {
    // MARK: Paths

    /// The characters a path segment keeps as they are: RFC 3986's unreserved set (ASCII letters, digits, `-._~`).
    /// The page's `segment()` (StatusPage.swift) encodes the same way.
    static let unreserved: CharacterSet = {
        var set = CharacterSet()
        set.insert(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        return set
    }()

    /// A name (free text: `line one`, `isp "b" \ 512k`) as one path segment, percent-encoded as UTF-8.
    public static func segment(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: unreserved) ?? name
    }

    /// The name a path segment carries, or nil when it is not valid percent-encoding.
    public static func name(fromSegment segment: Substring) -> String? {
        String(segment).removingPercentEncoding
    }

    /// `/v1/links/NAME`: one line (GET), or its override (POST).
    public static func linkPath(_ name: String) -> String { "/v1/links/" + segment(name) }

    /// `/v1/zones/ORIGIN/export`: a zone as transferred now.
    public static func exportPath(_ origin: String) -> String { "/v1/zones/" + segment(origin) + "/export" }

    // MARK: JSON

    /// JSON text as the API writes it: pretty, sorted keys (stable output), a newline at the end.
    public static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("null".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// A reply read back; nil when the body is not one.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data) -> T? {
        try? JSONDecoder().decode(type, from: data)
    }

    // MARK: Requests

    /// An operator override as `POST /v1/links/NAME` and `uplinkdns link` name it.
    public enum LinkState: String, Codable, Sendable, CaseIterable {
        case drain
        case forceUp = "force-up"
        case forceDown = "force-down"
        case auto
    }

    /// A duration as the API takes it: `30s`, `10m`, `2h`, `1d` or plain seconds, as a string or a JSON number.
    public struct DurationText: Codable, Sendable, Equatable {
        public var text: String

        public init(_ text: String) { self.text = text }

        public init(from decoder: Decoder) throws {
            let value = try decoder.singleValueContainer()
            if let s = try? value.decode(String.self) {
                text = s
            } else {
                text = "\(try value.decode(Double.self))"
            }
        }

        public func encode(to encoder: Encoder) throws {
            var value = encoder.singleValueContainer()
            try value.encode(text)
        }
    }

    /// `POST /v1/links/NAME`: `{"state": "drain"|"force-up"|"force-down"|"auto", "for": "10m", "force": true}`.
    /// `state` stays text so that a wrong one is named in the 400.
    public struct LinkChange: Codable, Sendable, Equatable {
        public var state: String
        public var `for`: DurationText?
        /// Take out a pool's last line in answers anyway.
        public var force: Bool?

        public init(state: LinkState, for duration: String? = nil, force: Bool = false) {
            self.state = state.rawValue
            self.for = duration.map(DurationText.init)
            self.force = force ? true : nil
        }
    }

    /// The query log switched on or off.
    public enum QueryLogSwitch: String, Codable, Sendable, CaseIterable {
        case on
        case off
    }

    /// `POST /v1/querylog`: `{"state": "on"|"off", "for": "10m"}`.
    public struct QueryLogChange: Codable, Sendable, Equatable {
        public var state: QueryLogSwitch
        public var `for`: DurationText?

        public init(state: QueryLogSwitch, for duration: String? = nil) {
            self.state = state
            self.for = duration.map(DurationText.init)
        }
    }

    // MARK: Replies

    /// A failed call: why, and what helps (the lines there are, the pool a line is the last of, every error).
    public struct Problem: Codable, Sendable, Equatable {
        public var error: String?
        public var errors: [String]?
        /// 404 for a line: the lines there are.
        public var links: [String]?
        /// 409: the pool the line is the last one in answers of.
        public var pool: String?
        public var ok: Bool?

        public init(
            error: String? = nil, errors: [String]? = nil, links: [String]? = nil, pool: String? = nil, ok: Bool? = nil
        ) {
            (self.error, self.errors, self.links, self.pool, self.ok) = (error, errors, links, pool, ok)
        }

        /// The message for the operator: the error, else every error.
        public var message: String? { error ?? errors?.joined(separator: "\n  ") }
    }

    /// `GET /v1/links`: one line's state.
    public struct LinkSummary: Codable, Sendable, Equatable {
        public var name: String
        /// `up` (in answers) or `down`, overrides included.
        public var state: String
        /// What the probes say.
        public var probed: String
        /// `drain`, `force-up`, `force-down` or `auto`.
        public var override: String
        public var overrideUntil: String?
        public var since: String
        public var reason: String
        public var addresses: [String]
        /// The last round's result per check.
        public var lastResults: [String]

        public init(
            name: String, state: String, probed: String, override: String, overrideUntil: String? = nil,
            since: String, reason: String, addresses: [String] = [], lastResults: [String] = []
        ) {
            (self.name, self.state, self.probed, self.override, self.overrideUntil) = (
                name, state, probed, override, overrideUntil
            )
            (self.since, self.reason, self.addresses, self.lastResults) = (since, reason, addresses, lastResults)
        }

        enum CodingKeys: String, CodingKey {
            case name, state, probed, override, since, reason, addresses
            case overrideUntil = "override_until"
            case lastResults = "last_results"
        }
    }

    /// `POST /v1/links/NAME`'s answer, once the answers show the change (500 with `applied`: live, not saved).
    public struct LinkChanged: Codable, Sendable, Equatable {
        public var ok: Bool
        public var applied: Bool?
        public var link: String
        public var state: String
        public var generation: Int
        public var error: String?
    }

    /// One probe result of a check.
    public struct ProbeResult: Codable, Sendable, Equatable {
        public var at: String
        public var ok: Bool
        public var ms: Double
        public var detail: String
    }

    /// A check's recent results, newest first.
    public struct CheckHistory: Codable, Sendable, Equatable {
        public var check: String
        public var type: String
        public var results: [ProbeResult]
    }

    /// A change of a line's state.
    public struct Transition: Codable, Sendable, Equatable {
        public var at: String
        public var to: String
        public var reason: String
    }

    /// `GET /v1/links/NAME` and `/v1/status`'s `links`: a line with its probe history and transitions.
    public struct LinkDetail: Codable, Sendable, Equatable {
        public var name: String
        public var state: String
        public var probed: String
        public var override: String
        public var overrideUntil: String?
        public var since: String
        public var reason: String
        public var weight: Int
        public var addresses: [String]
        public var checks: [CheckHistory]
        /// Newest first.
        public var transitions: [Transition]

        enum CodingKeys: String, CodingKey {
            case name, state, probed, override, since, reason, weight, addresses, checks, transitions
            case overrideUntil = "override_until"
        }
    }

    /// A member of a pool as the page shows it: configured and actual share of first places.
    public struct PoolMemberStatus: Codable, Sendable, Equatable {
        public var link: String
        public var weight: Int
        public var inAnswers: Bool
        /// The share of first places the answers give it now (0 while it is out).
        public var expectedShare: Double
        /// The share the config gives it, every line up: what it gets when nothing is out.
        public var configuredShare: Double
        public var firstPlaces: Int
        public var share: Double

        public init(
            link: String, weight: Int = 1, inAnswers: Bool, expectedShare: Double = 0, configuredShare: Double = 0,
            firstPlaces: Int = 0, share: Double = 0
        ) {
            (self.link, self.weight, self.inAnswers, self.expectedShare) = (link, weight, inAnswers, expectedShare)
            (self.configuredShare, self.firstPlaces, self.share) = (configuredShare, firstPlaces, share)
        }

        enum CodingKeys: String, CodingKey {
            case link, weight, share
            case inAnswers = "in_answers"
            case expectedShare = "expected_share"
            case configuredShare = "configured_share"
            case firstPlaces = "first_places"
        }
    }

    /// A pool as the page shows it.
    public struct PoolStatus: Codable, Sendable, Equatable {
        public var name: String
        public var policy: String
        public var linesUp: Int
        public var lines: Int
        /// The addresses answered now.
        public var addresses: [String]
        public var servfail: Bool
        public var members: [PoolMemberStatus]
        /// The span the first places were counted over.
        public var windowSeconds: Double
        public var allDown: String
        /// The lines whose addresses the answers carry now.
        public var answering: [String]
        /// No line up, and `all-down: all` answers the lines probes took out anyway.
        public var failingOpen: Bool
        /// Its client networks (`by-network`), one row per list; empty without.
        public var networks: [PoolNetworkStatus] = []
        /// What the pool answers, in words (`StatusReport.poolSummary`): `0 of 2 lines up; failing open: answering
        /// all lines`.
        public var summary: String

        public init(
            name: String, policy: String, linesUp: Int, lines: Int, addresses: [String], servfail: Bool = false,
            members: [PoolMemberStatus] = [], windowSeconds: Double = 0, allDown: String = "all",
            answering: [String] = [], failingOpen: Bool = false, summary: String = ""
        ) {
            (self.name, self.policy, self.linesUp, self.lines, self.addresses) = (
                name, policy, linesUp, lines, addresses
            )
            (self.servfail, self.members, self.windowSeconds, self.allDown) = (
                servfail, members, windowSeconds, allDown
            )
            (self.answering, self.failingOpen, self.summary) = (answering, failingOpen, summary)
        }

        enum CodingKeys: String, CodingKey {
            case name, policy, lines, addresses, servfail, members, answering, summary, networks
            case linesUp = "lines_up"
            case failingOpen = "failing_open"
            case windowSeconds = "window_seconds"
            case allDown = "all_down"
        }
    }

    /// The clients of one or more networks with the same list (`by-network`), as a pool answers them.
    public struct PoolNetworkStatus: Codable, Sendable, Equatable {
        /// The networks, joined by `+`.
        public var network: String
        /// Their lines in order of preference.
        public var lines: [String]
        /// The line that answers them now; nil: none of theirs is in answers, so the pool's policy does.
        public var serving: String?
        /// Responses to them since the server started.
        public var answers: Int

        public init(network: String, lines: [String], serving: String?, answers: Int) {
            (self.network, self.lines, self.serving, self.answers) = (network, lines, serving, answers)
        }
    }

    /// A zone's secondary: what it transferred, and the NOTIFYs sent to it.
    public struct SecondaryStatus: Codable, Sendable, Equatable {
        public var secondary: String
        public var serial: Int?
        public var lastTransfer: String?
        public var lastKind: String?
        public var notifyTarget: String?
        public var notifyResult: String?
        public var notifyAcknowledged: Int?
        public var notifyFailed: Int?
        public var notifySerial: Int?
        public var lastNotify: String?

        public init(secondary: String) { self.secondary = secondary }

        enum CodingKeys: String, CodingKey {
            case secondary, serial
            case lastTransfer = "last_transfer"
            case lastKind = "last_kind"
            case notifyTarget = "notify_target"
            case notifyResult = "notify_result"
            case notifyAcknowledged = "notify_acknowledged"
            case notifyFailed = "notify_failed"
            case notifySerial = "notify_serial"
            case lastNotify = "last_notify"
        }
    }

    /// A zone: served serial, signing, secondaries.
    public struct ZoneStatus: Codable, Sendable, Equatable {
        public var zone: String
        public var serial: Int
        public var signed: Bool
        public var secondaries: [SecondaryStatus]

        public init(zone: String, serial: Int, signed: Bool, secondaries: [SecondaryStatus]) {
            (self.zone, self.serial, self.signed, self.secondaries) = (zone, serial, signed, secondaries)
        }
    }

    /// `GET /v1/zones`: a zone with its served serial.
    public struct ZoneSerial: Codable, Sendable, Equatable {
        public var origin: String
        public var serial: Int
    }

    /// Reloads so far and the last one's errors.
    public struct ReloadStatus: Codable, Sendable, Equatable {
        public var ok: Int
        public var failed: Int
        public var lastSuccessful: Bool
        public var lastSuccess: String
        public var lastAttempt: String?
        public var errors: [String]

        enum CodingKeys: String, CodingKey {
            case ok, failed, errors
            case lastSuccessful = "last_successful"
            case lastSuccess = "last_success"
            case lastAttempt = "last_attempt"
        }
    }

    /// `GET /v1/querylog`, and `POST /v1/querylog`'s answer (with `ok`).
    public struct QueryLogState: Codable, Sendable, Equatable {
        public var ok: Bool?
        public var enabled: Bool
        public var path: String
        /// `dnstap` or `text`.
        public var format: String
        public var until: String?
        public var error: String?
    }

    /// `GET /v1/status`: everything the status page shows.
    public struct Status: Codable, Sendable, Equatable {
        public var version: String
        public var now: String
        public var uptimeSeconds: Int
        public var generation: Int
        public var links: [LinkDetail]
        public var pools: [PoolStatus]
        public var zones: [ZoneStatus]
        public var reload: ReloadStatus
        public var querylog: QueryLogState
        /// Queries by response code.
        public var queries: [String: UInt64]
        public var tcpOpen: Int
        /// The addresses the server answers on now (ports filled in): what it bound at start, which a change of
        /// `server.listen` in the file does not move until a restart.
        public var listen: [String]
        /// The host's outbound default route as the server keeps it (`routing.apply`).
        public var routing: RoutingStatus?
        /// The director's real servers (`SERVICE/ADDRESS`), as the lines are given; nil or empty without a director.
        public var realServers: [LinkDetail]? = nil
        /// The director's table as the server keeps it (`director.apply`).
        public var director: DirectorStatus? = nil

        enum CodingKeys: String, CodingKey {
            case version, now, generation, links, pools, zones, reload, querylog, queries, listen, routing, director
            case realServers = "real_servers"
            case uptimeSeconds = "uptime_seconds"
            case tcpOpen = "tcp_open"
        }
    }

    /// The director's table as the server keeps it (`director.apply`, docs/director.md).
    public struct DirectorStatus: Codable, Sendable, Equatable {
        /// `director.apply`: nft, ipvs or none.
        public var apply: String
        /// The real servers out of new connections when the table was last written.
        public var out: [String]
        /// When the table last changed, the last failure, and the writes so far.
        public var since: String?
        public var error: String?
        public var changes: Int
        public var failures: Int
    }

    /// The main table's default route as the server keeps it (`routing.apply`, docs/routing.md).
    public struct RoutingStatus: Codable, Sendable, Equatable {
        /// Whether `routing.apply` is on (off: the server touches no route; the rest tells what it would be).
        public var apply: Bool
        /// The route as it should be for the lines in answers: multipath, single, held (no line in answers: the last
        /// route stays), keep (`default-route: keep`), none (no routable line).
        public var outbound: String
        /// The same in words (`via cnc only (out: unicom)`).
        public var description: String
        /// The lines it leaves by now, and the routable lines out of answers.
        public var lines: [String]
        public var out: [String]
        /// The `ip route replace` arguments last applied, and since when.
        public var applied: String?
        public var since: String?
        /// The last failure, until a change succeeds.
        public var error: String?
        public var changes: Int
        public var failures: Int
        /// `routing.gateway-command`, and the lines in answers the LAN gateway's groups were last dealt for.
        public var gatewayCommand: String?
        public var gatewayLines: [String]?

        enum CodingKeys: String, CodingKey {
            case apply, outbound, description, lines, out, applied, since, error, changes, failures
            case gatewayCommand = "gateway_command"
            case gatewayLines = "gateway_lines"
        }
    }

    /// `POST /v1/reload`'s answer: 200 applied; 422 nothing applied (`errors`); 500 applied but not saved.
    public struct ReloadReply: Codable, Sendable, Equatable {
        /// The lines a reload added, removed, or changed (probed anew).
        public struct Lines: Codable, Sendable, Equatable {
            public var added: [String]
            public var removed: [String]
            public var reprobed: [String]
        }

        public var ok: Bool
        public var generation: Int?
        public var needsRestart: [String]?
        public var lines: Lines?
        public var applied: Bool?
        public var error: String?
        public var errors: [String]?

        enum CodingKeys: String, CodingKey {
            case ok, generation, lines, applied, error, errors
            case needsRestart = "needs_restart"
        }
    }

    /// `GET /v1/stats`: the counters since the start.
    public struct Stats: Codable, Sendable, Equatable {
        public struct Queries: Codable, Sendable, Equatable {
            public var transport: String
            public var zone: String
            public var type: String
            public var rcode: String
            public var count: UInt64
        }
        public struct TCP: Codable, Sendable, Equatable {
            public var open: Int
            public var accepted: Int
            public var refused: Int
            /// Closed connections by reason.
            public var closed: [String: Int]
        }
        public struct RRL: Codable, Sendable, Equatable {
            public var dropped: Int
            public var slipped: Int
        }
        public struct Transfers: Codable, Sendable, Equatable {
            public var secondary: String
            public var kind: String
            public var transfers: Int
            public var octets: Int
        }
        public struct Notify: Codable, Sendable, Equatable {
            public var acknowledged: Int
            public var failed: Int
        }
        public struct Reloads: Codable, Sendable, Equatable {
            public var ok: Int
            public var failed: Int
            public var lastSuccessful: Bool

            enum CodingKeys: String, CodingKey {
                case ok, failed
                case lastSuccessful = "last_successful"
            }
        }
        public struct FirstPlaces: Codable, Sendable, Equatable {
            public var pool: String
            public var link: String
            public var count: Int
            /// The client network the responses went to (`by-network`); nil: the pool's policy.
            public var network: String?
        }

        public var uptimeSeconds: Int
        public var queries: [Queries]
        public var tcp: TCP
        public var rrl: RRL
        public var transfers: [Transfers]
        public var notify: Notify
        public var reloads: Reloads
        public var firstPlaces: [FirstPlaces]

        enum CodingKeys: String, CodingKey {
            case queries, tcp, rrl, transfers, notify, reloads
            case uptimeSeconds = "uptime_seconds"
            case firstPlaces = "first_places"
        }
    }
}
