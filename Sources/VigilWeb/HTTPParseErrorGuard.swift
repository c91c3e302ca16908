//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// Answers `400 Bad Request` and closes the connection when the first request on it cannot be
/// parsed (a raw space, control character or non-ASCII byte in the request line, a malformed
/// header).
///
/// Behind the WebSocket upgrade pipeline such an error reaches no one: the upgrade handler waits
/// for a request head that never comes, and the connection stays open, unanswered, until the
/// client gives up. This handler sits right after the HTTP decoder and removes itself once the
/// first head has passed; from then on Hummingbird answers parse errors itself.
///
/// It also closes a connection whose first request head does not arrive within the idle timeout:
/// Hummingbird's idle timeout starts with the first request behind the upgrade pipeline, so a
/// client that connects and stays silent would otherwise hold its descriptor for ever.
final class HTTPParseErrorGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let firstRequestTimeout: TimeAmount?
    private var timeout: Scheduled<Void>?

    init(firstRequestTimeout: TimeAmount?) {
        self.firstRequestTimeout = firstRequestTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard let firstRequestTimeout else { return }
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        timeout = context.eventLoop.scheduleTask(in: firstRequestTimeout) {
            boundContext.value.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeout?.cancel()
        timeout = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let isHead = if case .head = unwrapInboundIn(data) { true } else { false }
        context.fireChannelRead(data)
        if isHead { context.pipeline.syncOperations.removeHandler(context: context, promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        let head = HTTPResponseHead(version: .http1_1, status: .badRequest, headers: ["connection": "close", "content-length": "0"])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        // The future completes on this event loop, where the context may be used.
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            boundContext.value.close(promise: nil)
        }
    }

    /// Inserts the guard after the HTTP request decoder of a pipeline set up for HTTP/1.
    static func install(on channel: any Channel, firstRequestTimeout: TimeAmount?) throws {
        let operations = channel.pipeline.syncOperations
        let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
        try operations.addHandler(HTTPParseErrorGuard(firstRequestTimeout: firstRequestTimeout), position: .after(decoder))
    }
}

@available(*, unavailable)
extension HTTPParseErrorGuard: Sendable {}

/// A server child channel that installs ``HTTPParseErrorGuard`` on every connection of another.
struct ParseErrorGuardedChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    /// How long a new connection may take to send its first request head.
    var firstRequestTimeout: TimeAmount?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            try HTTPParseErrorGuard.install(on: channel, firstRequestTimeout: firstRequestTimeout)
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
