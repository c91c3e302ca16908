//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
import Testing
import VigilCore
import VigilMQTT

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The `vigil` binary deciding and notifying: a real Janus gateway and a device watched over the
/// real Mosquitto, alerts delivered to a real Alertmanager (Debian's prometheus-alertmanager).
@Suite("Alerts through the vigil binary", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct AlertsProcessTests {
    @Test("A killed gateway and a silent device fire in Alertmanager; the gateway's return resolves; a restart repeats nothing")
    func alertmanagerEndToEnd() async throws {
        let alertmanager = try IntegrationEnvironment.alertmanagerURL
        let bed = GatewayTestBed()
        let broker = "tcp://\(IntegrationEnvironment.mosquittoHost):\(try IntegrationEnvironment.mosquittoPort)"
        let directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("alerts-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let device = "alerted\(UUID().uuidString.prefix(6).lowercased())"
        let config = directory.appendingPathComponent("vigil.toml")
        try """
        [mqtt]
        serverAddress = "\(broker)"
        baseTopic = "\(bed.prefix)/mon"
        clientid = "vigil-alerts-\(UUID().uuidString.prefix(8))"

        [device_\(device)]
        watchTimeOut = 2
        watchTopics = "\(bed.prefix)/\(device)/#"

        [alerting]
        interval = "1s"
        startup_delay = "3s"
        alertmanager = ["\(alertmanager)"]
        alertmanager_resend = "2s"
        external_url = "http://vigil.test/"

        [[alert]]
        name = "GatewayDown"
        kind = "gateway"
        status = ["down", "stale"]
        severity = "critical"
        summary = "Janus gateway {{target}} is {{status}}"
        """.write(to: config, atomically: true, encoding: .utf8)
        let environment = try bed.processEnvironment(available: "gxy1")
        let first = try VigilProcess(arguments: ["serve", "--config", config.path], environment: environment, directory: directory)
        var running = first
        do {
            let vigil = first
            try await vigil.waitUntilHealthy()
            try bed.start(["gxy1"])
            try await bed.eventually("gxy1 up", timeout: .seconds(10)) {
                try await vigil.get("/api/v1/gateways/gxy1").body.contains(#""status":"up""#)
            }
            // The device never spoke: it expires after 2 s, and the alert reaches Alertmanager after
            // the start-up delay (which lets the sources settle before restored states are judged).
            try await bed.eventually("DeviceExpired in Alertmanager", timeout: .seconds(15)) {
                try await Self.active(alertmanager, "DeviceExpired", label: "device", device) != nil
            }

            try await bed.gateway("gxy1").kill9()
            try await bed.eventually("GatewayDown in Alertmanager", timeout: .seconds(15)) {
                try await Self.active(alertmanager, "GatewayDown", label: "gateway", "gxy1") != nil
            }
            let firing = try #require(try await Self.active(alertmanager, "GatewayDown", label: "gateway", "gxy1"))
            #expect(GatewaysProcessTests.path(firing, "labels", "severity") == "critical")
            #expect(GatewaysProcessTests.path(firing, "annotations", "summary") == "Janus gateway gxy1 is down")
            #expect(GatewaysProcessTests.path(firing, "generatorURL") == "http://vigil.test/")
            let api = try await vigil.get("/api/v1/alerts").body
            #expect(api.contains(#""id":"GatewayDown|gateway\/gxy1""#) || api.contains(#""id":"GatewayDown|gateway/gxy1""#))
            let metrics = try await vigil.get("/metrics").body
            #expect(metrics.contains(#"vigil_alerts_firing{severity="critical"} 1"#))
            #expect(metrics.contains(#"vigil_alert_notifications_total{receiver="alertmanager",result="success"}"#))

            // Restart while both fire: the new process restores the book and does not start over.
            _ = try await first.stop()
            #expect(first.log.contains("Alert firing"))
            let second = try VigilProcess(arguments: ["serve", "--config", config.path], environment: environment, directory: directory)
            running = second
            try await second.waitUntilHealthy()
            try await bed.eventually("the book restored", timeout: .seconds(5)) { second.log.contains("Restored alerts") }

            // The gateway comes back: Alertmanager no longer lists the alert as active.
            try bed.gateway("gxy1").start()
            try await bed.eventually("GatewayDown resolved in Alertmanager", timeout: .seconds(20)) {
                try await Self.active(alertmanager, "GatewayDown", label: "gateway", "gxy1") == nil
            }
            #expect(try await Self.active(alertmanager, "DeviceExpired", label: "device", device) != nil)
            try await bed.eventually("the resolution in the log", timeout: .seconds(5)) {
                second.log.contains("Alert resolved")
            }
            // The restarted process announced nothing as new: both alerts were restored.
            #expect(!second.log.contains("Alert firing"))
            #expect(try await second.stop().status == 0)
        } catch {
            _ = try? await running.stop(signal: SIGKILL)
            Issue.record("vigil log:\n\(running.log)")
            await bed.stopAll()
            throw error
        }
        await bed.stopAll()
    }

    @Test("A device's alert on MQTT: retained JSON while it fires, cleared when the device talks again; Alertmanager resolves it too")
    func mqttReceiverAndDeviceResolution() async throws {
        let alertmanager = try IntegrationEnvironment.alertmanagerURL
        let prefix = MQTTTestSupport.uniqueTopic("alerts-mqtt")
        let device = "mqttalert\(UUID().uuidString.prefix(6).lowercased())"
        let config = try DevicesIntegrationTests.config(
            prefix: prefix,
            """
            [device_\(device)]
            watchTimeOut = 2
            watchTopics = "\(prefix)/\(device)/#"

            [alerting]
            interval = "1s"
            startup_delay = "3s"
            alertmanager = ["\(alertmanager)"]
            alertmanager_resend = "2s"
            mqtt_topic = "\(prefix)/alerts"
            """
        )
        let topic = "\(prefix)/alerts/DeviceExpired/device/\(device)"
        try await DevicesIntegrationTests.withVigil(config) { _ in
            try await DevicesIntegrationTests.withObserver(["\(prefix)/alerts/#"]) { client, log in
                let firing = try await log.next(timeout: .seconds(15)) { $0.topic == topic && $0.payload.readableBytes > 0 }
                let json = try JSONDecoder().decode(JSONValue.self, from: Data(firing.payload.readableBytesView))
                #expect(GatewaysProcessTests.path(json, "status") == "firing")
                #expect(GatewaysProcessTests.path(json, "labels", "device") == .string(device))
                try await DevicesIntegrationTests.withObserver([topic]) { _, late in
                    // A subscriber that comes later gets the alert as a retained message.
                    let retained = try await late.next(timeout: .seconds(5)) { $0.topic == topic }
                    #expect(retained.retain)
                }
                #expect(try await Self.active(alertmanager, "DeviceExpired", label: "device", device) != nil)

                try await client.publish(to: "\(prefix)/\(device)/hello", payload: ByteBuffer(string: "1"), qos: .atLeastOnce)
                let resolved = try await log.next(timeout: .seconds(10)) {
                    $0.topic == topic && String(buffer: $0.payload).contains(#""status":"resolved""#)
                }
                #expect(!resolved.retain)
                let cleared = try await log.next(timeout: .seconds(5)) { $0.topic == topic && $0.payload.readableBytes == 0 }
                #expect(cleared.retain)
                try await GatewayTestBed().eventually("DeviceExpired resolved in Alertmanager", timeout: .seconds(15)) {
                    try await Self.active(alertmanager, "DeviceExpired", label: "device", device) == nil
                }
            }
        }
    }

    /// The active alert in Alertmanager with this name and label, if any.
    static func active(_ base: String, _ name: String, label: String, _ value: String) async throws -> JSONValue? {
        let (data, _) = try await URLSession.shared.data(from: URL(string: base + "/api/v2/alerts?active=true&silenced=false&inhibited=false")!)
        guard case .array(let alerts) = try JSONDecoder().decode(JSONValue.self, from: data) else { return nil }
        return alerts.first { alert in
            GatewaysProcessTests.path(alert, "labels", "alertname") == .string(name)
                && GatewaysProcessTests.path(alert, "labels", label) == .string(value)
                && GatewaysProcessTests.path(alert, "status", "state") == "active"
        }
    }
}
