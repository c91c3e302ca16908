//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import MetricsTestKit
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Synchronization
import Testing
import VigilCore

@testable import VigilWeb

@Suite("Live feed bounds")
struct LiveBoundsTests {
    /// A clock that reads 7 ns of monotonic time.
    static var clockAt7ns: ManualClock {
        let clock = ManualClock()
        clock.advance(by: .nanoseconds(7))
        return clock
    }

    static func bytes(_ count: Int, _ fill: Character = "x") -> ByteBuffer {
        ByteBuffer(string: String(repeating: fill, count: count))
    }

    static func strings(_ batch: LiveClientQueue.Batch?) -> [String]? {
        guard case .messages(let list) = batch else { return nil }
        return list.map { String(buffer: $0) }
    }

    static func feed(_ configuration: LiveConfiguration, metrics: TestMetrics) -> LiveFeed {
        LiveFeed(
            hub: Hub(stores: MemoryStore().stores, clock: ManualClock(wallClockSeconds: 50)),
            version: "t",
            configuration: configuration,
            clock: ManualClock(wallClockSeconds: 50),
            metricsFactory: metrics
        )
    }

    // MARK: - Queued bytes

    @Test("Queued bytes overflow the queue; a lone message larger than the bound still fits; states count their newest size")
    func byteBound() {
        let queue = LiveClientQueue(limits: .init(maxQueuedBytes: 100))
        #expect(queue.push(message: Self.bytes(150)) == .queued, "a lone large message is accepted")
        #expect(queue.push(message: Self.bytes(1)) == .overflow)
        #expect(queue.overflow == .bytes)
        #expect(queue.queuedBytes == 0, "an overflowed queue releases what it held")

        let states = LiveClientQueue(limits: .init(maxQueuedBytes: 100))
        let a = TargetID(.device, "a")
        #expect(states.push(state: a, message: Self.bytes(60)) == .queued)
        #expect(states.push(state: a, message: Self.bytes(70)) == .coalesced)
        #expect(states.queuedBytes == 70)
        #expect(states.push(state: TargetID(.device, "b"), message: Self.bytes(20)) == .queued)
        #expect(states.push(state: TargetID(.device, "c"), message: Self.bytes(20)) == .overflow)
        #expect(states.overflow == .bytes)
    }

    @Test("Events past the count bound overflow with their own reason")
    func eventBound() {
        let queue = LiveClientQueue(limits: .init(maxPendingEvents: 2))
        queue.push(message: Self.bytes(1))
        queue.push(message: Self.bytes(1))
        #expect(queue.push(message: Self.bytes(1)) == .overflow)
        #expect(queue.overflow == .events)
    }

    @Test("take(maxBytes:) takes a slice in order and leaves the rest, heartbeat last")
    func partialTake() {
        let queue = LiveClientQueue()
        for index in 0..<5 { queue.push(message: ByteBuffer(string: "event-\(index)")) }
        queue.push(state: TargetID(.device, "a"), message: ByteBuffer(string: "state-a"))
        queue.pushHeartbeat(ByteBuffer(string: "beat"))
        #expect(Self.strings(queue.take(maxBytes: 15)) == ["event-0", "event-1"])
        #expect(queue.queuedBytes == 3 * 7 + 7)
        #expect(Self.strings(queue.take(maxBytes: 1)) == ["event-2"], "at least one message is taken")
        // A state of the same target still coalesces while its entry waits.
        #expect(queue.push(state: TargetID(.device, "a"), message: ByteBuffer(string: "state-A")) == .coalesced)
        #expect(Self.strings(queue.take()) == ["event-3", "event-4", "state-A", "beat"])
        #expect(queue.queuedBytes == 0)
        #expect(queue.take() == nil)
        // The event count was released too: the bound applies to what waits, not to what was sent.
        let bounded = LiveClientQueue(limits: .init(maxPendingEvents: 2))
        for _ in 0..<10 {
            #expect(bounded.push(message: Self.bytes(1)) == .queued)
            #expect(bounded.push(message: Self.bytes(1)) == .queued)
            _ = bounded.take(maxBytes: 1)
            _ = bounded.take(maxBytes: 1)
        }
    }

