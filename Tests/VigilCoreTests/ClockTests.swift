//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Synchronization
import Testing
import VigilCore

@Suite("Clocks")
struct ClockTests {
    @Test("Instant arithmetic saturates instead of trapping")
    func saturation() {
        let near = MonotonicInstant(nanoseconds: .max - 5)
        #expect(near.advanced(by: .seconds(1)) == .distantFuture)
        #expect(MonotonicInstant.zero.advanced(by: .seconds(Int64.max)) == .distantFuture)
        #expect(MonotonicInstant(nanoseconds: .min + 1).advanced(by: .seconds(-10)).nanoseconds == .min)
        #expect(MonotonicInstant.zero.duration(to: .distantFuture) == .nanoseconds(Int64.max))
        #expect(MonotonicInstant(nanoseconds: .min).duration(to: .distantFuture) == .nanoseconds(Int64.max))
        #expect(Duration.seconds(Int64.max).saturatingNanoseconds == .max)
        #expect(Duration.seconds(Int64.min).saturatingNanoseconds == .min)
        #expect(Duration.milliseconds(1500).saturatingNanoseconds == 1_500_000_000)
    }

    @Test("checkedSeconds refuses non-finite and absurd values")
    func checkedSeconds() {
        #expect(Duration.checkedSeconds(1.5) == .milliseconds(1500))
        #expect(Duration.checkedSeconds(-2) == .seconds(-2))
        #expect(Duration.checkedSeconds(.nan) == nil)
        #expect(Duration.checkedSeconds(.infinity) == nil)
        #expect(Duration.checkedSeconds(1e20) == nil)
        #expect(Duration.checkedSeconds(-1e19) == nil)
        #expect(Duration.seconds(2.25).secondsDouble == 2.25)
    }

    @Test("The system clock's monotonic time never goes back")
    func systemMonotonic() {
        let clock = SystemClock()
        var previous = clock.now
        for _ in 0..<1000 {
            let next = clock.now
            #expect(next >= previous)
            previous = next
        }
        #expect(clock.wallClockSeconds > 1_600_000_000)
    }

    @Test("A sleeper wakes when the manual clock reaches its deadline, not before")
    func manualSleep() async throws {
        let clock = ManualClock()
        let woke = WakeFlag()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await clock.sleep(for: .seconds(5))
                woke.set()
            }
            await clock.waitForSleepers(1)
            clock.advance(by: .seconds(4))
            #expect(clock.sleeperCount == 1)
            #expect(!woke.value)
            clock.advance(by: .seconds(1))
            try await group.waitForAll()
        }
        #expect(woke.value)
        #expect(clock.now == MonotonicInstant.zero.advanced(by: .seconds(5)))
    }

    @Test("Stepping the wall clock moves timestamps but wakes no sleeper and moves no deadline")
    func wallClockStep() async throws {
        let clock = ManualClock(wallClockSeconds: 1_000)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await clock.sleep(for: .seconds(10)) }
            await clock.waitForSleepers(1)
            clock.stepWallClock(by: 3600)
            #expect(clock.wallClockSeconds == 4600)
            #expect(clock.sleeperCount == 1)
            clock.stepWallClock(by: -7200)
            #expect(clock.wallClockSeconds == -2600)
            #expect(clock.sleeperCount == 1)
            clock.advance(by: .seconds(10))
            try await group.waitForAll()
        }
        #expect(clock.wallClockSeconds == -2590)
    }

    @Test("Cancelling a sleeper throws CancellationError and unregisters it")
    func cancellation() async {
        let clock = ManualClock()
        let task = Task { try await clock.sleep(for: .seconds(60)) }
        await clock.waitForSleepers(1)
        task.cancel()
        let result = await task.result
        #expect(throws: CancellationError.self) { try result.get() }
        #expect(clock.sleeperCount == 0)
    }

    @Test("Sleepers wake in deadline order")
    func order() async throws {
        let clock = ManualClock()
        let log = WakeLog()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for seconds in [3, 1, 2] {
                group.addTask {
                    try await clock.sleep(for: .seconds(seconds))
                    log.append(seconds)
                }
            }
            await clock.waitForSleepers(3)
            clock.advance(by: .seconds(1))
            while log.values.count < 1 { await Task.yield() }
            clock.advance(by: .seconds(1))
            while log.values.count < 2 { await Task.yield() }
            clock.advance(by: .seconds(1))
            try await group.waitForAll()
        }
        #expect(log.values == [1, 2, 3])
    }
}

private final class WakeFlag: Sendable {
    private let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    var value: Bool { flag.withLock { $0 } }
}

private final class WakeLog: Sendable {
    private let log = Mutex<[Int]>([])
    func append(_ value: Int) { log.withLock { $0.append(value) } }
    var values: [Int] { log.withLock { $0 } }
}
