//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import NIOWebSocket
import Synchronization
import VigilCore

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
/// client's ``LiveClientQueue``, where states coalesce and events and bytes count towards the "too
/// slow" limits. A drain takes at most ``drainBytes`` at a time and stops as soon as the channel is
/// no longer writable, so NIO's own outbound buffer never holds more than its high-water mark plus
/// one such slice: the queue's byte bound is what limits a client that never reads. ``LiveWritabilityHandler`` drains again when the socket drains. ``blockedSince`` lets the
/// feed disconnect a client whose socket accepts nothing for too long.
final class LiveChannelWriter: Sendable {
    let channel: any Channel
    private let queue: LiveClientQueue
    private let maxFrameSize: Int
    private let clock: any VigilClock
    private let onSent: @Sendable (Int) -> Void
    /// Whether a drain is scheduled and has not started yet; saves scheduling one per message.
    private let drainScheduled = Atomic<Bool>(false)
    /// Set once the snapshot is written; nothing is drained before it.
    private let started = Atomic<Bool>(false)
    /// When a drain first found the channel not writable (``clock``'s monotonic nanoseconds), or 0.
    let blockedSince = Atomic<Int64>(0)
    /// Set when the client is being closed: ``LiveWritabilityHandler`` drops its input.
    let discardsInput = Atomic<Bool>(false)

    /// Creates a writer.
    ///
    /// - Parameters:
    ///   - channel: The WebSocket channel (after the upgrade).
    ///   - queue: The client's queue.
    ///   - maxFrameSize: Longer messages are split into continuation frames.
    ///   - clock: The feed's clock; its monotonic time stamps ``blockedSince``.
    ///   - onSent: Called with the number of messages each drain wrote.
    init(
        channel: any Channel,
        queue: LiveClientQueue,
        maxFrameSize: Int,
        clock: any VigilClock,
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

    /// The most bytes one step of a drain takes from the queue before it checks writability again.
    static let drainBytes = 64 * 1024

    /// Writes what is queued while the channel is writable, flushing after each slice. Runs on the
    /// channel's event loop.
    func drain() {
        channel.eventLoop.preconditionInEventLoop()
        // Cleared before taking, so a push that arrives during this drain schedules another.
        drainScheduled.store(false, ordering: .releasing)
        // A closed queue belongs to a client being closed: nothing may follow its close frame.
        guard started.load(ordering: .acquiring), channel.isActive, !queue.isClosed else { return }
        if channel.isWritable { blockedSince.store(0, ordering: .relaxed) }
        var sent = 0
        while channel.isWritable, case .messages(let messages) = queue.take(maxBytes: Self.drainBytes) {
            for message in messages { write(message) }
            channel.flush()
            sent += messages.count
        }
        if sent > 0 { onSent(sent) }
        if !channel.isWritable, queue.count > 0 {
            _ = blockedSince.compareExchange(expected: 0, desired: max(clock.now.nanoseconds, 1), ordering: .relaxed)
        }
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

    /// How long an aborted client's socket may take to accept what was written before it (the
    /// close frame last) before the connection is closed outright.
    static let closeGrace = TimeAmount.seconds(2)

    /// Sends a close frame with a policy-violation code and the reason, then closes the channel.
    ///
    /// The output side is shut down first: NIO does that once the bytes already written have gone
    /// out, so a client that still reads gets the close frame and its reason (closing at once would
    /// drop them). From now on whatever the client sends is dropped as raw bytes, before any
    /// WebSocket decoding, so a client flooding messages costs next to nothing while the close
    /// frame goes out (not reading at all would make the final close a reset that can lose it).
    /// A client that reads nothing is closed outright after ``closeGrace``.
    func close(reason: String) {
        // Set before the hop to the event loop, so a read in progress drops its next chunks.
        discardsInput.store(true, ordering: .relaxed)
        channel.eventLoop.execute {
            var data = self.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
            data.write(webSocketErrorCode: .policyViolation)
            data.writeString(reason)
            self.channel.pipeline.syncOperations.write(NIOAny(WebSocketFrame(fin: true, opcode: .connectionClose, data: data)), promise: nil)
            self.channel.flush()
            self.channel.close(mode: .output, promise: nil)
            let channel = self.channel
            channel.eventLoop.scheduleTask(in: Self.closeGrace) { channel.close(promise: nil) }
        }
    }
}

/// Drains a live client again when its socket, full until now, accepts data; drops what a client
/// being closed still sends. It sits first in the pipeline, before the WebSocket decoder.
final class LiveWritabilityHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private let writer: LiveChannelWriter

    init(writer: LiveChannelWriter) {
        self.writer = writer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !writer.discardsInput.load(ordering: .relaxed) else { return }
        context.fireChannelRead(data)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { writer.drain() }
        context.fireChannelWritabilityChanged()
    }
}
