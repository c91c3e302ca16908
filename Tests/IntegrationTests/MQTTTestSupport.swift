//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import NIOCore
import Testing
import VigilClientSupport

@testable import VigilMQTT

/// Helpers shared by the MQTT integration suites.
enum MQTTTestSupport {
    static var logger: Logger {
        var logger = Logger(label: "vigil.mqtt.test")
        logger.logLevel = ProcessInfo.processInfo.environment["MQTT_TEST_LOG"] == "1" ? .debug : .critical
        return logger
    }

    /// A unique topic prefix for one test.
    static func uniqueTopic(_ name: String) -> String {
        "vigil-test/\(name)/\(UUID().uuidString)"
    }

    /// A configuration for a shared broker's plain listener: Mosquitto by default, or ejabberd's
    /// `mod_mqtt` (the second broker implementation, with its user `name@domain` and password).
    static func configuration(
        _ version: MQTTProtocolVersion = .v5,
        clientID: String = "vigil-test-\(UUID().uuidString.prefix(8))",
        broker: MQTTTestBroker = .mosquitto
    ) throws -> MQTTClientConfiguration {
        var configuration: MQTTClientConfiguration
        switch broker {
        case .mosquitto:
            let port = try IntegrationEnvironment.mosquittoPort
            configuration = try MQTTClientConfiguration(url: "mqtt://\(IntegrationEnvironment.mosquittoHost):\(port)", clientID: clientID)
        case .ejabberd:
            let port = try IntegrationEnvironment.port("EJABBERD_MQTT_PORT")
            configuration = try MQTTClientConfiguration(
                url: "mqtt://\(try IntegrationEnvironment.require("EJABBERD_HOST")):\(port)",
                clientID: clientID
            )
            configuration.username = try IntegrationEnvironment.require("EJABBERD_MQTT_USER")
            configuration.password = try IntegrationEnvironment.require("EJABBERD_MQTT_PASSWORD")
        }
        configuration.version = version
        configuration.reconnect = MQTTReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .milliseconds(500), jitter: 0.1)
        configuration.connectTimeout = .seconds(3)
        return configuration
    }
}

/// The brokers the MQTT suites run against: Mosquitto, and ejabberd's `mod_mqtt` as a second
/// implementation (both started by `scripts/test`).
enum MQTTTestBroker: String, Sendable, CaseIterable {
    case mosquitto
    case ejabberd
}

/// Runs `body` with a connected client whose `run()` runs in a child task, then stops the client.
func withMQTTClient<Result: Sendable>(
    _ configuration: MQTTClientConfiguration,
    waitForConnection: Bool = true,
    _ body: @Sendable (MQTTClient) async throws -> Result
) async throws -> Result {
    let client = MQTTClient(configuration: configuration, logger: MQTTTestSupport.logger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await client.run() }
        do {
            if waitForConnection {
                try await withTimeout(.seconds(5)) { try await client.waitUntilConnected() }
            }
            let result = try await body(client)
            group.cancelAll()
            try await group.waitForAll()
            return result
        } catch {
            group.cancelAll()
            throw error
        }
    }
}

struct TimeoutError: Error, CustomStringConvertible {
    var duration: Duration
    var description: String { "timed out after \(duration)" }
}

/// Runs `operation`, failing with ``TimeoutError`` if it takes longer than `duration`.
func withTimeout<Result: Sendable>(_ duration: Duration, _ operation: @Sendable @escaping () async throws -> Result) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: duration)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else { throw TimeoutError(duration: duration) }
        return result
    }
}

/// Takes `count` messages from a subscription, failing after `timeout`.
func collect(_ count: Int, from subscription: MQTTSubscription, timeout: Duration = .seconds(5)) async throws -> [MQTTMessage] {
    try await withTimeout(timeout) {
        var messages: [MQTTMessage] = []
        for try await message in subscription {
            messages.append(message)
            if messages.count == count { break }
        }
        return messages
    }
}

/// A mosquitto process that a test owns and may kill and restart.
final class PrivateMosquitto: @unchecked Sendable {
    // @unchecked Sendable: `process` is only touched by the single test that owns the broker,
    // sequentially; the type crosses into @Sendable closures only to be captured, not shared.
    let port: Int
    let directory: URL
    private var process: Process?

    init() throws {
        self.port = try freeLoopbackPort()
        self.directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("mosquitto-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = """
            \(getuid() == 0 ? "user root" : "")
            listener \(port) 127.0.0.1
            allow_anonymous true
            persistence false
            log_dest stderr
            log_type error

            """
        try config.write(to: directory.appendingPathComponent("mosquitto.conf"), atomically: true, encoding: .utf8)
    }

    /// Starts the broker and waits until it accepts connections.
    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: IntegrationEnvironment.mosquittoBinary)
        process.arguments = ["-c", directory.appendingPathComponent("mosquitto.conf").path]
        let log = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        for _ in 0..<100 {
            if Self.accepts(port: port) { return }
            try await Task.sleep(for: .milliseconds(30))
        }
        throw IntegrationEnvironment.MissingService(variable: "MOSQUITTO_BIN", detail: "private mosquitto did not start on port \(port)")
    }

    /// Kills the broker with SIGKILL and waits for it to exit.
    func kill() {
        guard let process else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// Freezes the broker (SIGSTOP) so that it stops answering without closing sockets.
    func pause() {
        if let process { Foundation.kill(process.processIdentifier, SIGSTOP) }
    }

    /// Resumes a paused broker.
    func resume() {
        if let process { Foundation.kill(process.processIdentifier, SIGCONT) }
    }

    deinit {
        if let process {
            Foundation.kill(process.processIdentifier, SIGCONT)
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    private static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
