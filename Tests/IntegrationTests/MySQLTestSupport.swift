//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import VigilMySQL

/// Helpers shared by the MySQL integration suites.
enum MySQLTestSupport {
    static var logger: Logger {
        var logger = Logger(label: "vigil.mysql.test")
        logger.logLevel = ProcessInfo.processInfo.environment["MYSQL_TEST_LOG"] == "1" ? .debug : .critical
        return logger
    }

    /// The shared server's test database and account.
    static func configuration(password: String? = nil) throws -> MySQLConnectionConfiguration {
        try MySQLConnectionConfiguration(
            host: IntegrationEnvironment.mariadbHost,
            port: IntegrationEnvironment.mariadbPort,
            username: IntegrationEnvironment.mariadbUser,
            password: password ?? IntegrationEnvironment.mariadbPassword,
            database: IntegrationEnvironment.mariadbDatabase,
            connectTimeout: .seconds(5)
        )
    }

    /// A table name no other test uses.
    static func uniqueTable(_ name: String) -> String {
        "vigil_\(name)_\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Runs `body` with a connection and a fresh table created by `schema` (which contains `%t` for
    /// the table name), dropping the table afterwards.
    static func withTable<Result: Sendable>(
        _ name: String,
        schema: String,
        _ body: (MySQLConnection, String) async throws -> Result
    ) async throws -> Result {
        let table = uniqueTable(name)
        return try await MySQLConnection.withConnection(configuration: configuration(), logger: logger) { connection in
            try await connection.execute(schema.replacingOccurrences(of: "%t", with: table))
            do {
                let result = try await body(connection, table)
                try await connection.execute("DROP TABLE \(table)")
                return result
            } catch {
                _ = try? await connection.execute("DROP TABLE \(table)")
                throw error
            }
        }
    }
}
/// A loopback TCP listener that never accepts: the kernel completes the TCP handshake, but no
/// MySQL handshake ever arrives.
final class SilentListener: Sendable {
    let port: Int
    private let fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard listening else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

/// A MariaDB server that a test owns and may stop and restart on the same port and data directory.
final class PrivateMariaDB: @unchecked Sendable {
    // @unchecked Sendable: `process` is only touched by the single test that owns the server,
    // sequentially.
    let port: Int
    let directory: URL
    private var process: Process?

    /// The server's root account (empty password) without a default database.
    var configuration: MySQLConnectionConfiguration {
        MySQLConnectionConfiguration(host: "127.0.0.1", port: port, username: "root", password: "", connectTimeout: .seconds(2))
    }

    /// Creates a data directory with `mariadb-install-db`.
    init() throws {
        self.port = try freeLoopbackPort()
        self.directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("mariadb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let install = try Self.run(
            IntegrationEnvironment.environment["MARIADB_INSTALL_DB"] ?? "/usr/bin/mariadb-install-db",
            [
                "--no-defaults", "--user=\(NSUserName())", "--datadir=\(directory.path)/data", "--auth-root-authentication-method=normal",
                "--skip-test-db", "--skip-name-resolve",
            ]
        )
        install.waitUntilExit()
        guard install.terminationStatus == 0 else {
            throw IntegrationEnvironment.MissingService(variable: "MARIADB_INSTALL_DB", detail: "mariadb-install-db failed")
        }
    }

    /// Starts `mariadbd` and waits until root can log in.
    func start() async throws {
        process = try Self.run(
            IntegrationEnvironment.environment["MARIADB_BIN"] ?? "/usr/sbin/mariadbd",
            [
                "--no-defaults", "--user=\(NSUserName())", "--datadir=\(directory.path)/data", "--port=\(port)", "--bind-address=127.0.0.1",
                "--socket=\(directory.path)/mysqld.sock", "--pid-file=\(directory.path)/mariadbd.pid", "--log-error=\(directory.path)/error.log",
                "--skip-name-resolve", "--innodb-buffer-pool-size=16M", "--skip-log-bin",
            ]
        )
        for _ in 0..<200 {
            if let connection = try? await MySQLConnection.connect(configuration: configuration, logger: MySQLTestSupport.logger) {
                await connection.disconnect()
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw IntegrationEnvironment.MissingService(variable: "MARIADB_BIN", detail: "private mariadbd did not start on port \(port)")
    }

    /// Stops the server with SIGTERM (a clean shutdown that closes client sockets) and waits.
    func stop() {
        guard let process else { return }
        process.terminate()
        process.waitUntilExit()
        self.process = nil
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    private static func run(_ path: String, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let log = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = log
        process.standardError = log
        try process.run()
        return process
    }
}
