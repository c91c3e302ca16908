//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The alerts Vigil knows of, their life cycle, silences and inhibitions, and which receiver has
/// been told what.
///
/// It is a plain value: the alerting service feeds it matches and the time, asks it what each
/// receiver is due, marks what was delivered, and stores it whole (see ``Snapshot``). Nothing in it
/// reads a clock.
///
/// Times come in two readings. Wall-clock seconds stamp what people and receivers see
/// (`activeSince`, `startsAt`, `endsAt`, `notified`) and survive restarts. Durations (a rule's
/// `for`, a receiver's repeat interval) are measured on the monotonic reading, kept in memory only,
/// so that a step of the system clock neither fires an alert early nor holds back a repeat; after a
/// restart they start from the stored wall-clock stamps.
public struct AlertBook: Sendable {
    /// The rules, in the evaluator's order (matches refer to them by index).
    public let rules: [AlertRule]
    /// Inhibition rules.
    public var inhibitRules: [InhibitRule]
    /// Active and resolved-but-not-yet-told alerts, by id.
    public private(set) var alerts: [String: Alert] = [:]
    /// Silences, configured and set through the API, by id.
    public private(set) var silences: [String: Silence] = [:]
    /// The most alerts kept; matches beyond it are refused (and counted).
    public let capacity: Int
    /// How many matches were refused because the book was full.
    public private(set) var refused = 0
    /// How long a resolved alert waits for receivers that failed before it is dropped anyway.
    public var resolvedRetention: Double = 86_400
    /// Per rule: whether its summary shows the status, which can change without the value changing.
    private let summaryShowsStatus: [Bool]
    /// Monotonic seconds at which each pending alert's condition started to hold.
    private var pendingSince: [String: Double] = [:]
    /// Monotonic seconds at which each receiver was last told of each firing alert (alert id →
    /// receiver → seconds).
    private var notifiedAt: [String: [String: Double]] = [:]

    /// What changed in one update.
    public struct Changes: Sendable, Hashable {
        /// Alerts that started firing.
        public var fired: [String] = []
        /// Alerts that were resolved.
        public var resolved: [String] = []
        /// Whether anything worth storing changed (including pending alerts).
        public var changed = false
    }

    /// What the book stores (and a restart restores).
    public struct Snapshot: Sendable, Codable {
        /// Every alert.
        public var alerts: [Alert]
        /// Silences set through the API (configured ones come from the file again).
        public var silences: [Silence]
    }

    /// Creates an empty book.
    public init(rules: [AlertRule], inhibitRules: [InhibitRule] = InhibitRule.builtIn, capacity: Int = 10_000) {
        self.rules = rules
        self.inhibitRules = inhibitRules
        self.capacity = capacity
        self.summaryShowsStatus = rules.map { $0.summary.contains("{{status}}") }
    }

    /// The identity of the alert a match makes.
    public static func id(rule: String, target: TargetID, series: String) -> String {
        series.isEmpty ? "\(rule)|\(target)" : "\(rule)|\(target)|\(series)"
    }

    /// Restores what a previous run stored. Alerts of rules that no longer exist are resolved at the
    /// next update, so their receivers still hear that they are over.
    public mutating func restore(_ snapshot: Snapshot) {
        for alert in snapshot.alerts.prefix(capacity) { alerts[alert.id] = alert }
        for silence in snapshot.silences where !silence.id.hasPrefix("cfg-") { silences[silence.id] = silence }
    }

    /// What to store.
    public var snapshot: Snapshot {
        Snapshot(
            alerts: alerts.values.sorted { $0.id < $1.id },
            silences: silences.values.filter { !$0.id.hasPrefix("cfg-") }.sorted { $0.id < $1.id }
        )
    }

