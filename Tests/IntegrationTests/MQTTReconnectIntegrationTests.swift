//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
import Testing
import VigilClientSupport

@testable import VigilMQTT

/// Collects received payloads in the background.
final class PayloadRecorder: @unchecked Sendable {
    // @unchecked Sendable: `payloads` is only accessed while holding `lock`.
    private let lock = NSLock()
    private var payloads: [String] = []

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return payloads
    }

    func append(_ payload: String) {
        lock.lock()
        payloads.append(payload)
        lock.unlock()
    }

    func wait(count: Int, timeout: Duration = .seconds(3)) async throws {
        try await withTimeout(timeout) {
            while self.all.count < count { try await Task.sleep(for: .milliseconds(10)) }
        }
    }
}

/// Collects connection events in the background for later inspection.
final class EventRecorder: @unchecked Sendable {
    // @unchecked Sendable: `events` is only accessed while holding `lock`.
    private let lock = NSLock()
    private var events: [MQTTConnectionEvent] = []

    var all: [MQTTConnectionEvent] {
        lock.lock()
        defer { lock.unlock() }
        return events
    }

    func append(_ event: MQTTConnectionEvent) {
        lock.lock()
        events.append(event)
        lock.unlock()
    }

    var connectedCount: Int {
        all.filter { if case .connected = $0 { true } else { false } }.count
    }

    /// Waits until `predicate` holds for the recorded events.
    func wait(timeout: Duration = .seconds(5), until predicate: @escaping @Sendable ([MQTTConnectionEvent]) -> Bool) async throws {
        try await withTimeout(timeout) {
            while !predicate(self.all) { try await Task.sleep(for: .milliseconds(20)) }
        }
    }
}

