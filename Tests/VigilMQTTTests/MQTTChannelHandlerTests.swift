//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import VigilMQTT

/// Collects delivered batches.
final class DeliveredMessages: Sendable {
    let batches = Mutex<[[MQTTMessage]]>([])
    var messages: [MQTTMessage] { batches.withLock { $0.flatMap { $0 } } }
    var batchCount: Int { batches.withLock { $0.count } }
}

/// Counts the `read()` calls that reach the head of the pipeline.
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var reads = 0

    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}

/// A handler on an EmbeddedChannel, acting as the broker side in tests.
struct HandlerHarness {
    let channel: EmbeddedChannel
    let handler: MQTTChannelHandler
    let reads = ReadCounter()
    let delivered = DeliveredMessages()
    let version: MQTTProtocolVersion

    init(
        version: MQTTProtocolVersion = .v5,
        keepAlive: TimeAmount = .seconds(10),
        maxInflight: Int = 4,
        maxPacketSize: Int = 1 << 20,
        receiveMaximum: Int = 64,
        metrics: MQTTMetrics? = nil,
        session: MQTTSession? = nil
    ) throws {
        self.version = version
        channel = EmbeddedChannel()
        let delivered = self.delivered
        handler = MQTTChannelHandler(
            configuration: .init(
                version: version,
                keepAlive: keepAlive,
                pingTimeout: .seconds(2),
                connectTimeout: .seconds(5),
                maxPacketSize: maxPacketSize,
                maxInflight: maxInflight,
                receiveMaximum: receiveMaximum,
                metrics: metrics,
                session: session
            ),
            eventLoop: channel.eventLoop,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            deliver: { batch in delivered.batches.withLock { $0.append(batch) } }
        )
        try channel.pipeline.syncOperations.addHandler(reads)
        try channel.pipeline.syncOperations.addHandler(handler)
    }

    /// Marks delivered messages processed (by their one consumer) and runs the event loop, so the
    /// acknowledgements they release are written.
    /// Releases the messages' deliveries and lets the handler's acknowledgement write run (it
    /// waits up to a millisecond to gather a batch).
    func process(_ messages: [MQTTMessage]) {
        for message in messages { message.delivery?.release() }
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
    }

    /// Runs CONNECT/CONNACK.
    func connect(connack: MQTTConnAckPacket = .init(sessionPresent: false, reasonCode: 0)) throws -> EventLoopFuture<MQTTConnAckPacket> {
        let promise = channel.eventLoop.makePromise(of: MQTTConnAckPacket.self)
        handler.connect(
            MQTTConnectPacket(
                version: version,
                clientID: "c",
                cleanSession: true,
                keepAliveSeconds: 10,
                username: nil,
                password: nil,
                will: nil,
                properties: []
            ),
            promise: promise
        )
        guard case .connect = try readPacket() else { throw TestFailure("no CONNECT") }
        try send(.connack(connack))
        return promise.futureResult
    }

    func send(_ packet: MQTTPacket) throws {
        var buffer = ByteBuffer()
        packet.write(to: &buffer, version: version)
        try channel.writeInbound(buffer)
    }

    func sendBytes(_ bytes: [UInt8]) throws {
        try channel.writeInbound(ByteBuffer(bytes: bytes))
    }

    /// Reads the next packet the client wrote, or nil.
    func readPacket() throws -> MQTTPacket? {
        guard var buffer = try channel.readOutbound(as: ByteBuffer.self) else { return nil }
        var decoder = MQTTPacketDecoder(version: version)
        return try decoder.decode(buffer: &buffer)
    }

    /// Every packet written, in order; one write may carry several (the acknowledgements of a
    /// batch leave in one buffer).
    func readAllPackets() throws -> [MQTTPacket] {
        var packets: [MQTTPacket] = []
        var decoder = MQTTPacketDecoder(version: version)
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            while let packet = try decoder.decode(buffer: &buffer) { packets.append(packet) }
        }
        return packets
    }
}

struct TestFailure: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

@Suite("MQTT channel handler")
struct MQTTChannelHandlerTests {
    @Test("CONNACK completes the connect request and reports the session flag")
    func connect() throws {
        let harness = try HandlerHarness()
        let connack = try harness.connect(connack: .init(sessionPresent: true, reasonCode: 0))
        #expect(try connack.wait().sessionPresent)
    }

