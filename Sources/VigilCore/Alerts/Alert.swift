//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// One alert: a rule whose condition holds (or held) for one target, or one series of a target.
///
/// It is stored as it is (``AlertBook`` persists every alert through the ``StateStore``), so that a
/// restart neither repeats a notification nor forgets to send a resolution.
public struct Alert: Sendable, Hashable, Codable {
    /// Where the alert is in its life.
    public enum State: String, Sendable, Hashable, Codable {
        /// The condition holds, but not yet for the rule's `for` duration.
        case pending
        /// Active: receivers are told.
        case firing
        /// The condition no longer holds; receivers are told once, then the alert is dropped.
        case resolved
    }

    /// A stable identity: rule, target and series (the fingerprint).
    public var id: String
    /// The rule's name.
    public var rule: String
    /// The target, as `kind/name`.
    public var target: TargetID
    /// `alertname`, `severity`, the target's kind label (`gateway`, `device`, …) and the rule's labels.
    public var labels: [String: String]
    /// The rendered summary.
    public var summary: String
    /// The rule's severity.
    public var severity: Event.Severity
    /// The state.
    public var state: State
    /// When the condition was first seen to hold (seconds since the epoch).
    public var activeSince: Double
    /// When the alert fired (after `for`).
    public var startsAt: Double?
    /// When it was resolved.
    public var endsAt: Double?
    /// The value that made the condition hold, when it is a number.
    public var value: Double?
    /// Per receiver, when it was last told that the alert fires.
    public var notified: [String: Double]
    /// Receivers that were told of the resolution.
    public var resolutionSent: Set<String>

    /// Creates a pending alert.
    public init(id: String, rule: AlertRule, target: TargetID, labels: [String: String], summary: String, value: Double?, now: Double) {
        self.id = id
        self.rule = rule.name
        self.target = target
        self.labels = labels
        self.summary = summary
        self.severity = rule.severity
        self.state = .pending
        self.activeSince = now
        self.startsAt = nil
        self.endsAt = nil
        self.value = value
        self.notified = [:]
        self.resolutionSent = []
    }
}

/// A silence: alerts whose labels match every matcher are not notified between `startsAt` and
/// `endsAt` (they are still tracked and shown).
public struct Silence: Sendable, Hashable, Codable {
    /// Its identifier (`cfg-N` for configured silences, a random one for API silences).
    public var id: String
    /// Label name → value; a value may contain `*` wildcards.
    public var matchers: [String: String]
    /// From when (seconds since the epoch).
    public var startsAt: Double
    /// Until when.
    public var endsAt: Double
    /// Who set it.
    public var createdBy: String
    /// Why.
    public var comment: String

    /// Creates a silence.
    public init(id: String, matchers: [String: String], startsAt: Double, endsAt: Double, createdBy: String = "", comment: String = "") {
        self.id = id
        self.matchers = matchers
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.createdBy = createdBy
        self.comment = comment
    }

    /// Whether it is in force at `time`.
    public func isActive(at time: Double) -> Bool { startsAt <= time && time < endsAt }

    /// Whether it covers an alert with these labels.
    public func matches(_ labels: [String: String]) -> Bool {
        Self.matchAll(matchers, labels)
    }
}

/// Inhibition: while an alert matching `source` fires, alerts matching `target` that have the same
/// values for every label in `equal` are not notified (a gateway that is down makes its failover
/// alert noise).
public struct InhibitRule: Sendable, Hashable {
    /// Label matchers of the inhibiting alert.
    public var source: [String: String]
    /// Label matchers of the inhibited alerts.
    public var target: [String: String]
    /// Labels whose values must be equal in both.
    public var equal: [String]

    /// Creates an inhibition rule.
    public init(source: [String: String], target: [String: String], equal: [String]) {
        self.source = source
        self.target = target
        self.equal = equal
    }

    /// The built-in inhibitions: a gateway down mutes the gateway's other alerts; a host down mutes
    /// every alert labelled with that host; a media server down mutes the streams labelled with it.
    public static let builtIn: [InhibitRule] = [
        InhibitRule(source: ["alertname": "GatewayDown"], target: ["gateway": "*"], equal: ["gateway"]),
        InhibitRule(source: ["alertname": "HostDown"], target: ["host": "*"], equal: ["host"]),
        InhibitRule(source: ["alertname": "MediaServerDown"], target: ["instance": "*"], equal: ["instance"]),
    ]
}
