//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Paces sends to one global rate (seed 001: `[ejabberd] rate_limit`, messages per second, shared
/// by every connection to every node).
///
/// A token bucket holding at most ``burst`` sends, refilled at ``rate`` per second. A send that
/// finds the bucket empty is not refused: it reserves the next slot and is told how long to wait,
/// so concurrent senders queue fairly in the order they asked and the long-run rate never exceeds
/// ``rate``. A pure value: the caller supplies the time.
public struct SendPacer: Sendable, Hashable {
    /// Sends per second; zero or less means unlimited.
    public let rate: Double
    /// How many sends may go out at once after a quiet period.
    public let burst: Double
    private var tokens: Double
    private var last: Double?

    /// Creates a pacer.
    ///
    /// - Parameters:
    ///   - rate: Sends per second; zero or less means unlimited.
    ///   - burst: The bucket size; by default one send, so sends are evenly spaced.
    public init(rate: Double, burst: Double = 1) {
        self.rate = rate
        self.burst = max(1, burst)
        self.tokens = max(1, burst)
    }

    /// Reserves one send; returns the seconds to wait before sending (0 when it may go now).
    public mutating func reserve(now: Double) -> Double {
        guard rate > 0 else { return 0 }
        if let last, now > last {
            tokens = min(burst, tokens + (now - last) * rate)
        }
        last = max(last ?? now, now)
        tokens -= 1
        return tokens >= 0 ? 0 : -tokens / rate
    }
}

/// When to try a failed send again (seed 001: `[ejabberd] send_retry`, "with growing pauses").
///
/// Pauses double from ``initial`` up to ``maximum``. After ``retries`` failed retries the
/// announcer does not drop the message silently, as the original did: it records the failure
/// as an event and in `vigil_announcer_messages_total{result="failed"}`.
public struct RetrySchedule: Sendable, Hashable {
    /// Retries after the first attempt.
    public var retries: Int
    /// The pause before the first retry.
    public var initial: Duration
    /// The longest pause.
    public var maximum: Duration

    /// Creates a schedule.
    public init(retries: Int, initial: Duration = .milliseconds(500), maximum: Duration = .seconds(30)) {
        self.retries = max(0, retries)
        self.initial = initial
        self.maximum = maximum
    }

    /// The pause after failed attempt `attempt` (1 = the first send), or `nil` when no retry is left.
    public func pause(afterAttempt attempt: Int) -> Duration? {
        guard attempt >= 1, attempt <= retries else { return nil }
        var pause = initial
        for _ in 1..<attempt {
            pause *= 2
            if pause >= maximum { return maximum }
        }
        return min(pause, maximum)
    }
}

/// Picks connections in turn (seed 001: `cluster_nodes × each_node_conn_num` connections, round
/// robin), skipping ones that are down.
public struct ConnectionRotation: Sendable, Hashable {
    /// The number of connections.
    public let count: Int
    private var next = 0

    /// Creates a rotation over `count` connections.
    public init(count: Int) {
        self.count = max(0, count)
    }

    /// The next usable connection after the last one picked, or `nil` when none is usable.
    public mutating func pick(isUsable: (Int) -> Bool) -> Int? {
        for offset in 0..<count {
            let candidate = (next + offset) % count
            if isUsable(candidate) {
                next = (candidate + 1) % count
                return candidate
            }
        }
        return nil
    }
}
