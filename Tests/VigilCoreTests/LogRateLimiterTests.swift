//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import MetricsTestKit
import Testing
import VigilCore

/// The limiter's decisions; the lines it writes are checked where it is used (GatewayTrackerTests).
@Suite("Log rate limiter")
struct LogRateLimiterTests {
    @Test("Each key logs its budget per window; the rest is counted and reported with the next window")
    func budget() throws {
        let metrics = TestMetrics()
        let limiter = LogRateLimiter(label: "vigil.test", limit: 3, interval: .seconds(60), metricsFactory: metrics)
        let verdicts = (0..<10).map { limiter.admit("malformed", level: .warning, now: Double($0)) }
        #expect(verdicts.map { $0 != nil } == [true, true, true] + Array(repeating: false, count: 7))
        #expect(verdicts.compactMap { $0?.suppressedBefore } == [0, 0, 0])
        #expect(limiter.admit("unknown", now: 10)?.suppressedBefore == 0)  // keys do not share a budget
        #expect(limiter.suppressedTotal == 7)
        #expect(try metrics.expectCounter("vigil_log_lines_suppressed_total", [("logger", "vigil.test")]).totalValue == 7)
        // The first line of the next window carries the count (and level) to report before it.
        let next = try #require(limiter.admit("malformed", level: .info, now: 60))
        #expect(next.suppressedBefore == 7)
        #expect(next.level == .warning)
        #expect(limiter.admit("malformed", now: 61)?.suppressedBefore == 0)
    }

    @Test("flush closes finished windows only, so a burst that stops is reported once")
    func flush() {
        let limiter = LogRateLimiter(label: "vigil.test", limit: 1, interval: .seconds(10), metricsFactory: TestMetrics())
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        for _ in 0..<5 { _ = limiter.admit("k", now: 100) }
        limiter.flush(logger, now: 109)
        #expect(limiter.admit("k", now: 109) == nil)  // still the same window: nothing was reset
        limiter.flush(logger, now: 110)
        #expect(limiter.admit("k", now: 111)?.suppressedBefore == 0)  // reported by flush, not again
    }

    @Test("Lines below the logger's level cost nothing; odd clocks and many keys stay bounded")
    func edges() {
        let limiter = LogRateLimiter(label: "vigil.test", limit: 1, interval: .seconds(10), metricsFactory: TestMetrics())
        var logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        logger.logLevel = .error
        for _ in 0..<5 { limiter.log(logger, .info, key: "k", "hidden", now: 0) }
        #expect(limiter.suppressedTotal == 0)
        // A clock that is not finite or runs backwards starts a new window instead of trapping.
        #expect(limiter.admit("k", now: .nan) != nil)
        #expect(limiter.admit("k", now: .infinity) != nil)
        #expect(limiter.admit("k", now: -1e300) != nil)
        // 64 keys at most; further keys share one overflow window ("k" holds one of the 64).
        let admitted = (0..<1000).filter { limiter.admit("key\($0)", now: 1) != nil }.count
        #expect(admitted == LogRateLimiter.maxKeys)
        #expect(limiter.suppressedTotal == 1000 - LogRateLimiter.maxKeys)
    }
}
