//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
public import Metrics
import Synchronization

/// Limits log lines that a peer can trigger (unknown names, malformed payloads), so that a
/// misbehaving or hostile client cannot flood the log.
///
/// Lines are grouped by a key chosen by the caller from a small fixed set (such as
/// `"malformed_status"`; never a name a peer chooses, or the table would grow with the peer). Each
/// key may log `limit` lines per `interval`; further lines in the same window are suppressed and
/// counted in `vigil_log_lines_suppressed_total{logger}`. The first line after the window, or
/// ``flush(_:now:)``, logs `"N similar lines suppressed"` with the key. At most ``maxKeys`` keys are
/// tracked; further keys share one overflow window.
///
/// ```swift
/// let limiter = LogRateLimiter(label: "vigil.gateways")
/// limiter.log(logger, .warning, key: "malformed_status", "Ignoring malformed gateway status", now: now)
/// ```
public final class LogRateLimiter: Sendable {
    /// Lines logged per key and interval.
    public let limit: Int
    /// The length of one window, in seconds.
    public let interval: Double
    /// How many distinct keys are tracked.
    public static let maxKeys = 64
    private static let overflowKey = "other"

    private struct Window {
        var start: Double
        var logged: Int
        var suppressed: Int
        var level: Logger.Level
    }

    private let windows = Mutex<[String: Window]>([:])
    private let suppressedCounter: Counter
    private let total = Atomic<Int>(0)

    /// Creates a limiter.
    ///
    /// - Parameters:
    ///   - label: The logger label, the `logger` dimension of the suppression counter.
    ///   - limit: Lines logged per key and interval (at least 1).
    ///   - interval: The window length (at least 1 ms).
    ///   - metricsFactory: Where the counter is created.
    public init(label: String, limit: Int = 10, interval: Duration = .seconds(60), metricsFactory: any MetricsFactory = MetricsSystem.factory) {
        self.limit = max(1, limit)
        self.interval = max(0.001, interval.seconds)
        self.suppressedCounter = Counter(label: "vigil_log_lines_suppressed_total", dimensions: [("logger", label)], factory: metricsFactory)
    }

    /// Lines suppressed so far.
    public var suppressedTotal: Int { total.load(ordering: .relaxed) }

    /// Whether a line of `key` may be logged now, and how many lines of the previous window were
    /// suppressed (to report before it).
    ///
    /// - Returns: `nil` when the line must be suppressed (it is counted).
    public func admit(_ key: String, level: Logger.Level = .info, now: Double) -> (suppressedBefore: Int, level: Logger.Level)? {
        let verdict: (Int, Logger.Level)? = windows.withLock { windows in
            let key = windows[key] != nil || windows.count < Self.maxKeys ? key : Self.overflowKey
            guard var window = windows[key], now.isFinite, now < window.start + interval, now >= window.start else {
                // A new window (first line, window over, or a clock that went backwards).
                let previous = windows[key]
                windows[key] = Window(start: now.isFinite ? now : 0, logged: 1, suppressed: 0, level: level)
                return (previous?.suppressed ?? 0, previous?.level ?? level)
            }
            if window.logged < limit {
                window.logged += 1
                windows[key] = window
                return (0, level)
            }
            window.suppressed += 1
            windows[key] = window
            return nil
        }
        if verdict == nil {
            suppressedCounter.increment()
            total.add(1, ordering: .relaxed)
        }
        return verdict
    }

    /// Logs a line unless its key has used up its budget; reports what a finished window
    /// suppressed first.
    ///
    /// - Parameters:
    ///   - logger: Where to log.
    ///   - level: The level of the line.
    ///   - key: The kind of line (a fixed string, never a peer-chosen value).
    ///   - message: The line.
    ///   - metadata: Its metadata.
    ///   - now: The current time in seconds.
    public func log(
        _ logger: Logger,
        _ level: Logger.Level,
        key: String,
        _ message: @autoclosure () -> Logger.Message,
        metadata: @autoclosure () -> Logger.Metadata? = nil,
        now: Double
    ) {
        guard logger.logLevel <= level else { return }
        guard let verdict = admit(key, level: level, now: now) else { return }
        if verdict.suppressedBefore > 0 {
            Self.report(logger, key: key, count: verdict.suppressedBefore, level: verdict.level)
        }
        logger.log(level: level, message(), metadata: metadata())
    }

    /// Reports and closes every window that is over and suppressed lines, so that a burst that
    /// stops is still summed up. Call it now and then (a ticker).
    public func flush(_ logger: Logger, now: Double) {
        let finished: [(String, Int, Logger.Level)] = windows.withLock { windows in
            var finished: [(String, Int, Logger.Level)] = []
            for (key, window) in windows where !(now < window.start + interval) {
                if window.suppressed > 0 { finished.append((key, window.suppressed, window.level)) }
                windows[key] = nil
            }
            return finished
        }
        for (key, count, level) in finished.sorted(by: { $0.0 < $1.0 }) {
            Self.report(logger, key: key, count: count, level: level)
        }
    }

    private static func report(_ logger: Logger, key: String, count: Int, level: Logger.Level) {
        logger.log(level: level, "\(count) similar lines suppressed", metadata: ["log.key": "\(key)", "log.suppressed": "\(count)"])
    }
}
