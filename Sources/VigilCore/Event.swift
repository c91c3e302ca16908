//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// A change worth telling: a gateway went offline, a device expired, a failover completed, an
/// agent was given up on, an announcement was delivered.
public struct Event: Sendable, Hashable, Codable {
    /// How urgent an event is.
    public enum Severity: String, Sendable, Hashable, Codable, Comparable {
        case info
        case warning
        case critical

        private var rank: Int {
            switch self {
            case .info: 0
            case .warning: 1
            case .critical: 2
            }
        }

        public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
    }

    /// A store-assigned, increasing identifier (0 until the event is stored).
    public var id: Int64
    /// When it happened, in seconds since the epoch.
    public var time: Double
    /// The target it concerns, if any.
    public var target: TargetID?
    /// A short machine-readable type: `status_changed`, `expired`, `failover_completed`, ...
    public var type: String
    /// How urgent it is.
    public var severity: Severity
    /// A sentence for people.
    public var message: String
    /// Structured details.
    public var fields: [String: String]

    /// Creates an event.
    public init(
        id: Int64 = 0,
        time: Double,
        target: TargetID? = nil,
        type: String,
        severity: Severity = .info,
        message: String,
        fields: [String: String] = [:]
    ) {
        self.id = id
        self.time = time
        self.target = target
        self.type = type
        self.severity = severity
        self.message = message
        self.fields = fields
    }
}