    /// Applies one evaluation: new matches become pending, pending ones that held for their rule's
    /// `for` fire, and firing ones without a match are resolved.
    ///
    /// - Parameters:
    ///   - matches: The evaluator's matches.
    ///   - now: Wall-clock seconds, for the stamps.
    ///   - monotonic: Monotonic seconds, for the `for` durations (default: `now`, for callers with
    ///     one reading, such as tests).
    public mutating func update(_ matches: [AlertMatch], now: Double, monotonic: Double? = nil) -> Changes {
        let elapsed = monotonic ?? now
        var changes = Changes()
        var seen = Set<String>()
        seen.reserveCapacity(matches.count)
        for match in matches {
            let rule = rules[match.rule]
            let id = Self.id(rule: rule.name, target: match.target, series: match.series)
            guard seen.insert(id).inserted else { continue }
            var alert: Alert
            var render = true
            if let existing = alerts[id], existing.state != .resolved {
                alert = existing
                // Most alerts stay as they were round after round: render only what can change.
                render = existing.value != match.value || summaryShowsStatus[match.rule]
                alert.value = match.value
            } else {
                guard alerts[id] != nil || alerts.count < capacity else {
                    refused += 1
                    continue
                }
                alert = Alert(
                    id: id,
                    rule: rule,
                    target: match.target,
                    labels: Self.labels(rule: rule, match: match),
                    summary: "",
                    value: match.value,
                    now: now
                )
                pendingSince[id] = elapsed
                notifiedAt[id] = nil
                changes.changed = true
            }
            if render { alert.summary = Self.render(rule.summary, rule: rule, match: match) }
            if alert.state == .pending {
                // A pending alert restored from the store has only its wall-clock stamp.
                let since = pendingSince[id] ?? elapsed - max(0, now - alert.activeSince)
                if elapsed - since >= rule.forSeconds {
                    alert.state = .firing
                    alert.startsAt = now
                    pendingSince[id] = nil
                    changes.fired.append(id)
                    changes.changed = true
                } else {
                    pendingSince[id] = since
                }
            }
            alerts[id] = alert
        }
        for (id, alert) in alerts where !seen.contains(id) {
            switch alert.state {
            case .pending:
                alerts[id] = nil
                pendingSince[id] = nil
                changes.changed = true
            case .firing:
                var resolved = alert
                resolved.state = .resolved
                resolved.endsAt = now
                alerts[id] = resolved
                changes.resolved.append(id)
                changes.changed = true
            case .resolved:
                let told = alert.notified.keys.allSatisfy { alert.resolutionSent.contains($0) }
                if told || now - (alert.endsAt ?? now) > resolvedRetention {
                    alerts[id] = nil
                    notifiedAt[id] = nil
                    changes.changed = true
                }
            }
        }
        changes.fired.sort()
        changes.resolved.sort()
        return changes
    }

    /// Whether an alert is muted at `now` by a silence or an inhibition.
    public func isMuted(_ alert: Alert, now: Double) -> Bool {
        silence(for: alert, now: now) != nil || inhibitor(of: alert) != nil
    }

    /// The silence in force for an alert, if any.
    public func silence(for alert: Alert, now: Double) -> Silence? {
        silences.values.first { $0.isActive(at: now) && $0.matches(alert.labels) }
    }

    /// The firing alert that inhibits this one, if any.
    public func inhibitor(of alert: Alert) -> Alert? {
        for rule in inhibitRules where Silence.matchAll(rule.target, alert.labels) {
            for source in alerts.values
            where source.state == .firing && source.id != alert.id && Silence.matchAll(rule.source, source.labels)
                && rule.equal.allSatisfy({ source.labels[$0] != nil && source.labels[$0] == alert.labels[$0] })
            {
                return source
            }
        }
        return nil
    }

