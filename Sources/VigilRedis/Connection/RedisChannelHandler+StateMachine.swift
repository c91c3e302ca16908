//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

extension RedisChannelHandler {
    /// The requests of one connection awaiting replies, as a value.
    ///
    /// Redis answers requests in the order they were sent, so pending requests form a FIFO.
    /// Push frames are not replies: Pub/Sub messages are delivered to subscriptions, and the
    /// confirmations of `SUBSCRIBE`-family commands (which RESP3 sends as pushes, one per channel)
    /// complete the subscription request at the head of the queue.
    ///
    /// Its methods take events and return what the handler must do; it performs no I/O and
    /// completes no promise itself.
    struct StateMachine {
        /// One request awaiting its reply.
        struct Pending {
            enum Kind: Equatable {
                /// An ordinary command, answered by one reply.
                case reply
                /// A `SUBSCRIBE`-family command, answered by this many push confirmations.
                case subscription(remaining: Int)
            }

            var kind: Kind
            /// `nil` when the caller does not wait (or gave up waiting).
            var promise: EventLoopPromise<RESPValue>?
            /// When the reply is late; `nil` for no limit.
            var deadline: NIODeadline?
        }

        /// What to do with a received value.
        enum ReceiveAction {
            /// Complete this request with the reply.
            case succeed(EventLoopPromise<RESPValue>?, RESPValue)
            /// Fail this request with the server's error reply.
            case fail(EventLoopPromise<RESPValue>?, RedisClientError)
            /// Hand this Pub/Sub message to the subscriptions.
            case deliver(RedisPubSubMessage)
            /// A push frame that is neither a message nor an awaited confirmation.
            case otherPush(RESPValue)
            /// Nothing to do (a confirmation with more to come).
            case none
            /// A reply arrived with no request waiting: the stream cannot be trusted any more.
            case protocolError(String)
        }

        private(set) var pending = CircularBuffer<Pending>(initialCapacity: 16)

        /// The number of requests awaiting replies.
        var count: Int { pending.count }

        /// The deadline of the oldest request, which is answered first.
        var headDeadline: NIODeadline? { pending.first?.deadline }

        /// Records a request that was just written.
        mutating func sent(_ kind: Pending.Kind, promise: EventLoopPromise<RESPValue>?, deadline: NIODeadline?) {
            pending.append(Pending(kind: kind, promise: promise, deadline: deadline))
        }

        /// Handles a value read from the server.
        mutating func received(_ value: RESPValue) -> ReceiveAction {
            let value = value.withoutAttributes
            if case .push(let values) = value {
                return self.receivedPush(value, values)
            }
            guard let head = pending.popFirst() else {
                return .protocolError("reply \(value) with no request waiting")
            }
            if let message = value.errorMessage {
                return .fail(head.promise, RedisClientError(.serverError, message: message))
            }
            return .succeed(head.promise, value)
        }

        private mutating func receivedPush(_ value: RESPValue, _ values: [RESPValue]) -> ReceiveAction {
            if let message = RedisPubSubMessage(push: values) {
                return .deliver(message)
            }
            let kind = values.first?.string?.lowercased() ?? ""
            switch kind {
            case "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe":
                guard let head = pending.first, case .subscription(let remaining) = head.kind else {
                    return .otherPush(value)
                }
                if remaining > 1 {
                    pending[pending.startIndex].kind = .subscription(remaining: remaining - 1)
                    return .none
                }
                pending.removeFirst()
                return .succeed(head.promise, value)
            default:
                return .otherPush(value)
            }
        }

        /// Whether the oldest request is past its deadline.
        func isHeadOverdue(now: NIODeadline) -> Bool {
            guard let deadline = pending.first?.deadline else { return false }
            return deadline <= now
        }

        /// Empties the queue when the connection closes and returns every promise still waiting.
        mutating func close() -> [EventLoopPromise<RESPValue>] {
            defer { pending.removeAll() }
            return pending.compactMap(\.promise)
        }
    }
}
