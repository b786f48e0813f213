// OutboundRoute: the main table's default route as it should be for the lines in answers now (seed 001's ip-down
// hook, done by the server: a line out of answers stops carrying the server's own outbound traffic).

import Uplinks

/// The main table's default route for the server's own outbound traffic (connections not bound to an address), as
/// it should be with the lines in answers `up`:
/// - every routable line in answers: the weighted multipath route the server script adds at boot;
/// - some out: one route via the best line in answers (highest weight, then config order), with that line's inside
///   address as `src`. A connection not bound to an address takes its source from the route; that source's own
///   rule (`from INSIDE table N`) then sends it through the same line. A multipath route has one `src` for all its
///   nexthops, and without one the kernel picks the interface's primary address, which is one line's: when the lines
///   share an interface (seed 000), every unbound connection leaves by that line whatever the nexthop says. So
///   spreading unbound connections over several lines while one is out would need marks and rules per connection
///   (the gateway's groups); the server keeps to one line, the best, until every line is back;
/// - none in answers: the route is left as it is (the last one stays: something may still get through), and said;
/// - `routing.default-route: keep`: never touched.
public struct OutboundRoute: Sendable, Equatable, CustomStringConvertible {
    /// What kind of route it is.
    public enum Kind: String, Sendable {
        /// The weighted multipath route over every routable line.
        case multipath
        /// One route via the best line in answers, with its inside address as source.
        case single
        /// No line in answers: the route is left as it was.
        case held
        /// `routing.default-route: keep`: the host's own default route, never touched.
        case keep
        /// No line has the routing facts: nothing to route.
        case none
    }

    public var kind: Kind
    /// The lines the route leaves by, in config order (empty for held, keep, none).
    public var lines: [String]
    /// The routable lines out of answers.
    public var out: [String]
    /// The arguments after `ip route replace` (`default via … dev … src …`); nil when the route is not to be set.
    public var arguments: String?
    /// What each nexthop must be, for the drift check: gateway, weight (multipath), source (single).
    public var hops: [(gateway: String, weight: Int?, source: String?)]

    public static func == (a: OutboundRoute, b: OutboundRoute) -> Bool {
        a.kind == b.kind && a.lines == b.lines && a.out == b.out && a.arguments == b.arguments
    }

    /// As the log and the status page say it.
    public var description: String {
        switch kind {
        case .multipath: "multipath over \(lines.joined(separator: ", "))"
        case .single: "via \(lines.joined()) only" + (out.isEmpty ? "" : " (out: \(out.joined(separator: ", ")))")
        case .held: "kept as it was: no line in answers (out: \(out.joined(separator: ", ")))"
        case .keep: "the host's own (routing.default-route: keep)"
        case .none: "not routed (no line has inside, gateway, interface and table)"
        }
    }

    /// The route for the lines in answers `up` (nil: every line, as at boot before any probe).
    public static func desired(_ uplinks: Uplinks, up: Set<String>? = nil, weights: [String: Int]? = nil)
        -> OutboundRoute
    {
        let (links, _) = RoutingEmitter.usable(uplinks)
        guard !links.isEmpty else { return OutboundRoute(kind: .none, lines: [], out: [], arguments: nil, hops: []) }
        guard uplinks.defaultRoute == .multipath else {
            return OutboundRoute(kind: .keep, lines: [], out: [], arguments: nil, hops: [])
        }
        let weights = weights ?? uplinks.weights
        func weight(_ l: Link) -> Int { max(1, min(256, weights[l.name] ?? 1)) }
        let inAnswers = links.filter { up?.contains($0.name) ?? true }
        let out = links.filter { !(up?.contains($0.name) ?? true) }.map(\.name)
        if inAnswers.count == links.count {
            let text = links.map { "nexthop via \($0.gateway!) dev \($0.interface!) weight \(weight($0))" }
            return OutboundRoute(
                kind: .multipath, lines: links.map(\.name), out: [],
                arguments: "default \(text.joined(separator: " "))",
                hops: links.map { ($0.gateway!.description, weight($0), nil) })
        }
        // The best line: the highest weight, the first in config order among equals.
        guard let best = inAnswers.enumerated().max(by: { a, b in (weight(a.1), b.0) < (weight(b.1), a.0) })?.1 else {
            return OutboundRoute(kind: .held, lines: [], out: out, arguments: nil, hops: [])
        }
        return OutboundRoute(
            kind: .single, lines: [best.name], out: out,
            arguments: "default via \(best.gateway!) dev \(best.interface!) src \(best.inside!)",
            hops: [(best.gateway!.description, nil, best.inside!.description)])
    }
}
