// ReloadPlan: what a reload changes, as data — the desired config against the running one, in the order applied.

/// The steps that take a running server from the config it runs (`running`) to a freshly read one (`desired`). A
/// reload reads everything anew, then applies only what differs, in `Step` order (the order is written once, here):
/// the lines first (answers are built for the new lines with their states), then the new answers and what must
/// hold before they serve (transfer policies, the query log), then the settings that act on open sockets. What a
/// running server cannot change is kept until the restart and said (`keptUntilRestart`). Plans are made without a
/// server, so tests check them directly (ReloadPlanTests).
public struct ReloadPlan: Sendable {
    /// One change, in the order a reload applies them.
    public enum Step: Sendable, Equatable, Comparable {
        /// The lines, their checks or the `on-change` hooks differ: the health module takes the new ones.
        case lines
        /// Transfer ACLs or TSIG keys differ: set before the new answers serve, so the new zones are never transferred
        /// under the old policies.
        case transferPolicies
        /// The query log's destination, format or identity differ.
        case queryLog
        /// The zones, pools and answer settings: compiled from the files just read and swapped in (always: the zone
        /// files are read anew, and a file changed on disk is a change though the config is not).
        case answers
        /// `routing.apply` or `routing.gateway-command`, or the lines or `routing.default-route` with either on, differ:
        /// the server applies its routing script again (the main default route for the lines in answers), deals the
        /// gateway's groups again, or stops following (docs/routing.md).
        case routing
        /// The director's services or the `on-change` hooks differ: its real servers are probed anew and its table
        /// written again (docs/director.md).
        case director
        /// The TCP limits differ: applied to open connections too.
        case tcpLimits
        /// Response rate limiting differs.
        case rateLimit
        /// Secondaries of zones whose serial moved are told, at the targets of the new config (after the swap).
        case notify

        /// The order of application.
        var rank: Int {
            switch self {
            case .lines: 0
            case .transferPolicies: 1
            case .queryLog: 2
            case .answers: 3
            case .routing: 4
            case .director: 5
            case .tcpLimits: 6
            case .rateLimit: 7
            case .notify: 8
            }
        }

        public static func < (a: Step, b: Step) -> Bool { a.rank < b.rank }
    }

    /// The steps, in the order they are applied.
    public var steps: [Step]
    /// Keys whose new value waits for a restart (the running value stays), by config key.
    public var keptUntilRestart: [String]
    /// The config the server runs once the plan is applied: `desired`, with the restart-only keys kept.
    public var applied: Config

    /// The plan from `running` to `desired`. `listenOverridden`/`controlOverridden`: the command line replaced
    /// `server.listen`/`server.control`, so a change of them in the file is not in use anyway.
    public init(
        running: Config, desired: Config, listenOverridden: Bool = false, controlOverridden: Bool = false
    ) {
        keptUntilRestart = running.restartOnlyChanges(to: desired).filter { key in
            !(key == "server.listen" && listenOverridden) && !(key == "server.control" && controlOverridden)
        }
        let applied = running.applyingReloadable(from: desired)
        self.applied = applied
        var steps: [Step] = [.answers, .notify]
        if running.uplinks.links != applied.uplinks.links || running.onChange != applied.onChange {
            steps.append(.lines)
        }
        if ZoneTransfer.policies(running) != ZoneTransfer.policies(applied) || running.keys != applied.keys {
            steps.append(.transferPolicies)
        }
        if running.queryLogPath != applied.queryLogPath || running.queryLog.format != applied.queryLog.format
            || running.identity != applied.identity
        {
            steps.append(.queryLog)
        }
        let follows = applied.routingApply || applied.routingGateway != nil
        if running.routingApply != applied.routingApply || running.routingGateway != applied.routingGateway
            || (follows
                && (running.uplinks.links != applied.uplinks.links
                    || running.uplinks.defaultRoute != applied.uplinks.defaultRoute))
        {
            steps.append(.routing)
        }
        if running.director != applied.director
            || (running.onChange != applied.onChange && !applied.director.services.isEmpty)
        {
            steps.append(.director)
        }
        if running.tcpLimits != applied.tcpLimits { steps.append(.tcpLimits) }
        if running.rrl != applied.rrl { steps.append(.rateLimit) }
        self.steps = steps.sorted()
    }

    /// Whether `step` is part of the plan.
    public func contains(_ step: Step) -> Bool { steps.contains(step) }
}
