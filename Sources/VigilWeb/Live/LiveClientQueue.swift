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
/// - **Bytes are bounded.** Everything queued counts towards ``Limits/maxQueuedBytes``; a message
///   that would pass it overflows the queue the same way ("too slow"). A single message larger than
///   the bound is still accepted into an empty queue, so a big snapshot never locks a client out.
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
        /// Queued bytes (states, events, replies) that make a client "too far behind".
        var maxQueuedBytes: Int = 1 << 20
    }

    /// Which bound a queue overflowed.
    enum Overflow: Sendable, Hashable {
        /// ``Limits/maxPendingEvents``.
        case events
        /// ``Limits/maxPendingStates``.
        case states
        /// ``Limits/maxQueuedBytes``.
        case bytes
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
        var bytes = 0
        var heartbeat: ByteBuffer?
        var overflow: Overflow?
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?

        var overflowed: Bool { overflow != nil }
        var hasWork: Bool { !entries.isEmpty || heartbeat != nil || overflowed || closed }

        /// Whether `added` more bytes (replacing `removed`) pass the byte bound; a lone message always fits.
        func exceedsBytes(adding added: Int, removing removed: Int = 0, limit: Int) -> Bool {
            let others = bytes - removed
            return others > 0 && others + added > limit
        }

        /// Marks the queue overflowed and releases what it held: nothing of it is ever sent.
        mutating func markOverflow(_ reason: Overflow) {
            overflow = reason
            entries.removeAll()
            states.removeAll()
            pendingMessages = 0
            bytes = 0
            heartbeat = nil
        }
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
            let replaced = state.states[target]?.readableBytes
            if state.exceedsBytes(adding: message.readableBytes, removing: replaced ?? 0, limit: limits.maxQueuedBytes) {
                state.markOverflow(.bytes)
                return (.overflow, Self.takeWaiter(&state))
            }
            if let replaced {
                state.states[target] = message
                state.bytes += message.readableBytes - replaced
                return (.coalesced, nil)
            }
            if state.states.count >= limits.maxPendingStates {
                state.markOverflow(.states)
                return (.overflow, Self.takeWaiter(&state))
            }
            state.states[target] = message
            state.bytes += message.readableBytes
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
                state.markOverflow(.events)
                return (.overflow, Self.takeWaiter(&state))
            }
            if state.exceedsBytes(adding: message.readableBytes, limit: limits.maxQueuedBytes) {
                state.markOverflow(.bytes)
                return (.overflow, Self.takeWaiter(&state))
            }
            state.pendingMessages += 1
            state.bytes += message.readableBytes
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

    /// Whether the queue was closed (the client is going away).
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Which bound the queue overflowed, if it did.
    var overflow: Overflow? { state.withLock { $0.overflow } }

    /// How many bytes wait (states, events and replies; not the heartbeat).
    var queuedBytes: Int { state.withLock { $0.bytes } }

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

    /// Takes queued messages without waiting, oldest first; `nil` when there is nothing to do.
    ///
    /// - Parameter maxBytes: Stop before the message that would pass this many bytes (at least one
    ///   message is taken); the rest stays queued for the next call.
    func take(maxBytes: Int = .max) -> Batch? {
        state.withLock { Self.take(&$0, maxBytes: maxBytes) }
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

    private static func take(_ state: inout State, maxBytes: Int = .max) -> Batch? {
        if state.overflowed { return .overflow }
        if state.entries.isEmpty && state.heartbeat == nil {
            return state.closed ? .closed : nil
        }
        var messages: [ByteBuffer] = []
        var taken = 0
        var bytes = 0
        var events = 0
        for entry in state.entries {
            let message: ByteBuffer?
            switch entry {
            case .state(let target):
                message = state.states.removeValue(forKey: target)
            case .message(let body):
                message = body
                events += 1
            }
            if let message {
                if !messages.isEmpty && bytes + message.readableBytes > maxBytes {
                    // Put it back: the rest waits for the next call.
                    if case .state(let target) = entry { state.states[target] = message } else { events -= 1 }
                    break
                }
                bytes += message.readableBytes
                messages.append(message)
            }
            taken += 1
        }
        if taken == state.entries.count {
            state.entries.removeAll(keepingCapacity: true)
            if let heartbeat = state.heartbeat { messages.append(heartbeat) }
            state.heartbeat = nil
        } else {
            state.entries.removeFirst(taken)
        }
        state.pendingMessages -= events
        state.bytes -= bytes
        return .messages(messages)
    }

    private static func takeWaiter(_ state: inout State) -> CheckedContinuation<Void, Never>? {
        defer { state.waiter = nil }
        return state.waiter
    }
}
