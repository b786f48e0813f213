// LinkHealth: one line's state — probed up/down with rise/fall hysteresis, and an operator override that wins.

import Foundation

/// What probes say of a line, and what it is after an operator's override.
public enum LinkState: String, Sendable, Codable, Equatable {
    /// In answers.
    case up
    /// Out of answers.
    case down
}

/// An operator's override (`uplinkdns link NAME …`); `auto` is the absence of one.
public enum Override: String, Sendable, Codable, Equatable, CaseIterable {
    /// Out of answers for maintenance; probes keep running and their state is kept.
    case drain
    /// In answers whatever probes say.
    case forceUp = "force-up"
    /// Out of answers whatever probes say.
    case forceDown = "force-down"
}

/// One line's health. A plain value: the checker updates it with each probe round, tests drive it directly.
///
/// Hysteresis (as gdnsd and keepalived): an up line goes down after `fall` bad rounds in a row, a down line comes up
/// after `rise` good rounds in a row; a single round never flips it. An override wins over the probed state until
/// it is cleared or its expiry passes, so a failover drill cannot be forgotten.
public struct LinkHealth: Sendable, Codable, Equatable {
    /// The line.
    public var name: String
    /// The probed state.
    public var probed: LinkState
    /// Good rounds in a row (while down) or bad rounds in a row (while up).
    public var streak: Int = 0
    /// The operator's override, if any.
    public var override: Override?
    /// When the override ends (nil: until cleared).
    public var overrideUntil: Date?
    /// When the effective state last changed.
    public var since: Date
    /// Why the line is in its state (`tcp 203.0.113.80:80 timed out 3/3`).
    public var reason: String
    /// The last round's results, one per check (`tcp 203.0.113.80:80 connected in 3 ms`).
    public var lastResults: [String] = []
    /// How long the last round took, in seconds.
    public var lastRoundSeconds: Double = 0

    /// A line starting `up` (lines are up until probes say otherwise; the first round runs before answering).
    public init(name: String, probed: LinkState = .up, since: Date, reason: String = "start") {
        self.name = name
        self.probed = probed
        self.since = since
        self.reason = reason
    }

    /// The state answers use at `now`: the override while it lasts, else the probed state.
    public func effective(at now: Date) -> LinkState {
        guard let o = activeOverride(at: now) else { return probed }
        return o == .forceUp ? .up : .down
    }

    /// The override in force at `now` (nil once expired).
    public func activeOverride(at now: Date) -> Override? {
        guard let o = override else { return nil }
        if let until = overrideUntil, now >= until { return nil }
        return o
    }

    /// Records a probe round. Returns true when the probed state flipped. While an override is in force the reason
    /// stays the operator's (it is why the line is where it is); the probed state is kept as always.
    public mutating func record(good: Bool, reason: String, rise: Int, fall: Int, at now: Date) -> Bool {
        let wanted: LinkState = good ? .up : .down
        let overridden = activeOverride(at: now) != nil
        guard wanted != probed else {
            // A round that agrees with the state breaks any streak towards the other state.
            streak = 0
            if !overridden { self.reason = reason }
            return false
        }
        streak += 1
        let needed = good ? rise : fall
        guard streak >= needed else { return false }
        let before = effective(at: now)
        probed = wanted
        streak = 0
        if !overridden { self.reason = "\(reason) \(needed)/\(needed)" }
        if effective(at: now) != before { since = now }
        return true
    }

    /// Sets or clears (`nil`, i.e. `auto`) the override, optionally for a limited time.
    public mutating func setOverride(_ o: Override?, for duration: TimeInterval? = nil, at now: Date) {
        let before = effective(at: now)
        override = o
        overrideUntil = o != nil ? duration.map { now.addingTimeInterval($0) } : nil
        reason = "operator: \(o?.rawValue ?? "auto")" + (o != nil ? duration.map { " for \(Int($0)) s" } ?? "" : "")
        if effective(at: now) != before { since = now }
    }

    /// The state answers had while the override lasted: the override's, even past its end (until `expire` drops
    /// it, answers still show it).
    public var effectiveUntilExpired: LinkState {
        guard let o = override else { return probed }
        return o == .forceUp ? .up : .down
    }

    /// Drops an override whose time is up; returns true when it did (the effective state may change).
    public mutating func expire(at now: Date) -> Bool {
        guard override != nil, let until = overrideUntil, now >= until else { return false }
        let before = effectiveUntilExpired
        override = nil
        overrideUntil = nil
        reason = "operator override expired"
        if effective(at: now) != before { since = now }
        return true
    }
}
