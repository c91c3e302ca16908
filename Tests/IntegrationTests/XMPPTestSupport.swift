//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import VigilXMPP

/// Connection settings for the Prosody started by `scripts/services/prosody.sh`.
enum XMPPTestSupport {
    static let logger = Logger(label: "vigil.xmpp.test")

    static func component(secret: String? = nil, pingInterval: Duration? = nil) throws -> XMPPConnectionConfiguration {
        XMPPConnectionConfiguration(
            host: IntegrationEnvironment.prosodyHost,
            port: try IntegrationEnvironment.prosodyComponentPort,
            role: .component(
                domain: try IntegrationEnvironment.prosodyComponentDomain,
                secret: try secret ?? IntegrationEnvironment.prosodyComponentSecret
            ),
            connectTimeout: .seconds(5),
            pingInterval: pingInterval
        )
    }

    static func client(user index: Int, password: String? = nil, resource: String) throws -> XMPPConnectionConfiguration {
        let user = try IntegrationEnvironment.prosodyUsers[index]
        return XMPPConnectionConfiguration(
            host: IntegrationEnvironment.prosodyHost,
            port: try IntegrationEnvironment.prosodyC2SPort,
            role: .client(
                domain: try IntegrationEnvironment.prosodyDomain,
                username: user.name,
                password: password ?? user.password,
                resource: resource
            ),
            connectTimeout: .seconds(5),
            pingInterval: nil
        )
    }

    /// Runs `body` with an established connection and closes it afterwards.
    static func withConnection<T: Sendable>(
        _ configuration: XMPPConnectionConfiguration,
        _ body: (XMPPConnection) async throws -> T
    ) async throws -> T {
        let connection = try await XMPPConnection.connect(configuration: configuration, logger: logger)
        do {
            let result = try await body(connection)
            await connection.disconnect()
            return result
        } catch {
            await connection.disconnect()
            throw error
        }
    }

    /// The first stanza matching `predicate`, or a failure after `timeout`.
    static func first(
        in stanzas: AsyncStream<XMLElement>,
        timeout: Duration = .seconds(10),
        where predicate: @escaping @Sendable (XMLElement) -> Bool
    ) async throws -> XMLElement {
        try await withTimeout(timeout) {
            for await stanza in stanzas where predicate(stanza) { return stanza }
            throw TimeoutError(duration: timeout)  // The stream ended: the stanza can no longer come.
        }
    }
}

/// A Prosody the test owns, so it may stop and restart it: a component listener only, on fixed
/// loopback ports chosen at creation.
final class PrivateProsody: @unchecked Sendable {
    // @unchecked: `process` is only touched by the one test that owns this object, sequentially.
    let directory: URL
    let componentPort: Int
    let c2sPort: Int
    let componentDomain = "announcer.private.test"
    let secret = "private-secret"
    private var process: Process?

    init() throws {
        directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("prosody-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("data"), withIntermediateDirectories: true)
        componentPort = try freeLoopbackPort()
        c2sPort = try freeLoopbackPort()
        let config = """
            run_as_root = true
            pidfile = "\(directory.path)/prosody.pid"
            data_path = "\(directory.path)/data"
            log = { { levels = { min = "info" }, to = "console" } }
            interfaces = { "127.0.0.1" }
            local_interfaces = { "127.0.0.1" }
            c2s_ports = { \(c2sPort) }
            component_ports = { \(componentPort) }
            modules_enabled = { "disco", "ping" }
            modules_disabled = { "s2s" }
            storage = "internal"
            VirtualHost "private.test"
            Component "\(componentDomain)"
                component_secret = "\(secret)"
            """
        try config.write(to: directory.appendingPathComponent("prosody.cfg.lua"), atomically: true, encoding: .utf8)
    }

    var configuration: XMPPConnectionConfiguration {
        XMPPConnectionConfiguration(
            host: "127.0.0.1",
            port: componentPort,
            role: .component(domain: componentDomain, secret: secret),
            connectTimeout: .seconds(3),
            pingInterval: nil
        )
    }

    /// Starts the server and waits until it answers a component login.
    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: IntegrationEnvironment.prosodyBinary)
        process.arguments = ["--config", directory.appendingPathComponent("prosody.cfg.lua").path, "-F"]
        let log = directory.appendingPathComponent("prosody-\(Date().timeIntervalSince1970).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
        for _ in 0..<100 {
            do {
                let connection = try await XMPPConnection.connect(configuration: configuration, logger: XMPPTestSupport.logger)
                await connection.disconnect()
                return
            } catch let error as XMPPClientError where error.errorCode == .streamError {
                return  // Up, and an XMPPClient under test was faster to log in (<conflict/>).
            } catch {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        throw IntegrationEnvironment.MissingService(variable: "PROSODY_BIN", detail: "private prosody did not start on port \(componentPort)")
    }

    /// Kills the server and waits for it to exit. SIGKILL, because a child of the test process may
    /// inherit a signal mask that blocks SIGTERM.
    func stop() {
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }
}

extension IntegrationEnvironment.XMPPServer {
    /// Logs a user in with a plain client connection (no keep-alive pings).
    func login(_ user: (name: String, password: String), resource: String, logger: Logger) async throws -> XMPPConnection {
        try await XMPPConnection.connect(
            configuration: XMPPConnectionConfiguration(
                host: host,
                port: c2sPort,
                role: .client(domain: domain, username: user.name, password: user.password, resource: resource),
                connectTimeout: .seconds(5),
                pingInterval: nil
            ),
            logger: logger
        )
    }
}
