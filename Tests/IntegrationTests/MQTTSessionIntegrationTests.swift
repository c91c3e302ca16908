//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
import Synchronization
import Testing

@testable import VigilMQTT

/// Acknowledgement after processing, persistent sessions and redelivery, and flow control instead
/// of dropping, against a real broker (issue 13).
@Suite("MQTT persistent sessions and acknowledgement after processing", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct MQTTSessionIntegrationTests {
    /// Every broker with both protocol versions.
    static let cases: [(MQTTTestBroker, MQTTProtocolVersion)] = MQTTTestBroker.allCases.flatMap { broker in
        [(broker, MQTTProtocolVersion.v3_1_1), (broker, .v5)]
    }

    /// A unique topic and a persistent-session configuration with a client id of its own.
    static func persistent(
        _ name: String,
        _ version: MQTTProtocolVersion,
        _ broker: MQTTTestBroker
    ) throws -> (topic: String, configuration: MQTTClientConfiguration) {
        var configuration = try MQTTTestSupport.configuration(version, clientID: "vigil-\(name)-\(UUID().uuidString.prefix(8))", broker: broker)
        configuration.cleanSession = false
        configuration.sessionExpiry = .seconds(60)
        return (MQTTTestSupport.uniqueTopic("\(name)-\(version)"), configuration)
    }

    @Test(
        "A message taken but not processed when the client stops is redelivered (DUP) to the next session, once processed it is not",
        arguments: cases
    )
    func redeliveryAfterRestart(broker: MQTTTestBroker, version: MQTTProtocolVersion) async throws {
        let (topic, configuration) = try Self.persistent("redelivery", version, broker)
        let subscribe = [MQTTSubscribeInfo(filter: topic, qos: .atLeastOnce)]
        // First life: take the message and stop before asking for the next one.
        try await withMQTTClient(configuration) { client in
            try await client.subscribe(to: subscribe) { subscription in
                try await withMQTTClient(try MQTTTestSupport.configuration(version, broker: broker)) { publisher in
                    try await publisher.publish(to: topic, payload: ByteBuffer(string: "m1"), qos: .atLeastOnce)
                }
                var iterator = subscription.makeAsyncIterator()
                let first = try await iterator.next()
                #expect(first.map { String(buffer: $0.payload) } == "m1")
                #expect(first?.isRedelivery == false)
            }
        }
        // Second life: the broker sends it again, marked as a redelivery; this time it is processed.
        try await withMQTTClient(configuration) { client in
            try await client.subscribe(to: subscribe) { subscription in
                var iterator = subscription.makeAsyncIterator()
                let again = try await iterator.next()
                #expect(again.map { String(buffer: $0.payload) } == "m1")
                #expect(again?.isRedelivery == true)
                try await withMQTTClient(try MQTTTestSupport.configuration(version, broker: broker)) { publisher in
                    try await publisher.publish(to: topic, payload: ByteBuffer(string: "m2"), qos: .atLeastOnce)
                }
                // Asking for m2 processes m1.
                let next = try await iterator.next()
                #expect(next.map { String(buffer: $0.payload) } == "m2")
            }
        }
        // Third life: only m2, which was not processed, comes back.
        try await withMQTTClient(configuration) { client in
            try await client.subscribe(to: subscribe) { subscription in
                let messages = try await collect(1, from: subscription, timeout: .seconds(5))
                #expect(messages.map { String(buffer: $0.payload) } == ["m2"])
                try await Task.sleep(for: .milliseconds(300))
            }
        }
        // Clean up the session.
        var clean = configuration
        clean.cleanSession = true
        clean.sessionExpiry = nil
        try await withMQTTClient(clean) { _ in }
    }

    @Test(
        "QoS 1 and 2 messages published while a persistent session is away are delivered when it is back",
        arguments: cases
    )
    func queuedWhileAway(broker: MQTTTestBroker, version: MQTTProtocolVersion) async throws {
        let (topic, configuration) = try Self.persistent("away", version, broker)
        let subscribe = [MQTTSubscribeInfo(filter: "\(topic)/#", qos: .exactlyOnce)]
        try await withMQTTClient(configuration) { client in
            try await client.subscribe(to: subscribe) { _ in }
        }
        // The subscription was removed when its closure returned: subscribe without unsubscribing.
        try await withMQTTClient(configuration) { client in
            _ = try await client.state.withLock { $0.connection }?.subscribe(subscribe)
        }
        try await withMQTTClient(try MQTTTestSupport.configuration(version, broker: broker)) { publisher in
            for index in 0..<20 {
                try await publisher.publish(
                    to: "\(topic)/\(index)",
                    payload: ByteBuffer(string: "\(index)"),
                    qos: index.isMultiple(of: 2) ? .atLeastOnce : .exactlyOnce
                )
            }
        }
        try await withMQTTClient(configuration) { client in
            try await client.subscribe(to: subscribe) { subscription in
                let messages = try await collect(20, from: subscription, timeout: .seconds(10))
                #expect(messages.map { String(buffer: $0.payload) } == (0..<20).map(String.init))
            }
        }
    }

    @Test(
        "A persistent session's subscription cancelled (a graceful stop) stays at the broker: what is published meanwhile arrives after the restart",
        arguments: cases
    )
    func cancelledSubscriptionStaysAtBroker(broker: MQTTTestBroker, version: MQTTProtocolVersion) async throws {
        let (topic, configuration) = try Self.persistent("cancelled", version, broker)
        let subscribe = [MQTTSubscribeInfo(filter: "\(topic)/#", qos: .atLeastOnce)]
        try await Self.subscribeThenCancel(configuration, subscribe, unsubscribing: false)
        try await withMQTTClient(try MQTTTestSupport.configuration(version, broker: broker)) { publisher in
            for index in 0..<10 {
                try await publisher.publish(to: "\(topic)/\(index)", payload: ByteBuffer(string: "\(index)"), qos: .atLeastOnce)
            }
        }
        try await withMQTTClient(configuration) { client in
            try await client.subscribe(to: subscribe) { subscription in
                let messages = try await collect(10, from: subscription, timeout: .seconds(10))
                #expect(messages.map { String(buffer: $0.payload) } == (0..<10).map(String.init))
            }
        }
        // Clean up the session.
        var clean = configuration
        clean.cleanSession = true
        clean.sessionExpiry = nil
        try await withMQTTClient(clean) { _ in }
    }

    @Test(
        "With unsubscribesOnCancellation (a cluster moving work), a cancelled subscription is unsubscribed: nothing is queued for it",
        arguments: cases
    )
    func cancelledSubscriptionUnsubscribedWhenAsked(broker: MQTTTestBroker, version: MQTTProtocolVersion) async throws {
        let (topic, configuration) = try Self.persistent("moved", version, broker)
        let subscribe = [MQTTSubscribeInfo(filter: "\(topic)/#", qos: .atLeastOnce)]
        try await Self.subscribeThenCancel(configuration, subscribe, unsubscribing: true)
        try await withMQTTClient(try MQTTTestSupport.configuration(version, broker: broker)) { publisher in
            try await publisher.publish(to: "\(topic)/0", payload: ByteBuffer(string: "0"), qos: .atLeastOnce)
        }
        _ = try await withMQTTClient(configuration) { client in
            // Subscribing again shows what the session kept: nothing.
            try await client.subscribe(to: subscribe) { subscription in
                await #expect(throws: (any Error).self) { try await collect(1, from: subscription, timeout: .seconds(1)) }
            }
        }
        var clean = configuration
        clean.cleanSession = true
        clean.sessionExpiry = nil
        try await withMQTTClient(clean) { _ in }
    }

    /// One life of a client whose consumer subscribes and is then cancelled (with
    /// ``MQTTClient/unsubscribesOnCancellation`` set to `unsubscribing`).
    static func subscribeThenCancel(_ configuration: MQTTClientConfiguration, _ subscribe: [MQTTSubscribeInfo], unsubscribing: Bool) async throws {
        try await withMQTTClient(configuration) { client in
            let subscribed = AsyncStream.makeStream(of: Void.self)
            let consumer = Task {
                try await MQTTClient.$unsubscribesOnCancellation.withValue(unsubscribing) {
                    try await client.subscribe(to: subscribe) { subscription in
                        subscribed.continuation.yield()
                        for try await _ in subscription {}
                    }
                }
            }
            var events = subscribed.stream.makeAsyncIterator()
            await events.next()
            consumer.cancel()
            _ = await consumer.result
        }
    }

    @Test(
        "A slow consumer with a small buffer gets every QoS 1 message in order: reading pauses instead of dropping",
        arguments: cases
    )
    func noDropForSlowConsumer(broker: MQTTTestBroker, version: MQTTProtocolVersion) async throws {
        let topic = MQTTTestSupport.uniqueTopic("slow-\(version)")
        var configuration = try MQTTTestSupport.configuration(version, broker: broker)
        configuration.receiveMaximum = 8
        let count = 2_000
        try await withMQTTClient(configuration) { client in
            try await client.subscribe(to: [MQTTSubscribeInfo(filter: topic, qos: .atLeastOnce)], bufferSize: 4) { subscription in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await withMQTTClient(try MQTTTestSupport.configuration(version, broker: broker)) { publisher in
                            for index in 0..<count {
                                try await publisher.publish(to: topic, payload: ByteBuffer(string: "\(index)"), qos: .atLeastOnce)
                            }
                        }
                    }
                    let received = try await withTimeout(.seconds(60)) {
                        var local: [Int] = []
                        for try await message in subscription {
                            local.append(Int(String(buffer: message.payload)) ?? -1)
                            if local.count.isMultiple(of: 100) { try await Task.sleep(for: .milliseconds(20)) }
                            if local.count == count { break }
                        }
                        return local
                    }
                    #expect(received == Array(0..<count))
                    try await group.waitForAll()
                }
            }
        }
    }
}
