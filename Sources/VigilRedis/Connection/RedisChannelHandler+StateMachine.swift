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
                /// A pipeline of this many commands: one entry and one waiter for the whole
                /// pipeline, at the head of the queue until its last reply.
                case pipeline(count: Int)
            }

            var kind: Kind
            /// Who receives the reply; ``Waiter/none`` when nobody waits (or gave up waiting).
            var waiter: Waiter
            /// When the reply is late; `nil` for no limit.
            var deadline: NIODeadline?
        }

        /// Who receives the reply of one request.
        enum Waiter {
            /// Nobody: the reply is discarded.
            case none
            /// A promise (the handshake and tests).
            case promise(EventLoopPromise<RESPValue>)
            /// A task suspended in ``RedisConnection/execute(_:)``; `id` lets its cancellation
            /// find it.
            case continuation(CheckedContinuation<RESPValue, any Error>, id: UInt64)
            /// One command of a pipeline, whose task is resumed once with every result.
            case pipeline(RedisPipelineCollector)

            /// The promise, for a ``promise(_:)`` waiter.
            var promise: EventLoopPromise<RESPValue>? {
                if case .promise(let promise) = self { return promise }
                return nil
            }

            /// Fails the request; a pipeline's remaining commands all fail with `error`.
            func fail(all error: RedisClientError) {
                if case .pipeline(let collector) = self {
                    collector.finish(failing: error)
                } else {
                    self.complete(.failure(error))
                }
            }

            /// Completes the request, or one command of a pipeline, with a result; on the event loop.
            func complete(_ result: Result<RESPValue, RedisClientError>) {
                switch self {
                case .none:
                    break
                case .promise(let promise):
                    promise.completeWith(result.mapError { $0 })
                case .continuation(let continuation, _):
                    continuation.resume(with: result.mapError { $0 })
                case .pipeline(let collector):
                    collector.add(result)
                }
            }
        }

        /// What to do with a received value.
        enum ReceiveAction {
            /// Complete this request with the reply.
            case succeed(Waiter, RESPValue)
            /// Fail this request with the server's error reply.
            case fail(Waiter, RedisClientError)
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
        /// The head request when it is a pipeline: its collector and the replies it still
        /// expects. Kept apart so that a reply to a pipeline touches no queue entry.
        private var headPipeline: (collector: RedisPipelineCollector, remaining: Int)?

        /// The number of requests awaiting replies.
        var count: Int { pending.count }

        /// The deadline of the oldest request, which is answered first.
        var headDeadline: NIODeadline? { pending.first?.deadline }

        /// Records a request that was just written.
        mutating func sent(_ kind: Pending.Kind, waiter: Waiter, deadline: NIODeadline?) {
            pending.append(Pending(kind: kind, waiter: waiter, deadline: deadline))
            if pending.count == 1 { self.headChanged() }
        }

        /// Takes one reply for the pipeline at the head of the queue.
        ///
        /// - Returns: The pipeline's collector, or `nil` when the head is not a pipeline.
        mutating func pipelineReply() -> RedisPipelineCollector? {
            guard var head = headPipeline else { return nil }
            head.remaining -= 1
            if head.remaining == 0 {
                pending.removeFirst()
                self.headChanged()
            } else {
                headPipeline = head
            }
            return head.collector
        }

        private mutating func headChanged() {
            if let head = pending.first, case .pipeline(let count) = head.kind, case .pipeline(let collector) = head.waiter {
                headPipeline = (collector, count)
            } else {
                headPipeline = nil
            }
        }

        /// Records a request that was just written, answered through a promise.
        mutating func sent(_ kind: Pending.Kind, promise: EventLoopPromise<RESPValue>?, deadline: NIODeadline?) {
            self.sent(kind, waiter: promise.map { .promise($0) } ?? .none, deadline: deadline)
        }

        /// Detaches the waiter of a cancelled request and returns it; the request stays queued
        /// because its reply still arrives, and is then discarded.
        ///
        /// - Parameter id: The request's identifier.
        /// - Returns: The waiter to resume with a cancellation, or `nil` when the request has
        ///   already been answered.
        mutating func cancel(id: UInt64) -> Waiter? {
            var index = pending.startIndex
            while index != pending.endIndex {
                if case .continuation(_, let candidate) = pending[index].waiter, candidate == id {
                    let waiter = pending[index].waiter
                    pending[index].waiter = .none
                    return waiter
                }
                index = pending.index(after: index)
            }
            return nil
        }

        /// Handles a value read from the server.
        mutating func received(_ value: RESPValue) -> ReceiveAction {
            switch value {
            case .attribute:
                return self.received(value.withoutAttributes)
            case .push(let values):
                return self.receivedPush(value, values)
            case .simpleError(let message), .bulkError(let message):
                guard let waiter = self.popReply() else {
                    return .protocolError("reply \(value) with no request waiting")
                }
                return .fail(waiter, RedisClientError(.serverError, message: message))
            default:
                guard let waiter = self.popReply() else {
                    return .protocolError("reply \(value) with no request waiting")
                }
                return .succeed(waiter, value)
            }
        }

        /// Takes the waiter of the oldest request for one reply; a pipeline stays at the head
        /// until its last reply.
        private mutating func popReply() -> Waiter? {
            if let collector = self.pipelineReply() { return .pipeline(collector) }
            guard !pending.isEmpty else { return nil }
            let waiter = pending.removeFirst().waiter
            self.headChanged()
            return waiter
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
                self.headChanged()
                return .succeed(head.waiter, value)
            default:
                return .otherPush(value)
            }
        }

        /// Whether the oldest request is past its deadline.
        func isHeadOverdue(now: NIODeadline) -> Bool {
            guard let deadline = pending.first?.deadline else { return false }
            return deadline <= now
        }

        /// Empties the queue when the connection closes and returns every waiter, in order.
        mutating func close() -> [Waiter] {
            defer {
                pending.removeAll()
                headPipeline = nil
            }
            return pending.map(\.waiter)
        }
    }
}
