//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import VigilCore
import VigilMQTT
import VigilMonitors
import VigilWeb

extension GatewayMonitorConfiguration {
    /// The seed's (gxydb-api's) environment variables and the `[janus]` keys they override.
    static let seedEnvironment: [(variable: String, key: String)] = [
        ("MQTT_BROKER_URL", "broker_url"), ("MQTT_CLIENT_ID", "client_id"), ("GATEWAY_PLUGIN_ADMIN_KEY", "admin_key"),
        ("AVAILABLE_JANUS_SERVERS", "available_servers"), ("FAILOVER_JANUS_SERVERS", "failover_servers"),
        ("FAILOVER_WAIT_TIME", "failover_wait_time"),
    ]

    /// Reads `[janus]`, then applies the seed's environment variables, which win over the file
    /// and over `VIGIL_JANUS_*`.
    ///
    /// - Parameters:
    ///   - section: The `[janus]` reader.
    ///   - environment: The process environment.
    /// - Throws: ``ConfigurationError`` naming the key or variable and the problem.
    init(_ section: ConfigSection, environment: [String: String]) throws {
        self.init()
        brokerURL = try section.nonEmptyString("broker_url")
        if let clientID = try section.nonEmptyString("client_id") { self.clientID = clientID }
        username = try section.nonEmptyString("username")
        password = try section.nonEmptyString("password")
        if let version = try section.string("mqtt_version") {
            switch version.lowercased() {
            case "5", "5.0", "v5": useMQTT5 = true
            case "3.1.1", "3", "4", "v3.1.1": useMQTT5 = false
            default: throw section.error("mqtt_version", "'\(version)' is not \"3.1.1\" or \"5\"")
            }
        }
        adminKey = try section.nonEmptyString("admin_key")
        if let servers = try section.stringList("available_servers") { availableServers = servers }
        if let servers = try section.stringList("failover_servers") { failoverServers = servers }
        if let wait = try section.duration("failover_wait_time") { failoverWaitTime = wait }
        if let skip = try section.bool("skip_offline_spares") { skipOfflineSpares = skip }
        if let interval = try section.duration("poll_interval") { pollInterval = interval }
        if let timeout = try section.duration("request_timeout") { requestTimeout = timeout }
        if let delay = try section.duration("online_retry_delay") { onlineRetryDelay = delay }
        if let threshold = try section.duration("stale_threshold") { staleThreshold = threshold }
        if let topic = try section.string("status_topic") { statusTopic = topic }
        if let topic = try section.string("admin_request_topic") { adminRequestTopic = topic }
        if let topic = try section.string("admin_response_topic") { adminResponseTopic = topic }
        if let topic = try section.string("failover_topic") { failoverTopic = topic }
        if let entries = try section.stringList("admin_urls") {
            for entry in entries {
                let parts = entry.split(separator: "=", maxSplits: 1).map { String($0).trimmingWhitespace() }
                guard parts.count == 2, !parts[0].isEmpty, parts[1].hasPrefix("http://") || parts[1].hasPrefix("https://") else {
                    throw section.error("admin_urls", "'\(Redaction.urls(in: entry))' is not name=http://host:port")
                }
                adminURLs[parts[0]] = parts[1]
            }
        }
        if let interval = try section.duration("http_poll_interval") { httpPollInterval = interval }
        if let deadline = try section.duration("http_deadline") { httpDeadline = deadline }
        if let cap = try section.integer("max_discovered", in: 0...100_000) { maxDiscovered = cap }
        if let expiry = try section.duration("discovered_expiry") { discoveredExpiry = expiry }
        if let capacity = try section.integer("inbox_capacity", in: 16...1_000_000) { inboxCapacity = capacity }
        if let alias = try section.bool("gxydb_metrics_alias") { gxydbMetricsAlias = alias }
        if let listen = try section.nonEmptyString("gxydb_metrics_listen") {
            guard WebConfiguration.parseListen(listen) != nil else {
                throw section.error("gxydb_metrics_listen", "'\(listen)' is not host:port (for example \"127.0.0.1:8081\")")
            }
            gxydbMetricsListen = listen
        }

        try applySeedEnvironment(environment)
        try validate(section)
    }

    private mutating func applySeedEnvironment(_ environment: [String: String]) throws {
        func value(_ name: String) -> String? {
            guard let text = environment[name]?.trimmingWhitespace(), !text.isEmpty else { return nil }
            return text
        }
        func list(_ text: String) -> [String] {
            text.split(separator: ",").map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
        }
        if let url = value("MQTT_BROKER_URL") { brokerURL = url }
        if let clientID = value("MQTT_CLIENT_ID") { self.clientID = clientID }
        if let key = value("GATEWAY_PLUGIN_ADMIN_KEY") { adminKey = key }
        if let servers = value("AVAILABLE_JANUS_SERVERS") { availableServers = list(servers) }
        if let servers = value("FAILOVER_JANUS_SERVERS") { failoverServers = list(servers) }
        if let wait = value("FAILOVER_WAIT_TIME") {
            do {
                failoverWaitTime = try DurationParser.parse(wait)
            } catch {
                throw ConfigurationError(file: "<environment>", key: "FAILOVER_WAIT_TIME", message: error.description)
            }
        }
    }

    private func validate(_ section: ConfigSection) throws {
        if let brokerURL {
            do {
                _ = try MQTTAddress(url: brokerURL)
            } catch {
                // The error quotes the URL already, with its password masked.
                throw section.error("broker_url", "not a broker URL (tcp://, mqtt://, ssl:// or mqtts://host:port): \(error)")
            }
        }
        for (key, template, placeholder) in [
            ("status_topic", statusTopic, "{server}"), ("admin_request_topic", adminRequestTopic, "{server}"),
            ("admin_response_topic", adminResponseTopic, "{server}"), ("failover_topic", failoverTopic, "{failed}"),
        ] where !(key == "failover_topic" && template.isEmpty) {
            do {
                _ = try GatewayTopicTemplate(template, placeholder: placeholder)
            } catch {
                throw section.error(key, error.description)
            }
        }
        guard failoverWaitTime >= .zero else { throw section.error("failover_wait_time", "must not be negative") }
        // Upper bounds keep every later conversion (to nanoseconds, to Int) far from overflow.
        let longest = Duration.seconds(366 * 86_400)
        for (key, value) in [
            ("failover_wait_time", failoverWaitTime), ("poll_interval", pollInterval), ("request_timeout", requestTimeout),
            ("online_retry_delay", onlineRetryDelay), ("stale_threshold", staleThreshold), ("http_poll_interval", httpPollInterval),
            ("http_deadline", httpDeadline), ("discovered_expiry", discoveredExpiry),
        ] where value > longest {
            throw section.error(key, "must not be longer than 366d")
        }
        guard discoveredExpiry >= .seconds(1) else { throw section.error("discovered_expiry", "must be at least 1s") }
        guard pollInterval >= .milliseconds(100) else { throw section.error("poll_interval", "must be at least 100ms") }
        guard requestTimeout >= .milliseconds(10) else { throw section.error("request_timeout", "must be at least 10ms") }
        guard onlineRetryDelay > .zero else { throw section.error("online_retry_delay", "must be greater than zero") }
        guard staleThreshold > pollInterval else {
            throw section.error("stale_threshold", "must be longer than poll_interval, or every gateway turns stale between two polls")
        }
        guard httpPollInterval >= .milliseconds(100) else { throw section.error("http_poll_interval", "must be at least 100ms") }
        guard httpDeadline > .zero else { throw section.error("http_deadline", "must be greater than zero") }
    }
}
