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

/// Reconnection on both brokers, and what ejabberd's `mod_mqtt` (the second broker implementation)
/// does differently: it closes the connection on a shared subscription.
@Suite("MQTT reconnection on Mosquitto and ejabberd; ejabberd specifics", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct MQTTSecondBrokerIntegrationTests {
    @Test(
        "After a dropped connection the client reconnects, subscribes again and receives",
        arguments: MQTTTestBroker.allCases.flatMap { broker in [(broker, MQTTProtocolVersion.v3_1_1), (broker, .v5)] }
    )
    func reconnect(broker: MQTTTestBroker, version: MQTTProtocolVersion) async throws {
        let topic = MQTTTestSupport.uniqueTopic("reconnect-\(broker)")
        try await withMQTTClient(try MQTTTestSupport.configuration(version, broker: broker)) { client in
            try await withMQTTClient(try MQTTTestSupport.configuration(version, broker: broker)) { publisher in
                try await client.subscribe(to: [MQTTSubscribeInfo(filter: topic, qos: .atLeastOnce)]) { subscription in
                    try await publisher.publish(to: topic, payload: ByteBuffer(string: "before"), qos: .atLeastOnce)
                    var iterator = subscription.makeAsyncIterator()
                    #expect(try await iterator.next().map { String(buffer: $0.payload) } == "before")
                    // Wait for the new connection (with its subscription), not the old one's flag.
                    let events = client.connectionEvents
                    await client.dropConnectionForTesting()
                    try await withTimeout(.seconds(5)) {
                        for await event in events {
                            if case .connected = event { return }
                        }
                    }
                    try await publisher.publish(to: topic, payload: ByteBuffer(string: "after"), qos: .atLeastOnce)
                    #expect(try await iterator.next().map { String(buffer: $0.payload) } == "after")
                }
            }
        }
    }

    @Test("ejabberd closes the connection on a $share subscription: subscribe fails clearly and the client does not reconnect in a loop")
    func sharedSubscriptionOnEjabberd() async throws {
        let topic = MQTTTestSupport.uniqueTopic("share")
        try await withMQTTClient(try MQTTTestSupport.configuration(.v5, broker: .ejabberd)) { client in
            let events = client.connectionEvents
            await #expect {
                try await client.subscribe(to: [MQTTSubscribeInfo(filter: "$share/vigil/\(topic)", qos: .atLeastOnce)]) { _ in }
            } throws: { error in
                let error = error as? MQTTClientError
                return error?.errorCode == .subscriptionRejected && error?.message?.contains("does not support shared subscriptions") == true
            }
            // One reconnect after the broker closed the connection, then the client stays up.
            try await Task.sleep(for: .seconds(2))
            #expect(client.isConnected)
            let reconnects = try await withTimeout(.seconds(1)) {
                var count = 0
                for await event in events {
                    if case .reconnecting = event { count += 1 }
                    if case .connected = event { break }
                }
                return count
            }
            #expect(reconnects <= 1)
            // An ordinary subscription still works.
            try await client.subscribe(to: [MQTTSubscribeInfo(filter: topic, qos: .atLeastOnce)]) { subscription in
                try await client.publish(to: topic, payload: ByteBuffer(string: "plain"), qos: .atLeastOnce)
                let messages = try await collect(1, from: subscription)
                #expect(messages.first.map { String(buffer: $0.payload) } == "plain")
            }
        }
    }
}
