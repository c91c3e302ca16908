//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import VigilCore
import VigilMQTT

/// One notification: a group of alerts for one receiver.
struct AlertNotification: Sendable {
    /// The group's label values (`alertname=GatewayDown`), for receivers that show groups.
    var groupKey: String
    /// Alerts that fire (new, or due again).
    var firing: [Alert]
    /// Alerts that are over.
    var resolved: [Alert]
    /// When it is sent (seconds since the epoch).
    var now: Double
}

/// Somewhere alerts are delivered. A delivery that throws is retried at the next evaluation.
protocol AlertReceiver: Sendable {
    /// The `receiver` label of `vigil_alert_notifications_total`, and the key of the receiver's
    /// notification marks in the stored alerts (keep it stable across restarts).
    var name: String { get }
    /// How often a firing alert is sent again, in seconds.
    var repeatInterval: Double { get }
    /// Delivers one notification; returns once the receiver accepted it.
    func deliver(_ notification: AlertNotification) async throws
}

/// The JSON shape of one alert in webhook and MQTT payloads.
struct AlertPayload: Encodable {
    var status: String
    var fingerprint: String
    var labels: [String: String]
    var annotations: [String: String]
    var startsAt: String
    var endsAt: String?
    var value: Double?

    init(_ alert: Alert) {
        status = alert.state == .resolved ? "resolved" : "firing"
        fingerprint = alert.id
        labels = alert.labels
        annotations = ["summary": alert.summary]
        startsAt = AlertTime.rfc3339(alert.startsAt ?? alert.activeSince)
        endsAt = alert.endsAt.map(AlertTime.rfc3339)
        value = alert.value
    }
}

enum AlertTime {
    static func rfc3339(_ seconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}

struct AlertDeliveryError: Error, CustomStringConvertible {
    var description: String
}

/// Prometheus Alertmanager, API v2 (`POST /api/v2/alerts`).
///
/// Firing alerts are re-sent every ``repeatInterval`` with `endsAt` four intervals ahead, as
/// Prometheus does, so Alertmanager resolves them by itself if Vigil dies; a resolution is sent
/// with the time it ended. Every configured URL gets every notification (an Alertmanager cluster
/// deduplicates); the delivery counts as done when one of them accepted it.
struct AlertmanagerReceiver: AlertReceiver {
    let name = "alertmanager"
    let urls: [String]
    let repeatInterval: Double
    let generatorURL: String?
    let httpClient: HTTPClient

    func deliver(_ notification: AlertNotification) async throws {
        struct Posted: Encodable {
            var labels: [String: String]
            var annotations: [String: String]
            var startsAt: String
            var endsAt: String
            var generatorURL: String?
        }
        let aheadUntil = notification.now + 4 * repeatInterval
        let alerts =
            notification.firing.map {
                Posted(
                    labels: $0.labels,
                    annotations: ["summary": $0.summary],
                    startsAt: AlertTime.rfc3339($0.startsAt ?? $0.activeSince),
                    endsAt: AlertTime.rfc3339(aheadUntil),
                    generatorURL: generatorURL
                )
            }
            + notification.resolved.map {
                Posted(
                    labels: $0.labels,
                    annotations: ["summary": $0.summary],
                    startsAt: AlertTime.rfc3339($0.startsAt ?? $0.activeSince),
                    endsAt: AlertTime.rfc3339($0.endsAt ?? notification.now),
                    generatorURL: generatorURL
                )
            }
        let body = try JSONEncoder().encode(alerts)
        var failures: [String] = []
        for url in urls {
            do {
                try await AlertHTTP.post(client: httpClient, url: url + "/api/v2/alerts", body: body, headers: [], timeout: .seconds(10))
            } catch {
                failures.append("\(Redaction.urls(in: url)): \(error)")
            }
        }
        if failures.count == urls.count { throw AlertDeliveryError(description: failures.joined(separator: "; ")) }
    }
}

/// A JSON POST to any URL, signed with HMAC-SHA256 when a secret is set, retried with backoff.
///
/// Headers: `X-Vigil-Timestamp` (seconds since the epoch) and `X-Vigil-Signature: sha256=<hex>`,
/// the HMAC of `<timestamp>.<body>` (the timestamp is signed so that a captured request cannot be
/// replayed later unnoticed).
struct WebhookReceiver: AlertReceiver {
    let configuration: AlertingConfiguration.Webhook
    let repeatInterval: Double
    let httpClient: HTTPClient
    var name: String { configuration.name }