@Suite("MQTT client reconnection against a private Mosquitto", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct MQTTReconnectIntegrationTests {
    func configuration(port: Int, _ clientID: String) throws -> MQTTClientConfiguration {
        var configuration = try MQTTClientConfiguration(url: "mqtt://127.0.0.1:\(port)", clientID: clientID)
        configuration.reconnect = MQTTReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .milliseconds(400), jitter: 0.2)
        configuration.connectTimeout = .seconds(1)
        configuration.keepAlive = .seconds(1)
        configuration.pingTimeout = .milliseconds(700)
        return configuration
    }

    @Test("After the broker is killed and restarted, subscriptions receive again within 3 s, once")
    func brokerRestart() async throws {
        let broker = try PrivateMosquitto()
        try await broker.start()
        let topic = MQTTTestSupport.uniqueTopic("restart")
        let recorder = EventRecorder()
        let subscriberConfiguration = try configuration(port: broker.port, "vigil-restart-sub")
        let publisherConfiguration = try configuration(port: broker.port, "vigil-restart-pub")
        try await withMQTTClient(subscriberConfiguration) { subscriber in
            let events = subscriber.connectionEvents
            let eventTask = Task { for await event in events { recorder.append(event) } }
            defer { eventTask.cancel() }
            try await withMQTTClient(publisherConfiguration) { publisher in
                try await subscriber.subscribe(to: [MQTTSubscribeInfo(filter: "\(topic)/#", qos: .atLeastOnce)]) { subscription in
                    let payloads = PayloadRecorder()
                    let consumer = Task {
                        for try await message in subscription { payloads.append(String(buffer: message.payload)) }
                    }
                    defer { consumer.cancel() }
                    try await publisher.publish(to: "\(topic)/before", payload: ByteBuffer(string: "before"), qos: .atLeastOnce)
                    try await payloads.wait(count: 1)

                    broker.kill()
                    try await recorder.wait { $0.contains { if case .disconnected = $0 { true } else { false } } }
                    #expect(!subscriber.isConnected)

                    // QoS 0 fails fast while disconnected.
                    await #expect(throws: MQTTClientError.self) {
                        try await subscriber.publish(to: "\(topic)/q0", payload: ByteBuffer(string: "lost"))
                    }
                    // QoS 1 is queued and sent after the reconnect (and after the subscription is renewed).
                    let queued = Task {
                        try await subscriber.publish(to: "\(topic)/queued", payload: ByteBuffer(string: "queued"), qos: .atLeastOnce)
                    }
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(recorder.all.contains { if case .reconnecting = $0 { true } else { false } })

                    let connectionsBefore = recorder.connectedCount
                    try await broker.start()
                    let restarted = ContinuousClock.now
                    try await recorder.wait(timeout: .seconds(3)) { events in
                        events.filter { if case .connected = $0 { true } else { false } }.count > connectionsBefore
                    }
                    try await queued.value
                    try await publisher.waitUntilConnected()
                    try await publisher.publish(to: "\(topic)/after", payload: ByteBuffer(string: "after"), qos: .atLeastOnce)
                    do { try await payloads.wait(count: 3) } catch {
                        Issue.record("received only \(payloads.all) after the restart")
                        throw error
                    }
                    let elapsed = ContinuousClock.now - restarted
                    #expect(elapsed < .seconds(3), "messages flowed again \(elapsed) after the broker's return")
                    // No duplicate subscription stream: nothing else arrives.
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(payloads.all == ["before", "queued", "after"])
                }
            }
        }
        broker.kill()
    }

    @Test("A QoS 2 publication whose PUBCOMP is lost completes on the resumed session and arrives once")
    func exactlyOnceAcrossReconnect() async throws {
        let broker = try PrivateMosquitto()
        try await broker.start()
        let proxy = try await CuttingProxy(targetPort: broker.port)
        let topic = MQTTTestSupport.uniqueTopic("exactly-once")
        var publisherSettings = try configuration(port: proxy.port, "vigil-once-pub")
        publisherSettings.version = .v3_1_1
        publisherSettings.cleanSession = false
        let publisherConfiguration = publisherSettings
        let recorder = EventRecorder()
        try await withMQTTClient(try configuration(port: broker.port, "vigil-once-sub")) { subscriber in
            try await subscriber.subscribe(to: [MQTTSubscribeInfo(filter: topic, qos: .exactlyOnce)]) { subscription in
                let payloads = PayloadRecorder()
                let consumer = Task {
                    for try await message in subscription { payloads.append(String(buffer: message.payload)) }
                }
                defer { consumer.cancel() }
                try await withMQTTClient(publisherConfiguration) { publisher in
                    let events = publisher.connectionEvents
                    let eventTask = Task { for await event in events { recorder.append(event) } }
                    defer { eventTask.cancel() }
                    // The broker delivers on PUBREL and answers PUBCOMP; the proxy swallows that
                    // PUBCOMP and cuts the connection. Resending the PUBLISH as a new message would
                    // deliver it a second time; resending PUBREL with the original identifier
                    // completes the first delivery.
                    proxy.arm(firstByte: 0x70)
                    try await withTimeout(.seconds(5)) {
                        try await publisher.publish(to: topic, payload: ByteBuffer(string: "once"), qos: .exactlyOnce)
                    }
                    #expect(proxy.cutCount == 1)
                    try await payloads.wait(count: 1)
                    // Time for a duplicate to show up.
                    try await Task.sleep(for: .seconds(1))
                    #expect(payloads.all == ["once"])
                    #expect(recorder.all.contains { if case .connected(let present) = $0 { present } else { false } })
                }
            }
        }
        await proxy.close()
        broker.kill()
    }

    @Test("Keep-alive detects a broker that stopped answering and reconnects")
    func deadBroker() async throws {
        let broker = try PrivateMosquitto()
        try await broker.start()
        let recorder = EventRecorder()
        try await withMQTTClient(try configuration(port: broker.port, "vigil-keepalive")) { client in
            let events = client.connectionEvents
            let eventTask = Task { for await event in events { recorder.append(event) } }
            defer { eventTask.cancel() }
            broker.pause()
            try await recorder.wait(timeout: .seconds(4)) { events in
                events.contains { if case .disconnected(let error) = $0 { error.errorCode == .keepAliveTimeout } else { false } }
            }
            broker.resume()
            try await recorder.wait(timeout: .seconds(5)) { events in
                events.contains { if case .connected = $0 { true } else { false } }
            }
            #expect(client.isConnected)
        }
        broker.kill()
    }
}
