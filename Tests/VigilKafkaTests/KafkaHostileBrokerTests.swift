//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import MetricsTestKit
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import VigilKafka

/// A broker on a loopback port that answers ApiVersions like Tansu and Metadata badly on its first
/// connection (a huge partition count, or a frame cut short), well on later ones.
final class HostileBroker: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Fault: Sendable {
        case hugeCount
        case truncated
        /// A group coordinator whose leader never assigns (Tansu 0.6 after its members left at
        /// once): JoinGroup names another leader, SyncGroup answers REBALANCE_IN_PROGRESS for ever.
        case endlessRebalance
    }

    let fault: Fault
    let connections = Atomic<Int>(0)
    let syncs = Atomic<Int>(0)
    let apiVersions: ByteBuffer

    init(fault: Fault) throws {
        self.fault = fault
        var fixture = try KafkaRecordBatchTests.fixture("tansu-apiversions-v3.bin")
        fixture.moveReaderIndex(forwardBy: 4)
        self.apiVersions = fixture
    }

    func channelActive(context: ChannelHandlerContext) {
        connections.add(1, ordering: .relaxed)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = Self.unwrapInboundIn(data)
        guard let key = frame.readInteger(as: Int16.self), let version = frame.readInteger(as: Int16.self),
            let correlationID = frame.readInteger(as: Int32.self)
        else { return }
        var body = ByteBuffer()
        if key == KafkaAPIKey.apiVersions.rawValue {
            body = apiVersions
        } else if fault == .endlessRebalance {
            if version >= 1 { body.writeInteger(Int32(0)) }  // throttle
            switch key {
            case KafkaAPIKey.findCoordinator.rawValue:
                body.writeInteger(Int16(0))
                if version >= 1 { body.kafkaWriteString(nil, flexible: false) }
                body.writeInteger(Int32(1))
                body.kafkaWriteString("127.0.0.1", flexible: false)
                body.writeInteger(Int32(context.channel.localAddress?.port ?? 0))
            case KafkaAPIKey.joinGroup.rawValue:
                body.writeInteger(Int16(0))
                body.writeInteger(Int32(2))  // generation
                body.kafkaWriteString("range", flexible: false)
                body.kafkaWriteString("gone-leader", flexible: false)
                body.kafkaWriteString("member-1", flexible: false)
                body.writeInteger(Int32(0))  // no members: not the leader
            case KafkaAPIKey.syncGroup.rawValue:
                syncs.add(1, ordering: .relaxed)
                body.writeInteger(KafkaErrorCode.rebalanceInProgress.rawValue)
                body.writeInteger(Int32(0))  // empty assignment
            default:  // LeaveGroup
                body.writeInteger(Int16(0))
                if version >= 3 { body.writeInteger(Int32(0)) }
            }
        } else {
            let first = connections.load(ordering: .relaxed) == 1
            body.writeInteger(Int32(0))  // throttle
            body.writeInteger(Int32(1))  // one broker
            body.writeInteger(Int32(1))
            body.kafkaWriteString("127.0.0.1", flexible: false)
            body.writeInteger(Int32(9092))
            body.kafkaWriteString(nil, flexible: false)
            body.kafkaWriteString("hostile", flexible: false)
            body.writeInteger(Int32(1))
            body.writeInteger(first && fault == .hugeCount ? Int32.max : 0)  // topics
            if first && fault == .truncated { body.moveWriterIndex(to: body.writerIndex - 6) }
        }
        FakeBroker.respond(correlationID: correlationID, body: &body, context: context)
    }

    /// Starts the broker and runs `body` with its address.
    static func with<Result>(
        fault: Fault,
        _ body: (HostileBroker, KafkaBrokerAddress) async throws -> Result
    ) async throws -> Result {
        let broker = try HostileBroker(fault: fault)
        return try await FakeBroker.serving(broker) { try await body(broker, $0) }
    }
}

/// What the test brokers share: a loopback listener that frames requests, and the response frame.
enum FakeBroker {
    /// Serves `handler` (shared by every connection) on a loopback port while `body` runs.
    static func serving<Handler: ChannelInboundHandler & Sendable, Result>(
        _ handler: Handler,
        _ body: (KafkaBrokerAddress) async throws -> Result
    ) async throws -> Result where Handler.InboundIn == ByteBuffer {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        defer { server.close(promise: nil) }
        return try await body(KafkaBrokerAddress(host: "127.0.0.1", port: server.localAddress!.port!))
    }

    /// Writes a response frame: size, correlation id, body.
    static func respond(correlationID: Int32, body: inout ByteBuffer, context: ChannelHandlerContext) {
        var response = ByteBuffer()
        response.writeInteger(Int32(body.readableBytes + 4))
        response.writeInteger(correlationID)
        response.writeBuffer(&body)
        context.writeAndFlush(NIOAny(response), promise: nil)
    }
}

@Suite("Kafka client against a hostile broker")
struct KafkaHostileBrokerTests {
    @Test(
        "a coordinator that answers with rebalances for ever: the member stops when cancelled and counts the rounds (issue 16)",
        .timeLimit(.minutes(1))
    )
    func endlessRebalanceEndsOnCancellation() async throws {
        try await HostileBroker.with(fault: .endlessRebalance) { broker, address in
            let cluster = KafkaCluster(configuration: KafkaConfiguration(bootstrapBrokers: [address]), logger: Logger(label: "test"))
            let metrics = TestMetrics()
            let member = KafkaConsumerGroup(
                cluster: cluster,
                configuration: KafkaConsumerConfiguration(groupID: "g", topics: ["t"]),
                metricsFactory: metrics,
                logger: Logger(label: "test")
            )
            let running = Task { try await member.run() }
            let deadline = ContinuousClock.now + .seconds(30)
            while broker.syncs.load(ordering: .relaxed) < 5 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(broker.syncs.load(ordering: .relaxed) >= 5)
            // Before the fix the join loop never looked at cancellation: this never returned.
            running.cancel()
            try await running.value
            let errors = try metrics.expectCounter("vigil_kafka_errors_total", [("operation", "consume")])
            #expect(errors.totalValue >= 3)
            await cluster.close()
        }
    }

    @Test("a malformed response is a decode error, then the next request reconnects", arguments: [HostileBroker.Fault.hugeCount, .truncated])
    func malformedThenReconnect(fault: HostileBroker.Fault) async throws {
        try await HostileBroker.with(fault: fault) { broker, address in
            let cluster = KafkaCluster(configuration: KafkaConfiguration(bootstrapBrokers: [address]), logger: Logger(label: "test"))
            await #expect {
                try await cluster.refreshMetadata(topics: [])
            } throws: { error in
                (error as? KafkaClientError)?.errorCode == .decodeError
            }
            let metadata = try await cluster.refreshMetadata(topics: [])
            #expect(metadata.brokers[1]?.port == 9092)
            #expect(broker.connections.load(ordering: .relaxed) == 2)
            await cluster.close()
        }
    }
}
