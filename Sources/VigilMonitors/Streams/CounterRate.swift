//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import VigilCore

/// Turns a byte counter into rates over real elapsed time, surviving counter resets.
///
/// Each ``update(value:time:epoch:)`` adds the increase since the previous value to a running
/// total. A counter that went down, or whose `epoch` changed (a publisher reconnected: MediaMTX's
/// `onlineTime`; the server restarted: `/v3/info` `started`), started again from zero, so its whole
/// current value is the increase. Rates are then the total's increase over the time between
/// updates, and over sliding 10 s and 60 s windows.
public struct CounterRate: Sendable, Hashable {
    /// Rates in units per second.
    public struct Rates: Sendable, Hashable {
        /// Since the previous update.
        public var instant: Double
        /// Over the last 10 seconds (or what is known of them).
        public var average10s: Double
        /// Over the last 60 seconds (or what is known of them).
        public var average60s: Double
    }

    private struct Point: Sendable, Hashable {
        var time: Double
        var total: Double
    }

    private var lastValue: Double?
    private var lastEpoch: String?
    private var total: Double = 0
    private var points: [Point] = []

    /// Creates an empty rate.
    public init() {}

    /// Adds a reading.
    ///
    /// - Parameters:
    ///   - value: The counter's current value.
    ///   - time: When it was read, in seconds on a clock that does not jump (monotonic).
    ///   - epoch: Something that changes when the counter restarts, if known.
    /// - Returns: The rates, or `nil` for the first reading (or a reading not later than the last).
    public mutating func update(value: Double, time: Double, epoch: String? = nil) -> Rates? {
        defer {
            lastValue = value
            lastEpoch = epoch
        }
        guard let lastValue, let last = points.last else {
            points = [Point(time: time, total: total)]
            return nil
        }
        guard time > last.time else { return nil }
        let epochChanged = epoch != nil && lastEpoch != nil && epoch != lastEpoch
        total += counterIncrease(from: lastValue, to: value, restarted: epochChanged)
        points.append(Point(time: time, total: total))
        // Keep one point at or before the 60 s window start so the window can be measured.
        while points.count > 2, points[1].time <= time - 60 { points.removeFirst() }
        return Rates(
            instant: (total - last.total) / (time - last.time),
            average10s: average(over: 10, now: time),
            average60s: average(over: 60, now: time)
        )
    }

    private func average(over window: Double, now: Double) -> Double {
        // The oldest point inside the window, or the newest before it when none is inside.
        let start = points.first { $0.time >= now - window } ?? points[points.count - 2]
        let first = start.time < now ? start : points[points.count - 2]
        guard now > first.time else { return 0 }
        return (total - first.total) / (now - first.time)
    }
}
