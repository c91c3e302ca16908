//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// How fresh a gateway's information is, judged from its last explicit status and the last time
/// anything was heard from it (a status message or an admin reply).
///
/// Staleness is a warning, never a failure: a stale gateway does not fail over (seed 000).
public enum GatewayStaleness: Sendable, Hashable {
    /// Nothing is known yet.
    case unknown
    /// The gateway said it is offline.
    case offline
    /// Online and heard from within the threshold.
    case fresh
    /// Online, but not heard from for `sinceLastSeen` seconds, more than the threshold.
    case stale(sinceLastSeen: Double)

    /// Evaluates a gateway.
    ///
    /// - Parameters:
    ///   - online: The last explicit status, `nil` when none is known.
    ///   - lastSeen: When the gateway was last heard from (seconds since the epoch), if ever.
    ///   - now: The current time.
    ///   - threshold: Seconds of silence after which an online gateway is stale.
    /// - Returns: The verdict.
    public static func evaluate(online: Bool?, lastSeen: Double?, now: Double, threshold: Double) -> GatewayStaleness {
        switch online {
        case nil: return .unknown
        case false?: return .offline
        case true?:
            guard let lastSeen else { return .fresh }
            let silence = now - lastSeen
            return silence > threshold ? .stale(sinceLastSeen: silence) : .fresh
        }
    }

    /// Whether this is ``stale(sinceLastSeen:)``.
    public var isStale: Bool {
        if case .stale = self { return true }
        return false
    }
}
