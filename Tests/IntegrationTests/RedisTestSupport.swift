//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import NIOCore
import NIOPosix
import VigilClientSupport
import VigilRedis

enum RedisTest {
    static var logger: Logger {
        var logger = Logger(label: "vigil.redis.test")
        logger.logLevel = ProcessInfo.processInfo.environment["REDIS_TEST_LOG"] == "1" ? .debug : .critical
        return logger
    }

    /// The shared server started by `scripts/test`.
    static func configuration() throws -> RedisConfiguration {
        var configuration = RedisConfiguration(host: try IntegrationEnvironment.redisHost, port: try IntegrationEnvironment.redisPort)
        configuration.reconnect = RedisReconnectPolicy(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(200))
        configuration.commandTimeout = .seconds(5)
        return configuration
    }

    /// A port on which nothing listens: bound by a server that is closed again.
    static func closedPort() async throws -> Int {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = server.localAddress?.port ?? 1
        try await server.close()
        return port
    }

    /// A key no other test uses.
    static func uniqueKey(_ name: String) -> String {
        "vigil-test:\(name):\(UUID().uuidString)"
    }
}

/// Runs a client next to `operation` and stops it afterwards.
func withRedisClient<Result: Sendable>(
    _ configuration: RedisConfiguration,
    _ operation: @Sendable @escaping (RedisClient) async throws -> Result
) async throws -> Result {
    let client = RedisClient(configuration: configuration, logger: RedisTest.logger)
    return try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask {
            try await client.run()
            return nil
        }
        defer { group.cancelAll() }
        let result = try await withTimeout(.seconds(60)) { try await operation(client) }
        return result
    }
}

/// Takes `count` messages from a subscription, failing after `timeout`.
func collect(_ count: Int, from subscription: RedisSubscription, timeout: Duration = .seconds(5)) async throws -> [RedisPubSubMessage] {
    try await withTimeout(timeout) {
        var messages: [RedisPubSubMessage] = []
        for try await message in subscription {
            messages.append(message)
            if messages.count == count { break }
        }
        return messages
    }
}

/// A redis-server process that a test owns and may kill and restart on the same port.
final class PrivateRedisServer: @unchecked Sendable {
    // @unchecked Sendable: `process` is only touched by the single test that owns the server,
    // sequentially; the type crosses into @Sendable closures only to be captured.
    let port: Int
    let password: String?
    let directory: URL
    private var process: Process?

    init(password: String? = nil) throws {
        self.port = try freeLoopbackPort()
        self.password = password
        self.directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    var configuration: RedisConfiguration {
        var configuration = RedisConfiguration(host: "127.0.0.1", port: port)
        configuration.reconnect = RedisReconnectPolicy(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(200))
        configuration.commandTimeout = .seconds(5)
        return configuration
    }

    /// Starts the server and waits until it accepts connections.
    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: IntegrationEnvironment.redisBinary)
        var arguments = [
            "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--dir", directory.path, "--logfile", directory.appendingPathComponent("redis.log").path,
        ]
        if let password { arguments += ["--requirepass", password] }
        process.arguments = arguments
        let log = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        for _ in 0..<200 {
            if await self.answers() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw IntegrationEnvironment.MissingService(variable: "REDIS_BIN", detail: "private redis-server did not start on port \(port)")
    }

    /// Kills the server with SIGKILL and waits for it to exit.
    func kill() {
        guard let process else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    deinit {
        if let process {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Whether the server completes a handshake; a refusal for want of a password counts as up.
    private func answers() async -> Bool {
        do {
            try await RedisConnection.withConnection(configuration: configuration, logger: RedisTest.logger) { _ in }
            return true
        } catch let error as RedisClientError {
            return error.errorCode == .serverError
        } catch {
            return false
        }
    }
}
