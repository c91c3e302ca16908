//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
import Synchronization
import Testing
import VigilMQTT

/// The iotmonitor watchdog and agent supervisor, end to end: a real `vigil` process, the real
/// Mosquitto from `scripts/test`, real agent processes.
@Suite("Devices and agents against Mosquitto", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct DevicesIntegrationTests {
    // MARK: - Watchdog

    @Test("A silent device expires within watchTimeOut + 1 s, and its recovery is published")
    func expiryAndRecovery() async throws {
        let prefix = MQTTTestSupport.uniqueTopic("devices-expire")
        let config = try Self.config(
            prefix: prefix,
            """
            [device_d1]
            watchTimeOut = 2
            watchTopics = "\(prefix)/d1/#"
            """
        )
        try await Self.withVigil(config) { _ in
            try await Self.withObserver(["\(prefix)/mon/expire/#"]) { client, log in
                // Never heard from: it expires one timeout after start with the start time.
                let first = try await log.next(timeout: .seconds(8)) { $0.topic == "\(prefix)/mon/expire/d1" }
                #expect(Double(String(buffer: first.payload)) != nil)
                // It talks: the same topic gets an empty payload (recovered).
                try await client.publish(to: "\(prefix)/d1/sensors/temp", payload: ByteBuffer(string: "21.5"), qos: .atLeastOnce)
                let recovered = try await log.next(timeout: .seconds(3)) { $0.topic == "\(prefix)/mon/expire/d1" }
                #expect(recovered.payload.readableBytes == 0)
                // It falls silent: the expiry comes within watchTimeOut + 1 s of its last message.
                try await client.publish(to: "\(prefix)/d1/sensors/temp", payload: ByteBuffer(string: "21.6"), qos: .atLeastOnce)
                let silentSince = ContinuousClock.now
                let lastContact = Date().timeIntervalSince1970
                let expired = try await log.next(timeout: .seconds(6)) { $0.topic == "\(prefix)/mon/expire/d1" }
                let elapsed = ContinuousClock.now - silentSince
                #expect(elapsed < .seconds(3), "expiry after \(elapsed)")
                #expect(elapsed > .milliseconds(1_500), "expiry too early: \(elapsed)")
                let stamp = try #require(Double(String(buffer: expired.payload)))
                #expect(abs(stamp - lastContact) < 2)
            }
        }
    }

    @Test("After a broker restart that lost everything, Vigil publishes the expiries in force again (retained)")
    func expiriesSurviveBrokerRestart() async throws {
        let broker = try PrivateMosquitto()
        try await broker.start()
        let prefix = MQTTTestSupport.uniqueTopic("devices-broker")
        var text = try Self.config(prefix: prefix, "[device_gone]\nwatchTimeOut = 1\nwatchTopics = \"\(prefix)/gone/#\"\n")
        text = text.replacingOccurrences(of: ":\(try IntegrationEnvironment.mosquittoPort)\"", with: ":\(broker.port)\"")
        var configuration = try MQTTTestSupport.configuration()
        configuration.address = MQTTAddress(host: "127.0.0.1", port: broker.port)
        try await Self.withVigil(text) { _ in
            try await withMQTTClient(configuration) { client in
                try await client.subscribe(to: [MQTTSubscribeInfo(filter: "\(prefix)/mon/expire/gone")]) { subscription in
                    _ = try await collect(1, from: subscription, timeout: .seconds(6))
                }
            }
            // The broker dies and comes back empty (no persistence): the retained expiry is gone.
            broker.kill()
            try await broker.start()
            // A newcomer still learns that the device is expired, from Vigil's republication.
            try await withMQTTClient(configuration) { client in
                try await client.subscribe(to: [MQTTSubscribeInfo(filter: "\(prefix)/mon/expire/gone")]) { subscription in
                    let messages = try await collect(1, from: subscription, timeout: .seconds(10))
                    #expect(messages.first.map { Double(String(buffer: $0.payload)) != nil } == true)
                }
            }
        }
    }

    @Test("A hello republishes exactly that device's stored states and bumps its retained count")
    func helloRepublishesOwnStates() async throws {
        let prefix = MQTTTestSupport.uniqueTopic("devices-hello")
        let config = try Self.config(
            prefix: prefix,
            """
            [device_a]
            helloTopic = "\(prefix)/a"
            watchTopics = "\(prefix)/a/sensors/#"
            stateTopics = "\(prefix)/a/actuators/#"

            [device_b]
            helloTopic = "\(prefix)/b"
            stateTopics = "\(prefix)/b/state, \(prefix)/b/mode"
            """
        )
        try await Self.withVigil(config) { _ in
            try await Self.withObserver(["\(prefix)/#"], noLocal: true) { client, log in
                _ = try await log.next(timeout: .seconds(8)) { $0.topic == "\(prefix)/mon/helloTopicCount/b" }
                for (topic, payload) in [("a/actuators/relay", "on"), ("a/actuators/led", "red"), ("b/state", "open"), ("b/mode", "auto")] {
                    try await client.publish(to: "\(prefix)/\(topic)", payload: ByteBuffer(string: payload), qos: .atLeastOnce)
                }
                log.clear()
                try await client.publish(to: "\(prefix)/a", payload: ByteBuffer(string: "hello"), qos: .atLeastOnce)
                let count = try await log.next(timeout: .seconds(3)) { $0.topic == "\(prefix)/mon/helloTopicCount/a" }
                #expect(String(buffer: count.payload) == "1")
                #expect(count.retain)
                func republished() -> [MQTTMessage] { log.messages.filter { !$0.topic.hasPrefix("\(prefix)/mon/") } }
                let deadline = ContinuousClock.now + .seconds(3)
                while republished().count < 2 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                // Anything else (device b's states) would arrive in the same burst.
                try await Task.sleep(for: .milliseconds(500))
                #expect(
                    Set(republished().map { "\($0.topic)=\(String(buffer: $0.payload))" })
                        == ["\(prefix)/a/actuators/relay=on", "\(prefix)/a/actuators/led=red"]
                )
                #expect(republished().count == 2)
            }
        }
    }

    @Test("After SIGKILL a restarted Vigil republishes stored states and adopts the running agent")
    func crashRecovery() async throws {
        let prefix = MQTTTestSupport.uniqueTopic("devices-crash")
        let agent = "crash\(UInt32.random(in: 0...UInt32.max))"
        defer { Self.killAgents(agent) }
        let config = try Self.config(
            prefix: prefix,
            """
            [device_lamp]
            helloTopic = "\(prefix)/lamp"
            stateTopics = "\(prefix)/lamp/state"

            [agent_\(agent)]
            exec = "sleep 600"
            """
        )
        let directory = Self.scratch("crash")
        let firstPID: Int32 = try await Self.withVigil(config, directory: directory, kill: SIGKILL) { _ in
            let pid = try await Self.waitForAgent(agent)
            try await Self.withObserver(["\(prefix)/lamp/state"], noLocal: true) { client, log in
                try await client.publish(to: "\(prefix)/lamp/state", payload: ByteBuffer(string: "on"), qos: .atLeastOnce)
                // A hello gets the stored state back, which proves it was written through.
                try await Task.sleep(for: .milliseconds(300))
                try await client.publish(to: "\(prefix)/lamp", payload: ByteBuffer(string: "hi"), qos: .atLeastOnce)
                _ = try await log.next(timeout: .seconds(5)) { String(buffer: $0.payload) == "on" }
            }
            return pid
        }
        #expect(Self.agentPIDs(agent) == [firstPID], "the agent survives Vigil's SIGKILL")
        try await Self.withObserver(["\(prefix)/lamp/state"], noLocal: true) { _, log in
            try await Self.withVigil(config, directory: directory) { vigil in
                let state = try await log.next(timeout: .seconds(10)) { $0.topic == "\(prefix)/lamp/state" }
                #expect(String(buffer: state.payload) == "on")
                // Give the supervisor a few checks: it must not start a second copy.
                try await Task.sleep(for: .seconds(2))
                #expect(Self.agentPIDs(agent) == [firstPID])
                #expect(vigil.log.contains("Adopted running agent"))
                let agents = try await vigil.get("/api/v1/agents")
                #expect(agents.body.contains("\"running\""))
            }
        }
    }

    // MARK: - Agents

    @Test("An agent killed with SIGKILL is running again within 2 s")
    func agentRelaunch() async throws {
        let prefix = MQTTTestSupport.uniqueTopic("agents-kill")
        let agent = "kill\(UInt32.random(in: 0...UInt32.max))"
        defer { Self.killAgents(agent) }
        let config = try Self.config(prefix: prefix, "[agent_\(agent)]\nexec = \"sleep 600\"\n")
        try await Self.withObserver(["\(prefix)/mon/startedprocess/#"]) { _, log in
            try await Self.withVigil(config) { vigil in
                let pid = try await Self.waitForAgent(agent)
                _ = try await log.next(timeout: .seconds(5)) { $0.topic == "\(prefix)/mon/startedprocess/\(agent)" }
                log.clear()
                kill(pid, SIGKILL)
                let killedAt = ContinuousClock.now
                let newPID = try await Self.waitForAgent(agent, timeout: .seconds(5)) { $0 != pid }
                let elapsed = ContinuousClock.now - killedAt
                #expect(elapsed < .seconds(2), "relaunched after \(elapsed)")
                #expect(newPID != pid)
                _ = try await log.next(timeout: .seconds(3)) { $0.topic == "\(prefix)/mon/startedprocess/\(agent)" }
                let metrics = try await vigil.get("/metrics")
                #expect(metrics.body.contains("vigil_agent_restarts_total{agent=\"\(agent)\"} 1"))
                #expect(metrics.body.contains("vigil_agent_running{agent=\"\(agent)\"} 1"))
            }
        }
    }

    @Test("An agent that keeps crashing is given up on after maxRestarts, with an event")
    func agentGivenUp() async throws {
        let prefix = MQTTTestSupport.uniqueTopic("agents-crash")
        let agent = "flaky\(UInt32.random(in: 0...UInt32.max))"
        defer { Self.killAgents(agent) }
        let config = try Self.config(
            prefix: prefix,
            """
            [watchdog]
            agent_check_interval = "200ms"

            [agent_\(agent)]
            exec = "exit 3"
            max_restarts = 2
            restart_window = "60s"
            restart_backoff = "100ms"
            """
        )
        try await Self.withVigil(config) { vigil in
            let deadline = ContinuousClock.now + .seconds(10)
            var events = ""
            while ContinuousClock.now < deadline {
                events = try await vigil.get("/api/v1/events?limit=1000").body
                if events.contains("agent_given_up") && events.contains(agent) { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(events.contains("\"agent_given_up\""))
            let state = try await vigil.get("/api/v1/agents/\(agent)")
            #expect(state.status == 200)
            #expect(state.body.contains("\"status\":\"error\""))
            #expect(state.body.contains("\"given_up\""))
            // Two restarts were allowed, then nothing more is started.
            let metrics = try await vigil.get("/metrics")
            #expect(metrics.body.contains("vigil_agent_restarts_total{agent=\"\(agent)\"} 2"))
            let log = try String(contentsOfFile: vigil.directory.appendingPathComponent("agents/\(agent).log").path, encoding: .utf8)
            #expect(log.components(separatedBy: "--- vigil: starting agent").count - 1 == 3)
        }
    }

    @Test("An agent whose watch topics fall silent is restarted when restartOnSilence is set")
    func agentRestartOnSilence() async throws {
        let prefix = MQTTTestSupport.uniqueTopic("agents-silent")
        let agent = "silent\(UInt32.random(in: 0...UInt32.max))"
        defer { Self.killAgents(agent) }
        let config = try Self.config(
            prefix: prefix,
            """
            [watchdog]
            agent_check_interval = "200ms"

            [agent_\(agent)]
            exec = "sleep 600"
            watchTopics = "\(prefix)/\(agent)/#"
            watchTimeOut = 2
            restart_on_silence = true
            stop_timeout = "1s"
            """
        )
        try await Self.withObserver(["\(prefix)/mon/#"]) { client, log in
            try await Self.withVigil(config) { vigil in
                let pid = try await Self.waitForAgent(agent)
                // Talking keeps it alive past its timeout.
                for _ in 0..<6 {
                    try await client.publish(to: "\(prefix)/\(agent)/status", payload: ByteBuffer(string: "ok"), qos: .atLeastOnce)
                    try await Task.sleep(for: .milliseconds(500))
                }
                #expect(Self.agentPIDs(agent) == [pid])
                // Silence: expiry, then a new process.
                _ = try await log.next(timeout: .seconds(5)) { $0.topic == "\(prefix)/mon/expire/\(agent)" && $0.payload.readableBytes > 0 }
                let newPID = try await Self.waitForAgent(agent, timeout: .seconds(5)) { $0 != pid }
                #expect(newPID != pid)
                let events = try await vigil.get("/api/v1/events?limit=1000").body
                #expect(events.contains("\"agent_silent\""))
            }
        }
    }

    // MARK: - The seed's example

    @Test("The seed's example config.toml runs unchanged (broker address from the environment)")
    func seedExampleRuns() async throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/iotmonitor-config.toml")
        let text = try String(contentsOf: fixture, encoding: .utf8)
        defer { Self.killAgents("ledboxdaemon") }
        let address = "tcp://\(IntegrationEnvironment.mosquittoHost):\(try IntegrationEnvironment.mosquittoPort)"
        try await Self.withObserver(["home/monitoring/up", "home/monitoring/helloTopicCount/esp04"]) { client, log in
            try await Self.withVigil(text, environment: ["VIGIL_MQTT_SERVERADDRESS": address]) { vigil in
                let up = try await log.next(timeout: .seconds(8)) { $0.topic == "home/monitoring/up" }
                #expect(Int(String(buffer: up.payload)) != nil)
                _ = try await log.next(timeout: .seconds(5)) { $0.topic == "home/monitoring/helloTopicCount/esp04" }
                try await client.publish(to: "home/esp04/sensors/temp", payload: ByteBuffer(string: "20"), qos: .atLeastOnce)
                let deadline = ContinuousClock.now + .seconds(6)
                var devices = ""
                while ContinuousClock.now < deadline && !devices.contains("\"status\":\"up\"") {
                    try await Task.sleep(for: .milliseconds(250))
                    devices = try await vigil.get("/api/v1/devices").body
                }
                #expect(devices.contains("\"esp04\""))
                #expect(devices.contains("\"last_contact\""))
                #expect(devices.contains("\"status\":\"up\""))
                let agents = try await vigil.get("/api/v1/agents").body
                #expect(agents.contains("\"ledboxdaemon\""))
                let metrics = try await vigil.get("/metrics").body
                for name in ["vigil_device_up", "vigil_device_last_seen_seconds", "vigil_device_hello_total"] {
                    #expect(metrics.contains("\(name){device=\"esp04\"}"), "\(name) missing")
                }
                for name in ["vigil_agent_running", "vigil_agent_restarts_total"] {
                    #expect(metrics.contains("\(name){agent=\"ledboxdaemon\"}"), "\(name) missing")
                }
            }
        }
    }

    // MARK: - Helpers

    static func scratch(_ name: String) -> URL {
        IntegrationEnvironment.scratchDirectory.appendingPathComponent("devices-\(name)-\(UUID().uuidString.prefix(8))")
    }

    /// An iotmonitor file for the test broker with base topic `<prefix>/mon`.
    static func config(prefix: String, _ sections: String) throws -> String {
        """
        [mqtt]
        serverAddress = "tcp://\(IntegrationEnvironment.mosquittoHost):\(try IntegrationEnvironment.mosquittoPort)"
        baseTopic = "\(prefix)/mon"
        clientid = "vigil-it-\(UUID().uuidString.prefix(8))"

        [log]
        log_level = "debug"

        \(sections)
        """
    }

    /// Runs `vigil serve --config` on `text` in `directory` until `body` returns, then stops it with
    /// `kill` (SIGTERM by default).
    static func withVigil<Result: Sendable>(
        _ text: String,
        directory: URL = scratch("vigil"),
        environment: [String: String] = [:],
        kill signal: Int32 = SIGTERM,
        _ body: (DevicesVigil) async throws -> Result
    ) async throws -> Result {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("config.toml")
        try text.write(to: path, atomically: true, encoding: .utf8)
        let process = try VigilProcess(arguments: ["serve", "--config", path.path], environment: environment, directory: directory)
        let vigil = DevicesVigil(process: process, directory: directory)
        do {
            try await process.waitUntilHealthy()
            let result = try await body(vigil)
            _ = try await process.stop(signal: signal)
            return result
        } catch {
            _ = try? await process.stop(signal: SIGKILL)
            Issue.record("vigil log:\n\(process.log)")
            throw error
        }
    }

    /// Runs `body` with a connected MQTT client subscribed to `filters`, and the messages it got.
    static func withObserver<Result: Sendable>(
        _ filters: [String],
        noLocal: Bool = false,
        _ body: @Sendable @escaping (MQTTClient, MessageLog) async throws -> Result
    ) async throws -> Result {
        try await withMQTTClient(try MQTTTestSupport.configuration()) { client in
            let infos = filters.map { MQTTSubscribeInfo(filter: $0, qos: .atLeastOnce, noLocal: noLocal, retainAsPublished: true) }
            return try await client.subscribe(to: infos) { subscription in
                let log = MessageLog()
                return try await withThrowingTaskGroup(of: Result?.self) { group in
                    group.addTask {
                        for try await message in subscription { log.append(message) }
                        return nil
                    }
                    let result = try await body(client, log)
                    group.cancelAll()
                    return result
                }
            }
        }
    }

    /// The pids of running processes that carry an agent's marker.
    /// The processes that carry the agent's command-line marker or, after an `exec`, its
    /// environment marker `VIGIL_AGENT=<name>` as a session leader (the children of an agent's
    /// shell inherit the environment too, but are not copies of the agent).
    static func agentPIDs(_ agent: String) -> [Int32] {
        let needle = "echo IOTMONITORMAGIC_\(agent);"
        let entry = Data("VIGIL_AGENT=\(agent)".utf8)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { name -> Int32? in
            guard let pid = Int32(name), let data = FileManager.default.contents(atPath: "/proc/\(name)/cmdline"), !data.isEmpty else { return nil }
            let commandLine = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            if commandLine.contains(needle) { return pid }
            let environment = FileManager.default.contents(atPath: "/proc/\(name)/environ") ?? Data()
            return getsid(pid) == pid && environment.split(separator: 0).contains { Data($0) == entry } ? pid : nil
        }.sorted()
    }

    /// Waits until exactly one process carries the agent's marker (and satisfies `condition`).
    static func waitForAgent(
        _ agent: String,
        timeout: Duration = .seconds(10),
        where condition: (Int32) -> Bool = { _ in true }
    ) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let pids = agentPIDs(agent)
            if pids.count == 1, condition(pids[0]) { return pids[0] }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw VigilProcess.Failure("agent \(agent) not running (pids \(agentPIDs(agent)))")
    }

    /// Kills every process group carrying an agent's marker.
    static func killAgents(_ agent: String) {
        for pid in agentPIDs(agent) {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }
    }
}

/// A running Vigil and its working directory.
struct DevicesVigil: Sendable {
    let process: VigilProcess
    let directory: URL

    var log: String { process.log }

    func get(_ path: String) async throws -> (status: Int, body: String) { try await process.get(path) }
}

/// Messages received by an observer, in order.
final class MessageLog: Sendable {
    private let state = Mutex<[MQTTMessage]>([])

    func append(_ message: MQTTMessage) { state.withLock { $0.append(message) } }

    func clear() { state.withLock { $0.removeAll() } }

    var messages: [MQTTMessage] { state.withLock { $0 } }

    /// Waits for the first message (received so far or later) matching `predicate`, removes it
    /// from the log and returns it.
    func next(timeout: Duration, _ predicate: (MQTTMessage) -> Bool) async throws -> MQTTMessage {
        let deadline = ContinuousClock.now + timeout
        while true {
            let found: MQTTMessage? = state.withLock { messages in
                guard let index = messages.firstIndex(where: predicate) else { return nil }
                let message = messages[index]
                messages.remove(at: index)
                return message
            }
            if let found { return found }
            guard ContinuousClock.now < deadline else { throw TimeoutError(duration: timeout) }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
