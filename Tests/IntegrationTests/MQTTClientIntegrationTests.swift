//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import NIOCore
import Testing

@testable import VigilMQTT

@Suite("MQTT client against Mosquitto", .enabled(if: IntegrationEnvironment.enabled))
struct MQTTClientIntegrationTests {
    static let cases: [(MQTTTestBroker, MQTTProtocolVersion, MQTTQoS)] = MQTTTestBroker.allCases.flatMap { broker in
        [
            (broker, .v3_1_1, .atMostOnce), (broker, .v3_1_1, .atLeastOnce), (broker, .v3_1_1, .exactlyOnce),
            (broker, .v5, .atMostOnce), (broker, .v5, .atLeastOnce), (broker, .v5, .exactlyOnce),
        ]
    }

    @Test("Publish and subscribe at every QoS (Mosquitto and ejabberd)", arguments: cases)
    func publishSubscribe(broker: MQTTTestBroker, version: MQTTProtocolVersion, qos: MQTTQoS) async throws {
        let topic = MQTTTestSupport.uniqueTopic("pubsub")
        try await withMQTTClient(try MQTTTestSupport.configuration(version, broker: broker)) { subscriber in
            try await withMQTTClient(try MQTTTestSupport.configuration(version, broker: broker)) { publisher in
                try await subscriber.subscribe(to: [MQTTSubscribeInfo(filter: "\(topic)/+", qos: qos)]) { subscription in
                    for index in 0..<20 {
                        try await publisher.publish(to: "\(topic)/m", payload: ByteBuffer(string: "message \(index)"), qos: qos)
                    }
                    let messages = try await collect(20, from: subscription)
                    #expect(messages.map { String(buffer: $0.payload) } == (0..<20).map { "message \($0)" })
                    #expect(messages.allSatisfy { $0.qos == qos && $0.topic == "\(topic)/m" && !$0.retain })
                }
            }
        }
    }

    @Test("A batch of QoS 0 publications arrives whole, in order; invalid topic names are skipped and not counted")
    func publishAtMostOnceBatch() async throws {
        let topic = MQTTTestSupport.uniqueTopic("batch")
        try await withMQTTClient(try MQTTTestSupport.configuration(.v5)) { subscriber in
            try await withMQTTClient(try MQTTTestSupport.configuration(.v5)) { publisher in
                try await subscriber.subscribe(to: [MQTTSubscribeInfo(filter: "\(topic)/#", qos: .atLeastOnce)]) { subscription in
                    var batch = (0..<5_000).map { (topic: "\(topic)/d\($0)", payload: ByteBuffer(string: "\($0)"), retain: false) }
                    batch.insert((topic: "\(topic)/+/bad", payload: ByteBuffer(string: "x"), retain: false), at: 10)
                    #expect(await publisher.publishAtMostOnce(batch) == 5_000)
                    let messages = try await collect(5_000, from: subscription)
                    #expect(messages.map { String(buffer: $0.payload) } == (0..<5_000).map { "\($0)" })
                    #expect(messages.allSatisfy { $0.qos == .atMostOnce && !$0.topic.contains("+") })
                }
            }
        }
        // Without a connection nothing is handed over.
        let idle = MQTTClient(configuration: try MQTTTestSupport.configuration(.v5), logger: Logger(label: "test"))
        #expect(await idle.publishAtMostOnce([(topic: "\(topic)/x", payload: ByteBuffer(), retain: false)]) == 0)
    }

    @Test("Retained messages reach later subscribers with the retain flag", arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func retained(version: MQTTProtocolVersion) async throws {
        let topic = MQTTTestSupport.uniqueTopic("retained")
        try await withMQTTClient(try MQTTTestSupport.configuration(version)) { client in
            try await client.publish(to: topic, payload: ByteBuffer(string: "kept"), qos: .atLeastOnce, retain: true)
            try await client.subscribe(to: [MQTTSubscribeInfo(filter: topic, qos: .atLeastOnce)]) { subscription in
                let messages = try await collect(1, from: subscription)
                #expect(messages.first?.retain == true)
                #expect(messages.first.map { String(buffer: $0.payload) } == "kept")
            }
            // An empty retained message clears the topic.
            try await client.publish(to: topic, payload: ByteBuffer(), qos: .atLeastOnce, retain: true)
        }
    }

    @Test(
        "The Last Will is published when a client's connection drops (Mosquitto and ejabberd)",
        arguments: MQTTTestBroker.allCases.flatMap { broker in [(broker, MQTTProtocolVersion.v3_1_1), (broker, .v5)] }
    )
    func lastWill(broker: MQTTTestBroker, version: MQTTProtocolVersion) async throws {
        let topic = MQTTTestSupport.uniqueTopic("will")
        var configuration = try MQTTTestSupport.configuration(version, broker: broker)
        configuration.will = MQTTWill(topic: topic, payload: ByteBuffer(string: "offline"), qos: .atLeastOnce, retain: false)
        let willConfiguration = configuration
        try await withMQTTClient(try MQTTTestSupport.configuration(version, broker: broker)) { observer in
            try await observer.subscribe(to: [MQTTSubscribeInfo(filter: topic, qos: .atLeastOnce)]) { subscription in
                try await withMQTTClient(willConfiguration) { dying in
                    await dying.dropConnectionForTesting()
                }
                let messages = try await collect(1, from: subscription, timeout: .seconds(3))
                #expect(messages.first.map { String(buffer: $0.payload) } == "offline")
                #expect(messages.first?.qos == .atLeastOnce)
            }
        }
    }

    @Test("A graceful stop sends DISCONNECT, so no Last Will is published")
    func noWillOnDisconnect() async throws {
        let topic = MQTTTestSupport.uniqueTopic("nowill")
        var configuration = try MQTTTestSupport.configuration(.v5)
        configuration.will = MQTTWill(topic: topic, payload: ByteBuffer(string: "offline"))
        let willConfiguration = configuration
        try await withMQTTClient(try MQTTTestSupport.configuration(.v5)) { observer in
            try await observer.subscribe(to: [MQTTSubscribeInfo(filter: topic)]) { subscription in
                try await withMQTTClient(willConfiguration) { _ in }
                await #expect(throws: TimeoutError.self) {
                    _ = try await collect(1, from: subscription, timeout: .milliseconds(300))
                }
            }
        }
    }

