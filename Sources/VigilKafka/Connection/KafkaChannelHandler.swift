//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Metrics
import NIOCore

/// The one channel handler of a Kafka connection: frames requests with correlation ids and hands
/// each response body to the request that waits for it.
///
/// A broker answers the requests of one connection in order, but matching by correlation id costs
/// nothing and turns a confused broker into a clear error. Any protocol error, an unknown id or a
/// response that does not arrive within its deadline closes the connection and fails every
/// waiting request: after that, later bytes could not be trusted to belong to anyone.
final class KafkaChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var promise: EventLoopPromise<ByteBuffer>
        /// Response header v1 (with tagged fields) follows from a flexible request, except for
        /// ApiVersions, whose response header is always v0 so that old clients can read it.
        var flexibleResponseHeader: Bool
        var timeout: Scheduled<Void>?
    }

    /// Requests whose response did not come within their deadline.
    static let timedOut = Counter(label: "vigil_kafka_requests_timed_out_total")

    private var processor: NIOSingleStepByteToMessageProcessor<KafkaFrameDecoder>
    private var pending: [Int32: Pending] = [:]
    private var nextCorrelationID: Int32 = 1
    private var context: ChannelHandlerContext?
    private(set) var closeReason: KafkaClientError?
    let clientID: String

    init(clientID: String, maximumFrameSize: Int) {
        self.clientID = clientID
        self.processor = NIOSingleStepByteToMessageProcessor(KafkaFrameDecoder(maximumFrameSize: maximumFrameSize), maximumBufferSize: nil)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        shutDown(KafkaClientError(.connectionClosed, message: "handler removed"))
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        shutDown(KafkaClientError(.connectionClosed, message: "connection closed by the broker"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(KafkaClientError(.connectionClosed, message: "network error", underlyingError: error))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            try processor.process(buffer: Self.unwrapInboundIn(data)) { frame in
                try self.deliver(frame)
            }
        } catch {
            fail(KafkaClientError(.decodeError, message: "\(error)", underlyingError: error))
        }
    }

    private func deliver(_ frame: ByteBuffer) throws {
        var frame = frame
        let correlationID = try frame.kafkaReadInt32("ResponseHeader.correlation_id")
        guard let entry = pending.removeValue(forKey: correlationID) else {
            throw KafkaDecodeError(.unknownCorrelationID, "correlation id \(correlationID)")
        }
        entry.timeout?.cancel()
        if entry.flexibleResponseHeader {
            do {
                try frame.kafkaSkipTaggedFields("ResponseHeader.tagged_fields")
            } catch {
                entry.promise.fail(error)
                throw error
            }
        }
        entry.promise.succeed(frame)
    }

    // MARK: - Requests (on the event loop)

    /// Writes a request and completes `promise` with its response body.
    func send<Request: KafkaRequest>(
        _ request: Request,
        version: Int16,
        timeout: TimeAmount,
        promise: EventLoopPromise<ByteBuffer>
    ) {
        guard let context, closeReason == nil else {
            promise.fail(closeReason ?? KafkaClientError(.connectionClosed))
            return
        }
        let correlationID = nextCorrelationID
        nextCorrelationID = nextCorrelationID == Int32.max ? 1 : nextCorrelationID + 1
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let timer = context.eventLoop.scheduleTask(in: timeout) {
            Self.timedOut.increment()
            bound.value.fail(KafkaClientError(.timeout, message: "no response to \(Request.apiKey) within \(timeout)"))
        }
        pending[correlationID] = Pending(
            promise: promise,
            flexibleResponseHeader: Request.isFlexible(version) && Request.apiKey != .apiVersions,
            timeout: timer
        )
        var buffer = context.channel.allocator.buffer(capacity: 256)
        KafkaRequestFrame.write(request, version: version, correlationID: correlationID, clientID: clientID, to: &buffer)
        context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: nil)
    }

    /// Fails every waiting request and closes the channel.
    func fail(_ reason: KafkaClientError) {
        shutDown(reason)
        context?.close(promise: nil)
    }

    private func shutDown(_ reason: KafkaClientError) {
        if closeReason == nil { closeReason = reason }
        let waiting = pending
        pending.removeAll()
        for entry in waiting.values {
            entry.timeout?.cancel()
            entry.promise.fail(closeReason ?? reason)
        }
    }
}

@available(*, unavailable)
extension KafkaChannelHandler: Sendable {}
