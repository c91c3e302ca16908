//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import Synchronization
import VigilCore

/// The outgoing queue of one live client: bounded, with state updates coalesced per target.
///
/// The policy, in order of the guarantees it gives:
/// - **States coalesce.** A state message for a target that is already queued replaces the queued
///   one in place, so the newest state always wins and the queue holds at most one state per
///   target. Nothing is lost: a state carries the whole latest picture of its target.
/// - **Events are never dropped silently.** They queue in order up to ``Limits/maxPendingEvents``.
///   One more means the client has fallen too far behind: the queue is marked overflowed, the
///   writer is told so and the connection is closed (code 1008, "too slow"); the client reconnects
///   and gets a fresh snapshot. Overflows are counted.
/// - **The hub never waits.** ``push(state:message:)`` and ``push(message:)`` take a short lock and
///   return. The client's ``LiveChannelWriter`` empties the queue with ``take()`` on its event loop;
///   ``next()`` waits for work, for readers that are tasks.
final class LiveClientQueue: Sendable {
    /// The bounds of one queue.
    struct Limits: Sendable, Hashable {
        /// Queued events (and other uncoalesced messages) that make a client "too far behind".
        var maxPendingEvents: Int = 1_000
        /// Queued distinct target states that make a client "too far behind" (a guard against an
        /// unbounded number of targets; normally far above the number of targets).
        var maxPendingStates: Int = 100_000
    }

    /// What ``next()`` hands the writer.
    enum Batch: Sendable {
        /// Messages to send, oldest first.
        case messages([ByteBuffer])
        /// The client fell too far behind; close its connection.
        case overflow
        /// The queue was closed; stop writing.
        case closed
    }

    /// What a push did.
    enum PushResult: Sendable, Hashable {
        /// The message was appended.
        case queued
        /// An older state of the same target was replaced.
        case coalesced
        /// The queue is (now) overflowed; the message was not kept.
        case overflow
        /// The queue is closed.
        case closed
    }

    private enum Entry {
        case state(TargetID)
        case message(ByteBuffer)
    }

    private struct State {
        var entries: [Entry] = []
        var states: [TargetID: ByteBuffer] = [:]
        var pendingMessages = 0
        var heartbeat: ByteBuffer?
        var overflowed = false
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?

        var hasWork: Bool { !entries.isEmpty || heartbeat != nil || overflowed || closed }
    }

    private let limits: Limits
    private let state = Mutex(State())

    /// Creates an empty queue.
    init(limits: Limits = .init()) {
        self.limits = limits
    }

    /// Queues the encoded state of a target, replacing one already queued for it.
    @discardableResult
    func push(state target: TargetID, message: ByteBuffer) -> PushResult {
        let (result, waiter) = self.state.withLock { state -> (PushResult, CheckedContinuation<Void, Never>?) in
            guard !state.closed else { return (.closed, nil) }
            guard !state.overflowed else { return (.overflow, nil) }
            if state.states.updateValue(message, forKey: target) != nil {
                return (.coalesced, nil)
            }
            if state.states.count > limits.maxPendingStates {
                state.overflowed = true
                state.states[target] = nil
                return (.overflow, Self.takeWaiter(&state))
            }
            state.entries.append(.state(target))
            return (.queued, Self.takeWaiter(&state))
        }
        waiter?.resume()
        return result
    }

    /// Queues a message that must not be coalesced (an event, a reply, a snapshot).
    @discardableResult
    func push(message: ByteBuffer) -> PushResult {
        let (result, waiter) = self.state.withLock { state -> (PushResult, CheckedContinuation<Void, Never>?) in
            guard !state.closed else { return (.closed, nil) }
            guard !state.overflowed else { return (.overflow, nil) }
            if state.pendingMessages >= limits.maxPendingEvents {
                state.overflowed = true
                return (.overflow, Self.takeWaiter(&state))
            }
            state.pendingMessages += 1
            state.entries.append(.message(message))
            return (.queued, Self.takeWaiter(&state))
        }
        waiter?.resume()
        return result
    }

    /// Sets the heartbeat to send when the writer next runs; heartbeats never pile up.
    func pushHeartbeat(_ message: ByteBuffer) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.closed, !state.overflowed else { return nil }
            state.heartbeat = message
            return Self.takeWaiter(&state)
        }
        waiter?.resume()
    }

    /// Whether the client has fallen too far behind.
    var isOverflowed: Bool { state.withLock { $0.overflowed } }

    /// How many messages wait (states and others).
    var count: Int { state.withLock { $0.entries.count + ($0.heartbeat == nil ? 0 : 1) } }

    /// Closes the queue: the writer gets ``Batch/closed`` once it has nothing else to do.
    func close() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.closed = true
            return Self.takeWaiter(&state)
        }
        waiter?.resume()
    }

    /// Takes everything queued without waiting; `nil` when there is nothing to do.
    func take() -> Batch? {
        state.withLock { Self.take(&$0) }
    }

    /// Waits for work and takes everything queued.
    ///
    /// Cancelling the waiting task closes the queue.
    func next() async -> Batch {
        while true {
            if let batch = state.withLock({ Self.take(&$0) }) { return batch }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state -> Bool in
                        if state.hasWork || Task.isCancelled { return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                close()
            }
            if Task.isCancelled { close() }
        }
    }

    private static func take(_ state: inout State) -> Batch? {
        if state.overflowed { return .overflow }
        if state.entries.isEmpty && state.heartbeat == nil {
            return state.closed ? .closed : nil
        }
        var messages: [ByteBuffer] = []
        messages.reserveCapacity(state.entries.count + 1)
        for entry in state.entries {
            switch entry {
            case .state(let target):
                if let message = state.states[target] { messages.append(message) }
            case .message(let message):
                messages.append(message)
            }
        }
        if let heartbeat = state.heartbeat { messages.append(heartbeat) }
        state.entries.removeAll(keepingCapacity: true)
        state.states.removeAll(keepingCapacity: true)
        state.pendingMessages = 0
        state.heartbeat = nil
        return .messages(messages)
    }

    private static func takeWaiter(_ state: inout State) -> CheckedContinuation<Void, Never>? {
        defer { state.waiter = nil }
        return state.waiter
    }
}
