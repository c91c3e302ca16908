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
        update(with: observation).contains(.status)
    }

    /// What an observation changed in a state.
    public struct Changes: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// The status.
        public static let status = Changes(rawValue: 1)
        /// An attribute or a value. A newer ``TargetState/updatedAt`` alone is not a change.
        public static let content = Changes(rawValue: 2)
    }

    /// Applies an observation and says what it changed, so that the hub persists and publishes
    /// only states that differ from what was last seen (a fleet's periodic reports mostly repeat).
    public mutating func update(with observation: Observation) -> Changes {
        var changes: Changes = []
        if let status = observation.status, status != self.status {
            self.status = status
            self.since = observation.time
            changes.insert(.status)
        }
        updatedAt = max(updatedAt, observation.time)
        for (key, value) in observation.attributes where attributes[key] != value {
            attributes[key] = value
            changes.insert(.content)
        }
        for sample in observation.samples where sample.seedMetric == nil {
            let key = sample.valueKey
            if values[key] != sample.value {
                values[key] = sample.value
                changes.insert(.content)
            }
        }
        return changes
    }
}

extension Sample {
    /// The key under which ``TargetState/values`` keeps this sample's latest value.
    public var valueKey: String {
        labels.isEmpty ? name : name + "{" + labels.map { "\($0.name)=\($0.value)" }.joined(separator: ",") + "}"
    }
}
