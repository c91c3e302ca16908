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
/// ``labels``, and appends it to the history series ``seriesKey(for:)``.
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

    /// Creates a sample.
    public init(_ name: String, _ value: Double, kind: Kind = .gauge, labels: [Label] = [], recordHistory: Bool = true) {
        self.name = name
        self.value = value
        self.kind = kind
        self.labels = labels
        self.recordHistory = recordHistory
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
