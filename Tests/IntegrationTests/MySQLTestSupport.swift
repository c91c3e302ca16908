//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

// Compiles to nothing until the IntegrationTests target depends on VigilMySQL.
#if canImport(VigilMySQL)
import Foundation
import Logging
import VigilMySQL

extension IntegrationEnvironment {
    /// Host of the MariaDB server (`MARIADB_HOST`, default 127.0.0.1).
    static var mariadbHost: String { environment["MARIADB_HOST"] ?? "127.0.0.1" }

    /// Port of the MariaDB server (`MARIADB_PORT`).
    static var mariadbPort: Int { get throws { try port("MARIADB_PORT") } }

    /// An account with all privileges on the test database (`MARIADB_USER`).
    static var mariadbUser: String { get throws { try require("MARIADB_USER") } }

    /// That account's password (`MARIADB_PASSWORD`).
    static var mariadbPassword: String { get throws { try require("MARIADB_PASSWORD") } }

    /// The test database (`MARIADB_DATABASE`).
    static var mariadbDatabase: String { get throws { try require("MARIADB_DATABASE") } }
}

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
#endif
