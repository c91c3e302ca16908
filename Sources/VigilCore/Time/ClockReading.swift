//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// One reading of a ``VigilClock``: its monotonic instant, for deadlines, and its wall clock, for
/// stamps, taken together.
///
/// Pure engines (the watchdog table, the failover state machine, the gateway tracker) are handed a
/// reading instead of reading a clock. They keep every deadline and every "last seen" on the
/// monotonic axis (``seconds``), and turn such a time into a wall-clock stamp only when they show or
/// store it, with ``wallClockSeconds(atMonotonic:)``: the stamp is then "that long before the wall
/// clock's reading now", which stays right after an NTP step and never moves a deadline.
///
/// Tests write a reading as a number: `tracker.tick(now: 130)` is the reading whose monotonic seconds
/// and wall clock are both 130.
public struct ClockReading: Sendable, Hashable, CustomStringConvertible {
    /// The monotonic instant, for deadlines, timeouts and rates.
    public var instant: MonotonicInstant
    /// Seconds since the Unix epoch, for stamps shown to people or stored.
    public var wallClockSeconds: Double

    /// Creates a reading from its two parts.
    public init(instant: MonotonicInstant, wallClockSeconds: Double) {
        self.instant = instant
        self.wallClockSeconds = wallClockSeconds
    }

    /// A reading whose monotonic seconds and wall clock are the same number (tests, simulations).
    /// A value that is not finite or lies beyond the time line saturates at its end.
    public init(seconds: Double) {
        let nanoseconds = seconds * 1e9
        let clamped: Int64 =
            nanoseconds.isNaN ? 0 : nanoseconds >= 9.2e18 ? .max : nanoseconds <= -9.2e18 ? .min : Int64(nanoseconds.rounded())
        self.init(instant: MonotonicInstant(nanoseconds: clamped), wallClockSeconds: seconds)
    }

    /// Monotonic seconds since the clock's origin: the time axis of deadlines in pure engines.
    public var seconds: Double { instant.seconds }

    /// The wall-clock stamp of a time on the monotonic axis (in ``seconds``), as the wall clock
    /// reads now: this reading's wall clock minus the time elapsed since.
    public func wallClockSeconds(atMonotonic monotonicSeconds: Double) -> Double {
        wallClockSeconds - (seconds - monotonicSeconds)
    }

    public var description: String { "\(instant) (wall \(wallClockSeconds))" }
}

extension ClockReading: ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral {
    public init(integerLiteral value: Int) { self.init(seconds: Double(value)) }
    public init(floatLiteral value: Double) { self.init(seconds: value) }
}

extension VigilClock {
    /// The monotonic instant and the wall clock, read together.
    public var reading: ClockReading { ClockReading(instant: now, wallClockSeconds: wallClockSeconds) }
}
