//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The messages of one subscription, as an asynchronous sequence.
///
/// Obtain one from ``RedisClient/subscribe(to:)`` or ``RedisClient/psubscribe(patterns:)``. It
/// stays valid across reconnections: the client subscribes again after every reconnect, and
/// messages keep arriving in the same sequence (messages published while disconnected are lost,
/// as Pub/Sub does not store them). Iterate it from one task only.
///
/// **Ending.** When the iterating task is cancelled, or the sequence and its iterator are
/// released, the client unsubscribes from the channels no other subscription uses. When the
/// client stops, iteration throws ``RedisClientError/Code/shutdown``.
///
/// **Slow consumers.** Up to ``RedisConfiguration/subscriptionBufferSize`` messages are
/// buffered; beyond that the oldest are dropped, so a slow consumer never stalls the connection.
public struct RedisSubscription: AsyncSequence, Sendable {
    /// The element type: a received message.
    public typealias Element = RedisPubSubMessage

    let stream: AsyncThrowingStream<RedisPubSubMessage, any Error>

    /// Creates the iterator.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator())
    }

    /// Iterates the messages of a subscription.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<RedisPubSubMessage, any Error>.AsyncIterator

        /// Returns the next message, waiting for one if none is buffered.
        ///
        /// - Returns: The next message, or `nil` when the subscription ended.
        /// - Throws: ``RedisClientError`` when the client stopped.
        public mutating func next() async throws -> RedisPubSubMessage? {
            try await base.next()
        }
    }
}
