//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing
import VigilMySQL
import VigilRedis

/// Seed 001's channel announcement with `[user-activity-redis] cluster_nodes` naming a real
/// three-master Redis Cluster: 1,000 channel members (MariaDB), two thirds of them online (keys
/// spread over every master's slots), delivered through a real Prosody as a component. What each
/// user received is counted in Prosody's offline store (the users are registered, not logged in).
@Suite("Announcer with a Redis Cluster for online users", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct AnnouncerClusterIntegrationTests {
    static let memberCount = 1_000
    static let channelID = 41

    @Test("A channel announcement to 1,000 members reaches exactly the online ones; a master killed mid-lookup is retried, nobody lost")
    func channelOverCluster() async throws {
        let server = try IntegrationEnvironment.xmppServer("PROSODY", name: "Prosody")
        let run = "k\(UUID().uuidString.prefix(6).lowercased())"
        let names = (0..<Self.memberCount).map { "\(run)u\($0)" }
        let online = Set(names.indices.filter { $0 % 3 != 0 })
        try AnnouncerDeliveryIntegrationTests.writeProsodyAccounts(names, domain: server.domain)
        try await MySQLConnection.withConnection(configuration: MySQLTestSupport.configuration(), logger: MySQLTestSupport.logger) { db in
            for statement in AnnouncerIntegrationTests.channelTables + [
                "INSERT INTO ws_channel_data VALUES (\(Self.channelID), 410, 'ACCEPTED')",
                "INSERT INTO ws_channel_members VALUES "
                    + names.enumerated().map { "(\($0.offset + 1), '\($0.element)', 410)" }.joined(separator: ","),
            ] {
                try await db.execute(statement)
            }
        }
        // Seed 001's model: `<username>` holds the IP of the user's server while the user is online.
        let seeds = try RedisClusterTest.seeds()
        try await withRedisClusterClient(try RedisClusterTest.configuration()) { redis in
            for index in online { try await redis.set(names[index], to: "127.0.0.1") }
            let topology = try #require(redis.topology)
            let mastersUsed = Set(online.compactMap { topology.master(forSlot: RedisClusterSlot.slot(for: names[$0])) })
            #expect(mastersUsed.count == 3, "the online users' keys are on every master")
        }

        let directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("announcer-cluster-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("announcer.toml")
        try configuration(server, seeds: seeds).write(to: path, atomically: true, encoding: .utf8)
        let vigil = try VigilProcess(arguments: ["serve", "--config", path.path], directory: directory)
        let delivery = AnnouncerDeliveryIntegrationTests()
        try await RedisClusterTest.restoringKilledNode { killed in
            do {
                try await vigil.waitUntilHealthy()

                // 1. A healthy cluster: exactly the online members, once each.
                let first = try await announce(vigil, marker: "\(run)a")
                try await delivery.waitForCompletion(vigil, id: first, timeout: .seconds(120))
                let firstCounts = try receivedCounts(names, domain: server.domain, marker: "\(run)a")
                #expect(names.indices.filter { (firstCounts[$0] == 1) != online.contains($0) }.isEmpty, "\(mismatches(firstCounts, online))")

                // 2. The master of the first online user's slot is killed while the pages are read.
                let victim = try #require(await RedisClusterTest.masters(excluding: seeds[0]).first)
                let sentBefore = delivery.metricValue(try await vigil.get("/metrics").body, result: "sent")
                let second = try await announce(vigil, marker: "\(run)b")
                try await delivery.waitForMetric(vigil, result: "sent", atLeast: sentBefore + 60)
                try killed.kill(victim)
                try await delivery.waitForCompletion(vigil, id: second, timeout: .seconds(120))
                let secondCounts = try receivedCounts(names, domain: server.domain, marker: "\(run)b")
                let metrics = try await vigil.get("/metrics").body
                let retried = metrics.split(separator: "\n").contains {
                    $0.hasPrefix("vigil_redis_cluster_retries_total{client=\"announcer\"} ") && !$0.hasSuffix(" 0")
                }
                let pageRetried = vigil.log.contains("Could not read channel members; retrying")
                print(
                    "ANNOUNCER-CLUSTER members=\(Self.memberCount) online=\(online.count) "
                        + "first=\(firstCounts.reduce(0, +)) second=\(secondCounts.reduce(0, +)) client-retries=\(retried) page-retries=\(pageRetried)"
                )
                #expect(names.indices.filter { (secondCounts[$0] == 1) != online.contains($0) }.isEmpty, "\(mismatches(secondCounts, online))")
                #expect(retried || pageRetried, "the lookup met the dead master and was retried")
                _ = try await vigil.stop()
            } catch {
                _ = try? await vigil.stop(signal: SIGKILL)
                Issue.record("vigil log:\n\(vigil.log.suffix(6000))")
                throw error
            }
        }
        try await withRedisClusterClient(try RedisClusterTest.configuration()) { redis in _ = try await redis.del(names) }
    }

    func configuration(_ server: IntegrationEnvironment.XMPPServer, seeds: [RedisClusterNode]) throws -> String {
        """
        input_buffer = 10

        [store]
        backend = "memory"

        [ejabberd]
        cluster_nodes = "\(server.host):\(server.componentPort)"
        rate_limit = 200
        send_retry = 6
        each_node_conn_num = 1

        [component]
        name = "\(server.componentDomain)"
        secret = "\(server.componentSecret)"
        domain = "\(server.domain)"
        ping_interval = 30

        [mysql]
        address = "\(IntegrationEnvironment.mariadbHost):\(try IntegrationEnvironment.mariadbPort)"
        username = "\(try IntegrationEnvironment.mariadbUser)"
        password = "\(try IntegrationEnvironment.mariadbPassword)"
        db = "\(try IntegrationEnvironment.mariadbDatabase)"
        pagination_length = 50

        [user-activity-redis]
        cluster_nodes = "\(seeds.map(\.description).joined(separator: ","))"
        read_timeout = 1000
        max_retries = 2
        """
    }

    /// Posts a channel announcement whose body is `marker` and returns its id.
    func announce(_ vigil: VigilProcess, marker: String) async throws -> String {
        let stanza = "<message to='%s' type='chat' id='\(marker)-[inc_id]'><body>\(marker)</body></message>"
        let body = #"{"channel_id": "\#(Self.channelID)", "message": "\#(Data(stanza.utf8).base64EncodedString())"}"#
        let receipt = try await vigil.post("/v1/announce/channel", json: body)
        #expect(receipt.status == 202, "\(receipt.body)")
        return try #require(receipt.body.split(separator: "\"").dropFirst(3).first.map(String.init), "\(receipt.body)")
    }

    /// How many messages with `marker` each user has in Prosody's offline store (`offline/<user>.list`).
    func receivedCounts(_ names: [String], domain: String, marker: String) throws -> [Int] {
        let folder = try prosodyFolder(domain, "offline")
        return names.map { name in
            let text = (try? String(contentsOf: folder.appendingPathComponent("\(name).list"), encoding: .utf8)) ?? ""
            // Each stored message carries its id, `<marker>-<index>`, once (Prosody stores Lua, not XML).
            return text.components(separatedBy: "\(marker)-").count - 1
        }
    }

    func prosodyFolder(_ domain: String, _ name: String) throws -> URL {
        URL(fileURLWithPath: try IntegrationEnvironment.require("PROSODY_DATA_DIR"))
            .appendingPathComponent(AnnouncerDeliveryIntegrationTests.prosodyEncoded(domain)).appendingPathComponent(name)
    }

    func mismatches(_ counts: [Int], _ online: Set<Int>) -> String {
        let wrong = counts.indices.filter { (counts[$0] == 1) != online.contains($0) }
        return "\(wrong.count) users wrong, e.g. "
            + wrong.prefix(10).map { "u\($0): \(counts[$0]) (online \(online.contains($0)))" }.joined(separator: ", ")
    }
}
