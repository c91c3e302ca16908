//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import Synchronization

/// The messages of one scoped subscription, as an asynchronous sequence.
///
/// Obtain one from ``MQTTClient/subscribe(to:bufferSize:_:)``. It stays valid across reconnections:
/// the client subscribes again after every reconnect and messages keep arriving in the same
/// sequence. Iterate it from one task only.
///
/// **Acknowledgement.** A QoS 1 or 2 message counts as processed when the consumer asks for the
/// *next* message (the next turn of `for try await`), or when the subscription ends normally after
/// it. Only then is it acknowledged to the broker (PUBACK, or PUBREC for QoS 2), once every
/// subscription that received it has processed it, in the order the broker sent the messages. A
/// consumer that stores what it receives therefore stores a message before asking for the next one,
/// and a crash before that leaves the message unacknowledged: with a persistent session
/// (``MQTTClientConfiguration/cleanSession`` `false`) the broker sends it again after the next
/// connection (``MQTTMessage/isRedelivery``). Messages still buffered or being processed when the
/// subscription ends stay unacknowledged in a persistent session (the broker redelivers them after
/// the next reconnect) and are acknowledged in a clean one (whose broker would discard them anyway).
///
/// **Slow consumers.** QoS 1 and 2 messages are never dropped: while
/// ``MQTTClientConfiguration/receiveMaximum`` of them await processing, the client stops reading
/// from the socket (`vigil_mqtt_read_pauses_total`), which stalls every subscription of the client
/// until the consumer catches up (including SUBACKs and PUBACKs it would read: under MQTT 3.1.1 a
/// consumer must not wait for the broker's answer to its own request while it holds
/// `receiveMaximum` unprocessed messages). QoS 0 messages are buffered up to the `bufferSize` given to
/// `subscribe`; when the buffer is full, the *oldest* QoS 0 messages are dropped to make room, the
/// drop is counted in `vigil_mqtt_messages_dropped_total` and logged at warning level.
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

        /// Returns the next message, waiting for one if none is buffered; the message returned
        /// before counts as processed (see ``MQTTSubscription``).
        ///
        /// - Returns: The next message, or `nil` when the subscription ended.
        /// - Throws: ``MQTTClientError`` when the client stopped, or `CancellationError`.
        public mutating func next() async throws -> MQTTMessage? {
            if index > 0, let delivery = batch[index - 1].delivery {
                buffer.processed(delivery)
            }
            if index < batch.count {
                defer { index += 1 }
                return batch[index]
            }
            batch = []
            index = 0
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
        /// Deliveries of messages handed to the consumer and not yet processed, oldest first.
        var taken = CircularBuffer<MQTTDelivery>()
        /// The parked consumer. Unsafe (not checked) continuations: they cost no allocation, and
        /// every path resumes the waiter exactly once after taking it out of this state.
        var waiter: UnsafeContinuation<[MQTTMessage]?, any Error>?
        var finished = false
        var failure: (any Error)?
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Appends messages, dropping the oldest QoS 0 messages beyond the capacity. QoS 1/2 messages
    /// are never dropped (the connection's receive maximum bounds them).
    ///
    /// - Returns: The number of messages dropped, and the deliveries of messages the buffer did not
    ///   take because it has finished (the caller decides whether to acknowledge them).
    func append(_ batch: [MQTTMessage]) -> (dropped: Int, refused: [MQTTDelivery]) {
        let (waiter, handOver, dropped, refused): (UnsafeContinuation<[MQTTMessage]?, any Error>?, [MQTTMessage], Int, [MQTTDelivery]) =
            state.withLock { state in
                if state.finished { return (nil, [], 0, batch.compactMap(\.delivery)) }
                var messages: [MQTTMessage]
                if state.messages.isEmpty {
                    // The usual case, a consumer that keeps up: the batch itself, not a copy.
                    messages = batch
                } else {
                    messages = state.messages
                    state.messages = []
                    messages.append(contentsOf: batch)
                }
                let dropped = Self.dropOldestQoS0(&messages, capacity: capacity)
                if let waiter = state.waiter {
                    state.waiter = nil
                    for case let delivery? in messages.lazy.map(\.delivery) { state.taken.append(delivery) }
                    return (waiter, messages, dropped, [])
                }
                state.messages = messages
                return (nil, [], dropped, [])
            }
        waiter?.resume(returning: handOver)
        return (dropped, refused)
    }

    /// Removes the oldest QoS 0 messages until at most `capacity` remain or none is left to drop.
    private static func dropOldestQoS0(_ messages: inout [MQTTMessage], capacity: Int) -> Int {
        var excess = messages.count - capacity
        guard excess > 0 else { return 0 }
        var dropped = 0
        messages.removeAll { message in
            guard excess > 0, message.delivery == nil else { return false }
            excess -= 1
            dropped += 1
            return true
        }
        return dropped
    }

    /// Records that the consumer processed the message of `delivery` and releases it (unless
    /// ``finish(throwing:)`` already handed it back).
    func processed(_ delivery: MQTTDelivery) {
        let owned = state.withLock { state in
            if state.taken.first === delivery {
                state.taken.removeFirst()
                return true
            }
            guard let index = state.taken.firstIndex(where: { $0 === delivery }) else { return false }
            state.taken.remove(at: index)
            return true
        }
        if owned { delivery.release() }
    }

    /// Waits for messages and takes all that are buffered.
    ///
    /// - Returns: A non-empty batch, or `nil` when the buffer finished normally.
    func take() async throws -> [MQTTMessage]? {
        // Messages waiting already (a consumer that keeps up with a busy producer): no
        // continuation, no cancellation handler.
        let ready: [MQTTMessage]? = state.withLock { state in
            guard !state.messages.isEmpty else { return nil }
            return Self.handOut(&state)
        }
        if let ready { return ready }
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<[MQTTMessage]?, any Error>) in
                enum Action {
                    case resume([MQTTMessage]?)
                    case fail(any Error)
                    case wait
                }
                let action: Action = state.withLock { state in
                    if !state.messages.isEmpty { return .resume(Self.handOut(&state)) }
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

    /// Takes every buffered message, recording the deliveries handed to the consumer.
    private static func handOut(_ state: inout State) -> [MQTTMessage] {
        let messages = state.messages
        state.messages = []
        for case let delivery? in messages.lazy.map(\.delivery) { state.taken.append(delivery) }
        return messages
    }

    /// Ends the sequence, after the messages already buffered, normally or with an error.
    ///
    /// The acknowledgements of unprocessed messages pass to the caller: messages still buffered
    /// are handed out without theirs, and processing them later releases nothing.
    ///
    /// - Returns: The deliveries of QoS 1/2 messages the consumer has not processed (buffered, or
    ///   handed out and not followed by a request for the next message).
    @discardableResult
    func finish(throwing error: (any Error)? = nil) -> [MQTTDelivery] {
        let (waiter, unprocessed) = state.withLock { state -> (UnsafeContinuation<[MQTTMessage]?, any Error>?, [MQTTDelivery]) in
            guard !state.finished else { return (nil, []) }
            state.finished = true
            state.failure = error
            let unprocessed = Array(state.taken) + state.messages.compactMap(\.delivery)
            state.taken.removeAll()
            for index in state.messages.indices { state.messages[index].delivery = nil }
            defer { state.waiter = nil }
            return (state.waiter, unprocessed)
        }
        if let error { waiter?.resume(throwing: error) } else { waiter?.resume(returning: nil) }
        return unprocessed
    }
}