    @Test("A refused CONNACK fails with connectionRefused and closes the channel")
    func refused() throws {
        let harness = try HandlerHarness(version: .v3_1_1)
        let connack = try harness.connect(connack: .init(sessionPresent: false, reasonCode: 5))
        #expect {
            try connack.wait()
        } throws: { error in
            (error as? MQTTClientError)?.errorCode == .connectionRefused && (error as? MQTTClientError)?.reasonCode == 5
        }
        #expect(!harness.channel.isActive)
    }

    @Test("Keep-alive sends PINGREQ and closes when PINGRESP does not come")
    func keepAlive() throws {
        let harness = try HandlerHarness(keepAlive: .seconds(10))
        _ = try harness.connect()
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(try harness.readPacket() == .pingreq)
        try harness.send(.pingresp)
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(try harness.readPacket() == .pingreq)
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!harness.channel.isActive)
        #expect(try harness.handler.closed.futureResult.wait().errorCode == .keepAliveTimeout)
    }

    @Test("Incoming PUBLISH at each QoS is delivered in one batch per read and acknowledged once processed")
    func inbound() throws {
        let harness = try HandlerHarness()
        _ = try harness.connect()
        var buffer = ByteBuffer()
        MQTTPacket.publish(.init(topic: "t/0", payload: .init(string: "a"), qos: .atMostOnce, retain: false)).write(to: &buffer, version: .v5)
        MQTTPacket.publish(.init(topic: "t/1", payload: .init(string: "b"), qos: .atLeastOnce, retain: true, packetID: 1)).write(
            to: &buffer,
            version: .v5
        )
        MQTTPacket.publish(.init(topic: "t/2", payload: .init(string: "c"), qos: .exactlyOnce, retain: false, packetID: 2)).write(
            to: &buffer,
            version: .v5
        )
        // A retransmitted QoS 2 PUBLISH before PUBREL is not delivered again.
        MQTTPacket.publish(.init(topic: "t/2", payload: .init(string: "c"), qos: .exactlyOnce, retain: false, dup: true, packetID: 2)).write(
            to: &buffer,
            version: .v5
        )
        try harness.channel.writeInbound(buffer)
        harness.channel.pipeline.fireChannelReadComplete()
        #expect(harness.delivered.batchCount == 1)
        #expect(harness.delivered.messages.map(\.topic) == ["t/0", "t/1", "t/2"])
        #expect(harness.delivered.messages[1].retain)
        // Nothing is acknowledged before the consumer has processed the messages.
        #expect(try harness.readAllPackets() == [])
        harness.process(harness.delivered.messages)
        #expect(try harness.readAllPackets() == [.ack(.init(type: .puback, packetID: 1)), .ack(.init(type: .pubrec, packetID: 2))])
        // After PUBREC, a repetition is answered at once and not delivered again.
        try harness.send(.publish(.init(topic: "t/2", payload: .init(string: "c"), qos: .exactlyOnce, retain: false, dup: true, packetID: 2)))
        harness.channel.pipeline.fireChannelReadComplete()
        #expect(harness.delivered.messages.count == 3)
        #expect(try harness.readAllPackets() == [.ack(.init(type: .pubrec, packetID: 2))])
        try harness.send(.ack(.init(type: .pubrel, packetID: 2)))
        harness.channel.pipeline.fireChannelReadComplete()
        #expect(try harness.readAllPackets() == [.ack(.init(type: .pubcomp, packetID: 2))])
    }

    @Test("Topic aliases from the broker are resolved")
    func topicAlias() throws {
        let harness = try HandlerHarness()
        _ = try harness.connect()
        try harness.send(
            .publish(.init(topic: "long/topic/name", payload: .init(string: "1"), qos: .atMostOnce, retain: false, properties: [.topicAlias(3)]))
        )
        try harness.send(.publish(.init(topic: "", payload: .init(string: "2"), qos: .atMostOnce, retain: false, properties: [.topicAlias(3)])))
        harness.channel.pipeline.fireChannelReadComplete()
        #expect(harness.delivered.messages.map(\.topic) == ["long/topic/name", "long/topic/name"])
        // An unknown alias is a protocol error.
        try harness.send(.publish(.init(topic: "", payload: .init(), qos: .atMostOnce, retain: false, properties: [.topicAlias(4)])))
        #expect(!harness.channel.isActive)
    }

    @Test("Outgoing QoS 1 and 2 respect the in-flight limit and complete on acknowledgement")
    func inflight() throws {
        let harness = try HandlerHarness(maxInflight: 2)
        _ = try harness.connect()
        var futures: [EventLoopFuture<Void>] = []
        for index in 0..<3 {
            let promise = harness.channel.eventLoop.makePromise(of: Void.self)
            harness.handler.publish(
                .init(topic: "t", payload: .init(string: "\(index)"), qos: index == 1 ? .exactlyOnce : .atLeastOnce, retain: false),
                promise: promise
            )
            futures.append(promise.futureResult)
        }
        harness.channel.embeddedEventLoop.run()
        var sent = try harness.readAllPackets()
        #expect(sent.count == 2)
        guard case .publish(let first) = sent[0], case .publish(let second) = sent[1] else { throw TestFailure("expected PUBLISH") }
        try harness.send(.ack(.init(type: .puback, packetID: first.packetID)))
        #expect(throws: Never.self) { try futures[0].wait() }
        harness.channel.pipeline.fireChannelReadComplete()
        sent = try harness.readAllPackets()
        guard case .publish(let third) = sent.first else { throw TestFailure("held-back PUBLISH not sent") }
        try harness.send(.ack(.init(type: .pubrec, packetID: second.packetID)))
        harness.channel.pipeline.fireChannelReadComplete()
        #expect(try harness.readAllPackets() == [.ack(.init(type: .pubrel, packetID: second.packetID))])
        try harness.send(.ack(.init(type: .pubcomp, packetID: second.packetID)))
        try futures[1].wait()
        // A failure reason code fails the publication.
        try harness.send(.ack(.init(type: .puback, packetID: third.packetID, reasonCode: 0x87)))
        #expect { try futures[2].wait() } throws: { ($0 as? MQTTClientError)?.errorCode == .publishRejected }
    }

    @Test("A publication larger than the broker's maximum packet size fails without taking an in-flight slot")
    func brokerPacketLimit() throws {
        let harness = try HandlerHarness(maxInflight: 1)
        _ = try harness.connect(connack: .init(sessionPresent: false, reasonCode: 0, properties: [.maximumPacketSize(100)]))
        let big = harness.channel.eventLoop.makePromise(of: Void.self)
        harness.handler.publish(.init(topic: "t", payload: ByteBuffer(repeating: 0, count: 200), qos: .atLeastOnce, retain: false), promise: big)
        #expect { try big.futureResult.wait() } throws: { ($0 as? MQTTClientError)?.errorCode == .packetTooLarge }
        let small = harness.channel.eventLoop.makePromise(of: Void.self)
        harness.handler.publish(.init(topic: "t", payload: ByteBuffer(string: "x"), qos: .atLeastOnce, retain: false), promise: small)
        harness.channel.embeddedEventLoop.run()
        guard case .publish(let sent) = try harness.readAllPackets().last else { throw TestFailure("small publication not sent") }
        try harness.send(.ack(.init(type: .puback, packetID: sent.packetID)))
        try small.futureResult.wait()
    }

    @Test("Closing fails outstanding requests with the close reason")
    func closeFailsRequests() throws {
        let harness = try HandlerHarness()
        _ = try harness.connect()
        let promise = harness.channel.eventLoop.makePromise(of: MQTTSubAckPacket.self)
        harness.handler.subscribe([MQTTSubscribeInfo(filter: "a")], properties: [], promise: promise)
        try harness.channel.close().wait()
        #expect { try promise.futureResult.wait() } throws: { ($0 as? MQTTClientError)?.errorCode == .connectionClosed }
    }

    @Test("Malformed input closes the connection with a protocol error and an MQTT 5 DISCONNECT")
    func protocolError() throws {
        let harness = try HandlerHarness()
        _ = try harness.connect()
        _ = try harness.readAllPackets()
        try harness.sendBytes([0x30, 0x04, 0x00, 0x02, 0xC3, 0x28])  // invalid UTF-8 topic
        #expect(!harness.channel.isActive)
        #expect(try harness.readAllPackets() == [.disconnect(.init(reasonCode: 0x81))])
        #expect(try harness.handler.closed.futureResult.wait().errorCode == .protocolError)
    }

    @Test("A packet above the maximum packet size closes the connection")
    func oversized() throws {
        let harness = try HandlerHarness(maxPacketSize: 64)
        _ = try harness.connect()
        try harness.send(.publish(.init(topic: "t", payload: ByteBuffer(repeating: 1, count: 100), qos: .atMostOnce, retain: false)))
        #expect(!harness.channel.isActive)
        #expect(try harness.handler.closed.futureResult.wait().errorCode == .packetTooLarge)
    }

    @Test("A server DISCONNECT closes with its reason")
    func serverDisconnect() throws {
        let harness = try HandlerHarness()
        _ = try harness.connect()
        try harness.send(.disconnect(.init(reasonCode: 0x8E, properties: [.reasonString("session taken over")])))
        let reason = try harness.handler.closed.futureResult.wait()
        #expect(reason.errorCode == .serverDisconnected)
        #expect(reason.reasonCode == 0x8E)
    }
}

