//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// How a sample's value is compared with a rule's bound.
public enum AlertComparison: String, Sendable, Hashable, Codable, CaseIterable {
    /// Strictly greater than the bound.
    case above
    /// Strictly less than the bound.
    case below

    /// Whether `value` is on the alerting side of `bound`.
    @inlinable
    public func holds(_ value: Double, _ bound: Double) -> Bool {
        switch self {
        case .above: value > bound
        case .below: value < bound
        }
    }

    /// The PromQL operator with the same meaning.
    public var promQLOperator: String {
        switch self {
        case .above: ">"
        case .below: "<"
        }
    }
}

/// What must hold of a target for a rule's alert to be active.
public enum AlertCondition: Sendable, Hashable {
    /// The target's status is one of these.
    case status(Set<TargetStatus>)
    /// A string attribute equals one of these values. The path reaches into nested objects:
    /// `["failover", "state"]` is the `state` field of the `failover` attribute.
    case attribute(path: [String], values: Set<String>)
    /// A sample's latest value is above or below a bound. `sample` is the sample name; every
    /// labelled series of that name is checked on its own.
    case threshold(sample: String, comparison: AlertComparison, bound: Double)
    /// A sample's change per second, between two evaluations, is above or below a bound.
    case rate(sample: String, comparison: AlertComparison, bound: Double)
    /// Nothing has been observed about the target for longer than this many seconds.
    case stale(seconds: Double)
    /// The target has no value for this sample (it stopped reporting it, or never did).
    case absent(sample: String)

    /// The sample the condition reads, if it reads one.
    public var sample: String? {
        switch self {
        case .threshold(let sample, _, _), .rate(let sample, _, _), .absent(let sample): sample
        case .status, .attribute, .stale: nil
        }
    }
}

/// One alerting rule: which targets it watches, the condition, and how its alerts are labelled.
public struct AlertRule: Sendable, Hashable {
    /// The rule's name, which is the alert's `alertname` label (`GatewayDown`).
    public var name: String
    /// The kind of target the rule watches, or every kind when nil.
    public var kind: TargetKind?
    /// Target names the rule watches (`*` matches any run of characters); empty means all.
    public var targets: [String]
    /// String attributes a target must have (equality), for example `type = "instance"`.
    public var matchAttributes: [String: String]
    /// String attributes that exclude a target (equality).
    public var excludeAttributes: [String: String]
    /// The condition.
    public var condition: AlertCondition
    /// How long, in seconds, the condition must hold before the alert fires (0: at once).
    public var forSeconds: Double
    /// `info`, `warning` or `critical`.
    public var severity: Event.Severity
    /// A sentence with placeholders: `{{target}}`, `{{kind}}`, `{{value}}`, `{{series}}`,
    /// `{{status}}`, `{{rule}}`.
    public var summary: String
    /// Extra labels on every alert of the rule.
    public var labels: [String: String]

    /// Creates a rule.
    public init(
        name: String,
        kind: TargetKind? = nil,
        targets: [String] = [],
        matchAttributes: [String: String] = [:],
        excludeAttributes: [String: String] = [:],
        condition: AlertCondition,
        forSeconds: Double = 0,
        severity: Event.Severity = .warning,
        summary: String = "",
        labels: [String: String] = [:]
    ) {
        self.name = name
        self.kind = kind
        self.targets = targets
        self.matchAttributes = matchAttributes
        self.excludeAttributes = excludeAttributes
        self.condition = condition
        self.forSeconds = forSeconds
        self.severity = severity
        self.summary = summary.isEmpty ? "{{rule}} on {{kind}} {{target}}" : summary
        self.labels = labels
    }

    /// Whether the rule watches a target, by kind, name pattern and attributes.
    public func watches(_ state: TargetState) -> Bool {
        if let kind, state.target.kind != kind { return false }
        if !targets.isEmpty, !targets.contains(where: { Self.glob($0, matches: state.target.name) }) { return false }
        for (key, value) in matchAttributes where state.attributes[key]?.string != value { return false }
        for (key, value) in excludeAttributes where state.attributes[key]?.string == value { return false }
        return true
    }

    /// Whether a pattern with `*` wildcards matches a whole name.
    public static func glob(_ pattern: String, matches name: String) -> Bool {
        if !pattern.contains("*") { return pattern == name }
        let parts = pattern.split(separator: "*", omittingEmptySubsequences: false)
        var rest = Substring(name)
        for (index, part) in parts.enumerated() {
            if index == 0 {
                guard rest.hasPrefix(part) else { return false }
                rest = rest.dropFirst(part.count)
            } else if index == parts.count - 1 {
                return part.isEmpty || rest.hasSuffix(part)
            } else if !part.isEmpty {
                guard let range = rest.firstRange(of: part) else { return false }
                rest = rest[range.upperBound...]
            }
        }
        return rest.isEmpty
    }

    /// The built-in rules: every one can be switched off by name (`[alerting] disable = [...]`) or
    /// replaced by a configured rule with the same name.
    public static let builtIn: [AlertRule] = [
        AlertRule(
            name: "GatewayDown",
            kind: .gateway,
            condition: .status([.down, .stale]),
            forSeconds: 30,
            severity: .critical,
            summary: "Janus gateway {{target}} is {{status}}"
        ),
        AlertRule(
            name: "GatewayFailedOver",
            kind: .gateway,
            condition: .attribute(path: [AttributeName.failover.rawValue, AttributeName.state.rawValue], values: ["failed_over", "distributed"]),
            severity: .warning,
            summary: "Janus gateway {{target}} has failed over"
        ),
        AlertRule(
            name: "DeviceExpired",
            kind: .device,
            condition: .attribute(path: [AttributeName.state.rawValue], values: ["expired"]),
            severity: .warning,
            summary: "Device {{target}} has been silent past its watch timeout"
        ),
        AlertRule(
            name: "AgentGivenUp",
            kind: .agent,
            condition: .status([.error]),
            severity: .critical,
            summary: "Agent {{target}} keeps stopping; Vigil gave up restarting it"
        ),
        AlertRule(
            name: "StreamDown",
            kind: .stream,
            excludeAttributes: [AttributeName.type.rawValue: "instance"],
            condition: .status([.down, .stale]),
            forSeconds: 30,
            severity: .warning,
            summary: "Stream {{target}} is {{status}}"
        ),
        AlertRule(
            name: "MediaServerDown",
            kind: .stream,
            matchAttributes: [AttributeName.type.rawValue: "instance"],
            condition: .status([.down, .stale]),
            forSeconds: 30,
            severity: .critical,
            summary: "MediaMTX instance {{target}} is unreachable"
        ),
        AlertRule(
            name: "HostDown",
            kind: .host,
            condition: .status([.down, .stale]),
            forSeconds: 30,
            severity: .critical,
            summary: "Host {{target}} stopped reporting"
        ),
    ]
}
