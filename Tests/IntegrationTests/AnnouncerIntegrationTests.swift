//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Testing
import VigilMySQL
import VigilRedis
import VigilXMPP

/// The Announcer end to end: the `vigil` binary with a seed-001 style configuration, logged in to
/// a real Prosody and a real ejabberd as an XEP-0114 component; a user logged in with a real
/// client connection receives what `POST /v1/announce/users` sends.
@Suite("Announcer against real XMPP servers", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct AnnouncerIntegrationTests {
    static let logger = Logger(label: "vigil.announcer.test")

    /// The servers the Announcer is tested against: Prosody, and ejabberd (the seed's server), which
    /// accepts several connections per component.
    static let servers: [(prefix: String, name: String, connections: Int)] = [("PROSODY", "Prosody", 1), ("EJABBERD", "ejabberd", 2)]

    /// Seed 001's channel tables, created empty (the suites using them run alone: .serialized).
    static let channelTables = [
        "DROP TABLE IF EXISTS ws_channel_members", "DROP TABLE IF EXISTS ws_channel_data",
        "CREATE TABLE ws_channel_data (channel_id BIGINT PRIMARY KEY, channel_channelid BIGINT, channel_state VARCHAR(16))",
        "CREATE TABLE ws_channel_members (member_id BIGINT PRIMARY KEY, member_username VARCHAR(64), member_channelid BIGINT)",
    ]

    func configuration(_ server: IntegrationEnvironment.XMPPServer, connections: Int) -> String {
        """
        input_buffer = 10

        [store]
        backend = "memory"

        [ejabberd]
        cluster_nodes = "\(server.host):\(server.componentPort)"
        rate_limit = 50
        send_retry = 6
        each_node_conn_num = \(connections)

        [component]
        name = "\(server.componentDomain)"
        secret = "\(server.componentSecret)"
        domain = "\(server.domain)"
        ping_interval = 30
        """
    }

    func post(_ vigil: VigilProcess, _ path: String, _ body: String) async throws -> (status: Int, body: String) {
        try await vigil.post(path, json: body)
    }

    /// Runs `body` against a started `vigil`, then stops it; on a failure it kills it, records its
    /// log and disconnects the receivers. The receivers are disconnected either way.
    func running(_ vigil: VigilProcess, receivers: [XMPPConnection], _ body: () async throws -> Void) async throws {
        do {
            try await body()
            _ = try await vigil.stop()
        } catch {
            _ = try? await vigil.stop(signal: SIGKILL)
            Issue.record("vigil log:\n\(vigil.log)")
            for receiver in receivers { await receiver.disconnect() }
            throw error
        }
        for receiver in receivers { await receiver.disconnect() }
    }

    /// Waits for the first message with this body on a connection.
    func message(withBody body: String, on connection: XMPPConnection) async throws -> XMLElement {
        try await withTimeout(.seconds(15)) {
            for await stanza in connection.stanzas where stanza.name == "message" {
                if stanza.firstChild(named: "body")?.text == body { return stanza }
            }
            throw VigilProcess.Failure("the receiver's stream ended")
        }
    }

    /// Waits until the event log holds `text`.
    func waitForEvents(_ vigil: VigilProcess, containing text: String, timeout: Duration = .seconds(15)) async throws {
        try await withTimeout(timeout) {
            while !(try await vigil.get("/api/v1/events?limit=20").body.contains(text)) {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// A body like seed 001's sample: `from` in another domain, the client namespace declared.
    static func body(usernames: [String], text: String) -> String {
        let stanza = "<message to='%s' from=\"news@s/announcer\" type='chat' id='vigil-[inc_id]' xmlns='jabber:client'><body>\(text)</body></message>"
        let names = usernames.map { "\"\($0)\"" }.joined(separator: ",")
        return #"{"usernames": [\#(names)], "message": "\#(Data(stanza.utf8).base64EncodedString())", "persist": false}"#
    }

    @Test("A users announcement reaches an online user through the component; an unknown user bounces and is counted", arguments: servers.indices)
    func deliversAndCountsBounces(serverIndex: Int) async throws {
        let (prefix, name, connections) = Self.servers[serverIndex]
        let server = try IntegrationEnvironment.xmppServer(prefix, name: name)
        let user = server.users[0]
        let componentDomain = server.componentDomain
        let directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("announcer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("announcer.toml")
        try configuration(server, connections: connections).write(to: path, atomically: true, encoding: .utf8)

        let receiver = try await server.login(user, resource: "announcer-test", logger: Self.logger)
        let vigil = try VigilProcess(arguments: ["serve", "--config", path.path], directory: directory)
        try await running(vigil, receivers: [receiver]) {
            try await vigil.waitUntilHealthy()
            let accepted = try await post(vigil, "/v1/announce/users", Self.body(usernames: [user.name], text: "Hello from Vigil"))
            #expect(accepted.status == 202, "\(accepted.body)")
            #expect(accepted.body.contains(#""recipients":1"#))

            let message = try await message(withBody: "Hello from Vigil", on: receiver)
            // Sent from the component's own domain (the seed's sample "from" was moved into it).
            #expect(message[attribute: "from"] == "news@\(componentDomain)/announcer")
            #expect(message[attribute: "id"] == "vigil-0")

            // A user that does not exist: Prosody bounces the message to the component.
            let unknown = try await post(vigil, "/v1/announce/users", Self.body(usernames: ["nobody-\(UUID().uuidString.prefix(8))"], text: "x"))
            #expect(unknown.status == 202)
            try await withTimeout(.seconds(15)) {
                while true {
                    let metrics = try await vigil.get("/metrics").body
                    if metrics.contains(#"vigil_announcer_messages_total{result="bounced"} 1"#) { return }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
            let metrics = try await vigil.get("/metrics").body
            #expect(metrics.contains(#"vigil_announcer_messages_total{result="sent"} 2"#))
            let events = try await vigil.get("/api/v1/events?limit=10").body
            #expect(events.contains("announcement_completed"))

            // Bad input is refused before anything is queued.
            let bad = try await post(vigil, "/v1/announce/users", #"{"usernames": ["a"], "message": "!!!"}"#)
            #expect(bad.status == 400 && bad.body.contains("base64"))
        }
    }

    @Test("A channel announcement reaches the channel's online members (MySQL membership, Redis activity), page by page")
    func channel() async throws {
        let server = try IntegrationEnvironment.xmppServer("PROSODY", name: "Prosody")
        let (alice, bob) = (server.users[0], server.users[1])
        // The seed's schema, in the test database (this suite runs alone: .serialized).
        try await MySQLConnection.withConnection(configuration: MySQLTestSupport.configuration(), logger: MySQLTestSupport.logger) { db in
            for statement in Self.channelTables + [
                "INSERT INTO ws_channel_data VALUES (22, 220, 'ACCEPTED'), (23, 230, 'PENDING')",
                // Three members; pages of two. carol is "online" in Redis but has no XMPP account.
                "INSERT INTO ws_channel_members VALUES (1, '\(alice.name)', 220), (2, '\(bob.name)', 220), (3, 'carol', 220), (4, 'dave', 230)",
            ] {
                try await db.execute(statement)
            }
        }
        // Redis user activity: alice and carol online on server 127.0.0.1, bob offline.
        let redisHost = try IntegrationEnvironment.redisHost
        let redisPort = try IntegrationEnvironment.redisPort
        try await RedisConnection.withConnection(configuration: RedisConfiguration(host: redisHost, port: redisPort), logger: Self.logger) { redis in
            _ = try await redis.execute(["FLUSHDB"])
            _ = try await redis.execute(["MSET", alice.name, "127.0.0.1", "carol", "127.0.0.1"])
            _ = try await redis.execute(["SADD", "127.0.0.1", alice.name, "carol"])
        }

        let directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("announcer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("announcer.toml")
        try
            (configuration(server, connections: 1) + """

                [mysql]
                address = "\(IntegrationEnvironment.mariadbHost):\(try IntegrationEnvironment.mariadbPort)"
                username = "\(try IntegrationEnvironment.mariadbUser)"
                password = "\(try IntegrationEnvironment.mariadbPassword)"
                db = "\(try IntegrationEnvironment.mariadbDatabase)"
                pagination_length = 2

                [user-activity-redis]
                cluster_nodes = "\(redisHost):\(redisPort)"
                """).write(to: path, atomically: true, encoding: .utf8)

        let aliceConnection = try await server.login(alice, resource: "announcer-test", logger: Self.logger)
        let bobConnection = try await server.login(bob, resource: "announcer-test", logger: Self.logger)
        let vigil = try VigilProcess(arguments: ["serve", "--config", path.path], directory: directory)
        try await running(vigil, receivers: [aliceConnection, bobConnection]) {
            try await vigil.waitUntilHealthy()
            let stanza = "<message to='%s' type='chat' id='c-[inc_id]'><body>channel news</body></message>"
            let body = #"{"channel_id": "22", "message": "\#(Data(stanza.utf8).base64EncodedString())"}"#
            let accepted = try await post(vigil, "/v1/announce/channel", body)
            #expect(accepted.status == 202, "\(accepted.body)")
            let received = try await message(withBody: "channel news", on: aliceConnection)
            #expect(received[attribute: "id"] == "c-0")
            // alice and carol were online (carol bounces: no account); bob, offline in Redis, gets nothing.
            try await waitForEvents(vigil, containing: #""sent":"2""#)
            let bobGotIt = try? await withTimeout(.seconds(1)) {
                for await stanza in bobConnection.stanzas where stanza.name == "message" && stanza.firstChild(named: "body") != nil { return true }
                return false
            }
            #expect(bobGotIt != true)

            // Every online user (negative id): the per-server sets.
            let everyone =
                #"{"channel_id": -1, "message": "\#(Data(stanza.replacingOccurrences(of: "channel news", with: "to everyone").utf8).base64EncodedString())"}"#
            #expect(try await post(vigil, "/v1/announce/channel", everyone).status == 202)
            _ = try await message(withBody: "to everyone", on: aliceConnection)
        }
    }

    @Test("A channel whose MySQL source keeps failing gives up with announcement_failed; a retry through the API sends it once MySQL is back")
    func failingSourceGivesUp() async throws {
        let server = try IntegrationEnvironment.xmppServer("PROSODY", name: "Prosody")
        let alice = server.users[0]
        let schema = [
            "CREATE TABLE ws_channel_data (channel_id BIGINT PRIMARY KEY, channel_channelid BIGINT, channel_state VARCHAR(16))",
            "CREATE TABLE ws_channel_members (member_id BIGINT PRIMARY KEY, member_username VARCHAR(64), member_channelid BIGINT)",
            "INSERT INTO ws_channel_data VALUES (22, 220, 'ACCEPTED')",
            "INSERT INTO ws_channel_members VALUES (1, '\(alice.name)', 220)",
        ]
        // The source fails for real: the tables are missing, so every query is an error.
        func mysql(_ statements: [String]) async throws {
            try await MySQLConnection.withConnection(configuration: MySQLTestSupport.configuration(), logger: MySQLTestSupport.logger) { db in
                for statement in ["DROP TABLE IF EXISTS ws_channel_members", "DROP TABLE IF EXISTS ws_channel_data"] + statements {
                    try await db.execute(statement)
                }
            }
        }
        try await mysql([])
        let redisHost = try IntegrationEnvironment.redisHost
        let redisPort = try IntegrationEnvironment.redisPort
        try await RedisConnection.withConnection(configuration: RedisConfiguration(host: redisHost, port: redisPort), logger: Self.logger) { redis in
            _ = try await redis.execute(["FLUSHDB"])
            _ = try await redis.execute(["MSET", alice.name, "127.0.0.1"])
        }
        let directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("announcer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("announcer.toml")
        try
            ("recipient_source_give_up = \"2s\"\n" + configuration(server, connections: 1) + """

                [mysql]
                address = "\(IntegrationEnvironment.mariadbHost):\(try IntegrationEnvironment.mariadbPort)"
                username = "\(try IntegrationEnvironment.mariadbUser)"
                password = "\(try IntegrationEnvironment.mariadbPassword)"
                db = "\(try IntegrationEnvironment.mariadbDatabase)"

                [user-activity-redis]
                cluster_nodes = "\(redisHost):\(redisPort)"
                """).write(to: path, atomically: true, encoding: .utf8)
        let receiver = try await server.login(alice, resource: "announcer-test", logger: Self.logger)
        let vigil = try VigilProcess(arguments: ["serve", "--config", path.path], directory: directory)
        try await running(vigil, receivers: [receiver]) {
            try await vigil.waitUntilHealthy()
            let stanza = "<message to='%s' type='chat' id='g-[inc_id]'><body>after the outage</body></message>"
            let accepted = try await post(
                vigil,
                "/v1/announce/channel",
                #"{"channel_id": 22, "message": "\#(Data(stanza.utf8).base64EncodedString())"}"#
            )
            #expect(accepted.status == 202, "\(accepted.body)")
            let id = try #require(accepted.body.split(separator: "\"").dropFirst(3).first.map(String.init))
            try await waitForEvents(vigil, containing: "announcement_failed", timeout: .seconds(30))
            #expect(try await vigil.get("/metrics").body.contains(#"vigil_announcer_announcements_total{result="failed"} 1"#))
            #expect(try await post(vigil, "/api/v1/announcements/nope-1/retry", "{}").status == 404)

            try await mysql(schema)
            let retried = try await post(vigil, "/api/v1/announcements/\(id)/retry", "{}")
            #expect(retried.status == 202, "\(retried.body)")
            let received = try await message(withBody: "after the outage", on: receiver)
            #expect(received[attribute: "id"] == "g-0")
            try await waitForEvents(vigil, containing: "announcement_completed")
            #expect(try await post(vigil, "/api/v1/announcements/\(id)/retry", "{}").status == 404)
        }
    }
}