@Suite("MQTT subscription buffer")
struct MQTTSubscriptionBufferTests {
    func message(_ index: Int) -> MQTTMessage {
        MQTTMessage(topic: "t", payload: ByteBuffer(string: "\(index)"))
    }

    @Test("Messages arrive in order across batches")
    func order() async throws {
        let buffer = MQTTSubscriptionBuffer(capacity: 100)
        _ = buffer.append((0..<3).map(message))
        _ = buffer.append((3..<5).map(message))
        buffer.finish()
        var received: [String] = []
        for try await message in MQTTSubscription(buffer: buffer) { received.append(String(buffer: message.payload)) }
        #expect(received == ["0", "1", "2", "3", "4"])
    }

    @Test("A full buffer drops the oldest QoS 0 messages and reports how many")
    func dropOldest() async throws {
        let buffer = MQTTSubscriptionBuffer(capacity: 3)
        #expect(buffer.append((0..<2).map(message)).dropped == 0)
        #expect(buffer.append((2..<5).map(message)).dropped == 2)
        #expect(buffer.append((5..<10).map(message)).dropped == 5)
        buffer.finish()
        var received: [String] = []
        for try await message in MQTTSubscription(buffer: buffer) { received.append(String(buffer: message.payload)) }
        #expect(received == ["7", "8", "9"])
    }

