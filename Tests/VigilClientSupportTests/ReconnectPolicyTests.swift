//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilClientSupport

@Suite struct ReconnectPolicyTests {
    /// A seeded xorshift generator, so jittered delays are the same on every run.
    struct SeededRandom: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
    }

    @Test("Attempt 1 waits the initial delay, each later attempt multiplies it, up to the maximum")
    func attemptNumbering() {
        let policy = ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(1), jitter: 0)
        #expect(
            (1...6).map { policy.delay(forAttempt: $0) } == [
                .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1),
            ]
        )
        #expect(policy.delay(forAttempt: 0) == .milliseconds(100))
        #expect(policy.delay(forAttempt: -5) == .milliseconds(100))
        #expect(policy.delay(forAttempt: .max) == .seconds(1))
        let triple = ReconnectPolicy(initialDelay: .seconds(1), maximumDelay: .seconds(60), multiplier: 3, jitter: 0)
        #expect((1...5).map { triple.baseDelay(forAttempt: $0) } == [.seconds(1), .seconds(3), .seconds(9), .seconds(27), .seconds(60)])
    }

    @Test("Jitter only shortens a delay, by at most its fraction, and a seeded source repeats")
    func jitterBounds() {
        let policy = ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(5), jitter: 0.3)
        #expect(policy.delay(forAttempt: 1, random: 1) == .milliseconds(100))
        #expect(policy.delay(forAttempt: 1, random: 0) == .milliseconds(70))
        #expect(policy.delay(forAttempt: 1, random: 0.5) == .milliseconds(85))
        var generator = SeededRandom(state: 42)
        var delays: [Duration] = []
        for attempt in 1...200 {
            let delay = policy.delay(forAttempt: attempt, using: &generator)
            let base = policy.baseDelay(forAttempt: attempt)
            #expect(delay <= base && delay >= base * 0.7, "attempt \(attempt): \(delay) of \(base)")
            delays.append(delay)
        }
        var again = SeededRandom(state: 42)
        #expect((1...200).map { policy.delay(forAttempt: $0, using: &again) } == delays)
        #expect(Set(delays.prefix(10)).count > 1)
    }

    @Test(
        "Absurd values are clamped instead of trapping",
        arguments: [
            ReconnectPolicy(initialDelay: .seconds(Int64.max), maximumDelay: .seconds(Int64.max), multiplier: .infinity, jitter: 7),
            ReconnectPolicy(initialDelay: .seconds(-5), maximumDelay: .seconds(-1), multiplier: -3, jitter: -1, maxAttempts: -2),
            ReconnectPolicy(initialDelay: .seconds(1), maximumDelay: .seconds(Int64.min), multiplier: .nan, jitter: .nan),
            ReconnectPolicy(initialDelay: .nanoseconds(1), maximumDelay: .seconds(Int64.max), multiplier: 1.000_000_1, jitter: 1),
            ReconnectPolicy(initialDelay: .seconds(Int64.min), maximumDelay: .seconds(10), multiplier: .greatestFiniteMagnitude),
        ]
    )
    func clamping(policy: ReconnectPolicy) {
        for attempt in [Int.min, -1, 0, 1, 2, 3, 63, 64, 1_000, Int.max] {
            for random in [-1, 0, 0.5, 1, 2, .nan, .infinity] as [Double] {
                let delay = policy.delay(forAttempt: attempt, random: random)
                #expect(delay >= .zero && delay <= ReconnectPolicy.longestDelay)
            }
        }
    }

    @Test("Clamped values: negative delays are zero, huge ones the longest delay, a lower maximum the initial delay")
    func clampedValues() {
        #expect(ReconnectPolicy(initialDelay: .seconds(-5), maximumDelay: .seconds(-1)).delay(forAttempt: 3) == .zero)
        let huge = ReconnectPolicy(initialDelay: .seconds(Int64.max), maximumDelay: .seconds(Int64.max), jitter: 0)
        #expect(huge.delay(forAttempt: 1) == ReconnectPolicy.longestDelay)
        let inverted = ReconnectPolicy(initialDelay: .seconds(2), maximumDelay: .seconds(1), jitter: 0)
        #expect(inverted.delay(forAttempt: 5) == .seconds(2))
        let shrinking = ReconnectPolicy(initialDelay: .seconds(1), maximumDelay: .seconds(8), multiplier: 0.5, jitter: 0)
        #expect(shrinking.delay(forAttempt: 4) == .seconds(1))
        let wild = ReconnectPolicy(initialDelay: .seconds(1), maximumDelay: .seconds(8), jitter: 5)
        #expect(wild.delay(forAttempt: 1, random: 0) == .zero)
        #expect(wild.delay(forAttempt: 1, random: 1) == .seconds(1))
    }

    @Test("maxAttempts counts consecutive failures; nil never gives up, values below 1 count as 1")
    func maxAttempts() {
        let three = ReconnectPolicy(maxAttempts: 3)
        #expect([0, 1, 2, 3, 4].map { three.allowsRetry(afterFailures: $0) } == [true, true, true, false, false])
        #expect(ReconnectPolicy().allowsRetry(afterFailures: .max))
        #expect(ReconnectPolicy(maxAttempts: 0).allowsRetry(afterFailures: 1) == false)
        #expect(ReconnectPolicy(maxAttempts: -4).allowsRetry(afterFailures: 0))
        #expect(ReconnectPolicy(maxAttempts: .min).allowsRetry(afterFailures: 1) == false)
    }
}
