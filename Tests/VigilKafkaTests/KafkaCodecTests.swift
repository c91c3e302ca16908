//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import FuzzSupport
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import VigilKafka

@Suite("Kafka framing, responses and the channel handler")
struct KafkaCodecTests {
    static func frame(_ body: ByteBuffer) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(body.readableBytes))
        buffer.writeImmutableBuffer(body)
        return buffer
    }

    @Test("the frame decoder splits frames however the bytes arrive")
    func frameDecoder() throws {
        let bodies = [ByteBuffer(bytes: [0, 0, 0, 1]), ByteBuffer(bytes: [0, 0, 0, 2, 9, 9, 9]), ByteBuffer(repeating: 5, count: 300)]
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: bodies.map { (Self.frame($0), [$0]) },
            decoderFactory: { KafkaFrameDecoder() }
        )
    }

    @Test("a size prefix above the limit or below 4 fails at once")
    func frameLimits() {
        var huge = ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF])
        var decoder = KafkaFrameDecoder(maximumFrameSize: 1 << 20)
        #expect(throws: KafkaDecodeError.self) { try decoder.decode(buffer: &huge) }
        var negative = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: KafkaDecodeError.self) { try decoder.decode(buffer: &negative) }
    }

    @Test("a frame announced at the limit reserves at most 16 MiB ahead of what has arrived")
    func frameReservation() throws {
        var decoder = KafkaFrameDecoder()
        var announced = ByteBuffer()
        announced.writeInteger(Int32(100 << 20))
        announced.writeRepeatingByte(7, count: 1000)
        #expect(try decoder.decode(buffer: &announced) == nil)
        // ByteBuffer rounds to a power of two: 32 MiB, where the whole announced frame is 128.
        #expect(announced.capacity <= 32 << 20)
        #expect(announced.writableBytes >= 16 << 20)
        // A small frame still gets all of its room at once.
        var small = ByteBuffer()
        small.writeInteger(Int32(3 << 20))
        small.writeRepeatingByte(7, count: 10)
        #expect(try decoder.decode(buffer: &small) == nil)
        #expect(small.writableBytes >= (3 << 20) - 6)
    }

    @Test("Tansu's ApiVersions v3 answer negotiates versions inside our ranges")
    func apiVersionsFixture() throws {
        var body = try KafkaRecordBatchTests.fixture("tansu-apiversions-v3.bin")
        #expect(try body.kafkaReadInt32() == 1)  // correlation id of librdkafka's first request
        let response = try KafkaApiVersionsRequest.readResponse(version: 3, from: &body)
        #expect(response.errorCode == .none)
        #expect(response.negotiate(KafkaProduceRequest.self) == 7)
        #expect(response.negotiate(KafkaFetchRequest.self) == 10)
        #expect(response.negotiate(KafkaMetadataRequest.self) == 7)
        #expect(response.negotiate(KafkaJoinGroupRequest.self) == 4)
        #expect(response.negotiate(KafkaOffsetCommitRequest.self) == 6)
    }

    @Test("version negotiation refuses ranges that do not meet")
    func negotiation() {
        let old = KafkaApiVersionsResponse(errorCode: .none, versions: [0: 0...2, 1: 11...17])
        #expect(old.negotiate(KafkaProduceRequest.self) == nil)
        #expect(old.negotiate(KafkaFetchRequest.self) == nil)
        let new = KafkaApiVersionsResponse(errorCode: .none, versions: [0: 3...12])
        #expect(new.negotiate(KafkaProduceRequest.self) == 7)
    }

    @Test("an UNSUPPORTED_VERSION answer to ApiVersions v3 is read as v0")
    func apiVersionsDowngrade() throws {
        var body = ByteBuffer()
        body.writeInteger(Int16(35))
        body.writeInteger(Int32(1))
        body.writeInteger(Int16(18))
        body.writeInteger(Int16(0))
        body.writeInteger(Int16(2))
        let response = try KafkaApiVersionsRequest.readResponse(version: 3, from: &body)
        #expect(response.errorCode == .unsupportedVersion)
        #expect(response.versions[18] == 0...2)
    }

    @Test("a Metadata response decodes; the same with a huge partition count is an error")
    func metadata() throws {
        func build(partitionCount: Int32) -> ByteBuffer {
            var body = ByteBuffer()
            body.writeInteger(Int32(0))  // throttle
            body.kafkaWriteArrayCount(1, flexible: false)
            body.writeInteger(Int32(1))
            body.kafkaWriteString("127.0.0.1", flexible: false)
            body.writeInteger(Int32(9092))
            body.kafkaWriteString(nil, flexible: false)
            body.kafkaWriteString("cluster", flexible: false)
            body.writeInteger(Int32(1))
            body.kafkaWriteArrayCount(1, flexible: false)
            body.writeInteger(Int16(0))
            body.kafkaWriteString("topic", flexible: false)
            body.writeInteger(UInt8(0))
            body.writeInteger(partitionCount)
            for index in 0..<min(partitionCount, 2) {
                body.writeInteger(Int16(0))
                body.writeInteger(index)
                body.writeInteger(Int32(1))
                body.writeInteger(Int32(0))
                for _ in 0..<3 { body.kafkaWriteArrayCount(0, flexible: false) }
            }
            return body
        }
        var good = build(partitionCount: 2)
        let metadata = try KafkaMetadataRequest.readResponse(version: 7, from: &good)
        #expect(metadata.brokers[1] == KafkaBrokerAddress(host: "127.0.0.1", port: 9092))
        #expect(metadata.topics["topic"]?.partitions.map(\.index) == [0, 1])
        var hostile = build(partitionCount: 50_000_000)
        #expect(throws: KafkaDecodeError(.invalidLength, "Metadata.partitions")) { try KafkaMetadataRequest.readResponse(version: 7, from: &hostile) }
        var truncated = build(partitionCount: 2).getSlice(at: 0, length: 60)!
        #expect(throws: KafkaDecodeError.self) { try KafkaMetadataRequest.readResponse(version: 7, from: &truncated) }
    }

    @Test("the handler matches responses by correlation id and fails all on an unknown one")
    func channelHandler() throws {
        let channel = EmbeddedChannel()
        let handler = KafkaChannelHandler(clientID: "test", maximumFrameSize: 1 << 20)
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 9092)).wait()

        let first = channel.eventLoop.makePromise(of: ByteBuffer.self)
        let second = channel.eventLoop.makePromise(of: ByteBuffer.self)
        handler.send(KafkaHeartbeatRequest(groupID: "g", generationID: 1, memberID: "m"), version: 2, timeout: .seconds(30), promise: first)
        handler.send(KafkaLeaveGroupRequest(groupID: "g", memberID: "m"), version: 1, timeout: .seconds(30), promise: second)

        var request = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(try request.kafkaReadInt32() == Int32(request.readableBytes))
        #expect(try request.kafkaReadInt16() == KafkaAPIKey.heartbeat.rawValue)
        #expect(try request.kafkaReadInt16() == 2)
        #expect(try request.kafkaReadInt32() == 1)
        #expect(try request.kafkaReadString(flexible: false) == "test")
        #expect(try request.kafkaReadString(flexible: false) == "g")

        var response = ByteBuffer()
        response.writeInteger(Int32(1))
        response.writeInteger(Int32(0))
        response.writeInteger(Int16(27))
        try channel.writeInbound(Self.frame(response))
        var body = try first.futureResult.wait()
        #expect(try KafkaHeartbeatRequest.readResponse(version: 2, from: &body) == .rebalanceInProgress)

        var stray = ByteBuffer()
        stray.writeInteger(Int32(99))
        _ = try? channel.writeInbound(Self.frame(stray))
        #expect(throws: KafkaClientError.self) { try second.futureResult.wait() }
        #expect(handler.closeReason?.errorCode == .decodeError)
        _ = try? channel.finish()
    }

    @Test("a frame above the limit closes the connection with a decode error")
    func handlerOversize() throws {
        let channel = EmbeddedChannel()
        let handler = KafkaChannelHandler(clientID: "test", maximumFrameSize: 64)
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 9092)).wait()
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        handler.send(KafkaHeartbeatRequest(groupID: "g", generationID: 1, memberID: "m"), version: 2, timeout: .seconds(30), promise: promise)
        _ = try? channel.writeInbound(ByteBuffer(bytes: [0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]))
        #expect(throws: KafkaClientError.self) { try promise.futureResult.wait() }
        #expect(handler.closeReason?.errorCode == .decodeError)
        _ = try? channel.finish()
    }

    @Test("seeded mutations of captured Tansu traffic never crash the decoders")
    func seededFuzz() {
        let corpus = SeedCorpus.load("kafka")
        #expect(corpus.count >= 10)
        var mutator = SeededMutator(seed: 0x4B61_666B_61)
        var frames = 0
        for seed in corpus { frames += KafkaFuzzing.decodeStream(seed) }
        #expect(frames > 0)
        for round in 0..<2000 {
            let seed = corpus[round % corpus.count]
            KafkaFuzzing.decodeStream(mutator.mutate(seed))
        }
    }
}

