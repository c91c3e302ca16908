//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The kinds of things Vigil watches.
///
/// The raw value is the lowercase word used in URLs, history series keys and metric names.
public enum TargetKind: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// A Janus WebRTC gateway reporting over MQTT (seed 000).
    case gateway
    /// An MQTT device watched for silence (seed 002).
    case device
    /// A local agent process that Vigil supervises (seed 002).
    case agent
    /// A media stream: a MediaMTX path or SRT connection, or a Visionaire camera (seeds 003, 004).
    case stream
    /// A machine whose CPU, memory, network and disk Vigil samples.
    case host

    public var description: String { rawValue }
}

/// The identity of one watched thing: its kind and a name unique within that kind.
public struct TargetID: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    /// The kind of target.
    public var kind: TargetKind
    /// The name, unique within ``kind``.
    public var name: String

    /// Creates a target identity.
    public init(_ kind: TargetKind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    /// `kind/name`, the form used in history series keys and logs.
    public var description: String { "\(kind.rawValue)/\(name)" }

    public static func < (lhs: TargetID, rhs: TargetID) -> Bool {
        (lhs.kind.rawValue, lhs.name) < (rhs.kind.rawValue, rhs.name)
    }
}

/// The health of a target as the dashboard and API report it.
public enum TargetStatus: String, Sendable, Hashable, Codable, CaseIterable {
    /// Seen recently and working.
    case up
    /// Known to be down: an explicit offline message, an expired watchdog, an unreachable API.
    case down
    /// Thought to be up, but not heard from for longer than its staleness threshold.
    case stale
    /// Reachable, but reporting an error (for example a rejected admin secret).
    case error
    /// Not yet seen.
    case unknown
}
