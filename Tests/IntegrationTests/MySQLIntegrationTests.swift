//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilMySQL

@Suite("MySQL connection against MariaDB", .enabled(if: IntegrationEnvironment.enabled))
struct MySQLIntegrationTests {
    @Test("Connects with a mysql_native_password account and runs a query")
    func connect() async throws {
        try await MySQLConnection.withConnection(configuration: MySQLTestSupport.configuration(), logger: MySQLTestSupport.logger) {
            connection async throws in
            #expect(connection.serverVersion.contains("MariaDB"))
            let rows = try await connection.query("SELECT 1 AS one, DATABASE() AS db, 'x' AS text")
            #expect(rows.count == 1)
            #expect(rows[0]["one"] == .int(1))
            #expect(try rows[0]["db"]?.string == IntegrationEnvironment.mariadbDatabase)
            #expect(rows[0][2] == .string("x"))
            try await connection.ping()
        }
    }

    @Test("A wrong password fails with error 1045")
    func wrongPassword() async throws {
        let configuration = try MySQLTestSupport.configuration(password: "not-the-password")
        await #expect {
            try await MySQLConnection.withConnection(configuration: configuration, logger: MySQLTestSupport.logger) { _ in }
        } throws: { error in
            guard let error = error as? MySQLError else { return false }
            return error.code == 1045 && error.sqlState == "28000"
        }
    }

    @Test("A server that never sends its handshake fails the connection with a timeout")
    func handshakeTimeout() async throws {
        let listener = try SilentListener()
        let configuration = MySQLConnectionConfiguration(
            host: "127.0.0.1",
            port: listener.port,
            username: "u",
            password: "p",
            connectTimeout: .milliseconds(200)
        )
        await #expect {
            _ = try await MySQLConnection.connect(configuration: configuration, logger: MySQLTestSupport.logger)
        } throws: { ($0 as? MySQLClientError)?.errorCode == .timeout }
    }

    @Test("A closed port fails the connection with connectionClosed")
    func refused() async throws {
        let configuration = MySQLConnectionConfiguration(host: "127.0.0.1", port: try freeLoopbackPort(), username: "u", password: "p")
        await #expect {
            _ = try await MySQLConnection.connect(configuration: configuration, logger: MySQLTestSupport.logger)
        } throws: { ($0 as? MySQLClientError)?.errorCode == .connectionClosed }
    }

    @Test("A statement run again with new binds is prepared once; old statements are closed beyond the cache size")
    func statementCache() async throws {
        try await MySQLConnection.withConnection(configuration: MySQLTestSupport.configuration(), logger: MySQLTestSupport.logger) {
            connection async throws in
            func status(_ name: String) async throws -> Int {
                try await connection.query("SHOW SESSION STATUS LIKE '\(name)'")[0][1].int ?? -1
            }
            let preparesBefore = try await status("Com_stmt_prepare")
            for index in 0..<10 {
                #expect(try await connection.query("SELECT ? + 1 AS n", [MySQLValue(index)])[0]["n"]?.int == index + 1)
            }
            #expect(try await status("Com_stmt_prepare") == preparesBefore + 1)

            let closesBefore = try await status("Com_stmt_close")
            for index in 0..<40 {
                #expect(try await connection.query("SELECT ? AS n, \(index) AS k", [MySQLValue(index)])[0]["k"]?.int == index)
            }
            // 41 distinct statements through a cache of 32: 9 were closed.
            #expect(try await status("Com_stmt_close") == closesBefore + 9)
        }
    }

    @Test("Values larger than 16 MB travel as split packets in both directions")
    func splitPackets() async throws {
        let server = try PrivateMariaDB()
        try await server.start()
        _ = try await MySQLConnection.withConnection(configuration: server.configuration, logger: MySQLTestSupport.logger) {
            connection async throws in
            try await connection.execute("SET GLOBAL max_allowed_packet = 64 * 1024 * 1024")
        }
        // The new limit applies to connections opened afterwards.
        try await MySQLConnection.withConnection(configuration: server.configuration, logger: MySQLTestSupport.logger) { connection async throws in
            let size = 17 * 1024 * 1024
            let rows = try await connection.query("SELECT REPEAT('x', \(size)) AS big, 'after' AS tail")
            #expect(rows[0]["big"]?.string?.utf8.count == size)
            #expect(rows[0]["tail"] == .string("after"))
            let bind = String(repeating: "y", count: size)
            let echoed = try await connection.query("SELECT LENGTH(?) AS n, RIGHT(?, 3) AS r", [.string(bind), .string(bind + "end")])
            #expect(echoed[0]["n"]?.int == size)
            #expect(echoed[0]["r"] == .string("end"))
            // The connection is still in step afterwards.
            #expect(try await connection.query("SELECT 5")[0][0] == .int(5))
        }
        server.stop()
    }

    @Test("A syntax error is MySQLError 1064 and the connection stays usable")
    func syntaxError() async throws {
        try await MySQLConnection.withConnection(configuration: MySQLTestSupport.configuration(), logger: MySQLTestSupport.logger) {
            connection async throws in
            await #expect {
                _ = try await connection.query("SELEC 1")
            } throws: { error in
                (error as? MySQLError)?.code == 1064 && (error as? MySQLError)?.sqlState == "42000"
            }
            // The same in the binary protocol: the prepare fails.
            await #expect {
                _ = try await connection.query("SELEC ?", [1])
            } throws: { error in
                (error as? MySQLError)?.code == 1064
            }
            #expect(try await connection.query("SELECT 2")[0][0] == .int(2))
        }
    }

    @Test("10,000 rows inserted with binds are read back in pages of 100, by keyset and by LIMIT/OFFSET")
    func pagination() async throws {
        let schema = "CREATE TABLE %t (id INT UNSIGNED PRIMARY KEY, channel VARCHAR(64) NOT NULL, member BIGINT NOT NULL, note TEXT NULL)"
        try await MySQLTestSupport.withTable("pages", schema: schema) { (connection, table) async throws in
            let batch = 100
            for start in stride(from: 1, through: 10_000, by: batch) {
                let placeholders = Array(repeating: "(?, ?, ?, ?)", count: batch).joined(separator: ", ")
                var binds: [MySQLValue] = []
                for id in start..<(start + batch) {
                    binds += [MySQLValue(id), .string("channel-\(id % 7)"), .int(Int64(id) * 1_000_003), id % 10 == 0 ? .null : .string("n\(id)")]
                }
                let result = try await connection.execute("INSERT INTO \(table) (id, channel, member, note) VALUES \(placeholders)", binds)
                #expect(result.affectedRows == UInt64(batch))
            }
            #expect(try await connection.query("SELECT COUNT(*) AS n FROM \(table)")[0]["n"]?.int == 10_000)

            // Keyset pagination with a bound cursor (binary protocol).
            var seen: [Int] = []
            var cursor = 0
            var pages = 0
            while true {
                let rows = try await connection.query(
                    "SELECT id, channel, member, note FROM \(table) WHERE id > ? ORDER BY id LIMIT ?",
                    [MySQLValue(cursor), 100]
                )
                if rows.isEmpty { break }
                pages += 1
                #expect(rows.count == 100)
                for row in rows {
                    let id = try row.decode("id", as: Int.self)
                    #expect(row["channel"]?.string == "channel-\(id % 7)")
                    #expect(row["member"]?.int == id * 1_000_003)
                    #expect(row["note"] == (id % 10 == 0 ? .null : .string("n\(id)")))
                    seen.append(id)
                }
                cursor = seen.last!
            }
            #expect(pages == 100)
            #expect(seen == Array(1...10_000))

            // LIMIT/OFFSET in the text protocol.
            var total = 0
            var nulls = 0
            for page in 0..<100 {
                let rows = try await connection.query("SELECT id, note FROM \(table) ORDER BY id LIMIT 100 OFFSET \(page * 100)")
                #expect(rows.first?["id"] == .uint(UInt64(page * 100 + 1)))
                total += rows.count
                nulls += rows.filter { $0["note"]?.isNull == true }.count
            }
            #expect(total == 10_000)
            #expect(nulls == 1_000)
        }
    }

    @Test("Seed-001 keyset paging: the members of one accepted channel, page by page with bound cursor and channel id")
    func channelMembersPaging() async throws {
        let suffix = MySQLTestSupport.uniqueTable("seed")
        let channels = "ws_channel_data_\(suffix)"
        let members = "ws_channel_members_\(suffix)"
        try await MySQLConnection.withConnection(configuration: MySQLTestSupport.configuration(), logger: MySQLTestSupport.logger) {
            connection async throws in
            try await connection.execute(
                "CREATE TABLE \(channels) (channel_id BIGINT PRIMARY KEY, channel_channelid BIGINT NOT NULL, channel_state VARCHAR(16) NOT NULL)"
            )
            try await connection.execute(
                "CREATE TABLE \(members) (member_id BIGINT PRIMARY KEY AUTO_INCREMENT, member_username VARCHAR(64) NOT NULL, member_channelid BIGINT NOT NULL, KEY (member_channelid, member_id))"
            )
            do {
                try await connection.execute("INSERT INTO \(channels) VALUES (1, 501, 'ACCEPTED'), (2, 502, 'PENDING')")
                // 250 members in channel 501 interleaved with 250 in channel 502.
                for start in stride(from: 0, to: 500, by: 50) {
                    let values = (start..<(start + 50)).map { "('user\($0)', \($0 % 2 == 0 ? 501 : 502))" }.joined(separator: ", ")
                    try await connection.execute("INSERT INTO \(members) (member_username, member_channelid) VALUES \(values)")
                }
                let pageSize = 100
                var cursor: Int64 = 0
                var usernames: [String] = []
                var pages = 0
                while true {
                    let rows = try await connection.query(
                        """
                        SELECT m.member_id, m.member_username FROM \(members) m JOIN \(channels) c ON c.channel_channelid = m.member_channelid \
                        WHERE m.member_channelid = ? AND c.channel_state = 'ACCEPTED' AND m.member_id > ? ORDER BY m.member_id LIMIT ?
                        """,
                        [501, .int(cursor), MySQLValue(pageSize)]
                    )
                    pages += 1
                    usernames += try rows.map { try $0.decode("member_username", as: String.self) }
                    guard rows.count == pageSize, let last = rows.last?["member_id"]?.int else { break }
                    cursor = Int64(last)
                }
                #expect(pages == 3)
                #expect(usernames == stride(from: 0, to: 500, by: 2).map { "user\($0)" })
                // A channel that is not ACCEPTED has no members to announce to.
                #expect(
                    try await connection.query(
                        "SELECT m.member_id FROM \(members) m JOIN \(channels) c ON c.channel_channelid = m.member_channelid WHERE m.member_channelid = ? AND c.channel_state = 'ACCEPTED'",
                        [502]
                    ).isEmpty
                )
            } catch {
                _ = try? await connection.execute("DROP TABLE \(members), \(channels)")
                throw error
            }
            try await connection.execute("DROP TABLE \(members), \(channels)")
        }
    }

    @Test("NULLs, unicode text, doubles and dates survive both protocols")
    func valueTypes() async throws {
        let schema = """
            CREATE TABLE %t (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(100) CHARACTER SET utf8mb4, score DOUBLE, \
            day DATE, at DATETIME(6), blob_col VARBINARY(16), maybe INT NULL, ms DATETIME(3), plain DATETIME, span TIME) DEFAULT CHARSET=utf8mb4
            """
        try await MySQLTestSupport.withTable("values", schema: schema) { (connection, table) async throws in
            let name = "Zoë 🎙️ 日本語 — ünïcode"
            let inserted = try await connection.execute(
                "INSERT INTO \(table) (name, score, day, at, blob_col, maybe, ms, plain, span) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    .string(name), .double(-2.75), "2026-11-23", "2026-11-23 14:30:15.123456", .bytes([0, 1, 0xFE, 0xFF]), nil,
                    "2026-11-23 14:30:15", "2026-11-23 14:30:15", "-26:03:04",
                ]
            )
            #expect(inserted.lastInsertID == 1)
            let text = try await connection.query("SELECT * FROM \(table)")
            let binary = try await connection.query("SELECT * FROM \(table) WHERE id = ?", [1])
            for rows in [text, binary] {
                #expect(rows.count == 1)
                let row = try #require(rows.first)
                #expect(row["name"] == .string(name))
                #expect(row["score"] == .double(-2.75))
                #expect(row["day"] == .string("2026-11-23"))
                #expect(row["at"] == .string("2026-11-23 14:30:15.123456"))
                #expect(row["blob_col"] == .bytes([0, 1, 0xFE, 0xFF]))
                #expect(row["maybe"] == .null)
                #expect(row["ms"] == .string("2026-11-23 14:30:15.000"))
                #expect(row["plain"] == .string("2026-11-23 14:30:15"))
                #expect(row["span"] == .string("-26:03:04"))
                #expect(try row.decode("maybe", as: Int?.self) == nil)
            }
            // Binds are values, never SQL: a quote in a bound string is just a character.
            let tricky = "x' OR '1'='1"
            #expect(try await connection.query("SELECT id FROM \(table) WHERE name = ?", [.string(tricky)]).isEmpty)
            #expect(try await connection.query("SELECT ? AS echo", [.string(tricky)])[0]["echo"]?.string == tricky)
            await #expect(throws: MySQLClientError.self) {
                _ = try await connection.query("SELECT ? + ?", [1])
            }
        }
    }

    @Test("Concurrent queries on one connection are answered in order")
    func concurrentQueries() async throws {
        try await MySQLConnection.withConnection(configuration: MySQLTestSupport.configuration(), logger: MySQLTestSupport.logger) {
            connection async throws in
            try await withThrowingTaskGroup(of: (Int, Int?).self) { group in
                for index in 0..<50 {
                    group.addTask { (index, try await connection.query("SELECT ? AS n", [MySQLValue(index)])[0]["n"]?.int) }
                }
                for try await (index, value) in group {
                    #expect(value == index)
                }
            }
        }
    }
}
