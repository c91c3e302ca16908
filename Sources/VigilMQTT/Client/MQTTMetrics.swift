//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import CoreMetrics
import Metrics

/// The metric objects of one client, created once when the client is created.
///
/// Every series carries the label `client` (the name given to the client), because one process
/// may run several clients: Vigil's `[mqtt]` client and the gateways' own.
///
/// The hot path only calls `increment(by:)` on a stored counter, once per received batch.
struct MQTTMetrics: Sendable {
    /// `vigil_mqtt_connected`: 1 while connected, else 0.
    let connected: Gauge
    /// `vigil_mqtt_messages_received_total`: PUBLISH packets received.
    let received: Counter
    /// `vigil_mqtt_messages_sent_total`: PUBLISH packets sent.
    let sent: Counter
    /// `vigil_mqtt_reconnects_total`: reconnection attempts.
    let reconnects: Counter
    /// `vigil_mqtt_messages_dropped_total`: QoS 0 messages dropped because a subscriber was slow.
    let dropped: Counter
    /// `vigil_mqtt_messages_acknowledged_total`: received QoS 1/2 messages acknowledged (PUBACK or
    /// PUBREC sent) after their consumers processed them.
    let acknowledged: Counter
    /// `vigil_mqtt_messages_redelivered_total`: received PUBLISH packets the broker marked as
    /// redeliveries (DUP), which may repeat a message seen before.
    let redelivered: Counter
    /// `vigil_mqtt_read_pauses_total`: times reading from the broker paused because
    /// `receive_maximum` received messages awaited processing.
    let readPauses: Counter
    /// `vigil_mqtt_messages_unrouted_total`: received QoS 1/2 messages no subscription wanted,
    /// acknowledged without a consumer.
    let unrouted: Counter
    /// `vigil_mqtt_session_takeovers_total`: sessions the broker ended because another connection
    /// used the same client identifier.
    let takeovers: Counter

    /// Creates the metric objects.
    ///
    /// - Parameters:
    ///   - client: The value of the `client` label.
    ///   - factory: The factory to use; the bootstrapped global one by default.
    init(client: String = "mqtt", factory: any MetricsFactory = MetricsSystem.factory) {
        let dimensions = [("client", client)]
        self.connected = Gauge(label: "vigil_mqtt_connected", dimensions: dimensions, factory: factory)
        self.received = Counter(label: "vigil_mqtt_messages_received_total", dimensions: dimensions, factory: factory)
        self.sent = Counter(label: "vigil_mqtt_messages_sent_total", dimensions: dimensions, factory: factory)
        self.reconnects = Counter(label: "vigil_mqtt_reconnects_total", dimensions: dimensions, factory: factory)
        self.dropped = Counter(label: "vigil_mqtt_messages_dropped_total", dimensions: dimensions, factory: factory)
        self.acknowledged = Counter(label: "vigil_mqtt_messages_acknowledged_total", dimensions: dimensions, factory: factory)
        self.redelivered = Counter(label: "vigil_mqtt_messages_redelivered_total", dimensions: dimensions, factory: factory)
        self.readPauses = Counter(label: "vigil_mqtt_read_pauses_total", dimensions: dimensions, factory: factory)
        self.unrouted = Counter(label: "vigil_mqtt_messages_unrouted_total", dimensions: dimensions, factory: factory)
        self.takeovers = Counter(label: "vigil_mqtt_session_takeovers_total", dimensions: dimensions, factory: factory)
    }
}