    func deliver(_ notification: AlertNotification) async throws {
        struct Body: Encodable {
            var version = "1"
            var receiver: String
            var status: String
            var groupKey: String
            var alerts: [AlertPayload]
        }
        let body = try Self.encoder.encode(
            Body(
                receiver: name,
                status: notification.firing.isEmpty ? "resolved" : "firing",
                groupKey: notification.groupKey,
                alerts: (notification.firing + notification.resolved).map(AlertPayload.init)
            )
        )
        let timestamp = String(Int64(notification.now))
        var headers: [(String, String)] = [("X-Vigil-Timestamp", timestamp)]
        if let secret = configuration.secret {
            headers.append(("X-Vigil-Signature", "sha256=" + Self.signature(body: body, timestamp: timestamp, secret: secret)))
        }
        var attempt = 0
        while true {
            do {
                try await AlertHTTP.post(client: httpClient, url: configuration.url, body: body, headers: headers, timeout: configuration.timeout)
                return
            } catch let error as AlertHTTP.Refused where !error.retryable {
                throw error
            } catch {
                guard attempt < configuration.retries else { throw error }
                try await Task.sleep(for: .seconds(1 << min(attempt, 5)))
                attempt += 1
            }
        }
    }

    /// The hex HMAC-SHA256 of `<timestamp>.<body>`.
    static func signature(body: Data, timestamp: String, secret: String) -> String {
        var message = Data(timestamp.utf8)
        message.append(UInt8(ascii: "."))
        message.append(body)
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.utf8)))
        return code.map { String(format: "%02x", $0) }.joined()
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
}

/// Alerts on the MQTT broker of `[mqtt]`: each firing alert is a retained JSON message on
/// `<prefix>/<alertname>/<kind>/<target>`; its resolution is a non-retained JSON message on the same
/// topic followed by an empty retained message, which clears it.
struct MQTTAlertReceiver: AlertReceiver {
    let name = "mqtt"
    let prefix: String
    let repeatInterval: Double
    let client: MQTTClient

    func deliver(_ notification: AlertNotification) async throws {
        for alert in notification.firing {
            let payload = try WebhookReceiver.encoder.encode(AlertPayload(alert))
            try await client.publish(to: topic(alert), payload: ByteBuffer(bytes: payload), qos: .atLeastOnce, retain: true)
        }
        for alert in notification.resolved {
            let payload = try WebhookReceiver.encoder.encode(AlertPayload(alert))
            try await client.publish(to: topic(alert), payload: ByteBuffer(bytes: payload), qos: .atLeastOnce, retain: false)
            try await client.publish(to: topic(alert), payload: ByteBuffer(), qos: .atLeastOnce, retain: true)
        }
    }

    /// Target names may hold `/`; `+`, `#` and NUL cannot be in a topic name.
    func topic(_ alert: Alert) -> String {
        let name = String(alert.target.name.map { $0 == "+" || $0 == "#" || $0 == "\0" ? "_" : $0 })
        return "\(prefix)/\(alert.rule)/\(alert.target.kind.rawValue)/\(name)"
    }
}

/// Alerts as XMPP chat messages to configured JIDs, through the Announcer's connections (its
/// outbox makes the message durable before this returns).
struct XMPPAlertReceiver: AlertReceiver {
    let name = "xmpp"
    let repeatInterval: Double
    let send: @Sendable (String) async throws -> Void

    func deliver(_ notification: AlertNotification) async throws {
        var lines: [String] = []
        for alert in notification.firing {
            lines.append("[FIRING \(alert.severity.rawValue)] \(alert.summary)")
        }
        for alert in notification.resolved {
            lines.append("[RESOLVED] \(alert.summary)")
        }
        guard !lines.isEmpty else { return }
        try await send(lines.joined(separator: "\n"))
    }
}

/// One HTTP POST of JSON that must be answered with 2xx.
enum AlertHTTP {
    struct Refused: Error, CustomStringConvertible {
        var status: UInt
        var retryable: Bool { status >= 500 || status == 408 || status == 429 }
        var description: String { "answered HTTP \(status)" }
    }

    static func post(client: HTTPClient, url: String, body: Data, headers: [(String, String)], timeout: Duration) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "vigil/\(vigilVersion)")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout.seconds * 1e9)))
        // Read (and drop) a bounded part of the answer so the connection can be reused.
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(response.status.code) else { throw Refused(status: response.status.code) }
    }
}
