//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// How much a running total grew between two readings.
///
/// A total that went down means its source restarted and counted again from zero, so everything it
/// now shows is new. This one rule serves the hub's counter metrics, the host's network rates and
/// the stream bitrates, so that a restart is read the same way everywhere.
///
/// - Parameters:
///   - previous: The earlier reading.
///   - current: The later reading.
///   - restarted: Whether the caller knows of a restart the values alone do not show (for example
///     a changed start time reported by the source).
/// - Returns: The increase, never negative.
@inlinable
public func counterIncrease(from previous: Double, to current: Double, restarted: Bool = false) -> Double {
    restarted || current < previous ? max(0, current) : current - previous
}
