//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import CoreMetrics
import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import VigilMQTT

/// A metrics factory that records values by label, for tests.
final class RecordingMetricsFactory: MetricsFactory {
    final class Handler: CounterHandler, RecorderHandler, TimerHandler {
        let value = Atomic<Int64>(0)
        func increment(by amount: Int64) { value.add(amount, ordering: .relaxed) }
        func reset() { value.store(0, ordering: .relaxed) }
        func record(_ value: Int64) { self.value.store(value, ordering: .relaxed) }
        func record(_ value: Double) { self.value.store(Int64(value), ordering: .relaxed) }
        func recordNanoseconds(_ duration: Int64) { value.store(duration, ordering: .relaxed) }
    }

    let handlers = Mutex<[String: Handler]>([:])
    let dimensions = Mutex<[String: [String]]>([:])

    func handler(_ label: String, _ dimensions: [(String, String)] = []) -> Handler {
        self.dimensions.withLock { $0[label] = dimensions.map { "\($0.0)=\($0.1)" } }
        return handlers.withLock { handlers in
            if let handler = handlers[label] { return handler }
            let handler = Handler()
            handlers[label] = handler
            return handler
        }
    }

    func value(_ label: String) -> Int64? {
        handlers.withLock { $0[label]?.value.load(ordering: .relaxed) }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { handler(label, dimensions) }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { handler(label, dimensions) }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { handler(label) }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}

@Suite("MQTT metrics")
struct MQTTMetricsTests {
    @Test("The client creates its metrics once and counts received messages per batch")
    func received() async throws {
        let factory = RecordingMetricsFactory()
        let client = MQTTClient(
            configuration: try MQTTClientConfiguration(url: "mqtt://127.0.0.1:1", clientID: "m"),
            eventLoopGroup: EmbeddedEventLoop(),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            metrics: MQTTMetrics(client: "janus", factory: factory)
        )
        #expect(factory.value("vigil_mqtt_connected") == 0)
        // Two clients in one process are told apart by their `client` label.
        for label in ["vigil_mqtt_connected", "vigil_mqtt_messages_received_total", "vigil_mqtt_messages_dropped_total"] {
            #expect(factory.dimensions.withLock { $0[label] } == ["client=janus"])
        }
        #expect(factory.value("vigil_mqtt_messages_received_total") == 0)
        #expect(factory.value("vigil_mqtt_messages_sent_total") == 0)
        #expect(factory.value("vigil_mqtt_reconnects_total") == 0)
        client.deliver([MQTTMessage(topic: "a", payload: ByteBuffer()), MQTTMessage(topic: "b", payload: ByteBuffer())])
        client.deliver([MQTTMessage(topic: "c", payload: ByteBuffer())])
        #expect(factory.value("vigil_mqtt_messages_received_total") == 3)
    }
}

@Suite("MQTT client routing of acknowledgements")
struct MQTTClientAcknowledgementTests {
    static func client(cleanSession: Bool, factory: RecordingMetricsFactory) throws -> MQTTClient {
        var configuration = try MQTTClientConfiguration(url: "mqtt://127.0.0.1:1", clientID: "ack")
        configuration.cleanSession = cleanSession
        return MQTTClient(
            configuration: configuration,
            eventLoopGroup: EmbeddedEventLoop(),
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            metrics: MQTTMetrics(factory: factory)
        )
    }

    /// A QoS 1 message whose delivery records its completion.
    static func tracked(_ topic: String, completed: Completions, sequence: UInt64) -> MQTTMessage {
        var message = MQTTMessage(topic: topic, payload: ByteBuffer(string: topic), qos: .atLeastOnce)
        message.delivery = MQTTDelivery(sequence: sequence, isRedelivery: false) { sequence in completed.list.withLock { $0.append(sequence) } }
        return message
    }

    /// The sequence numbers whose acknowledgement was released.
    final class Completions: Sendable {
        let list = Mutex<[UInt64]>([])
        var all: [UInt64] { list.withLock { $0 } }
    }

    @Test("In a clean session a QoS 1 message no subscription wants is acknowledged at once and counted")
    func unroutedClean() throws {
        let factory = RecordingMetricsFactory()
        let client = try Self.client(cleanSession: true, factory: factory)
        let completed = Completions()
        client.deliver([Self.tracked("nobody/listens", completed: completed, sequence: 4)])
        #expect(completed.all == [4])
        #expect(factory.value("vigil_mqtt_messages_unrouted_total") == 1)
    }

    @Test("A persistent session holds unmatched messages for the next matching subscription, and acknowledges the rest when the hold ends")
    func heldForLaterSubscription() async throws {
        let factory = RecordingMetricsFactory()
        let client = try Self.client(cleanSession: false, factory: factory)
        let completed = Completions()
        client.state.withLock { $0.holdUnroutedUntil = .now + .seconds(3600) }
        client.deliver([Self.tracked("state/a", completed: completed, sequence: 1), Self.tracked("other/b", completed: completed, sequence: 2)])
        #expect(completed.all == [])
        let received = try await client.subscribe(to: [MQTTSubscribeInfo(filter: "state/#", qos: .atLeastOnce)]) { subscription in
            var iterator = subscription.makeAsyncIterator()
            return try await iterator.next()?.topic
        }
        #expect(received == "state/a")
        // Taken but not processed when the subscription ended: a persistent session leaves it to the broker.
        #expect(completed.all == [])
        client.releaseHeld()
        #expect(completed.all == [2])
        #expect(factory.value("vigil_mqtt_messages_unrouted_total") == 1)
    }
}