@Suite("Kafka processed offsets")
struct KafkaProcessedOffsetsTests {
    static func record(_ offset: Int64, generation: Int32 = 3) -> KafkaConsumerRecord {
        KafkaConsumerRecord(
            topicPartition: KafkaTopicPartition(topic: "t", partition: 0),
            record: KafkaRecord(offset: offset, timestamp: 0, key: nil, value: nil),
            generation: generation
        )
    }

    @Test("marks keep the highest next offset of the generation; hostile offsets are ignored, not trapped on")
    func marks() {
        var offsets = ProcessedOffsets(generation: 3)
        offsets.mark(Self.record(7))
        offsets.mark(Self.record(5))
        offsets.mark(Self.record(40, generation: 2))
        #expect(offsets.offsets[KafkaTopicPartition(topic: "t", partition: 0)] == 8)
        offsets.mark(Self.record(.max))
        offsets.mark(Self.record(-5))
        #expect(offsets.offsets[KafkaTopicPartition(topic: "t", partition: 0)] == 8)
    }
}

@Suite("Kafka assignors and the consumer protocol")
struct KafkaAssignorTests {
    @Test("range gives consecutive partitions, the extra ones to the first members")
    func range() {
        let plan = KafkaAssignor.range.assign(subscriptions: ["b": ["t"], "a": ["t"]], partitionCounts: ["t": 5])
        #expect(plan["a"]?.map(\.partition) == [0, 1, 2])
        #expect(plan["b"]?.map(\.partition) == [3, 4])
    }