    @Test("QoS 1/2 messages are never dropped; a message is released when the next one is asked for; finish hands back the rest")
    func acknowledged() async throws {
        let released = Mutex<[UInt64]>([])
        func tracked(_ index: Int) -> MQTTMessage {
            var message = MQTTMessage(topic: "t", payload: ByteBuffer(string: "q\(index)"), qos: .atLeastOnce)
            message.delivery = MQTTDelivery(sequence: UInt64(index), isRedelivery: false) { sequence in released.withLock { $0.append(sequence) } }
            return message
        }
        let buffer = MQTTSubscriptionBuffer(capacity: 2)
        let first = buffer.append([tracked(0), message(1), tracked(2), message(3), tracked(4)])
        #expect(first.dropped == 2, "only the two QoS 0 messages are dropped")
        var iterator = MQTTSubscription(buffer: buffer).makeAsyncIterator()
        #expect(try await iterator.next().map { String(buffer: $0.payload) } == "q0")
        #expect(released.withLock { $0 } == [])
        #expect(try await iterator.next().map { String(buffer: $0.payload) } == "q2")
        #expect(released.withLock { $0 } == [0])
        // q2 is being processed and q4 buffered: both are handed back, and processing later releases nothing.
        let unprocessed = buffer.finish()
        #expect(unprocessed.map(\.sequence) == [2, 4])
        #expect(try await iterator.next().map { String(buffer: $0.payload) } == "q4")
        #expect(try await iterator.next() == nil)
        #expect(released.withLock { $0 } == [0])
        #expect(buffer.append([tracked(5)]).refused.map(\.sequence) == [5])
    }

    @Test("A waiting consumer is woken by a batch, and finishing with an error throws")
    func wakeAndFail() async throws {
        let buffer = MQTTSubscriptionBuffer(capacity: 10)
        async let first = buffer.take()
        try await Task.sleep(for: .milliseconds(10))
        _ = buffer.append([message(1)])
        #expect(try await first?.count == 1)
        buffer.finish(throwing: MQTTClientError(.shutdown))
        await #expect(throws: MQTTClientError.self) { _ = try await buffer.take() }
    }

    @Test("Cancelling a waiting consumer throws CancellationError")
    func cancel() async throws {
        let buffer = MQTTSubscriptionBuffer(capacity: 10)
        let task = Task { try await buffer.take() }
        try await Task.sleep(for: .milliseconds(10))
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
    }
}

