//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
import Testing
import VigilRedis

/// The cluster client against a real three-master Redis Cluster (Debian's redis-server, created
/// with `redis-cli --cluster create`, one replica per master).
@Suite("Redis Cluster client against a real three-master cluster", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct RedisClusterIntegrationTests {
    @Test("CLUSTER SHARDS gives three masters covering all 16,384 slots, from any one seed")
    func discovery() async throws {
        for seed in try RedisClusterTest.seeds() {
            var configuration = try RedisClusterTest.configuration()
            configuration.seeds = [seed]
            let topology = try await withRedisClusterClient(configuration) { client in
                try await client.ping()
                return try #require(client.topology)
            }
            #expect(topology.shards.count == 3)
            #expect(topology.shards.allSatisfy { $0.replicas.count == 1 })
            #expect(topology.shards.flatMap(\.slots).reduce(0) { $0 + $1.count } == RedisClusterSlot.count)
        }
    }

    @Test("A key on every slot: SET, one MGET across all slots in key order, SCAN over every master, EXISTS and DEL summed")
    func everySlot() async throws {
        let prefix = "vigil-cluster:\(UUID().uuidString.prefix(8)):"
        let keys = RedisClusterTest.keyPerSlot(prefix: prefix)
        let events = RedisClusterEventCounter()
        try await withRedisClusterClient(try RedisClusterTest.configuration(), events: events) { client in
            try await withThrowingDiscardingTaskGroup { group in
                for part in 0..<8 {
                    group.addTask {
                        for index in stride(from: part, to: keys.count, by: 8) { try await client.set(keys[index], to: "v\(index)") }
                    }
                }
            }
            // Every master holds a third or so of the keys.
            let topology = try #require(client.topology)
            for shard in topology.shards {
                let count = try await RedisClusterTest.onNode(shard.master) { try await $0.execute(["DBSIZE"]).int ?? 0 }
                #expect(count >= shard.slots.reduce(0) { $0 + $1.count }, "\(shard.master)")
            }

            var mget = RedisCommand("MGET")
            for key in keys { mget.append(key) }
            mget.append("\(prefix)missing")
            let values = try #require(try await client.execute(mget).array)
            #expect(values.count == keys.count + 1)
            #expect(values.dropLast().enumerated().allSatisfy { $0.element.string == "v\($0.offset)" })
            #expect(values.last?.isNull == true)

            var seen = Set<String>()
            for try await key in client.scanKeys(matching: "\(prefix)*", count: 1_000) { seen.insert(key) }
            #expect(seen == Set(keys))

            #expect(try await client.execute(["EXISTS", keys[0], keys[1], keys[16_383], "\(prefix)missing"]).int == 3)
            #expect(try await client.del(keys) == keys.count)
            #expect(try await client.execute(["EXISTS"] + keys.prefix(100)).int == 0)
        }
        #expect(events[.redirect(.moved)] == 0)
        #expect(events[.retry] == 0)
    }

    @Test("A slot migrated with CLUSTER SETSLOT: ASK (ASKING, then the importing node) during the move, MOVED after it")
    func slotMigration() async throws {
        let tag = "{m\(UUID().uuidString.prefix(8))}"
        let key = "\(tag)moving"
        let slot = RedisClusterSlot.slot(for: key)
        let events = RedisClusterEventCounter()
        try await withRedisClusterClient(try RedisClusterTest.configuration(), events: events) { client in
            try await client.set(key, to: "before")
            let topology = try #require(client.topology)
            let source = try #require(topology.master(forSlot: slot))
            let target = try #require(topology.shards.map(\.master).first { $0 != source })
            let sourceID = try #require(try await RedisClusterTest.onNode(source) { try await $0.execute(["CLUSTER", "MYID"]).string })
            let targetID = try #require(try await RedisClusterTest.onNode(target) { try await $0.execute(["CLUSTER", "MYID"]).string })
            _ = try await RedisClusterTest.onNode(target) { try await $0.execute(["CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", sourceID]) }
            _ = try await RedisClusterTest.onNode(source) { try await $0.execute(["CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", targetID]) }

            // A key of the slot that is not on the source any more: the source answers ASK.
            try await client.set("\(tag)new", to: "on the target")
            #expect(
                try await RedisClusterTest.onNode(target) {
                    try await $0.execute(["ASKING"])
                    return try await $0.get("\(tag)new")
                }.map { String(buffer: $0) } == "on the target"
            )
            #expect(events[.redirect(.ask)] >= 1)
            // Move the old key too, then finish: every master learns the new owner.
            _ = try await RedisClusterTest.onNode(source) {
                try await $0.execute(["MIGRATE", target.host, "\(target.port)", "", "0", "5000", "KEYS", key])
            }
            #expect(try await client.get(key).map { String(buffer: $0) } == "before")
            for master in topology.shards.map(\.master) {
                _ = try await RedisClusterTest.onNode(master) { try await $0.execute(["CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID]) }
            }
            // The client still sends the slot to the source, which now answers MOVED.
            let movedBefore = events[.redirect(.moved)]
            #expect(try await client.get(key).map { String(buffer: $0) } == "before")
            #expect(events[.redirect(.moved)] == movedBefore + 1)
            #expect(try await client.get(key).map { String(buffer: $0) } == "before")
            #expect(events[.redirect(.moved)] == movedBefore + 1, "the map was updated after the first MOVED")
            #expect(client.topology?.master(forSlot: slot) == target)

            // Put the slot back where it was, so that the layout stays three even thirds.
            _ = try await RedisClusterTest.onNode(source) { try await $0.execute(["CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", targetID]) }
            _ = try await RedisClusterTest.onNode(target) { try await $0.execute(["CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", sourceID]) }
            _ = try await RedisClusterTest.onNode(target) {
                try await $0.execute(["MIGRATE", source.host, "\(source.port)", "", "0", "5000", "KEYS", key, "\(tag)new"])
            }
            for master in topology.shards.map(\.master) {
                _ = try await RedisClusterTest.onNode(master) { try await $0.execute(["CLUSTER", "SETSLOT", "\(slot)", "NODE", sourceID]) }
            }
            _ = try await client.del([key, "\(tag)new"])
        }
        try await RedisClusterTest.waitUntilWhole()
    }

    @Test("A master killed: its replica is promoted, the command is retried after a re-discovery and succeeds, nothing lost")
    func masterFailover() async throws {
        let prefix = "vigil-failover:\(UUID().uuidString.prefix(8)):"
        let keys = (0..<300).map { "\(prefix)\($0)" }
        let events = RedisClusterEventCounter()
        try await RedisClusterTest.restoringKilledNode { killed in
            try await withRedisClusterClient(try RedisClusterTest.configuration(maxRetries: 30), events: events) { client in
                for (index, key) in keys.enumerated() { try await client.set(key, to: "\(index)") }
                let slot = RedisClusterSlot.slot(for: keys[0])
                let master = try #require(client.topology?.master(forSlot: slot))
                // Every write has reached the replica before the master dies.
                for shard in try #require(client.topology).shards {
                    _ = try await RedisClusterTest.onNode(shard.master) { try await $0.execute(["WAIT", "1", "2000"]) }
                }
                try killed.kill(master)
                let started = ContinuousClock.now
                // A read of a key on the dead master, then one MGET over all keys (every master).
                #expect(try await client.get(keys[0]).map { String(buffer: $0) } == "0")
                let values = try #require(try await client.execute(RedisCommand(["MGET"] + keys)).array)
                #expect(values.enumerated().allSatisfy { $0.element.string == "\($0.offset)" })
                print("REDIS-CLUSTER-FAILOVER served again after \(ContinuousClock.now - started); retries=\(events[.retry])")
                let promoted = try #require(client.topology?.master(forSlot: slot))
                #expect(promoted != master)
                #expect(events[.retry] >= 1)
                _ = try await client.del(keys)
            }
        }
    }

    @Test("max_retries 0: a command to a dead master fails at once with the connection error instead of waiting")
    func noRetries() async throws {
        let key = "vigil-noretry:\(UUID().uuidString)"
        let events = RedisClusterEventCounter()
        try await RedisClusterTest.restoringKilledNode { killed in
            try await withRedisClusterClient(try RedisClusterTest.configuration(maxRetries: 0), events: events) { client in
                try await client.set(key, to: "x")
                let master = try #require(client.topology?.master(forSlot: RedisClusterSlot.slot(for: key)))
                _ = try await RedisClusterTest.onNode(master) { try await $0.execute(["WAIT", "1", "2000"]) }
                try killed.kill(master)
                let error = await #expect(throws: RedisClientError.self) { _ = try await client.get(key) }
                #expect(error.map { [.connectFailed, .connectionClosed].contains($0.errorCode) } == true, "\(String(describing: error))")
                #expect(events[.retry] == 0)
            }
        }
    }

    @Test("A standalone server given as the only seed is used as one node: commands, MGET and SCAN work unchanged")
    func standalone() async throws {
        var configuration = try RedisClusterTest.configuration()
        configuration.seeds = [RedisClusterNode(host: try IntegrationEnvironment.redisHost, port: try IntegrationEnvironment.redisPort)]
        let prefix = "vigil-standalone:\(UUID().uuidString.prefix(8)):"
        try await withRedisClusterClient(configuration) { client in
            let keys = (0..<50).map { "\(prefix)\($0)" }
            for key in keys { try await client.set(key, to: key) }
            let values = try #require(try await client.execute(RedisCommand(["MGET"] + keys)).array)
            #expect(values.map(\.string) == keys)
            var seen = Set<String>()
            for try await key in client.scanKeys(matching: "\(prefix)*") { seen.insert(key) }
            #expect(seen == Set(keys))
            #expect(client.topology?.shards.count == 1)
            _ = try await client.del(keys)
        }
    }
}
