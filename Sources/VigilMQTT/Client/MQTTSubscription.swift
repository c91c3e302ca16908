//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Synchronization

/// The messages of one scoped subscription, as an asynchronous sequence.
///
/// Obtain one from ``MQTTClient/subscribe(to:bufferSize:_:)``. It stays valid across reconnections:
/// the client subscribes again after every reconnect and messages keep arriving in the same
/// sequence. Iterate it from one task only.
///
/// **Slow consumers.** Messages are buffered up to the `bufferSize` given to `subscribe`. When the
/// buffer is full, the *oldest* buffered messages are dropped to make room for new ones, the drop is
/// counted in `vigil_mqtt_messages_dropped_total` and logged at warning level. The connection is never
/// slowed down by a slow consumer, so other subscriptions and keep-alive are not affected; QoS 1 and 2
/// messages are acknowledged to the broker when they are received, not when they are consumed.
///
/// The sequence finishes when the subscription's closure returns, and throws an
/// ``MQTTClientError`` with code ``MQTTClientError/Code/shutdown`` when the client stops running.
public struct MQTTSubscription: AsyncSequence, Sendable {
    /// The element type: a received message.
    public typealias Element = MQTTMessage

    let buffer: MQTTSubscriptionBuffer

    /// Creates the iterator.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(buffer: buffer)
    }

    /// Iterates the messages of a subscription, taking buffered messages in batches.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let buffer: MQTTSubscriptionBuffer
        var batch: [MQTTMessage] = []
        var index = 0

        /// Returns the next message, waiting for one if none is buffered.
        ///
        /// - Returns: The next message, or `nil` when the subscription ended.
        /// - Throws: ``MQTTClientError`` when the client stopped, or `CancellationError`.
        public mutating func next() async throws -> MQTTMessage? {
            if index < batch.count {
                defer { index += 1 }
                return batch[index]
            }
            guard let next = try await buffer.take() else { return nil }
            batch = next
            index = 1
            return batch[0]
        }
    }
}

/// The bounded buffer behind an ``MQTTSubscription``.
///
/// The producer (the event loop) appends whole batches under one lock acquisition, and the consumer
/// takes everything buffered at once, so the lock is taken per batch, not per message.
final class MQTTSubscriptionBuffer: Sendable {
    private struct State {
        var messages: [MQTTMessage] = []
        var waiter: CheckedContinuation<[MQTTMessage]?, any Error>?
        var finished = false
        var failure: (any Error)?
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Appends messages, dropping the oldest beyond the capacity.
    ///
    /// - Returns: The number of messages dropped.
    func append(_ batch: [MQTTMessage]) -> Int {
        let (waiter, handOver, dropped): (CheckedContinuation<[MQTTMessage]?, any Error>?, [MQTTMessage], Int) = state.withLock { state in
            if state.finished { return (nil, [], 0) }
            if let waiter = state.waiter {
                state.waiter = nil
                if batch.count <= capacity { return (waiter, batch, 0) }
                return (waiter, Array(batch.suffix(capacity)), batch.count - capacity)
            }
            if state.messages.isEmpty && batch.count <= capacity {
                state.messages = batch
                return (nil, [], 0)
            }
            state.messages.append(contentsOf: batch)
            let excess = state.messages.count - capacity
            if excess > 0 { state.messages.removeFirst(excess) }
            return (nil, [], max(0, excess))
        }
        waiter?.resume(returning: handOver)
        return dropped
    }

    /// Waits for messages and takes all that are buffered.
    ///
    /// - Returns: A non-empty batch, or `nil` when the buffer finished normally.
    func take() async throws -> [MQTTMessage]? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[MQTTMessage]?, any Error>) in
                enum Action {
                    case resume([MQTTMessage]?)
                    case fail(any Error)
                    case wait
                }
                let action: Action = state.withLock { state in
                    if !state.messages.isEmpty {
                        let messages = state.messages
                        state.messages = []
                        return .resume(messages)
                    }
                    if state.finished {
                        if let failure = state.failure { return .fail(failure) }
                        return .resume(nil)
                    }
                    if Task.isCancelled { return .fail(CancellationError()) }
                    precondition(state.waiter == nil, "an MQTTSubscription must be iterated from one task only")
                    state.waiter = continuation
                    return .wait
                }
                switch action {
                case .resume(let messages): continuation.resume(returning: messages)
                case .fail(let error): continuation.resume(throwing: error)
                case .wait: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Ends the sequence, after the messages already buffered, normally or with an error.
    func finish(throwing error: (any Error)? = nil) {
        let waiter = state.withLock { state -> CheckedContinuation<[MQTTMessage]?, any Error>? in
            guard !state.finished else { return nil }
            state.finished = true
            state.failure = error
            defer { state.waiter = nil }
            return state.waiter
        }
        if let error { waiter?.resume(throwing: error) } else { waiter?.resume(returning: nil) }
    }
}
