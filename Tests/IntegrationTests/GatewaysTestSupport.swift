//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import NIOCore
import Prometheus
import Synchronization
import Testing
import VigilClientSupport
import VigilCore
import VigilMonitors

@testable import VigilMQTT

/// One real Janus gateway process rendered from the templates that `scripts/services/janus.sh`
/// writes (`JANUS_TEMPLATE_DIR`), with MQTT topics `<prefix>/<name>/...` on the test broker.
final class JanusGateway: Sendable {
    let name: String
    let folder: URL
    private let process = Mutex<Process?>(nil)

    /// Renders the configuration folder.
    ///
    /// - Parameters:
    ///   - name: The server name (`gxy1`).
    ///   - prefix: The unique topic prefix of the test.
    ///   - httpAdminPort: When set, the HTTP admin API listens on 127.0.0.1 at this port too.
    init(name: String, prefix: String, httpAdminPort: Int? = nil) throws {
        self.name = name
        let templates = URL(fileURLWithPath: try IntegrationEnvironment.require("JANUS_TEMPLATE_DIR"))
        let root = IntegrationEnvironment.scratchDirectory.appendingPathComponent("janus-\(prefix.replacingOccurrences(of: "/", with: "-"))")
        folder = root.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let lib = try String(contentsOf: templates.appendingPathComponent("lib"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let broker = "tcp://\(IntegrationEnvironment.mosquittoHost):\(try IntegrationEnvironment.mosquittoPort)"
        let replacements = [
            "@NAME@": name, "@CLIENT_ID@": "janus-\(name)-\(UUID().uuidString.prefix(8))", "@BROKER_URL@": broker,
            "@PREFIX@": prefix, "@ADMIN_SECRET@": JanusGateway.adminSecret, "@HTTP_DISABLE@": httpAdminPort == nil ? "libjanus_http.so," : "",
            "@LIB@": lib, "@HTTP_PORT@": httpAdminPort.map(String.init) ?? "0",
        ]
        var files = ["janus.jcfg", "janus.transport.mqtt.jcfg"]
        if httpAdminPort != nil { files.append("janus.transport.http.jcfg") }
        for file in files {
            var text = try String(contentsOf: templates.appendingPathComponent(file), encoding: .utf8)
            for (placeholder, value) in replacements { text = text.replacingOccurrences(of: placeholder, with: value) }
            try text.write(to: folder.appendingPathComponent(file), atomically: true, encoding: .utf8)
        }
    }

    /// A safety net for tests that fail before they stop their gateways: no janus outlives its test.
    deinit {
        if let process = process.withLock({ $0 }), process.isRunning {
            kill(process.processIdentifier, SIGCONT)
            kill(process.processIdentifier, SIGKILL)
        }
    }

    /// The admin secret in every rendered configuration.
    static let adminSecret = "janusoverlord"

    /// Starts `janus -F <folder> -s 3` (3 s session timeout), logging to `<folder>/janus.log`.
    func start() throws {
        let binary = IntegrationEnvironment.environment["JANUS_BIN"] ?? "/usr/bin/janus"
        let log = folder.appendingPathComponent("janus.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-F", folder.path, "-s", "3"]
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process.withLock { $0 = process }
    }

    /// The process id, when running.
    var pid: Int32? { process.withLock { $0?.isRunning == true ? $0?.processIdentifier : nil } }

    /// Sends a signal.
    func signal(_ signal: Int32) {
        if let pid { kill(pid, signal) }
    }

    /// `kill -9` and waits until the process is gone (the broker then publishes its Last Will).
    func kill9() async {
        signal(SIGKILL)
        await waitForExit()
    }

    /// Kills the process if it runs (resuming it first if stopped) and waits for it.
    func stop() async {
        signal(SIGCONT)
        signal(SIGKILL)
        await waitForExit()
    }

    private func waitForExit() async {
        for _ in 0..<100 {
            if process.withLock({ $0?.isRunning != true }) { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// Log messages recorded by a test logger.
final class LogRecorder: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let entries = Mutex<[Entry]>([])

    var all: [Entry] { entries.withLock { $0 } }

    func append(_ entry: Entry) { entries.withLock { $0.append(entry) } }

    /// Entries with a message, optionally filtered by metadata.
    func entries(_ message: String, _ metadata: [String: String] = [:]) -> [Entry] {
        all.filter { entry in entry.message == message && metadata.allSatisfy { entry.metadata[$0.key] == $0.value } }
    }

    /// A logger whose messages land here (and on stderr with `GATEWAY_TEST_LOG=1`).
    func logger(label: String = "vigil.gateways.test") -> Logger {
        var logger = Logger(label: label) { _ in RecordingLogHandler(recorder: self) }
        logger.logLevel = .debug
        return logger
    }

    struct RecordingLogHandler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var flat: [String: String] = [:]
            for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { flat[key] = "\(value)" }
            recorder.append(Entry(level: event.level, message: "\(event.message)", metadata: flat))
            if ProcessInfo.processInfo.environment["GATEWAY_TEST_LOG"] == "1" {
                FileHandle.standardError.write(Data("\(event.level) \(event.message) \(flat)\n".utf8))
            }
        }
    }
}

/// Everything one gateway test needs: a unique topic prefix, real gateways, a monitor over a hub on
/// a memory store, a Prometheus registry for the seed's metrics, and a log recorder.
final class GatewayTestBed: Sendable {
    let prefix: String
    let store = MemoryStore()
    let hub: Hub
    let registry = PrometheusCollectorRegistry()
    let metrics: GatewayMetrics
    let logs = LogRecorder()
    private let gatewaysBox = Mutex<[String: JanusGateway]>([:])

    init() {
        prefix = "vt\(UUID().uuidString.prefix(8).lowercased())/janus"
        // The hub's series (vigil_gateway_sessions{gateway}) land in the same registry, so a test
        // can count every series the gateways cause.
        hub = Hub(stores: store.stores, metricsFactory: PrometheusMetricsFactory(registry: registry))
        metrics = GatewayMetrics(factory: PrometheusMetricsFactory(registry: registry))
    }

    /// A monitor configuration for this bed's topics, with short test intervals.
    func configuration(primaries: [String], spares: [String] = [], waitTime: Duration = .seconds(1)) throws -> GatewayMonitorConfiguration {
        var configuration = GatewayMonitorConfiguration(
            brokerURL: "mqtt://\(IntegrationEnvironment.mosquittoHost):\(try IntegrationEnvironment.mosquittoPort)",
            clientID: "vigil-gw-\(UUID().uuidString.prefix(8))",
            adminKey: JanusGateway.adminSecret,
            availableServers: primaries,
            failoverServers: spares,
            failoverWaitTime: waitTime,
            pollInterval: .seconds(1),
            requestTimeout: .milliseconds(800),
            onlineRetryDelay: .milliseconds(300),
            staleThreshold: .seconds(2)
        )
        configuration.statusTopic = "\(prefix)/{server}/status"
        configuration.adminRequestTopic = "\(prefix)/{server}/to-janus-admin"
        configuration.adminResponseTopic = "\(prefix)/{server}/from-janus-admin"
        configuration.failoverTopic = "\(prefix)-failover/{failed}"
        return configuration
    }

    /// The environment of a `vigil` process watching this bed's gateways through the seed's
    /// variables (gxydb-api's names) and Vigil's topic overrides, with short test intervals.
    func processEnvironment(available: String, failover: String? = nil) throws -> [String: String] {
        var environment = [
            "MQTT_BROKER_URL": "tcp://\(IntegrationEnvironment.mosquittoHost):\(try IntegrationEnvironment.mosquittoPort)",
            "MQTT_CLIENT_ID": "vigil-e2e-\(UUID().uuidString.prefix(8))",
            "GATEWAY_PLUGIN_ADMIN_KEY": JanusGateway.adminSecret,
            "AVAILABLE_JANUS_SERVERS": available,
            "VIGIL_JANUS_POLL_INTERVAL": "1s",
            "VIGIL_JANUS_STALE_THRESHOLD": "5s",
            "VIGIL_JANUS_STATUS_TOPIC": "\(prefix)/{server}/status",
            "VIGIL_JANUS_ADMIN_REQUEST_TOPIC": "\(prefix)/{server}/to-janus-admin",
            "VIGIL_JANUS_ADMIN_RESPONSE_TOPIC": "\(prefix)/{server}/from-janus-admin",
            "VIGIL_JANUS_FAILOVER_TOPIC": "\(prefix)-failover/{failed}",
            "VIGIL_HOST_ENABLED": "false",
        ]
        if let failover {
            environment["FAILOVER_JANUS_SERVERS"] = failover
            environment["FAILOVER_WAIT_TIME"] = "500ms"
        }
        return environment
    }

    /// Renders (once) and returns the gateway `name`.
    func gateway(_ name: String, httpAdminPort: Int? = nil) throws -> JanusGateway {
        if let existing = gatewaysBox.withLock({ $0[name] }) { return existing }
        let gateway = try JanusGateway(name: name, prefix: prefix, httpAdminPort: httpAdminPort)
        gatewaysBox.withLock { $0[name] = gateway }
        return gateway
    }

    /// Starts gateways.
    @discardableResult
    func start(_ names: [String]) throws -> [JanusGateway] {
        try names.map { name in
            let gateway = try gateway(name)
            try gateway.start()
            return gateway
        }
    }

    /// Kills every gateway this bed started.
    func stopAll() async {
        for gateway in gatewaysBox.withLock({ Array($0.values) }) { await gateway.stop() }
    }

    /// Runs a monitor while `body` runs, then stops it and every gateway.
    func withMonitor<Result: Sendable>(
        _ configuration: GatewayMonitorConfiguration,
        stateStore: (any StateStore)? = nil,
        _ body: @Sendable (GatewayMonitor) async throws -> Result
    ) async throws -> Result {
        do {
            var client: MQTTClient?
            if configuration.mode == .mqtt {
                var clientConfiguration = try GatewayMonitor.mqttConfiguration(configuration)
                clientConfiguration.reconnect = MQTTReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .milliseconds(500), jitter: 0.1)
                clientConfiguration.connectTimeout = .seconds(3)
                client = MQTTClient(configuration: clientConfiguration, logger: logs.logger(label: "vigil.mqtt"))
            }
            let monitor = try GatewayMonitor(
                configuration: configuration,
                hub: hub,
                stateStore: stateStore ?? store,
                mqttClient: client,
                metrics: metrics,
                logger: logs.logger(),
                tickInterval: .milliseconds(50)
            )
            let result = try await withThrowingTaskGroup(of: Void.self) { group in
                // As in Vigil, the client is run by its owner, beside the monitor.
                if let client { group.addTask { try await client.run() } }
                group.addTask { try await monitor.run() }
                defer { group.cancelAll() }
                return try await body(monitor)
            }
            await stopAll()
            return result
        } catch {
            await stopAll()
            throw error
        }
    }

    /// The hub state of a gateway.
    func state(_ name: String) async -> TargetState? {
        await hub.state(of: TargetID(.gateway, name))
    }

    /// The value of a metric line `name{labels}` in the registry's text output, or `nil`.
    func metric(_ name: String, _ labels: [(String, String)]) -> Double? {
        let head = labels.isEmpty ? name + " " : name + "{" + labels.map { "\($0.0)=\"\($0.1)\"" }.joined(separator: ",") + "} "
        for line in registry.emitToString().split(separator: "\n") where line.hasPrefix(head) {
            return Double(line.dropFirst(head.count))
        }
        return nil
    }

    /// How many gateways the hub shows as discovered.
    func discoveredCount() async -> Int {
        await hub.states(kind: .gateway).filter { $0.attributes["role"] == "discovered" }.count
    }

    /// The number of series in the registry (sample lines of the text format).
    func seriesCount() -> Int {
        registry.emitToString().split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }.count
    }

    /// Waits until `condition` holds, polling every 20 ms; fails after `timeout`.
    @discardableResult
    func eventually(
        _ what: String,
        timeout: Duration = .seconds(5),
        sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: @Sendable () async throws -> Bool
    ) async throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < timeout {
            if try await condition() { return clock.now - start }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("timed out after \(timeout) waiting for: \(what)", sourceLocation: sourceLocation)
        throw TimeoutError(duration: timeout)
    }

    /// Waits until every named gateway is `up` in the hub.
    func waitOnline(_ names: [String], timeout: Duration = .seconds(5)) async throws -> Duration {
        try await eventually("\(names) online", timeout: timeout) {
            for name in names where await self.state(name)?.status != .up { return false }
            return true
        }
    }

    /// Creates `count` Janus sessions on a gateway through the Janus API over MQTT, and waits for
    /// Janus to confirm them.
    func createSessions(_ count: Int, on name: String) async throws {
        let configuration = try MQTTTestSupport.configuration(.v3_1_1)
        let prefix = self.prefix
        try await withMQTTClient(configuration) { client in
            try await client.subscribe(to: [MQTTSubscribeInfo(filter: "\(prefix)/\(name)/from-janus", qos: .atLeastOnce)]) { replies in
                for index in 0..<count {
                    let request = #"{"janus":"create","transaction":"create-\#(index)"}"#
                    try await client.publish(to: "\(prefix)/\(name)/to-janus", payload: ByteBuffer(string: request), qos: .atLeastOnce)
                }
                try await withTimeout(.seconds(3)) {
                    var confirmed = 0
                    for try await reply in replies where String(buffer: reply.payload).contains(#""janus":"success""#) {
                        confirmed += 1
                        if confirmed == count { return }
                    }
                }
            }
        }
    }

    /// The retained failover mapping of a failed server: what a new subscriber receives within
    /// `wait` (nil when nothing is retained).
    func retainedMapping(of failed: String, wait: Duration = .milliseconds(500)) async throws -> JSONValue? {
        let configuration = try MQTTTestSupport.configuration(.v3_1_1)
        let topic = "\(prefix)-failover/\(failed)"
        return try await withMQTTClient(configuration) { client in
            try await client.subscribe(to: [MQTTSubscribeInfo(filter: topic, qos: .atLeastOnce)]) { messages in
                try await withThrowingTaskGroup(of: JSONValue?.self) { group in
                    group.addTask {
                        for try await message in messages where message.retain && message.payload.readableBytes > 0 {
                            return try JSONDecoder().decode(JSONValue.self, from: Data(message.payload.readableBytesView))
                        }
                        return nil
                    }
                    group.addTask {
                        try await Task.sleep(for: wait)
                        return nil
                    }
                    defer { group.cancelAll() }
                    return try await group.next() ?? nil
                }
            }
        }
    }
}
