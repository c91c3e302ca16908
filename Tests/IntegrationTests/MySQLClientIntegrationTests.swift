//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilMySQL

@Suite("MySQL client pool against MariaDB", .enabled(if: IntegrationEnvironment.enabled))
struct MySQLClientIntegrationTests {
    @Test("Concurrent queries share at most max_open_conn connections, and max_ideal_conn stay open")
    func poolLimits() async throws {
        let configuration = MySQLClientConfiguration(
            connection: try MySQLTestSupport.configuration(),
            maxOpenConnections: 3,
            maxIdleConnections: 1
        )
        let client = MySQLClient(configuration: configuration, logger: MySQLTestSupport.logger)
        let ids = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<20 {
                group.addTask { try await client.query("SELECT SLEEP(0.02), CONNECTION_ID() AS id")[0]["id"]?.int ?? -1 }
            }
            return try await group.reduce(into: Set<Int>()) { $0.insert($1) }
        }
        #expect(ids.count >= 1 && ids.count <= 3)
        #expect(!ids.contains(-1))
        #expect(await client.openConnections == 1)
        await client.shutdown()
        #expect(await client.openConnections == 0)
        await #expect { _ = try await client.query("SELECT 1") } throws: { ($0 as? MySQLClientError)?.errorCode == .poolClosed }
    }

    @Test("A caller that finds every connection busy fails after the acquire timeout")
    func acquireTimeout() async throws {
        let configuration = MySQLClientConfiguration(
            connection: try MySQLTestSupport.configuration(),
            maxOpenConnections: 1,
            maxIdleConnections: 1,
            acquireTimeout: .milliseconds(100)
        )
        let client = MySQLClient(configuration: configuration, logger: MySQLTestSupport.logger)
        try await client.withConnection { connection async throws in
            await #expect { _ = try await client.query("SELECT 1") } throws: { ($0 as? MySQLClientError)?.errorCode == .timeout }
            #expect(try await connection.query("SELECT 1").count == 1)
        }
        #expect(try await client.query("SELECT 3")[0][0] == .int(3))
        await client.shutdown()
    }

    @Test("After the server restarts, the client reconnects and queries work again")
    func serverRestart() async throws {
        let server = try PrivateMariaDB()
        try await server.start()
        let client = MySQLClient(
            configuration: MySQLClientConfiguration(connection: server.configuration, maxOpenConnections: 2),
            logger: MySQLTestSupport.logger
        )
        let before = try await client.query("SELECT CONNECTION_ID() AS id")[0]["id"]?.int
        #expect(before != nil)
        #expect(await client.openConnections == 1)

        server.stop()
        await #expect { _ = try await client.query("SELECT 1") } throws: { ($0 as? MySQLClientError)?.errorCode == .connectionClosed }

        try await server.start()
        let rows = try await client.query("SELECT 42 AS answer")
        #expect(rows[0]["answer"] == .int(42))
        #expect(await client.openConnections == 1)
        await client.shutdown()
        server.stop()
    }

    @Test("run() closes the pool on graceful shutdown")
    func runAsService() async throws {
        let client = MySQLClient(
            configuration: MySQLClientConfiguration(connection: try MySQLTestSupport.configuration()),
            logger: MySQLTestSupport.logger
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            #expect(try await client.query("SELECT 1").count == 1)
            group.cancelAll()
            try await group.waitForAll()
        }
        #expect(await client.openConnections == 0)
    }
}
