//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import NIOCore

/// The one channel handler of a Redis connection.
///
/// It owns the RESP3 decoder, the FIFO of requests awaiting replies (``StateMachine``) and the
/// reply timer. ``RedisConnection`` calls ``send(_:kind:waiter:timeout:)`` on the event loop.
/// Each request is flushed at once; requests already in flight are pipelined, since replies are
/// matched in order.
///
/// Push frames are not replies: Pub/Sub messages go to ``onMessage``, other pushes to
/// ``onPush``. When the connection closes, every request still waiting fails with
/// ``RedisClientError/Code/connectionClosed`` (or the reason that closed it).
final class RedisChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Receives Pub/Sub messages, on the event loop.
    typealias OnMessage = @Sendable (RedisPubSubMessage) -> Void
    /// Receives other push frames, on the event loop.
    typealias OnPush = @Sendable (RESPValue) -> Void

    private let logger: Logger
    private let onMessage: OnMessage
    private let onPush: OnPush
    private var context: ChannelHandlerContext?
    private var processor: NIOSingleStepByteToMessageProcessor<RESPDecoder>
    private(set) var stateMachine = StateMachine()
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    /// Whether requests behind the head may have deadlines earlier than the timer's.
    private var uncoveredDeadlines = false
    private var isShutDown = false
    /// Why the connection closed; set once.
    private(set) var closeReason: RedisClientError?
    /// Completed with the close reason when the handler shuts down.
    let closed: EventLoopPromise<RedisClientError>

    init(
        eventLoop: any EventLoop,
        limits: RESPDecoderLimits = RESPDecoderLimits(),
        logger: Logger,
        onMessage: @escaping OnMessage = { _ in },
        onPush: @escaping OnPush = { _ in }
    ) {
        self.logger = logger
        self.onMessage = onMessage
        self.onPush = onPush
        self.processor = NIOSingleStepByteToMessageProcessor(RESPDecoder(limits: limits), maximumBufferSize: nil)
        self.closed = eventLoop.makePromise()
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.shutDown(reason: closeReason ?? RedisClientError(.connectionClosed, message: "handler removed"))
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        do {
            try processor.finishProcessing(seenEOF: true) { value in self.handle(value, context: context) }
        } catch {
            // A partial value at EOF changes nothing: the connection is gone and requests fail below.
        }
        self.shutDown(reason: closeReason ?? RedisClientError(.connectionClosed, message: "connection closed by the server"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail(RedisClientError(.connectionClosed, message: "network error", underlyingError: error), context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        do {
            try processor.process(buffer: buffer) { value in self.handle(value, context: context) }
        } catch {
            logger.error("Redis sent invalid RESP3; closing the connection", metadata: ["error": "\(error)"])
            self.fail(RedisClientError(.decodeError, message: "\(error)", underlyingError: error), context: context)
        }
    }

    // MARK: - Requests (on the event loop)

    /// Records a request, then writes and flushes the command at once.
    ///
    /// - Parameters:
    ///   - command: The command.
    ///   - kind: How the server answers it.
    ///   - waiter: Receives the reply or the error.
    ///   - timeout: The limit for the reply; `nil` for none.
    func send(_ command: RedisCommand, kind: StateMachine.Pending.Kind, waiter: StateMachine.Waiter, timeout: TimeAmount?) {
        guard let context, !isShutDown, closeReason == nil else {
            waiter.complete(.failure(closeReason ?? RedisClientError(.connectionClosed)))
            return
        }
        self.record(kind, waiter: waiter, timeout: timeout, context: context)
        var buffer = context.channel.allocator.buffer(capacity: command.encodedSize)
        command.write(to: &buffer)
        context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
    }

    /// Records a request answered through a promise, then writes and flushes the command.
    ///
    /// - Parameters:
    ///   - command: The command.
    ///   - kind: How the server answers it.
    ///   - promise: Completed with the reply, or failed; `nil` to ignore the reply.
    ///   - timeout: The limit for the reply; `nil` for none.
    func send(_ command: RedisCommand, kind: StateMachine.Pending.Kind, promise: EventLoopPromise<RESPValue>?, timeout: TimeAmount?) {
        self.send(command, kind: kind, waiter: promise.map { .promise($0) } ?? .none, timeout: timeout)
    }

    /// Writes several commands in one buffer and resumes `continuation` once with every result.
    ///
    /// The pipeline is one request awaiting several replies, so its commands cost no queue entry
    /// of their own.
    ///
    /// - Parameters:
    ///   - commands: The commands, answered by one reply each; not empty.
    ///   - continuation: Resumed with one result per command, in order.
    ///   - timeout: The limit for the replies.
    func send(
        batch commands: [RedisCommand],
        continuation: CheckedContinuation<[Result<RESPValue, RedisClientError>], Never>,
        timeout: TimeAmount?
    ) {
        let collector = RedisPipelineCollector(expected: commands.count, continuation: continuation)
        guard let context, !isShutDown, closeReason == nil else {
            collector.finish(failing: closeReason ?? RedisClientError(.connectionClosed))
            return
        }
        self.record(.pipeline(count: commands.count), waiter: .pipeline(collector), timeout: timeout, context: context)
        self.write(commands, context: context)
    }

    /// Writes several commands in one buffer and records a request for each.
    ///
    /// - Parameters:
    ///   - commands: The commands, answered by one reply each.
    ///   - promises: One promise per command.
    ///   - timeout: The limit for each reply.
    func send(batch commands: [RedisCommand], promises: [EventLoopPromise<RESPValue>], timeout: TimeAmount?) {
        guard let context, !isShutDown, closeReason == nil else {
            for promise in promises { promise.fail(closeReason ?? RedisClientError(.connectionClosed)) }
            return
        }
        for promise in promises { self.record(.reply, waiter: .promise(promise), timeout: timeout, context: context) }
        self.write(commands, context: context)
    }

    /// Records a request before its write: a write error closes the connection and must find it.
    private func record(_ kind: StateMachine.Pending.Kind, waiter: StateMachine.Waiter, timeout: TimeAmount?, context: ChannelHandlerContext) {
        let deadline = timeout.map { context.eventLoop.now + $0 }
        stateMachine.sent(kind, waiter: waiter, deadline: deadline)
        if let deadline { self.armTimer(for: deadline, context: context) }
    }

    private func write(_ commands: [RedisCommand], context: ChannelHandlerContext) {
        var size = 0
        for command in commands { size += command.encodedSize }
        var buffer = context.channel.allocator.buffer(capacity: size)
        for command in commands { command.write(to: &buffer) }
        context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
    }

    /// Stops waiting for a request whose task was cancelled: its task resumes with
    /// `CancellationError` and its reply, when it comes, is discarded.
    ///
    /// - Parameter id: The identifier the request was sent with.
    func cancel(id: UInt64) {
        if case .continuation(let continuation, _) = stateMachine.cancel(id: id) {
            continuation.resume(throwing: CancellationError())
        }
    }

    /// Closes the connection; waiting requests fail with `reason`.
    func close(reason: RedisClientError) {
        guard let context else { return }
        self.fail(reason, context: context)
    }

    // MARK: - Replies

    private func handle(_ value: RESPValue, context: ChannelHandlerContext) {
        switch value {
        case .simpleError, .bulkError, .push, .attribute:
            break
        default:
            // The common case in a pipeline: a plain reply to the pipeline at the head.
            if let collector = stateMachine.pipelineReply() {
                collector.add(.success(value))
                if uncoveredDeadlines { self.checkHeadDeadline(context: context) }
                return
            }
        }
        switch stateMachine.received(value) {
        case .succeed(let waiter, let value):
            waiter.complete(.success(value))
        case .fail(let waiter, let error):
            waiter.complete(.failure(error))
        case .deliver(let message):
            onMessage(message)
        case .otherPush(let value):
            logger.trace("Redis push", metadata: ["redis.push": "\(value)"])
            onPush(value)
        case .none:
            break
        case .protocolError(let detail):
            logger.error("Redis protocol error; closing the connection", metadata: ["error": "\(detail)"])
            self.fail(RedisClientError(.decodeError, message: detail), context: context)
        }
        // The timer stays armed when the queue drains: it finds nothing overdue and lapses.
        // Requests queued behind a head the timer was re-armed for (a blocking command) may have
        // earlier deadlines: check each new head until the queue drains.
        if uncoveredDeadlines { self.checkHeadDeadline(context: context) }
    }

    private func checkHeadDeadline(context: ChannelHandlerContext) {
        if let deadline = stateMachine.headDeadline {
            self.armTimer(for: deadline, context: context)
        } else {
            uncoveredDeadlines = false
        }
    }

    // MARK: - Timeouts

    /// Makes sure a timer fires no later than `deadline`.
    ///
    /// There is one timer per connection. Requests with the same timeout have increasing
    /// deadlines, so the timer armed for the first one covers them all: it is not re-armed per
    /// request, nor cancelled when the queue drains.
    private func armTimer(for deadline: NIODeadline, context: ChannelHandlerContext) {
        if let timerDeadline, timerDeadline <= deadline { return }
        timer?.cancel()
        timerDeadline = deadline
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timerFired(context: context)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        timer = nil
        timerDeadline = nil
        if stateMachine.isHeadOverdue(now: context.eventLoop.now) {
            // Later replies could not be matched to their requests any more: close.
            logger.warning("Redis reply overdue; closing the connection")
            self.fail(RedisClientError(.timeout, message: "no reply within the command timeout"), context: context)
            return
        }
        // Only the oldest request can be answered next, so only its deadline matters; a later
        // request's deadline is checked once it becomes the oldest.
        if let next = stateMachine.headDeadline {
            self.armTimer(for: next, context: context)
            uncoveredDeadlines = uncoveredDeadlines || stateMachine.count > 1
        }
    }

    // MARK: - Helpers

    /// Records the reason and closes the channel; `channelInactive` fails outstanding requests.
    private func fail(_ error: RedisClientError, context: ChannelHandlerContext) {
        if closeReason == nil { closeReason = error }
        // Fail at once: a timed-out caller should not wait for the close to complete.
        self.shutDown(reason: error)
        context.close(promise: nil)
    }

    private func shutDown(reason: RedisClientError) {
        guard !isShutDown else { return }
        isShutDown = true
        if closeReason == nil { closeReason = reason }
        timer?.cancel()
        timer = nil
        let reason = closeReason ?? reason
        for waiter in stateMachine.close() { waiter.fail(all: reason) }
        closed.succeed(reason)
    }
}

@available(*, unavailable)
extension RedisChannelHandler: Sendable {}