    @Test("round-robin deals partitions of all topics in turn, only to subscribers")
    func roundRobin() {
        let plan = KafkaAssignor.roundRobin.assign(subscriptions: ["a": ["t", "u"], "b": ["t"]], partitionCounts: ["t": 3, "u": 2])
        #expect(plan["a"]?.map(\.description) == ["t-0", "t-2", "u-0", "u-1"])
        #expect(plan["b"]?.map(\.description) == ["t-1"])
    }

    @Test("every partition is assigned exactly once", arguments: [KafkaAssignor.range, .roundRobin])
    func complete(assignor: KafkaAssignor) {
        let members = ["m1": ["t", "u"], "m2": ["t", "u"], "m3": ["t", "u"]]
        let plan = assignor.assign(subscriptions: members, partitionCounts: ["t": 7, "u": 4])
        let all = plan.values.flatMap { $0 }
        #expect(all.count == 11)
        #expect(Set(all).count == 11)
    }

    @Test("subscription and assignment bytes round-trip")
    func consumerProtocol() throws {
        let subscription = KafkaConsumerProtocol.writeSubscription(topics: ["a", "b"])
        #expect(try KafkaConsumerProtocol.readSubscription(subscription) == ["a", "b"])
        let partitions = [KafkaTopicPartition(topic: "a", partition: 2), KafkaTopicPartition(topic: "b", partition: 0)]
        #expect(try KafkaConsumerProtocol.readAssignment(KafkaConsumerProtocol.writeAssignment(partitions)) == partitions)
        #expect(try KafkaConsumerProtocol.readAssignment(ByteBuffer()) == [])
    }

    @Test("broker addresses parse host:port and bracketed IPv6")
    func addresses() {
        #expect(KafkaBrokerAddress("127.0.0.1:9092") == KafkaBrokerAddress(host: "127.0.0.1", port: 9092))
        #expect(KafkaBrokerAddress("[::1]:9093") == KafkaBrokerAddress(host: "::1", port: 9093))
        #expect(KafkaBrokerAddress("host") == nil)
        #expect(KafkaBrokerAddress("host:0") == nil)
    }
}
