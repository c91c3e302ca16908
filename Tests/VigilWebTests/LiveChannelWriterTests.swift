//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import NIOEmbedded
import NIOWebSocket
import Synchronization
import Testing
import VigilCore

@testable import VigilWeb

@Suite("Live channel writer")
struct LiveChannelWriterTests {
    final class Cell: Sendable {
        let value: Atomic<Int64>
        init(_ value: Int64) { self.value = Atomic(value) }
        func load() -> Int64 { value.load(ordering: .relaxed) }
    }

    /// A writer on an embedded channel, with the writability handler installed as LiveSocket does.
    struct Fixture {
        let channel = EmbeddedChannel()
        let queue = LiveClientQueue()
        let sent = Cell(0)
        let clock: ManualClock = {
            let clock = ManualClock()
            clock.advance(by: .nanoseconds(1_000))
            return clock
        }()
        let writer: LiveChannelWriter

        init(maxFrameSize: Int = 16) throws {
            let sent = self.sent
            writer = LiveChannelWriter(
                channel: channel,
                queue: queue,
                maxFrameSize: maxFrameSize,
                clock: clock,
                onSent: { count in sent.value.add(Int64(count), ordering: .relaxed) }
            )
            try channel.pipeline.syncOperations.addHandler(LiveWritabilityHandler(writer: writer), position: .first)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        }

        /// The frames written so far, as (opcode, fin, text).
        func frames() throws -> [(WebSocketOpcode, Bool, String)] {
            var frames: [(WebSocketOpcode, Bool, String)] = []
            while let frame = try channel.readOutbound(as: WebSocketFrame.self) {
                frames.append((frame.opcode, frame.fin, String(buffer: frame.data)))
            }
            return frames
        }

        func texts() throws -> [String] { try frames().map(\.2) }
    }

    @Test("Nothing is written before the snapshot; queued messages follow it in order")
    func snapshotFirst() throws {
        let fixture = try Fixture()
        fixture.queue.push(message: ByteBuffer(string: "e1"))
        fixture.queue.push(state: TargetID(.device, "a"), message: ByteBuffer(string: "a1"))
        fixture.writer.scheduleDrain()
        fixture.channel.embeddedEventLoop.run()
        #expect(try fixture.texts().isEmpty)

        fixture.writer.start(snapshot: ByteBuffer(string: "snap"))
        fixture.channel.embeddedEventLoop.run()
        #expect(try fixture.texts() == ["snap", "e1", "a1"])
        #expect(fixture.sent.load() == 2)

        fixture.queue.push(message: ByteBuffer(string: "e2"))
        LiveChannelWriter.scheduleDrains([fixture.writer, fixture.writer])
        fixture.channel.embeddedEventLoop.run()
        #expect(try fixture.texts() == ["e2"])
    }

    @Test("A long message goes out as a text frame and continuations; only the last has FIN")
    func fragmentation() throws {
        let fixture = try Fixture(maxFrameSize: 4)
        fixture.writer.start(snapshot: ByteBuffer(string: "abcdefghij"))
        fixture.channel.embeddedEventLoop.run()
        let frames = try fixture.frames()
        #expect(frames.map(\.0) == [.text, .continuation, .continuation])
        #expect(frames.map(\.1) == [false, false, true])
        #expect(frames.map(\.2).joined() == "abcdefghij")
    }

    @Test("A full socket keeps messages queued and marks the client blocked; writable again drains")
    func backPressure() throws {
        let fixture = try Fixture()
        fixture.writer.start(snapshot: ByteBuffer(string: "snap"))
        fixture.channel.embeddedEventLoop.run()
        _ = try fixture.texts()

        fixture.channel.isWritable = false
        fixture.queue.push(state: TargetID(.device, "a"), message: ByteBuffer(string: "a1"))
        fixture.writer.scheduleDrain()
        fixture.channel.embeddedEventLoop.run()
        #expect(try fixture.texts().isEmpty)
        #expect(fixture.writer.blockedSince.load(ordering: .relaxed) == 1_000)
        // While blocked, states coalesce in the queue.
        #expect(fixture.queue.push(state: TargetID(.device, "a"), message: ByteBuffer(string: "a2")) == .coalesced)

        fixture.channel.isWritable = true
        fixture.channel.pipeline.fireChannelWritabilityChanged()
        #expect(try fixture.texts() == ["a2"])
        #expect(fixture.writer.blockedSince.load(ordering: .relaxed) == 0)
    }

    @Test("Closing sends a policy-violation close frame with the reason, then closes the channel")
    func closeFrame() throws {
        let fixture = try Fixture()
        fixture.writer.close(reason: "too slow")
        fixture.channel.embeddedEventLoop.run()
        let frame = try #require(try fixture.channel.readOutbound(as: WebSocketFrame.self))
        #expect(frame.opcode == .connectionClose)
        var data = frame.data
        #expect(data.readWebSocketErrorCode() == .policyViolation)
        #expect(String(buffer: data) == "too slow")
        #expect(!fixture.channel.isActive)
    }
}
