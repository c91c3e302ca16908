//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import NIOWebSocket

/// Applies a live client's message rate where its frames are decoded, on the event loop.
///
/// Sits right after the WebSocket frame decoder. Counting here rather than in the connection's
/// task matters for a client that floods: everything read in one go is decoded at once, and every
/// frame that reached the async side would be unmasked, buffered and handed over one by one before
/// the task could count it. Here the frame past the limit aborts the client and it and all later
/// data frames are dropped on the spot. Close frames always pass.
final class LiveInboundLimiter: ChannelInboundHandler, Sendable {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame

    private let admit: @Sendable () -> Bool
    private let isAborted: @Sendable () -> Bool

    /// Creates a limiter.
    ///
    /// - Parameters:
    ///   - admit: Counts one message; `false` when the client is past its rate (and now aborted).
    ///   - isAborted: Whether the client is being closed.
    init(admit: @escaping @Sendable () -> Bool, isAborted: @escaping @Sendable () -> Bool) {
        self.admit = admit
        self.isAborted = isAborted
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data).opcode {
        case .text, .binary, .ping:
            guard !isAborted(), admit() else { return }
        case .connectionClose:
            break
        default:
            guard !isAborted() else { return }
        }
        context.fireChannelRead(data)
    }

    /// Installs a limiter after the pipeline's WebSocket frame decoder; `false` when there is none.
    static func install(in channel: any Channel, admit: @escaping @Sendable () -> Bool, isAborted: @escaping @Sendable () -> Bool) async -> Bool {
        let installed = channel.eventLoop.submit {
            let pipeline = channel.pipeline.syncOperations
            let decoder = try pipeline.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self)
            try pipeline.addHandler(LiveInboundLimiter(admit: admit, isAborted: isAborted), position: .after(decoder))
        }
        return (try? await installed.get()) != nil
    }
}