@Suite("MQTT client without a broker")
struct MQTTClientOfflineTests {
    func client() throws -> MQTTClient {
        var configuration = try MQTTClientConfiguration(url: "mqtt://127.0.0.1:1", clientID: "offline")
        configuration.offlineQueueLimit = 1
        return MQTTClient(configuration: configuration, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    @Test("QoS 0 fails fast while disconnected")
    func qos0() async throws {
        let client = try client()
        await #expect { try await client.publish(to: "a", payload: ByteBuffer()) } throws: {
            ($0 as? MQTTClientError)?.errorCode == .notConnected
        }
    }

    @Test("QoS 1 is queued up to the limit; beyond it publishing fails")
    func offlineQueue() async throws {
        let client = try client()
        let queued = Task { try await client.publish(to: "a", payload: ByteBuffer(), qos: .atLeastOnce) }
        while client.state.withLock({ $0.offlineQueue.count }) == 0 { await Task.yield() }
        await #expect { try await client.publish(to: "b", payload: ByteBuffer(), qos: .atLeastOnce) } throws: {
            ($0 as? MQTTClientError)?.errorCode == .offlineQueueFull
        }
        queued.cancel()
        await #expect(throws: CancellationError.self) { try await queued.value }
    }

    @Test("Routing delivers each message once per matching subscription")
    func routing() async throws {
        let client = try client()
        let filters = [MQTTSubscribeInfo(filter: "a/+"), MQTTSubscribeInfo(filter: "a/#")]
        try await client.subscribe(to: filters) { overlapping in
            try await client.subscribe(to: [MQTTSubscribeInfo(filter: "a/b")]) { exact in
                client.deliver([MQTTMessage(topic: "a/b", payload: ByteBuffer(string: "1")), MQTTMessage(topic: "c", payload: ByteBuffer())])
                var first = overlapping.makeAsyncIterator()
                var second = exact.makeAsyncIterator()
                let firstTopic = try await first.next()?.topic
                let secondTopic = try await second.next()?.topic
                #expect(firstTopic == "a/b")
                #expect(secondTopic == "a/b")
                client.deliver([MQTTMessage(topic: "a/c", payload: ByteBuffer(string: "2"))])
                let thirdTopic = try await first.next()?.topic
                #expect(thirdTopic == "a/c")
            }
        }
        #expect(client.state.withLock { $0.trie.isEmpty })
    }

    @Test("run() returns on cancellation and a second run() is refused while running")
    func runLifecycle() async throws {
        let client = try client()
        let events = client.connectionEvents
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            var iterator = events.makeAsyncIterator()
            guard case .disconnected = await iterator.next() else { throw TestFailure("expected a failed attempt") }
            await #expect { try await client.run() } throws: { ($0 as? MQTTClientError)?.errorCode == .alreadyRunning }
            group.cancelAll()
        }
    }
}

@Suite("MQTT acknowledgement after processing and flow control")
struct MQTTInboundFlowTests {
    static func publish(_ id: UInt16, qos: MQTTQoS = .atLeastOnce, dup: Bool = false) -> MQTTPacket {
        .publish(.init(topic: "t/\(id)", payload: .init(string: "\(id)"), qos: qos, retain: false, dup: dup, packetID: qos == .atMostOnce ? 0 : id))
    }

    @Test("Acknowledgements go out in arrival order even when consumers finish out of order")
    func ordered() throws {
        let harness = try HandlerHarness()
        _ = try harness.connect()
        for id: UInt16 in 1...3 { try harness.send(Self.publish(id, qos: id == 2 ? .exactlyOnce : .atLeastOnce)) }
        harness.channel.pipeline.fireChannelReadComplete()
        let messages = harness.delivered.messages
        #expect(messages.count == 3)
        harness.process([messages[2]])
        #expect(try harness.readAllPackets() == [])
        harness.process([messages[0]])
        #expect(try harness.readAllPackets() == [.ack(.init(type: .puback, packetID: 1))])
        harness.process([messages[1]])
        #expect(try harness.readAllPackets() == [.ack(.init(type: .pubrec, packetID: 2)), .ack(.init(type: .puback, packetID: 3))])
        // Releasing again changes nothing.
        harness.process(messages)
        #expect(try harness.readAllPackets() == [])
    }

    @Test("A message delivered to two consumers is acknowledged when both processed it")
    func twoConsumers() throws {
        let harness = try HandlerHarness()
        _ = try harness.connect()
        try harness.send(Self.publish(7))
        harness.channel.pipeline.fireChannelReadComplete()
        let message = try #require(harness.delivered.messages.first)
        message.delivery?.expect(2)
        harness.process([message])
        #expect(try harness.readAllPackets() == [])
        harness.process([message])
        #expect(try harness.readAllPackets() == [.ack(.init(type: .puback, packetID: 7))])
    }

