//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import NIOCore

/// Owns one MySQL connection's decoder, state machine and command queue.
///
/// The handler answers the server's handshake by itself and then sends queued commands one at a
/// time, because the protocol has no request ids: the next command may only be written after the
/// previous one's last packet arrived. All methods run on the channel's event loop.
final class MySQLChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Request {
        var command: MySQLCommand
        var promise: EventLoopPromise<MySQLCommandResult>?
    }

    private var processor: NIOSingleStepByteToMessageProcessor<MySQLPacketDecoder>
    private var stateMachine: StateMachine
    private var context: ChannelHandlerContext?
    private var startupPromise: EventLoopPromise<Void>?
    private var authenticated = false
    private var queue = CircularBuffer<Request>()
    private var inFlight: EventLoopPromise<MySQLCommandResult>?
    private var inFlightDeadline: Scheduled<Void>?
    private let commandTimeout: TimeAmount?
    private var closedError: (any Error)?
    private let logger: Logger

    /// Creates a handler.
    ///
    /// - Parameter commandTimeout: How long the server may take to finish answering one command;
    ///   when it is exceeded the connection is closed, because the protocol cannot skip an answer.
    init(
        credentials: StateMachine.Credentials,
        maxPacketSize: Int = 64 << 20,
        commandTimeout: TimeAmount? = nil,
        logger: Logger = Logger(label: "vigil.mysql")
    ) {
        self.commandTimeout = commandTimeout
        self.processor = NIOSingleStepByteToMessageProcessor(MySQLPacketDecoder(maxPacketSize: maxPacketSize), maximumBufferSize: nil)
        self.stateMachine = StateMachine(credentials: credentials, maxPacketSize: UInt32(clamping: maxPacketSize))
        self.logger = logger
    }

    /// Why the connection failed or closed, once it has.
    var closeReason: (any Error)? { closedError }

    /// The server's version string from the handshake.
    var serverVersion: String { stateMachine.serverVersion }

    /// Completes `promise` once the handshake succeeded, or fails it with the reason it did not.
    func waitForStartup(_ promise: EventLoopPromise<Void>) {
        if authenticated {
            promise.succeed()
        } else if let closedError {
            promise.fail(closedError)
        } else {
            startupPromise = promise
        }
    }

    /// Queues `command`; `promise` completes with its result.
    func send(_ command: MySQLCommand, promise: EventLoopPromise<MySQLCommandResult>?) {
        if let closedError {
            promise?.fail(closedError)
            return
        }
        queue.append(Request(command: command, promise: promise))
        sendNext()
    }

    private func sendNext() {
        guard let context, authenticated else { return }
        var wrote = false
        while inFlight == nil, stateMachine.isReady, let request = queue.popFirst() {
            var payload = context.channel.allocator.buffer(capacity: 64)
            request.command.write(to: &payload)
            stateMachine.startCommand(request.command, frames: MySQLPacket.frameCount(payloadLength: payload.readableBytes))
            write(payload, sequenceID: 0, context: context)
            wrote = true
            if request.command.expectsResponse {
                inFlight = request.promise
                // A command without a promise still needs its answer consumed.
                if inFlight == nil { inFlight = context.eventLoop.makePromise() }
                if let commandTimeout {
                    let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
                    inFlightDeadline = context.eventLoop.scheduleTask(in: commandTimeout) {
                        loopBound.value.commandTimedOut(after: commandTimeout)
                    }
                }
            } else {
                request.promise?.succeed(.ok(MySQLOKPacket()))
            }
        }
        if wrote { context.flush() }
    }

    private func write(_ payload: ByteBuffer, sequenceID: UInt8, context: ChannelHandlerContext) {
        var buffer = context.channel.allocator.buffer(capacity: payload.readableBytes + 4)
        buffer.writeMySQLPacket(sequenceID: sequenceID, payload: payload)
        context.write(wrapOutboundOut(buffer), promise: nil)
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(MySQLClientError(.connectionClosed, message: "handler removed"))
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        do {
            try processor.process(buffer: buffer) { packet in
                self.handle(stateMachine.receive(packet), context: context)
            }
        } catch {
            let reason = (error as? MySQLDecodeError).map { MySQLClientError(.protocolViolation, underlyingError: $0) }
            fail(reason ?? error, context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(MySQLClientError(.connectionClosed, message: "the server closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(MySQLClientError(.connectionClosed, message: "connection error", underlyingError: error), context: context)
    }

    private func handle(_ action: StateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .send(let payload, let sequenceID):
            write(payload, sequenceID: sequenceID, context: context)
            context.flush()
        case .authenticated:
            authenticated = true
            logger.debug("mysql connection authenticated", metadata: ["mysql.server": "\(stateMachine.serverVersion)"])
            startupPromise?.succeed()
            startupPromise = nil
            sendNext()
        case .succeedCommand(let result):
            let promise = finishInFlight()
            promise?.succeed(result)
            sendNext()
        case .failCommand(let error):
            let promise = finishInFlight()
            promise?.fail(error)
            sendNext()
        case .closeWithError(let error):
            fail(error, context: context)
        }
    }

    private func finishInFlight() -> EventLoopPromise<MySQLCommandResult>? {
        inFlightDeadline?.cancel()
        inFlightDeadline = nil
        let promise = inFlight
        inFlight = nil
        return promise
    }

    private func commandTimedOut(after timeout: TimeAmount) {
        guard let context, inFlight != nil else { return }
        logger.warning("mysql command timed out; closing the connection", metadata: ["mysql.timeout": "\(timeout)"])
        fail(MySQLClientError(.timeout, message: "the server did not answer within \(timeout)"), context: context)
    }

    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        guard closedError == nil else { return }
        closedError = error
        stateMachine.close()
        startupPromise?.fail(error)
        startupPromise = nil
        finishInFlight()?.fail(error)
        while let request = queue.popFirst() {
            request.promise?.fail(error)
        }
    }
}

@available(*, unavailable)
extension MySQLChannelHandler: Sendable {}
