//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import VigilCore

/// Bounds how often a target's updates reach live clients when only its samples or attributes
/// changed.
///
/// A state whose **status** differs from the last one sent goes out at once. Any other update of a
/// target goes out at most once per ``interval``: updates that arrive sooner are held, newer ones
/// replace older ones, and the newest is sent when the interval has passed (trailing edge), so the
/// last value is never lost. A pure value: the caller supplies the time.
struct LiveSampleLimiter: Sendable {
    /// The least time between two sample-only updates of one target, in seconds.
    var interval: Double

    private var lastSent: [TargetID: (time: Double, status: TargetStatus)] = [:]
    private var held: [TargetID: TargetState] = [:]

    /// Creates a limiter.
    init(interval: Double) {
        self.interval = interval
    }

    /// How many targets have a held update.
    var heldCount: Int { held.count }

    /// Offers a state; returns it when it should be sent now, `nil` when it is held.
    mutating func offer(_ state: TargetState, now: Double) -> TargetState? {
        if interval > 0, let last = lastSent[state.target], last.status == state.status, now - last.time < interval {
            held[state.target] = state
            return nil
        }
        held[state.target] = nil
        lastSent[state.target] = (now, state.status)
        return state
    }

    /// Forgets a target that is no longer watched, so a held update cannot bring it back.
    mutating func forget(_ target: TargetID) {
        held[target] = nil
        lastSent[target] = nil
    }

    /// Takes the held states whose interval has passed, in target order.
    mutating func due(now: Double) -> [TargetState] {
        guard !held.isEmpty else { return [] }
        var result: [TargetState] = []
        for (target, state) in held where now - (lastSent[target]?.time ?? -.infinity) >= interval {
            result.append(state)
        }
        for state in result {
            held[state.target] = nil
            lastSent[state.target] = (now, state.status)
        }
        return result.sorted { $0.target < $1.target }
    }
}