    /// Makes the channel unwritable after the first frame, as a socket whose buffer filled up would.
    final class FillUp: ChannelOutboundHandler, Sendable {
        typealias OutboundIn = WebSocketFrame
        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            (context.channel as? EmbeddedChannel)?.isWritable = false
            context.write(data, promise: promise)
        }
    }

    @Test("A drain stops when the socket stops accepting data; the rest waits in the queue")
    func drainStopsWhenFull() throws {
        let channel = EmbeddedChannel()
        let queue = LiveClientQueue()
        let writer = LiveChannelWriter(channel: channel, queue: queue, maxFrameSize: 1 << 20, clock: Self.clockAt7ns, onSent: { _ in })
        try channel.pipeline.syncOperations.addHandler(LiveWritabilityHandler(writer: writer), position: .first)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        writer.start(snapshot: ByteBuffer(string: "snap"))
        channel.embeddedEventLoop.run()
        #expect(try channel.readOutbound(as: WebSocketFrame.self).map { String(buffer: $0.data) } == "snap")

        try channel.pipeline.syncOperations.addHandler(FillUp())
        for fill in ["a", "b", "c"] as [Character] { queue.push(message: Self.bytes(40 * 1024, fill)) }
        writer.scheduleDrain()
        channel.embeddedEventLoop.run()
        #expect(try channel.readOutbound(as: WebSocketFrame.self)?.data.readableBytes == 40 * 1024)
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil)
        #expect(queue.count == 2)
        #expect(writer.blockedSince.load(ordering: .relaxed) == 7)
    }

    // MARK: - Clients and requests

    @Test("Past max_clients a connection is refused and counted; a freed slot admits the next")
    func maxClients() throws {
        let metrics = TestMetrics()
        let feed = Self.feed(.init(maxClients: 2), metrics: metrics)
        let first = try #require(feed.connect(filter: LiveFilter()) { _ in })
        _ = try #require(feed.connect(filter: LiveFilter()) { _ in })
        #expect(feed.connect(filter: LiveFilter()) { _ in } == nil)
        #expect(feed.connect(filter: LiveFilter()) { _ in } == nil)
        #expect(feed.clientCount == 2)
        #expect(try metrics.expectCounter("vigil_live_refused_total", [("reason", "max_clients")]).totalValue == 2)
        feed.disconnect(first)
        #expect(feed.connect(filter: LiveFilter()) { _ in } != nil)
    }

    @Test("A client past its message rate is disconnected once and counted")
    func requestRate() throws {
        let metrics = TestMetrics()
        let feed = Self.feed(.init(maxRequestsPerSecond: 1), metrics: metrics)
        let reasons = Reasons()
        let client = try #require(feed.connect(filter: LiveFilter()) { reasons.append($0) })
        #expect(feed.admitRequest(from: client))
        #expect(!feed.admitRequest(from: client))
        #expect(!feed.admitRequest(from: client))
        #expect(reasons.all.count == 1)
        #expect(reasons.all.first?.contains("too many messages") == true)
        #expect(client.isAborted)
        #expect(try metrics.expectCounter("vigil_live_disconnects_total", [("reason", "requests")]).totalValue == 1)
    }

    @Test("Replies that pass the byte bound disconnect the client (reason queued_bytes)")
    func repliesOverflow() throws {
        let metrics = TestMetrics()
        let feed = Self.feed(.init(maxQueuedBytes: 1_000), metrics: metrics)
        let reasons = Reasons()
        let client = try #require(feed.connect(filter: LiveFilter()) { reasons.append($0) })
        // No writer: nothing drains, as with a client that never reads.
        for _ in 0..<20 { feed.send(Self.bytes(100), to: client) }
        #expect(reasons.all.count == 1)
        #expect(reasons.all.first?.contains("bytes queued") == true)
        #expect(try metrics.expectCounter("vigil_live_disconnects_total", [("reason", "queued_bytes")]).totalValue == 1)
        #expect(try metrics.expectCounter("vigil_live_disconnects_total", [("reason", "slow")]).totalValue == 0)
    }

    @Test("Hub updates that pass the byte bound disconnect only the client that does not read")
    func updatesOverflow() throws {
        let metrics = TestMetrics()
        let feed = Self.feed(.init(sampleInterval: .zero, maxQueuedBytes: 2_000), metrics: metrics)
        let stuck = Reasons()
        let reader = Reasons()
        let slow = try #require(feed.connect(filter: LiveFilter()) { stuck.append($0) })
        let fast = try #require(feed.connect(filter: LiveFilter()) { reader.append($0) })
        for index in 0..<100 {
            feed.dispatch(.event(Event(id: Int64(index), time: 1, type: "t", message: String(repeating: "m", count: 100))))
            _ = fast.queue.take()
        }
        #expect(stuck.all.count == 1 && slow.isAborted)
        #expect(reader.all.isEmpty)
        #expect(try metrics.expectCounter("vigil_live_disconnects_total", [("reason", "queued_bytes")]).totalValue == 1)
    }

    @Test("The request limiter allows a burst of one second's worth, then the rate; time going back refills nothing")
    func requestLimiter() {
        var limiter = LiveRequestLimiter(perSecond: 3, now: 10)
        let times = [10, 10, 10, 10, 10.2, 10.4, 5, 100, 100, 100, 100]
        let allowed = times.map { limiter.allow(now: $0) }
        #expect(allowed == [true, true, true, false, false, true, false, true, true, true, false])
        var one = LiveRequestLimiter(perSecond: 0, now: 0)
        let first = one.allow(now: 0)
        let second = one.allow(now: 0.5)
        #expect(first && !second)
    }
}

/// Close reasons collected from a `@Sendable` closure.
final class Reasons: Sendable {
    private let list = Mutex<[String]>([])
    func append(_ reason: String) { list.withLock { $0.append(reason) } }
    var all: [String] { list.withLock { $0 } }
}