    /// What one receiver is due at `now`: firing alerts it was never told of or not within
    /// `repeatInterval`, and resolutions of alerts it was told of. Muted alerts are not due.
    ///
    /// - Parameters:
    ///   - monotonic: Monotonic seconds, for the repeat interval (default: `now`); alerts told
    ///     before a restart fall back to their wall-clock `notified` stamp.
    public func due(for receiver: String, repeatInterval: Double, now: Double, monotonic: Double? = nil) -> (firing: [Alert], resolved: [Alert]) {
        let elapsed = monotonic ?? now
        var firing: [Alert] = []
        var resolved: [Alert] = []
        for alert in alerts.values {
            switch alert.state {
            case .pending:
                continue
            case .firing:
                if let last = notifiedAt[alert.id]?[receiver] {
                    if elapsed - last < repeatInterval { continue }
                } else if let last = alert.notified[receiver], now - last < repeatInterval {
                    continue
                }
                if isMuted(alert, now: now) { continue }
                firing.append(alert)
            case .resolved:
                if alert.notified[receiver] != nil, !alert.resolutionSent.contains(receiver) { resolved.append(alert) }
            }
        }
        return (firing.sorted { $0.id < $1.id }, resolved.sorted { $0.id < $1.id })
    }

    /// Records that a receiver was told of these firing alerts at `now` (wall clock) and
    /// `monotonic` (default: `now`).
    public mutating func markNotified(_ ids: [String], receiver: String, now: Double, monotonic: Double? = nil) {
        for id in ids where alerts[id] != nil {
            alerts[id]?.notified[receiver] = now
            notifiedAt[id, default: [:]][receiver] = monotonic ?? now
        }
    }

    /// Records that a receiver was told that these alerts are resolved.
    public mutating func markResolutionSent(_ ids: [String], receiver: String) {
        for id in ids { alerts[id]?.resolutionSent.insert(receiver) }
    }

    /// Adds or replaces a silence.
    public mutating func setSilence(_ silence: Silence) { silences[silence.id] = silence }

    /// Removes a silence; returns whether it existed.
    @discardableResult
    public mutating func removeSilence(id: String) -> Bool { silences.removeValue(forKey: id) != nil }

    /// Drops silences that ended before `time`; returns whether any was dropped.
    public mutating func expireSilences(before time: Double) -> Bool {
        let ended = silences.values.filter { $0.endsAt < time }.map(\.id)
        for id in ended { silences[id] = nil }
        return !ended.isEmpty
    }

    /// Alerts, firing first, then by severity and id.
    public func sortedAlerts() -> [Alert] {
        alerts.values.sorted { a, b in
            if a.state != b.state { return a.state.order < b.state.order }
            if a.severity != b.severity { return a.severity > b.severity }
            return a.id < b.id
        }
    }

    /// `alertname`, `severity`, the target's kind label, the series, the target's own labels and the
    /// rule's labels (which cannot replace the identity labels).
    static func labels(rule: AlertRule, match: AlertMatch) -> [String: String] {
        var labels = rule.labels
        labels.merge(match.targetLabels) { _, target in target }
        labels["alertname"] = rule.name
        labels["severity"] = rule.severity.rawValue
        labels[match.target.kind.rawValue] = match.target.name
        if !match.series.isEmpty { labels["series"] = match.series }
        return labels
    }

    /// Fills a summary's placeholders.
    static func render(_ template: String, rule: AlertRule, match: AlertMatch) -> String {
        guard template.contains("{{") else { return template }
        var text = template
        let value = match.value.map { $0.rounded() == $0 && abs($0) < 1e15 ? String(Int64($0)) : String($0) } ?? ""
        for (placeholder, replacement) in [
            ("{{target}}", match.target.name), ("{{kind}}", match.target.kind.rawValue), ("{{value}}", value),
            ("{{series}}", match.series), ("{{status}}", match.status.rawValue), ("{{rule}}", rule.name),
        ] {
            text = text.replacing(placeholder, with: replacement)
        }
        return text
    }
}

extension Alert.State {
    fileprivate var order: Int {
        switch self {
        case .firing: 0
        case .pending: 1
        case .resolved: 2
        }
    }
}

extension Silence {
    /// Whether every matcher matches the labels.
    static func matchAll(_ matchers: [String: String], _ labels: [String: String]) -> Bool {
        matchers.allSatisfy { name, pattern in labels[name].map { AlertRule.glob(pattern, matches: $0) } ?? false }
    }
}
