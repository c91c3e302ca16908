//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import VigilCore
public import VigilMQTT
public import VigilMonitors
import VigilStorage

/// iotmonitor's devices and agents: `[device_NAME]`, `[agent_NAME]`, `[mqtt] baseTopic`, plus
/// Vigil's `[watchdog]` additions. See `docs/CONFIGURATION.md`.
public struct DevicesConfiguration: Sendable {
    /// The watchdog (devices and the MQTT side of agents).
    public var watchdog = DeviceMonitorConfiguration()
    /// The agent processes.
    public var agents = AgentSupervisorConfiguration()

    /// Creates an empty configuration (nothing watched).
    public init() {}

    /// Whether any device or agent is declared.
    public var isEmpty: Bool { watchdog.definitions.isEmpty && agents.agents.isEmpty }
}

extension VigilConfiguration {
    /// Whether a top-level section is an iotmonitor device or agent declaration.
    static func isDeviceSection(_ name: String) -> Bool {
        (name.hasPrefix("device_") && name.count > 7) || (name.hasPrefix("agent_") && name.count > 6)
    }

    /// Reads `[mqtt]`, `[watchdog]`, `[device_*]` and `[agent_*]`.
    ///
    /// - Parameters:
    ///   - root: The whole file.
    ///   - file: The file name, for errors.
    ///   - section: Returns the reader of a section (and registers it for unused-key warnings).
    mutating func parseDevices(root: [String: ConfigValue], file: String, section: (String) throws -> ConfigSection) throws {
        // Devices first, then agents, each by name (TOML tables carry no order).
        let deviceSections = root.keys.filter { key in
            guard Self.isDeviceSection(key), case .table = root[key] else { return false }
            return true
        }.sorted { ($0.hasPrefix("agent_") ? 1 : 0, $0) < ($1.hasPrefix("agent_") ? 1 : 0, $1) }
        let isIotmonitorFile = !deviceSections.isEmpty
        let mqttSection = try section("mqtt")
        if root["mqtt"] != nil || mqttSection.contains("serverAddress") {
            let hostname = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
            mqtt = try MQTTClientConfiguration(section: mqttSection, defaultClientID: isIotmonitorFile ? "iotmonitor" : "vigil-\(hostname)")
        }
        var watchdog = DeviceMonitorConfiguration()
        if let base = try mqttSection.string("baseTopic") {
            let trimmed = base.hasSuffix("/") ? String(base.dropLast()) : base
            guard !trimmed.isEmpty, !trimmed.contains("+"), !trimmed.contains("#") else {
                throw mqttSection.error("baseTopic", "'\(base)' must be a non-empty topic without wildcards")
            }
            watchdog.baseTopic = trimmed
        }
        let extra = try section("watchdog")
        if let subtopic = try extra.nonEmptyString("expire_subtopic") {
            guard !subtopic.contains("/"), !subtopic.contains("+"), !subtopic.contains("#") else {
                throw extra.error("expire_subtopic", "'\(subtopic)' must be one topic level")
            }
            watchdog.expireSubtopic = subtopic
        }
        if let retain = try extra.bool("expire_retain") { watchdog.expireRetain = retain }
        if let repeatInterval = try extra.duration("expire_repeat") {
            // Zero means once; a tiny period would republish on every tick of the watchdog.
            guard repeatInterval == .zero || repeatInterval >= .milliseconds(100) else {
                throw extra.error("expire_repeat", "must be 0s (once) or at least 100ms")
            }
            watchdog.expireRepeat = repeatInterval
        }
        if let interval = try extra.duration("report_interval") {
            guard interval >= .milliseconds(100) else { throw extra.error("report_interval", "must be at least 100ms") }
            watchdog.reportInterval = interval
        }
        if let interval = try extra.duration("up_interval") {
            guard interval >= .milliseconds(100) else { throw extra.error("up_interval", "must be at least 100ms") }
            watchdog.upInterval = interval
        }
        let topics = try extra.integer("state_max_topics", in: 1...1_000_000) ?? watchdog.stateLimits.maxTopics
        let bytes = try extra.integer("state_max_bytes", in: 1_024...(1 << 30)) ?? watchdog.stateLimits.maxBytes
        let payload = try extra.integer("state_max_payload", in: 1...(1 << 28)) ?? watchdog.stateLimits.maxPayload
        guard payload < bytes else {
            // A state is its topic plus its payload: one that fills state_max_bytes could never be kept.
            if extra.contains("state_max_payload") {
                throw extra.error("state_max_payload", "must be less than state_max_bytes (\(bytes))")
            }
            throw extra.error("state_max_bytes", "must be greater than state_max_payload (\(payload))")
        }
        watchdog.stateLimits = DeviceStateLimits(maxTopics: topics, maxBytes: bytes, maxPayload: payload)
        if let series = try extra.integer("max_series_devices", in: 0...10_000_000) { watchdog.maxSeriesTargets = series }
        var agents = AgentSupervisorConfiguration()
        if let interval = try extra.duration("agent_check_interval") {
            guard interval >= .milliseconds(100) else { throw extra.error("agent_check_interval", "must be at least 100ms") }
            agents.checkInterval = interval
        }
        let storeFolder = (store.path as NSString).deletingLastPathComponent
        let logDirectory = try extra.nonEmptyString("agent_log_directory") ?? ((storeFolder.isEmpty ? "." : storeFolder) + "/agents")

        for name in deviceSections {
            let reader = try section(name)
            let isAgent = name.hasPrefix("agent_")
            let shortName = String(name.dropFirst(isAgent ? 6 : 7))
            var definition = try DeviceDefinition(reader, name: shortName, kind: isAgent ? .agent : .device)
            definition.name = shortName
            watchdog.definitions.append(definition)
            if isAgent {
                agents.agents.append(try AgentDefinition(reader, name: shortName, logDirectory: logDirectory))
            }
        }
        agents.baseTopic = watchdog.baseTopic
        if mqtt == nil && watchdog.definitions.contains(where: { !$0.watchTopics.isEmpty || $0.helloTopic != nil || !$0.stateTopics.isEmpty }) {
            throw ConfigurationError(file: file, key: "mqtt", message: "devices and agents with topics need an [mqtt] section with serverAddress")
        }
        devices = DevicesConfiguration()
        devices.watchdog = watchdog
        devices.agents = agents
    }
}

