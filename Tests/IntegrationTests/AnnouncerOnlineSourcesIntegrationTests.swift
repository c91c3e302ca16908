//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import StreamSimulators
import Synchronization
import Testing
import VigilMySQL
import VigilXMPP

/// Channel announcements without Redis: the online members come from an HTTP service speaking
/// the documented contract (`[user-activity-rest-api]`, a test server here), or from the XMPP
/// server itself (`[user-activity-ejabberd]`, a real ejabberd's `connected_users`).
@Suite("Announcer: online users without Redis", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct AnnouncerOnlineSourcesIntegrationTests {
    static let logger = Logger(label: "vigil.announcer.test")
    let base = AnnouncerIntegrationTests()

    /// Channel 22 with alice and bob as members.
    func channelWithAliceAndBob(_ server: IntegrationEnvironment.XMPPServer) async throws {
        let (alice, bob) = (server.users[0], server.users[1])
        try await MySQLConnection.withConnection(configuration: MySQLTestSupport.configuration(), logger: MySQLTestSupport.logger) { db in
            for statement in AnnouncerIntegrationTests.channelTables + [
                "INSERT INTO ws_channel_data VALUES (22, 220, 'ACCEPTED')",
                "INSERT INTO ws_channel_members VALUES (1, '\(alice.name)', 220), (2, '\(bob.name)', 220)",
            ] {
                try await db.execute(statement)
            }
        }
    }

    func mysqlSection() throws -> String {
        """

        [mysql]
        address = "\(IntegrationEnvironment.mariadbHost):\(try IntegrationEnvironment.mariadbPort)"
        username = "\(try IntegrationEnvironment.mariadbUser)"
        password = "\(try IntegrationEnvironment.mariadbPassword)"
        db = "\(try IntegrationEnvironment.mariadbDatabase)"

        """
    }

    func start(_ configuration: String) throws -> VigilProcess {
        let directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("announcer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("announcer.toml")
        try configuration.write(to: path, atomically: true, encoding: .utf8)
        return try VigilProcess(arguments: ["serve", "--config", path.path], directory: directory)
    }

    /// The value of one series (`name{labels}` exactly as exposed), or `nil`.
    static func sample(_ metrics: String, _ series: String) -> Double? {
        for line in metrics.split(separator: "\n") where line.hasPrefix(series + " ") { return Double(line.dropFirst(series.count + 1)) }
        return nil
    }

    static func channelBody(_ channel: Int, text: String) -> String {
        let stanza = "<message to='%s' type='chat' id='o-[inc_id]'><body>\(text)</body></message>"
        return #"{"channel_id": \#(channel), "message": "\#(Data(stanza.utf8).base64EncodedString())"}"#
    }

    /// Whether a message with a body reaches `connection` within `wait`.
    func receivesMessage(_ connection: XMPPConnection, within wait: Duration) async -> Bool {
        (try? await withTimeout(wait) {
            for await stanza in connection.stanzas where stanza.name == "message" && stanza.firstChild(named: "body") != nil { return true }
            return false
        }) == true
    }

    @Test("[user-activity-rest-api]: a channel announcement reaches the member the service calls online, not the other")
    func restContract() async throws {
        let server = try IntegrationEnvironment.xmppServer("PROSODY", name: "Prosody")
        let (alice, bob) = (server.users[0], server.users[1])
        try await channelWithAliceAndBob(server)
        // The documented contract: {"usernames": [...]} in, {"online": [...]} out; alice is online.
        let asked = Mutex<[[String]]>([])
        let presence = try await SimulatorServer.start { request in
            guard request.method == "POST", request.path == "/v1/users/online",
                let json = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any],
                let names = json["usernames"] as? [String]
            else { return .json(#"{"error":"bad request"}"#, status: 400) }
            asked.withLock { $0.append(names) }
            return .json(#"{"online": ["\#(alice.name)"]}"#)
        }
        let vigil = try start(
            base.configuration(server, connections: 1) + (try mysqlSection()) + """
                [user-activity-rest-api]
                address = "127.0.0.1:\(presence.port)"
                request_timeout = 2000
                max_retry = 1
                """
        )
        // Both log in: bob would get the message if the source's answer were ignored.
        let aliceConnection = try await server.login(alice, resource: "rest-test", logger: Self.logger)
        let bobConnection = try await server.login(bob, resource: "rest-test", logger: Self.logger)
        try await base.running(vigil, receivers: [aliceConnection, bobConnection]) {
            try await vigil.waitUntilHealthy()
            let accepted = try await vigil.post("/v1/announce/channel", json: Self.channelBody(22, text: "rest news"))
            #expect(accepted.status == 202, "\(accepted.body)")
            let received = try await base.message(withBody: "rest news", on: aliceConnection)
            #expect(received[attribute: "id"] == "o-0")
            try await base.waitForEvents(vigil, containing: #""sent":"1""#)
            #expect(await !receivesMessage(bobConnection, within: .seconds(1)))
            let metrics = try await vigil.get("/metrics").body
            #expect(Self.sample(metrics, #"vigil_announcer_online_lookups_total{source="rest",result="ok"}"#) == 1)
        }
        await presence.stop()
        #expect(asked.withLock { $0 } == [[alice.name, bob.name]])
    }

    @Test("[user-activity-ejabberd]: ejabberd's connected_users decides; an offline member gets nothing, not even offline storage")
    func ejabberdConnectedUsers() async throws {
        let server = try IntegrationEnvironment.xmppServer("EJABBERD", name: "ejabberd")
        let (alice, bob) = (server.users[0], server.users[1])
        try await channelWithAliceAndBob(server)
        let apiURL = try IntegrationEnvironment.require("EJABBERD_API_URL")
        let vigil = try start(
            base.configuration(server, connections: 1) + (try mysqlSection()) + """
                [user-activity-ejabberd]
                api_url = "\(apiURL)"
                username = "\(try IntegrationEnvironment.require("EJABBERD_API_USER"))"
                password = "\(try IntegrationEnvironment.require("EJABBERD_API_PASSWORD"))"
                cache_duration = 0
                """
        )
        // Only alice is connected; bob is a member but offline.
        let aliceConnection = try await server.login(alice, resource: "ejabberd-test", logger: Self.logger)
        let bobConnection = Mutex<XMPPConnection?>(nil)
        try await base.running(vigil, receivers: [aliceConnection]) {
            try await vigil.waitUntilHealthy()
            let accepted = try await vigil.post("/v1/announce/channel", json: Self.channelBody(22, text: "ejabberd news"))
            #expect(accepted.status == 202, "\(accepted.body)")
            _ = try await base.message(withBody: "ejabberd news", on: aliceConnection)
            try await base.waitForEvents(vigil, containing: #""sent":"1""#)
            // Every online user (a negative id) is the list of connected users.
            #expect(try await vigil.post("/v1/announce/channel", json: Self.channelBody(-1, text: "to all online")).status == 202)
            _ = try await base.message(withBody: "to all online", on: aliceConnection)
            // bob was never sent anything: logging in now delivers no stored message.
            // (The login sends an initial presence, which makes ejabberd deliver what it stored.)
            let bobNow = try await server.login(bob, resource: "ejabberd-test", logger: Self.logger)
            bobConnection.withLock { $0 = bobNow }
            #expect(await !receivesMessage(bobNow, within: .seconds(2)))
        }
        await bobConnection.withLock { $0 }?.disconnect()
    }

    @Test("[user-activity-ejabberd] with a wrong password: the lookup fails with 401 and the announcement is held, not sent")
    func ejabberdRefused() async throws {
        let server = try IntegrationEnvironment.xmppServer("EJABBERD", name: "ejabberd")
        try await channelWithAliceAndBob(server)
        let vigil = try start(
            "recipient_source_give_up = \"1s\"\n" + base.configuration(server, connections: 1) + (try mysqlSection()) + """
                [user-activity-ejabberd]
                api_url = "\(try IntegrationEnvironment.require("EJABBERD_API_URL"))"
                username = "\(try IntegrationEnvironment.require("EJABBERD_API_USER"))"
                password = "wrong-password"
                """
        )
        try await base.running(vigil, receivers: []) {
            try await vigil.waitUntilHealthy()
            #expect(try await vigil.post("/v1/announce/channel", json: Self.channelBody(22, text: "never")).status == 202)
            try await base.waitForEvents(vigil, containing: "announcement_failed", timeout: .seconds(20))
            let events = try await vigil.get("/api/v1/events?limit=5").body
            #expect(events.contains("HTTP 401"))
            #expect(!events.contains("wrong-password") && !vigil.log.contains("wrong-password"))
            // The held announcement stays in the outbox (buffer report gauges, set every second).
            try await AnnouncerConnectionsIntegrationTests().waitFor(vigil, "vigil_announcer_outbox") { $0 == 1 }
            try await AnnouncerConnectionsIntegrationTests().waitFor(vigil, "vigil_announcer_in_progress") { $0 == 0 }
        }
    }
}
