//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Something a source saw about one target at one moment.
///
/// Sources (gateways, devices, streams, host) produce observations and hand them to the ``Hub``;
/// they never touch stores, metrics or clients of the live feed themselves.
public struct Observation: Sendable, Hashable {
    /// The target the observation is about.
    public var target: TargetID
    /// When it was seen, in seconds since the Unix epoch.
    public var time: Double
    /// The new status, or `nil` when the observation carries only samples or attributes.
    public var status: TargetStatus?
    /// Attributes to merge into the target's latest state (`nil` values remove an attribute).
    public var attributes: [String: JSONValue?]
    /// Numeric samples, stored as history and exported as metrics.
    public var samples: [Sample]

    /// Creates an observation.
    public init(
        target: TargetID,
        time: Double,
        status: TargetStatus? = nil,
        attributes: [String: JSONValue?] = [:],
        samples: [Sample] = []
    ) {
        self.target = target
        self.time = time
        self.status = status
        self.attributes = attributes
        self.samples = samples
    }
}

/// One numeric measurement of a target.
///
/// The hub exports it as the metric `vigil_<kind>_<name>` with the label `<kind>="<target>"` plus
/// ``labels`` (or under the name and labels of its ``seedMetric``), and appends it to the history
/// series ``seriesKey(for:)``.
public struct Sample: Sendable, Hashable {
    /// How a sample's value is to be read.
    public enum Kind: Sendable, Hashable {
        /// A value that goes up and down (bytes in use, sessions).
        case gauge
        /// A running total that only grows, except when its source restarts (CPU seconds, bytes sent).
        case counter
    }

    /// The measurement name, snake_case with a unit suffix (`cpu_usage_ratio`, `rx_bytes_total`).
    public var name: String
    /// The value.
    public var value: Double
    /// Whether the value is a gauge or a running total.
    public var kind: Kind
    /// Extra labels, ordered, such as `("interface", "eth0")`.
    public var labels: [Label]
    /// Whether the hub keeps the sample as history (the dashboard's charts) as well as a metric.
    public var recordHistory: Bool
    /// The name and target label a seed fixes for this measurement, when it is exported under them
    /// instead of `vigil_<kind>_<name>{<kind>="<target>"}`.
    ///
    /// Such a sample is a metric only: the hub keeps no history of it and does not show it in the
    /// target's ``TargetState/values``, because the target already carries the same fact under
    /// Vigil's own names.
    public var seedMetric: SeedMetric?

    /// Creates a sample.
    public init(_ name: String, _ value: Double, kind: Kind = .gauge, labels: [Label] = [], recordHistory: Bool = true) {
        self.name = name
        self.value = value
        self.kind = kind
        self.labels = labels
        self.recordHistory = recordHistory
        self.seedMetric = nil
    }

    /// Creates a sample exported under a name and labels a seed fixes, for example
    /// `galaxy_gateways_sessions{name="gxy1",type="rooms"}` from a gateway's observation.
    ///
    /// - Parameters:
    ///   - seedMetric: The exported name and the label that carries the target's name.
    ///   - value: The value.
    ///   - kind: Gauge, or a running total.
    ///   - labels: The labels after the target label, in the seed's order.
    public init(_ seedMetric: SeedMetric, _ value: Double, kind: Kind = .gauge, labels: [Label] = []) {
        self.name = seedMetric.name
        self.value = value
        self.kind = kind
        self.labels = labels
        self.recordHistory = false
        self.seedMetric = seedMetric
    }

    /// The metric this sample is exported as for a target.
    public func metricName(for target: TargetID) -> String {
        seedMetric?.name ?? "vigil_\(target.kind.rawValue)_\(name)"
    }

    /// The metric labels of this sample for a target: the target label, then ``labels``.
    public func metricLabels(for target: TargetID) -> [(String, String)] {
        let own = labels.map { ($0.name, $0.value) }
        guard let seedMetric else { return [(target.kind.rawValue, target.name)] + own }
        guard let targetLabel = seedMetric.targetLabel else { return own }
        return [(targetLabel, target.name)] + own
    }

    /// The history series key of this sample for a target: `kind/name/metric` followed by
    /// `{label=value,...}` when the sample has labels.
    public func seriesKey(for target: TargetID) -> String {
        var key = "\(target.kind.rawValue)/\(target.name)/\(name)"
        if !labels.isEmpty {
            key += "{" + labels.map { "\($0.name)=\($0.value)" }.joined(separator: ",") + "}"
        }
        return key
    }
}

/// A metric name fixed by a seed, with the label that carries the target's name.
///
/// The seed-fixed `galaxy_*` gateway metrics flow through the hub like every other sample; only
/// their names and labels differ from Vigil's scheme.
public struct SeedMetric: Sendable, Hashable {
    /// The exported metric name, verbatim.
    public var name: String
    /// The label that carries the target's name (`name` for `galaxy_gateways_sessions`), or `nil`
    /// when the seed's labels do not name the target.
    public var targetLabel: String?

    /// Creates a seed metric.
    public init(_ name: String, targetLabel: String?) {
        self.name = name
        self.targetLabel = targetLabel
    }
}

/// A metric label: a name and a value.
public struct Label: Sendable, Hashable, Codable {
    /// The label name.
    public var name: String
    /// The label value.
    public var value: String

    /// Creates a label.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

extension SeedMetric {
    /// `galaxy_gateways_sessions{name,type="rooms"}`: sessions of a configured gateway (seed 000).
    public static let galaxyGatewaysSessions = SeedMetric("galaxy_gateways_sessions", targetLabel: "name")
    /// `gxydb_gateway_sessions{name,type}`: the name gxydb-api's setup guide checks (its code exports
    /// only `galaxy_gateways_sessions`); an opt-in alias for sites whose dashboards use it.
    public static let gxydbGatewaySessions = SeedMetric("gxydb_gateway_sessions", targetLabel: "name")
    /// `galaxy_failover_active{failed_server,failover_server}`: 1 while a failed primary's load is on
    /// a spare, then 0 (seed 000). Observed on the failed primary.
    public static let galaxyFailoverActive = SeedMetric("galaxy_failover_active", targetLabel: "failed_server")
    /// `galaxy_failover_events_total{event,failed_server,failover_server}`: failover events (seed
    /// 000), a running total observed on the failed primary; its labels are all explicit because
    /// the seed puts `event` first.
    public static let galaxyFailoverEventsTotal = SeedMetric("galaxy_failover_events_total", targetLabel: nil)
}