    @Test("MQTT 5 request/response with response topic and correlation data")
    func requestResponse() async throws {
        let requestTopic = MQTTTestSupport.uniqueTopic("request")
        let responseTopic = MQTTTestSupport.uniqueTopic("response")
        try await withMQTTClient(try MQTTTestSupport.configuration(.v5)) { responder in
            try await withMQTTClient(try MQTTTestSupport.configuration(.v5)) { requester in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    try await responder.subscribe(to: [MQTTSubscribeInfo(filter: requestTopic, qos: .atLeastOnce)]) { requests in
                        group.addTask {
                            for try await request in requests {
                                let properties = MQTTPublishProperties(
                                    correlationData: request.properties.correlationData,
                                    contentType: "text/plain",
                                    userProperties: [MQTTUserProperty(name: "handled-by", value: "responder")]
                                )
                                try await responder.publish(
                                    to: try #require(request.properties.responseTopic),
                                    payload: ByteBuffer(string: "pong: " + String(buffer: request.payload)),
                                    qos: .atLeastOnce,
                                    properties: properties
                                )
                                return
                            }
                        }
                        try await requester.subscribe(to: [MQTTSubscribeInfo(filter: responseTopic, qos: .atLeastOnce)]) { responses in
                            let correlation = ByteBuffer(bytes: [1, 2, 3, 4, 0xFF])
                            try await requester.publish(
                                to: requestTopic,
                                payload: ByteBuffer(string: "ping"),
                                qos: .atLeastOnce,
                                properties: MQTTPublishProperties(
                                    payloadFormatIndicator: .utf8,
                                    messageExpiry: .seconds(30),
                                    responseTopic: responseTopic,
                                    correlationData: correlation
                                )
                            )
                            let response = try #require(try await collect(1, from: responses).first)
                            #expect(String(buffer: response.payload) == "pong: ping")
                            #expect(response.properties.correlationData == correlation)
                            #expect(response.properties.contentType == "text/plain")
                            #expect(response.properties.userProperties == [MQTTUserProperty(name: "handled-by", value: "responder")])
                        }
                        try await group.waitForAll()
                    }
                }
            }
        }
    }

    @Test("A shared subscription splits messages between two clients", arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func sharedSubscription(version: MQTTProtocolVersion) async throws {
        let topic = MQTTTestSupport.uniqueTopic("shared")
        let group = "g\(UUID().uuidString.prefix(8))"
        let filter = MQTTSubscribeInfo(filter: "$share/\(group)/\(topic)/#", qos: .atLeastOnce)
        let total = 40
        try await withMQTTClient(try MQTTTestSupport.configuration(version)) { first in
            try await withMQTTClient(try MQTTTestSupport.configuration(version)) { second in
                try await withMQTTClient(try MQTTTestSupport.configuration(version)) { publisher in
                    try await first.subscribe(to: [filter]) { firstMessages in
                        try await second.subscribe(to: [filter]) { secondMessages in
                            for index in 0..<total {
                                try await publisher.publish(to: "\(topic)/x", payload: ByteBuffer(string: "\(index)"), qos: .atLeastOnce)
                            }
                            let counter = SharedCounter()
                            try await withTimeout(.seconds(5)) {
                                try await withThrowingTaskGroup(of: Void.self) { group in
                                    for (index, sequence) in [firstMessages, secondMessages].enumerated() {
                                        group.addTask {
                                            for try await _ in sequence {
                                                if counter.add(client: index) == total { return }
                                            }
                                        }
                                    }
                                    _ = try await group.next()
                                    group.cancelAll()
                                }
                            }
                            let counts = counter.counts
                            #expect(counts[0] + counts[1] == total)
                            #expect(counts[0] > 0 && counts[1] > 0, "both members received messages: \(counts)")
                        }
                    }
                }
            }
        }
    }

    @Test("TLS listener with a CA file")
    func tls() async throws {
        let topic = MQTTTestSupport.uniqueTopic("tls")
        var configuration = try MQTTClientConfiguration(
            url: "mqtts://127.0.0.1:\(try IntegrationEnvironment.mosquittoTLSPort)",
            clientID: "vigil-tls-\(UUID().uuidString.prefix(8))"
        )
        configuration.tls = MQTTTLSConfiguration(caFile: try IntegrationEnvironment.mosquittoCAFile)
        #expect(configuration.address.useTLS)
        try await withMQTTClient(configuration) { client in
            try await client.subscribe(to: [MQTTSubscribeInfo(filter: topic, qos: .atLeastOnce)]) { subscription in
                try await client.publish(to: topic, payload: ByteBuffer(string: "secret"), qos: .atLeastOnce)
                let messages = try await collect(1, from: subscription)
                #expect(messages.first.map { String(buffer: $0.payload) } == "secret")
            }
        }
    }

    @Test("TLS with the name 'localhost' checked against the certificate")
    func tlsServerName() async throws {
        var configuration = try MQTTClientConfiguration(
            url: "ssl://localhost:\(try IntegrationEnvironment.mosquittoTLSPort)",
            clientID: "vigil-tls-\(UUID().uuidString.prefix(8))"
        )
        configuration.tls = MQTTTLSConfiguration(caFile: try IntegrationEnvironment.mosquittoCAFile, serverName: "localhost")
        try await withMQTTClient(configuration) { client in
            #expect(client.isConnected)
        }
    }

    @Test("TLS fails against an untrusted certificate")
    func tlsUntrusted() async throws {
        var configuration = try MQTTClientConfiguration(
            url: "mqtts://127.0.0.1:\(try IntegrationEnvironment.mosquittoTLSPort)",
            clientID: "vigil-tls-\(UUID().uuidString.prefix(8))"
        )
        configuration.connectTimeout = .seconds(2)
        let client = MQTTClient(configuration: configuration, logger: MQTTTestSupport.logger)
        let events = client.connectionEvents
        let event = try await withThrowingTaskGroup(of: MQTTConnectionEvent?.self) { group in
            group.addTask {
                try await client.run()
                return nil
            }
            group.addTask {
                var iterator = events.makeAsyncIterator()
                return await iterator.next()
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        guard case .disconnected(let error) = event else {
            Issue.record("expected a failed connection, got \(String(describing: event))")
            return
        }
        #expect(error.errorCode == .connectionClosed || error.errorCode == .tlsConfiguration)
    }

    @Test("The scoped MQTTConnection subscribes, publishes and delivers in batches")
    func scopedConnection() async throws {
        let topic = MQTTTestSupport.uniqueTopic("connection")
        let received = SharedCounter()
        try await MQTTConnection.withConnection(
            configuration: try MQTTTestSupport.configuration(.v5),
            logger: MQTTTestSupport.logger,
            deliver: { batch in for message in batch where message.topic == topic { _ = received.add(client: 0) } },
            operation: { connection in
                #expect(connection.sessionPresent == false)
                #expect(try await connection.subscribe([MQTTSubscribeInfo(filter: topic, qos: .exactlyOnce)]) == [2])
                for qos in [MQTTQoS.atMostOnce, .atLeastOnce, .exactlyOnce] {
                    try await connection.publish(MQTTMessage(topic: topic, payload: ByteBuffer(string: "x"), qos: qos))
                }
                try await withTimeout(.seconds(3)) {
                    while received.counts[0] < 3 { try await Task.sleep(for: .milliseconds(10)) }
                }
                #expect(try await connection.unsubscribe([topic]) == [0])
            }
        )
    }

    @Test("Subscribing with an invalid filter fails before anything is sent")
    func invalidFilter() async throws {
        try await withMQTTClient(try MQTTTestSupport.configuration(.v5)) { client in
            await #expect(throws: MQTTClientError.self) {
                try await client.subscribe(to: [MQTTSubscribeInfo(filter: "a/#/b")]) { _ in }
            }
            await #expect(throws: MQTTClientError.self) {
                try await client.publish(to: "a/+", payload: ByteBuffer())
            }
        }
    }
}

/// Counts messages per client across tasks.
final class SharedCounter: Sendable {
    private let storage = NIOLockedValueBoxLite()
    func add(client: Int) -> Int { storage.add(client) }
    var counts: [Int] { storage.counts }
}

/// A tiny lock-protected pair of counters (tests only).
final class NIOLockedValueBoxLite: @unchecked Sendable {
    // @unchecked Sendable: every access to `values` holds `lock`.
    private let lock = NSLock()
    private var values = [0, 0]
    func add(_ index: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        values[index] += 1
        return values[0] + values[1]
    }
    var counts: [Int] {
        lock.lock()
        defer { lock.unlock() }
        return values
    }
}
