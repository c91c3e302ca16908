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
