//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Vigil's one notion of time: a monotonic clock for every deadline, timeout, backoff and rate, and a
/// wall-clock reading only for timestamps that people see or that are stored.
///
/// The two are kept apart on purpose. An NTP step moves the wall clock by any amount in either
/// direction; a deadline computed from it would expire every device at once after a step forward and
/// delay expiries and failover after a step back. ``now`` never jumps, so a deadline stays where it
/// was set whatever the wall clock does.
///
/// Production code uses ``SystemClock``; tests use ``ManualClock``, which moves only when told and can
/// step its wall clock independently of its monotonic time.
///
/// ```swift
/// let deadline = clock.now.advanced(by: .seconds(30))
/// try await clock.sleep(until: deadline, tolerance: nil)
/// let stamp = clock.wallClockSeconds   // for an Event's time, never for the deadline
/// ```
public protocol VigilClock: Clock, Sendable where Instant == MonotonicInstant {
    /// Seconds since the Unix epoch, for timestamps shown to people or stored. Never use it for a
    /// deadline: it jumps when the system time is set.
    var wallClockSeconds: Double { get }
}

/// A point on Vigil's monotonic time line: nanoseconds since an arbitrary origin fixed for the life
/// of the clock that made it.
///
/// Arithmetic saturates instead of trapping, so a duration chosen by a configuration file or a peer
/// (however large) can never crash the process; it only lands at the end of the time line.
public struct MonotonicInstant: InstantProtocol, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since the clock's origin.
    public var nanoseconds: Int64

    /// Creates an instant from nanoseconds since the clock's origin.
    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    /// The clock's origin.
    public static let zero = MonotonicInstant(nanoseconds: 0)

    /// An instant later than any reachable one (a deadline that never comes).
    public static let distantFuture = MonotonicInstant(nanoseconds: .max)

    /// Seconds since the origin, for pure engines that keep their deadlines as `Double`.
    public var seconds: Double { Double(nanoseconds) / 1e9 }

    /// The instant `duration` after this one, saturating at the ends of the time line.
    public func advanced(by duration: Duration) -> MonotonicInstant {
        MonotonicInstant(nanoseconds: Self.saturatingAdd(nanoseconds, duration.saturatingNanoseconds))
    }

    /// The duration from this instant to `other`.
    public func duration(to other: MonotonicInstant) -> Duration {
        let (difference, overflow) = other.nanoseconds.subtractingReportingOverflow(nanoseconds)
        if overflow { return other.nanoseconds > nanoseconds ? .nanoseconds(Int64.max) : .nanoseconds(Int64.min) }
        return .nanoseconds(difference)
    }

    public static func < (lhs: MonotonicInstant, rhs: MonotonicInstant) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }

    public var description: String { "+\(seconds)s" }

    static func saturatingAdd(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        if overflow { return b > 0 ? .max : .min }
        return sum
    }
}

extension Duration {
    /// This duration in whole nanoseconds, saturating at `Int64.min`/`Int64.max` (about ±292 years)
    /// instead of trapping.
    public var saturatingNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (fromSeconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds > 0 ? .max : .min }
        return MonotonicInstant.saturatingAdd(fromSeconds, attoseconds / 1_000_000_000)
    }

    /// This duration in seconds as a `Double`, for rates and for pure engines keeping seconds.
    public var secondsDouble: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// A duration from a number of seconds, or `nil` when the value is not finite or lies outside
    /// ±100 years (no configured or reported duration is meaningfully longer).
    public static func checkedSeconds(_ value: Double) -> Duration? {
        guard value.isFinite, abs(value) <= Self.maximumCheckedSeconds else { return nil }
        return .nanoseconds(Int64((value * 1e9).rounded()))
    }

    /// The bound ``checkedSeconds(_:)`` accepts: 100 years in seconds.
    public static let maximumCheckedSeconds: Double = 100 * 365.25 * 86_400
}

/// The system's clocks: `CLOCK_MONOTONIC` for ``now`` and `CLOCK_REALTIME` for ``wallClockSeconds``.
///
/// `CLOCK_MONOTONIC` is not affected by setting the system time (NTP steps, an operator's `date -s`);
/// NTP may slew its rate by a few parts per million, which no deadline of Vigil's notices.
public struct SystemClock: VigilClock {
    /// Creates the system clock.
    public init() {}

    public var now: MonotonicInstant {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return MonotonicInstant(nanoseconds: Int64(spec.tv_sec) &* 1_000_000_000 &+ Int64(spec.tv_nsec))
    }

    public var minimumResolution: Duration { .nanoseconds(1) }

    public var wallClockSeconds: Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    public func sleep(until deadline: MonotonicInstant, tolerance: Duration? = nil) async throws {
        let remaining = now.duration(to: deadline)
        guard remaining > .zero else {
            try Task.checkCancellation()
            return
        }
        // SuspendingClock is CLOCK_MONOTONIC on Linux too, so sleeping the remaining duration on it
        // lands on the same time line as `now`.
        try await SuspendingClock().sleep(for: remaining, tolerance: tolerance)
    }
}

extension VigilClock where Self == SystemClock {
    /// The system clock.
    public static var system: SystemClock { SystemClock() }
}
