//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Synchronization

/// A ``VigilClock`` that moves only when told: the one test clock of every test that needs time, and
/// the clock of simulations and benchmarks that replay time faster than real.
///
/// ``advance(by:)`` moves monotonic time (and the wall clock with it) and wakes every sleeper whose
/// deadline has come, in deadline order. ``stepWallClock(by:)`` moves only the wall clock, as an NTP
/// step or an operator's `date -s` does, so a test can show that no deadline depends on it.
///
/// A clock made with `advancesWhenSleeping: true` runs on virtual time instead: every sleep moves
/// the clock to its deadline at once and returns, and ``sleeps`` lists what was asked for. Code that
/// paces itself (a rate limit, a retry schedule) then runs as fast as it can while seeing the time it
/// would have seen.
///
/// ```swift
/// let clock = ManualClock(wallClockSeconds: 1_700_000_000)
/// async let woke: Void = clock.sleep(for: .seconds(5))
/// await clock.waitForSleepers(1)
/// clock.advance(by: .seconds(5))   // the sleeper wakes
/// ```
public final class ManualClock: VigilClock {
    private struct Sleeper {
        var id: UInt64
        var deadline: MonotonicInstant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: MonotonicInstant
        var wallOffset: Double
        var nextID: UInt64 = 0
        var sleepers: [Sleeper] = []
        var cancelled: Set<UInt64> = []
        var sleeps: [Duration] = []
    }

    private let state: Mutex<State>
    private let advancesWhenSleeping: Bool

    /// The most sleeps ``sleeps`` keeps (the oldest are dropped), so a long simulation stays bounded.
    public static let maximumRecordedSleeps = 10_000

    /// Creates a clock at monotonic zero whose wall clock reads `wallClockSeconds`.
    ///
    /// - Parameters:
    ///   - wallClockSeconds: The wall clock's first reading.
    ///   - advancesWhenSleeping: Whether a sleep moves the clock to its deadline at once (virtual
    ///     time) instead of waiting for ``advance(by:)``.
    public init(wallClockSeconds: Double = 1_700_000_000, advancesWhenSleeping: Bool = false) {
        state = Mutex(State(now: .zero, wallOffset: wallClockSeconds))
        self.advancesWhenSleeping = advancesWhenSleeping
    }

    public var now: MonotonicInstant { state.withLock { $0.now } }

    public var minimumResolution: Duration { .nanoseconds(1) }

    public var wallClockSeconds: Double {
        state.withLock { $0.wallOffset + $0.now.seconds }
    }

    /// The durations of the sleeps a virtual-time clock (`advancesWhenSleeping`) was asked for, in
    /// order (at most ``maximumRecordedSleeps``, the latest).
    public var sleeps: [Duration] { state.withLock { $0.sleeps } }

    /// How many tasks are sleeping on this clock now.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// Moves time forward and wakes every sleeper whose deadline has come, earliest first.
    ///
    /// - Parameter duration: How far to move; a negative duration is ignored (monotonic time never
    ///   goes back).
    public func advance(by duration: Duration) {
        guard duration > .zero else { return }
        let due: [Sleeper] = state.withLock { state in
            state.now = state.now.advanced(by: duration)
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Moves time forward to `instant` (no effect when it lies in the past).
    public func advance(to instant: MonotonicInstant) {
        advance(by: now.duration(to: instant))
    }

    /// Moves only the wall clock, as an NTP step does; monotonic time and every deadline stay put.
    public func stepWallClock(by seconds: Double) {
        state.withLock { $0.wallOffset += seconds }
    }

    /// Waits (yielding) until at least `count` tasks sleep on this clock, so a test advances time only
    /// after the code under test has armed its timers.
    public func waitForSleepers(_ count: Int) async {
        while sleeperCount < count { await Task.yield() }
    }

    public func sleep(until deadline: MonotonicInstant, tolerance: Duration? = nil) async throws {
        if advancesWhenSleeping {
            try Task.checkCancellation()
            let due: [Sleeper] = state.withLock { state in
                if state.sleeps.count >= Self.maximumRecordedSleeps { state.sleeps.removeFirst() }
                state.sleeps.append(state.now.duration(to: deadline))
                guard deadline > state.now else { return [] }
                state.now = deadline
                let due = state.sleepers.filter { $0.deadline <= deadline }.sorted { $0.deadline < $1.deadline }
                state.sleepers.removeAll { $0.deadline <= deadline }
                return due
            }
            for sleeper in due { sleeper.continuation.resume() }
            // Let other tasks run, as a real sleep would.
            await Task.yield()
            return
        }
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = state.withLock { state in
                    if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if deadline <= state.now { return .success(()) }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let sleeper: Sleeper? = state.withLock { state in
                if let index = state.sleepers.firstIndex(where: { $0.id == id }) {
                    return state.sleepers.remove(at: index)
                }
                // Cancelled before the sleeper was registered: remember it, so it does not sleep.
                state.cancelled.insert(id)
                return nil
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }
}
