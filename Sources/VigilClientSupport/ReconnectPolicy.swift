//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// How a protocol client spaces its reconnection attempts: capped exponential backoff with jitter.
///
/// MQTT, Redis and XMPP share this one type so that every client counts attempts, grows delays and
/// spreads them the same way. Attempts are numbered from 1: attempt *n* is the *n*-th connection
/// attempt after a failure or a lost connection, and the client waits ``delay(forAttempt:random:)``
/// before it.
///
/// The delay before attempt *n* is `initialDelay × multiplier^(n−1)`, capped at ``maximumDelay``,
/// then shortened by a random fraction of at most ``jitter``: with `jitter` 0.2 it lies between 80 %
/// and 100 % of that value. Jitter only ever shortens a delay, so ``maximumDelay`` is a true upper
/// bound, and clients that lost the same server do not come back in lockstep.
///
/// Every value is range-checked where it is used rather than trusted: negative durations count as
/// zero, durations are limited to ``longestDelay``, a multiplier below 1 (or NaN) counts as 1, jitter
/// is clamped to `0...1` and ``maxAttempts`` below 1 counts as 1. No configuration traps.
///
/// ```swift
/// let policy = ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(10), jitter: 0.5)
/// var generator = SystemRandomNumberGenerator()
/// let wait = policy.delay(forAttempt: 3, using: &generator)   // between 200 ms and 400 ms
/// ```
public struct ReconnectPolicy: Sendable, Hashable {
    /// The longest delay this type produces, about 31.7 years (10⁹ s).
    ///
    /// It keeps every intermediate value exact enough in `Double` and within `Int64` nanoseconds,
    /// so a policy read from a configuration file can never overflow a `Duration` or a NIO
    /// `TimeAmount`.
    public static let longestDelay: Duration = .seconds(1_000_000_000)

    /// The delay before the first attempt.
    public var initialDelay: Duration
    /// The largest delay between attempts, before jitter.
    public var maximumDelay: Duration
    /// The factor by which the delay grows after each failed attempt (2 doubles it).
    public var multiplier: Double
    /// The largest random reduction of each delay, as a fraction between 0 and 1.
    public var jitter: Double
    /// After this many consecutive failed attempts the client gives up and its `run()` throws the
    /// last error; `nil` retries forever.
    public var maxAttempts: Int?

    /// Creates a policy.
    ///
    /// - Parameters:
    ///   - initialDelay: The delay before the first attempt (default 0.5 s).
    ///   - maximumDelay: The cap on the delay (default 30 s).
    ///   - multiplier: The growth factor per attempt (default 2).
    ///   - jitter: The largest random reduction, a fraction between 0 and 1 (default 0.2).
    ///   - maxAttempts: The number of consecutive failed attempts before giving up (default `nil`:
    ///     never).
    public init(
        initialDelay: Duration = .milliseconds(500),
        maximumDelay: Duration = .seconds(30),
        multiplier: Double = 2,
        jitter: Double = 0.2,
        maxAttempts: Int? = nil
    ) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.multiplier = multiplier
        self.jitter = jitter
        self.maxAttempts = maxAttempts
    }

    /// The delay before an attempt without jitter: `initialDelay × multiplier^(attempt−1)`, capped.
    ///
    /// - Parameter attempt: The attempt number, from 1; smaller numbers count as 1.
    /// - Returns: The delay, between zero and the capped ``maximumDelay``.
    public func baseDelay(forAttempt attempt: Int) -> Duration {
        Self.duration(seconds: baseSeconds(forAttempt: attempt))
    }

    /// The delay before an attempt, with jitter drawn from a given number.
    ///
    /// - Parameters:
    ///   - attempt: The attempt number, from 1; smaller numbers count as 1.
    ///   - random: A number in `0...1`: 0 gives the largest reduction, 1 none. Tests pass a fixed
    ///     one; values outside the range (or NaN) are clamped.
    /// - Returns: The delay to wait.
    public func delay(forAttempt attempt: Int, random: Double = Double.random(in: 0...1)) -> Duration {
        let random = random.isNaN ? 1 : min(max(random, 0), 1)
        let jitter = jitter.isNaN ? 0 : min(max(jitter, 0), 1)
        return Self.duration(seconds: baseSeconds(forAttempt: attempt) * (1 - jitter * (1 - random)))
    }

    /// The delay before an attempt, with jitter drawn from `generator`.
    ///
    /// - Parameters:
    ///   - attempt: The attempt number, from 1; smaller numbers count as 1.
    ///   - generator: The random source; a seeded one makes the delays repeatable in tests.
    /// - Returns: The delay to wait.
    public func delay(forAttempt attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        delay(forAttempt: attempt, random: Double.random(in: 0...1, using: &generator))
    }

    /// Whether the client may try again after a number of consecutive failed attempts.
    ///
    /// - Parameter failures: How many attempts in a row have failed.
    /// - Returns: `true` when ``maxAttempts`` is `nil` or larger than `failures`.
    public func allowsRetry(afterFailures failures: Int) -> Bool {
        guard let maxAttempts else { return true }
        return failures < max(maxAttempts, 1)
    }

    // MARK: - Range checks

    private func baseSeconds(forAttempt attempt: Int) -> Double {
        let initial = Self.seconds(initialDelay)
        let maximum = max(initial, Self.seconds(maximumDelay))
        guard initial > 0 else { return 0 }
        let multiplier = multiplier.isNaN ? 1 : max(multiplier, 1)
        let grown = initial * Self.power(multiplier, max(attempt, 1) - 1)
        return grown <= maximum ? grown : maximum
    }

    /// `base^exponent` by repeated squaring: O(log n) steps even for `Int.max`, and the standard
    /// library has no `pow` without Foundation. Overflow gives +infinity, which the caller caps.
    private static func power(_ base: Double, _ exponent: Int) -> Double {
        var result = 1.0
        var factor = base
        var remaining = exponent
        while remaining > 0 && result.isFinite {
            if remaining & 1 == 1 { result *= factor }
            remaining >>= 1
            factor *= factor
        }
        return result
    }

    /// A duration in seconds, clamped to `0...longestDelay`.
    private static func seconds(_ duration: Duration) -> Double {
        guard duration > .zero else { return 0 }
        let (seconds, attoseconds) = min(duration, longestDelay).components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// A duration from seconds in `0...longestDelay`, to the nearest nanosecond.
    private static func duration(seconds: Double) -> Duration {
        .nanoseconds(Int64((min(max(seconds, 0), 1e9) * 1e9).rounded()))
    }
}
