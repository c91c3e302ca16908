//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
import Testing
import VigilMQTT
import VigilRedis
import VigilStorage

/// Real `vigil` processes on `[store] backend = "redis"`, set through the environment overrides,
/// with the real Mosquitto and the real Redis (single server and cluster).
@Suite("Vigil processes on the Redis store", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct RedisStoreProcessTests {
    typealias Server = RedisStoreIntegrationTests.Server

    /// The environment that puts a process on `server` under `prefix`.
    static func environment(_ server: Server, prefix: String) throws -> [String: String] {
        var environment = ["VIGIL_STORE_BACKEND": "redis", "VIGIL_STORE_KEY_PREFIX": prefix]
        switch server {
        case .single: environment["VIGIL_STORE_URL"] = "redis://\(try IntegrationEnvironment.redisHost):\(try IntegrationEnvironment.redisPort)"
        case .cluster: environment["VIGIL_STORE_CLUSTER_NODES"] = try IntegrationEnvironment.redisClusterNodes.joined(separator: ",")
        }
        return environment
    }

    @Test("A device state stored through one process is republished by a new one on another machine's disk", arguments: Server.allCases)
    func restartKeepsDeviceStates(server: Server) async throws {
        let (prefix, id) = RedisStoreIntegrationTests.unique()
        let topics = MQTTTestSupport.uniqueTopic("redis-restart")
        let environment = try Self.environment(server, prefix: prefix)
        let config = try DevicesIntegrationTests.config(
            prefix: topics,
            """
            [device_lamp\(id)]
            helloTopic = "\(topics)/lamp"
            stateTopics = "\(topics)/lamp/state"
            """
        )
        try await RedisStoreIntegrationTests.withClient(server) { redis in
            try await DevicesIntegrationTests.withVigil(config, environment: environment, kill: SIGKILL) { vigil in
                // On a shared store the watchdog starts once the instance has read the members.
                try await DevicesAtLeastOnceIntegrationTests.waitForLog(vigil.process, "Device watchdog subscribed")
                try await withMQTTClient(try MQTTTestSupport.configuration()) { client in
                    try await client.publish(to: "\(topics)/lamp/state", payload: ByteBuffer(string: "on"), qos: .atLeastOnce)
                }
                // Acknowledged only once stored: the row is in the shared hash.
                try await withTimeout(.seconds(10)) {
                    while try await redis.hgetall("\(prefix)state").values.contains(where: { String(buffer: $0).contains("on") }) == false {
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
            }
            // A fresh folder: nothing survives but what is in Redis.
            try await DevicesIntegrationTests.withObserver(["\(topics)/lamp/state"], noLocal: true) { _, log in
                try await DevicesIntegrationTests.withVigil(
                    config,
                    directory: DevicesIntegrationTests.scratch("redis-second"),
                    environment: environment
                ) {
                    vigil in
                    let state = try await log.next(timeout: .seconds(15)) { $0.topic == "\(topics)/lamp/state" }
                    #expect(String(buffer: state.payload) == "on")
                    let devices = try await vigil.get("/api/v1/devices")
                    #expect(devices.body.contains("lamp\(id)"))
                }
            }
            try await RedisStoreIntegrationTests.cleanUp(redis, prefix: prefix, instance: id)
        }
    }

    @Test("Two processes on one Redis each show both devices", arguments: Server.allCases)
    func twoProcesses(server: Server) async throws {
        let (prefix, id) = RedisStoreIntegrationTests.unique()
        let topics = MQTTTestSupport.uniqueTopic("redis-two")
        let environment = try Self.environment(server, prefix: prefix)
        // One config for both (only the listen address differs): one of them runs the watchdog.
        let sections = ["a", "b"].map { "[device_\($0)\(id)]\nwatchTimeOut = 60\nwatchTopics = \"\(topics)/\($0)/#\"\n" }
        let config = try DevicesIntegrationTests.config(prefix: topics, sections.joined(separator: "\n"))
        let configs = [config, config]
        try await RedisStoreIntegrationTests.withClient(server) { redis in
            try await DevicesIntegrationTests.withVigil(configs[0], environment: environment) { first in
                try await DevicesIntegrationTests.withVigil(configs[1], environment: environment) { second in
                    try await withMQTTClient(try MQTTTestSupport.configuration()) { client in
                        try await withTimeout(.seconds(30)) {
                            while true {
                                for name in ["a", "b"] {
                                    try await client.publish(to: "\(topics)/\(name)/temp", payload: ByteBuffer(string: "21"), qos: .atLeastOnce)
                                }
                                let views = [try await first.get("/api/v1/devices").body, try await second.get("/api/v1/devices").body]
                                if views.allSatisfy({ $0.contains("a\(id)") && $0.contains("b\(id)") }) { return }
                                try await Task.sleep(for: .milliseconds(200))
                            }
                        }
                    }
                    // Both list both instances as members.
                    for vigil in [first, second] {
                        let cluster = try await vigil.get("/api/v1/cluster")
                        #expect(cluster.status == 200)
                        let json = try JSONSerialization.jsonObject(with: Data(cluster.body.utf8)) as? [String: Any]
                        let members = (json?["members"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
                        #expect(members.count == 2, "\(cluster.body)")
                        #expect(members.contains(json?["instance"] as? String ?? "none"))
                    }
                    // The instance that does not run the watchdog knows the devices from the fan-out.
                    var mergedCounts: [Double] = []
                    for vigil in [first, second] {
                        let metrics = try await vigil.get("/metrics").body
                        let merged = metrics.split(separator: "\n").first { $0.hasPrefix("vigil_fanout_messages_total{outcome=\"merged\"}") }
                        mergedCounts.append(merged.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0)
                    }
                    #expect(mergedCounts.contains { $0 > 0 }, "\(mergedCounts)")
                }
            }
            try await RedisStoreIntegrationTests.cleanUp(redis, prefix: prefix, instance: id)
        }
    }
}
