//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import Testing
import VigilClientSupport

/// The clients convert configured `Duration`s with NIOCore's `TimeAmount(_: Duration)` rather than a
/// copy of their own: these tests pin the clamping they rely on.
@Suite struct DurationConversionTests {
    @Test("Ordinary durations convert to the nanosecond")
    func ordinary() {
        #expect(TimeAmount(Duration.seconds(5)) == .seconds(5))
        #expect(TimeAmount(Duration.milliseconds(1500)) == .milliseconds(1500))
        #expect(TimeAmount(Duration.nanoseconds(7)) == .nanoseconds(7))
        #expect(TimeAmount(Duration.zero) == .zero)
    }

    @Test("A huge duration clamps to the largest TimeAmount instead of trapping")
    func huge() {
        #expect(TimeAmount(Duration.seconds(Int64.max)) == .nanoseconds(.max))
        #expect(TimeAmount(Duration.seconds(9_223_372_037)) == .nanoseconds(.max))
        #expect(TimeAmount(Duration.seconds(9_223_372_036)) == .seconds(9_223_372_036))
    }

    @Test("A huge negative duration does not trap")
    func hugeNegative() {
        // NIOCore clamps any overflow to the largest amount, whichever its sign: a wait that is
        // never reached rather than a crash.
        _ = TimeAmount(Duration.seconds(Int64.min))
        #expect(TimeAmount(Duration.seconds(-3)) == .seconds(-3))
    }

    @Test("Every delay a reconnect policy produces converts exactly")
    func policyDelays() {
        #expect(TimeAmount(ReconnectPolicy.longestDelay) == .seconds(1_000_000_000))
    }
}