extension MQTTClientConfiguration {
    /// Reads an MQTT client configuration from a section in iotmonitor's format, plus Vigil's
    /// additions.
    ///
    /// | key | type | default | meaning |
    /// |---|---|---|---|
    /// | `serverAddress` | string | `"tcp://localhost:1883"` | `tcp://`, `mqtt://`, `ssl://` or `mqtts://` host and port |
    /// | `user` | string | none (`""` = none) | user name |
    /// | `password` | string | none | password (never logged) |
    /// | `clientid` | string | `defaultClientID` | the MQTT client identifier |
    /// | `version` | string | `"5"` | `"5"` or `"3.1.1"` |
    /// | `keepAlive` | duration | `"30s"` | keep-alive interval |
    /// | `caFile` | string | system roots | PEM CA file for `ssl://` brokers |
    /// | `clean_start` | bool | `false` | start a clean session (clean session under 3.1.1); `false` keeps a persistent session |
    /// | `session_expiry` | duration | `"1d"` | MQTT 5 session expiry interval of a persistent session, `0s` to `36500d` |
    /// | `receive_maximum` | int | `64` | incoming QoS 1/2 messages awaiting processing, 1 to 65535 |
    ///
    /// - Parameters:
    ///   - section: The section reader (usually `[mqtt]`).
    ///   - defaultClientID: The identifier used when `clientid` is absent.
    /// - Throws: ``ConfigurationError`` naming the key.
    public init(section: ConfigSection, defaultClientID: String) throws {
        let url = try section.nonEmptyString("serverAddress") ?? "tcp://localhost:1883"
        let address: MQTTAddress
        do {
            address = try MQTTAddress(url: url)
        } catch {
            throw section.error("serverAddress", "\(error)")
        }
        self.init(address: address, clientID: try section.nonEmptyString("clientid") ?? defaultClientID)
        if let user = try section.nonEmptyString("user") { username = user }
        if let password = try section.nonEmptyString("password") { self.password = password }
        if let version = try section.string("version") {
            switch version.lowercased() {
            case "5", "5.0", "v5": self.version = .v5
            case "3.1.1", "3", "4", "v3.1.1": self.version = .v3_1_1
            default: throw section.error("version", "'\(version)' is not 5 or 3.1.1")
            }
        }
        if let keepAlive = try section.duration("keep_alive") {
            guard keepAlive >= .seconds(1) else { throw section.error("keep_alive", "must be at least 1s") }
            // MQTT carries the keep-alive as a 16-bit number of seconds.
            guard keepAlive <= .seconds(Int(UInt16.max)) else { throw section.error("keep_alive", "must be at most 65535s (18h12m15s)") }
            self.keepAlive = keepAlive
        }
        if let caFile = try section.nonEmptyString("ca_file") {
            tls = MQTTTLSConfiguration(caFile: caFile)
        }
        // A persistent session by default: QoS 1 state messages sent while Vigil is down or not yet
        // acknowledged when it stops are delivered (again) when it is back.
        cleanSession = try section.bool("clean_start") ?? false
        if !cleanSession {
            // At most 36500d (the parser's limit), which fits MQTT 5's 32-bit number of seconds.
            sessionExpiry = try section.duration("session_expiry") ?? .seconds(86_400)
        }
        if let maximum = try section.integer("receive_maximum", in: 1...65_535) { receiveMaximum = maximum }
    }
}

