//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import VigilCore

/// `[alerting]` and the `[[alert]]` rules: what Vigil alerts on and whom it tells.
public struct AlertingConfiguration: Sendable {
    /// A webhook receiver (`[[alerting.webhook]]`).
    public struct Webhook: Sendable, Hashable {
        /// Its name in metrics and logs (default `webhook-N`).
        public var name: String
        /// Where JSON notifications are POSTed.
        public var url: String
        /// The HMAC-SHA256 key of the `X-Vigil-Signature` header; no header when nil.
        public var secret: String?
        /// How long one attempt may take.
        public var timeout: Duration = .seconds(5)
        /// Attempts after the first one failed (with backoff 1 s, 2 s, 4 s, …), within one round.
        public var retries: Int = 3

        /// Creates a webhook receiver.
        public init(name: String, url: String, secret: String? = nil) {
            self.name = name
            self.url = url
            self.secret = secret
        }
    }

    /// Whether alerts are evaluated at all (`enabled`, default true).
    public var enabled = true
    /// How often rules are evaluated (`interval`, default 10 s).
    public var interval: Duration = .seconds(10)
    /// How long after start-up the first evaluation waits, so that sources report before restored
    /// states are judged (`startup_delay`, default 30 s).
    public var startupDelay: Duration = .seconds(30)
    /// How often a firing alert is notified again to the receivers other than Alertmanager
    /// (`repeat_interval`, default 4 h).
    public var repeatInterval: Duration = .seconds(4 * 3600)
    /// How often firing alerts are re-sent to Alertmanager, which expects them regularly
    /// (`alertmanager_resend`, default 1 min).
    public var alertmanagerResend: Duration = .seconds(60)
    /// Labels that group alerts into one notification (`group_by`, default `["alertname"]`).
    public var groupBy: [String] = ["alertname"]
    /// The rules in force: the built-in ones not disabled or replaced, then the configured ones.
    public var rules: [AlertRule] = AlertRule.builtIn
    /// Inhibition rules (`[[alerting.inhibit]]`, after the built-in ones).
    public var inhibitRules: [InhibitRule] = InhibitRule.builtIn
    /// Silences from the file (`[[alerting.silence]]`).
    public var silences: [Silence] = []
    /// Alertmanager base URLs (`alertmanager`); every one is sent every notification.
    public var alertmanager: [String] = []
    /// Webhook receivers.
    public var webhooks: [Webhook] = []
    /// The MQTT topic prefix for alerts on the `[mqtt]` broker (`mqtt_topic`); off when nil.
    public var mqttTopic: String?
    /// JIDs told through the Announcer's XMPP connections (`xmpp_to`).
    public var xmppTo: [String] = []
    /// The most alerts kept at once (`max_alerts`, default 10,000).
    public var maxAlerts = 10_000
    /// The URL put in Alertmanager's `generatorURL` (`external_url`), for example the dashboard.
    public var externalURL: String?

    /// The defaults.
    public init() {}
}
