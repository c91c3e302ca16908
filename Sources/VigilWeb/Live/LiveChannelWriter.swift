//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import NIOWebSocket
import Synchronization

/// Writes a live client's queued messages straight to its channel, on the channel's event loop.
///
/// Hummingbird's `WebSocketOutboundWriter` takes one frame per call, and each call is a task
/// wake-up, a hop into the WebSocket handler actor, a pass through NIO's async writer and a flush.
/// At 1,000 clients and 100 changes per second that is 100,000 such round trips a second, more
/// than two cores carry. Here the feed schedules one task per event loop per update
/// (``scheduleDrains(_:)``), which writes every waiting message of every client on that loop and
/// flushes each client once: the only per-message work left is the frame write itself.
///
/// Frames go in at the tail of the pipeline and pass through the async channel's handler
/// untouched (it does not intercept writes), so they interleave with the WebSocket layer's own
/// pongs and close frames at frame boundaries, which RFC 6455 allows.
///
/// Back-pressure: a drain writes nothing while the channel is not writable; messages stay in the
/// client's ``LiveClientQueue``, where states coalesce and events count towards the "too slow"
/// limit. ``LiveWritabilityHandler`` drains again when the socket drains. ``blockedSince`` lets the
/// feed disconnect a client whose socket accepts nothing for too long.
final class LiveChannelWriter: Sendable {
    let channel: any Channel
    private let queue: LiveClientQueue
    private let maxFrameSize: Int
    private let clock: @Sendable () -> Int64
    private let onSent: @Sendable (Int) -> Void
    /// Whether a drain is scheduled and has not started yet; saves scheduling one per message.
    private let drainScheduled = Atomic<Bool>(false)
    /// Set once the snapshot is written; nothing is drained before it.
    private let started = Atomic<Bool>(false)
    /// When a drain first found the channel not writable (``clock`` nanoseconds), or 0.
    let blockedSince = Atomic<Int64>(0)

    /// Creates a writer.
    ///
    /// - Parameters:
    ///   - channel: The WebSocket channel (after the upgrade).
    ///   - queue: The client's queue.
    ///   - maxFrameSize: Longer messages are split into continuation frames.
    ///   - clock: Monotonic nanoseconds, for ``blockedSince``.
    ///   - onSent: Called with the number of messages each drain wrote.
    init(
        channel: any Channel,
        queue: LiveClientQueue,
        maxFrameSize: Int,
        clock: @escaping @Sendable () -> Int64,
        onSent: @escaping @Sendable (Int) -> Void
    ) {
        self.channel = channel
        self.queue = queue
        self.maxFrameSize = maxFrameSize
        self.clock = clock
        self.onSent = onSent
    }

    /// Writes the snapshot, then starts draining the queue.
    ///
    /// Messages queued before this call (the client is registered with the feed first, so no
    /// update is missed) are sent after the snapshot.
    func start(snapshot: ByteBuffer) {
        channel.eventLoop.execute {
            self.write(snapshot)
            self.channel.flush()
            self.started.store(true, ordering: .releasing)
            self.drain()
        }
    }

    /// Schedules a drain of this client alone (replies to the client's own messages).
    func scheduleDrain() {
        Self.scheduleDrains([self])
    }

    /// Schedules one drain per event loop for the writers that have none pending.
    static func scheduleDrains(_ writers: [LiveChannelWriter]) {
        var byLoop: [(loop: any EventLoop, writers: [LiveChannelWriter])] = []
        for writer in writers where !writer.drainScheduled.exchange(true, ordering: .acquiringAndReleasing) {
            let loop = writer.channel.eventLoop
            if let index = byLoop.firstIndex(where: { $0.loop === loop }) {
                byLoop[index].writers.append(writer)
            } else {
                byLoop.append((loop, [writer]))
            }
        }
        for (loop, writers) in byLoop {
            loop.execute {
                for writer in writers { writer.drain() }
            }
        }
    }

    /// Writes everything queued, with one flush. Runs on the channel's event loop.
    func drain() {
        channel.eventLoop.preconditionInEventLoop()
        // Cleared before taking, so a push that arrives during this drain schedules another.
        drainScheduled.store(false, ordering: .releasing)
        guard started.load(ordering: .acquiring), channel.isActive else { return }
        guard channel.isWritable else {
            if queue.count > 0 {
                _ = blockedSince.compareExchange(expected: 0, desired: max(clock(), 1), ordering: .relaxed)
            }
            return
        }
        blockedSince.store(0, ordering: .relaxed)
        guard case .messages(let messages) = queue.take() else { return }
        for message in messages { write(message) }
        channel.flush()
        onSent(messages.count)
    }

    /// Writes one message as a text frame, or as a text frame and continuations when it is long.
    private func write(_ message: ByteBuffer) {
        let pipeline = channel.pipeline.syncOperations
        guard message.readableBytes > maxFrameSize else {
            pipeline.write(NIOAny(WebSocketFrame(fin: true, opcode: .text, data: message)), promise: nil)
            return
        }
        var rest = message
        var opcode = WebSocketOpcode.text
        while let slice = rest.readSlice(length: min(maxFrameSize, rest.readableBytes)) {
            pipeline.write(NIOAny(WebSocketFrame(fin: rest.readableBytes == 0, opcode: opcode, data: slice)), promise: nil)
            opcode = .continuation
            if rest.readableBytes == 0 { break }
        }
    }

    /// Sends a close frame with a policy-violation code and the reason, then closes the channel.
    func close(reason: String) {
        channel.eventLoop.execute {
            var data = self.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
            data.write(webSocketErrorCode: .policyViolation)
            data.writeString(reason)
            self.channel.pipeline.syncOperations.write(NIOAny(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)), promise: nil)
            self.channel.flush()
            self.channel.close(promise: nil)
        }
    }
}

/// Drains a live client again when its socket, full until now, accepts data.
final class LiveWritabilityHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private let writer: LiveChannelWriter

    init(writer: LiveChannelWriter) {
        self.writer = writer
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { writer.drain() }
        context.fireChannelWritabilityChanged()
    }
}