    @Test("Reading pauses while receiveMaximum messages await processing and resumes when one is acknowledged")
    func backpressure() throws {
        // MQTT 3.1.1 has no Receive Maximum: the client's pause is the only bound (under MQTT 5 it
        // pauses at twice the maximum, for brokers that exceed it).
        let harness = try HandlerHarness(version: .v3_1_1, receiveMaximum: 2)
        _ = try harness.connect()
        try harness.send(Self.publish(1))
        harness.channel.pipeline.fireChannelReadComplete()
        let before = harness.reads.reads
        harness.channel.read()
        #expect(harness.reads.reads == before + 1)
        // QoS 0 does not count against the window.
        try harness.send(Self.publish(0, qos: .atMostOnce))
        try harness.send(Self.publish(2))
        harness.channel.pipeline.fireChannelReadComplete()
        harness.channel.read()
        harness.channel.read()
        #expect(harness.reads.reads == before + 1, "reads are withheld while the window is full")
        let messages = harness.delivered.messages.filter { $0.qos == .atLeastOnce }
        harness.process([messages[1]])
        #expect(harness.reads.reads == before + 1, "the front is not processed: still full")
        harness.process([messages[0]])
        #expect(harness.reads.reads == before + 2, "one withheld read is passed on")
        #expect(try harness.readAllPackets() == [.ack(.init(type: .puback, packetID: 1)), .ack(.init(type: .puback, packetID: 2))])
    }

    @Test("While reading is paused a missing PINGRESP does not close the connection")
    func keepAliveWhilePaused() throws {
        let harness = try HandlerHarness(version: .v3_1_1, keepAlive: .seconds(10), receiveMaximum: 1)
        _ = try harness.connect()
        try harness.send(Self.publish(1))
        harness.channel.pipeline.fireChannelReadComplete()
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(try harness.readPacket() == .pingreq)
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(harness.handler.closeReason == nil)
        // Once reading resumes, the keep-alive check is armed again.
        harness.process(harness.delivered.messages)
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(try harness.readAllPackets().contains(.pingreq))
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(harness.handler.closeReason?.errorCode == .keepAliveTimeout)
    }

    @Test("Redelivered (DUP) messages are marked and counted; acknowledgements are counted")
    func redeliveryCounted() throws {
        let factory = RecordingMetricsFactory()
        let harness = try HandlerHarness(receiveMaximum: 1, metrics: MQTTMetrics(factory: factory))
        _ = try harness.connect(connack: .init(sessionPresent: true, reasonCode: 0))
        try harness.send(Self.publish(3, dup: true))
        harness.channel.pipeline.fireChannelReadComplete()
        let delivered = harness.delivered
        let message = try #require(delivered.messages.first)
        #expect(message.isRedelivery)
        #expect(factory.value("vigil_mqtt_messages_redelivered_total") == 1)
        // Under MQTT 5 reading pauses only at twice the Receive Maximum.
        #expect(factory.value("vigil_mqtt_read_pauses_total") == 0)
        harness.process([message])
        #expect(factory.value("vigil_mqtt_messages_acknowledged_total") == 1)
        #expect(try harness.readAllPackets() == [.ack(.init(type: .puback, packetID: 3))])
    }
}

@Suite("MQTT inbound window")
struct MQTTInboundWindowTests {
    @Test("Sequence numbers follow arrival; completion releases only the processed front, in order")
    func window() {
        var window = MQTTChannelHandler.InboundWindow(limit: 3)
        let a = window.receive(.puback(1))
        let b = window.receive(.pubrec(2))
        #expect((a, b) == (0, 1))
        #expect(window.complete(b) == [])
        #expect(!window.isFull)
        let c = window.receive(.puback(3))
        #expect(window.isFull)
        #expect(window.complete(a) == [.puback(1), .pubrec(2)])
        #expect(window.count == 1)
        // Unknown, repeated and stale sequence numbers are ignored.
        #expect(window.complete(a) == [])
        #expect(window.complete(99) == [])
        #expect(window.receiveProcessed(.pubrec(4)) == [])
        #expect(window.contains(.pubrec(4)))
        #expect(window.complete(c) == [.puback(3), .pubrec(4)])
        #expect(window.count == 0)
    }
}
