//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The latest known state of one target, as kept by the ``LatestStore`` and shown by the API.
public struct TargetState: Sendable, Hashable, Codable {
    /// The target.
    public var target: TargetID
    /// Its current status.
    public var status: TargetStatus
    /// When the status last changed (seconds since the epoch).
    public var since: Double
    /// When anything about the target was last observed (seconds since the epoch).
    public var updatedAt: Double
    /// Free-form attributes (sessions, last error, bitrate, ...).
    public var attributes: [String: JSONValue]
    /// The latest value of each sample, keyed by sample name (plus labels when it has any).
    public var values: [String: Double]

    /// Creates a state.
    public init(
        target: TargetID,
        status: TargetStatus = .unknown,
        since: Double,
        updatedAt: Double,
        attributes: [String: JSONValue] = [:],
        values: [String: Double] = [:]
    ) {
        self.target = target
        self.status = status
        self.since = since
        self.updatedAt = updatedAt
        self.attributes = attributes
        self.values = values
    }

    /// Applies an observation and returns whether the status changed.
    @discardableResult
    public mutating func apply(_ observation: Observation) -> Bool {
        var changed = false
        if let status = observation.status, status != self.status {
            self.status = status
            self.since = observation.time
            changed = true
        }
        updatedAt = max(updatedAt, observation.time)
        for (key, value) in observation.attributes {
            attributes[key] = value
        }
        for sample in observation.samples where sample.seedMetric == nil {
            values[sample.valueKey] = sample.value
        }
        return changed
    }
}

extension Sample {
    /// The key under which ``TargetState/values`` keeps this sample's latest value.
    public var valueKey: String {
        labels.isEmpty ? name : name + "{" + labels.map { "\($0.name)=\($0.value)" }.joined(separator: ",") + "}"
    }
}