extension DeviceDefinition {
    init(_ section: ConfigSection, name: String, kind: TargetKind) throws {
        self.init(name: name, kind: kind)
        if let timeout = try section.duration("watchTimeOut") {
            guard timeout >= .seconds(1) else { throw section.error("watchTimeOut", "must be at least 1 second") }
            watchTimeout = timeout.secondsDouble
        }
        helloTopic = try section.nonEmptyString("helloTopic")
        watchTopics = try section.stringList("watchTopics") ?? []
        stateTopics = try section.stringList("stateTopics") ?? []
        for (key, filters) in [("helloTopic", helloTopic.map { [$0] } ?? []), ("watchTopics", watchTopics), ("stateTopics", stateTopics)] {
            for filter in filters {
                do {
                    _ = try MQTTTopicFilter(filter)
                } catch {
                    throw section.error(key, "'\(filter)' is not a valid topic filter: \(error)")
                }
            }
        }
    }
}

extension AgentDefinition {
    init(_ section: ConfigSection, name: String, logDirectory: String) throws {
        guard let exec = try section.nonEmptyString("exec") else {
            throw section.error("exec", "an agent needs an exec command line")
        }
        self.init(name: name, exec: exec, logFile: logDirectory + "/" + name + ".log")
        if let shell = try section.nonEmptyString("shell") { self.shell = shell }
        if let logFile = try section.nonEmptyString("log_file") { self.logFile = logFile }
        if let restarts = try section.integer("max_restarts", in: 0...1_000_000) { restartPolicy.maxRestarts = restarts }
        if let window = try section.duration("restart_window") {
            guard window > .zero else { throw section.error("restart_window", "must be greater than zero") }
            restartPolicy.window = window
        }
        if let backoff = try section.duration("restart_backoff") { restartPolicy.backoff = backoff }
        if let maximum = try section.duration("restart_backoff_max") { restartPolicy.maximumBackoff = maximum }
        if let silence = try section.bool("restart_on_silence") { restartOnSilence = silence }
        if let timeout = try section.duration("stop_timeout") { stopTimeout = timeout }
        if let variables = try section.stringTable("environment") {
            for (name, value) in variables.sorted(by: { $0.key < $1.key }) {
                guard AgentDefinition.isVariableName(name) else { throw section.error("environment", "'\(name)' is not a variable name") }
                guard !value.utf8.contains(0) else { throw section.error("environment", "the value of \(name) contains a NUL character") }
            }
            environment = variables
        }
        if let names = try section.stringList("pass_environment") {
            for name in names where !AgentDefinition.isVariableName(name) {
                throw section.error("pass_environment", "'\(name)' is not a variable name")
            }
            passEnvironment = names
        }
    }
}

extension Duration {
    fileprivate var secondsDouble: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
