//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing
import VigilRedis
import VigilStorage

/// The key-value rows of `[store] backend = "redis"` on the real single server and the cluster.
@Suite("Redis state store against real servers", .enabled(if: IntegrationEnvironment.enabled))
struct RedisStateStoreIntegrationTests {
    func exercise(_ store: RedisStateStore) async throws {
        try await store.setValue([1, 2, 3], forKey: "device:b")
        try await store.setValue([4], forKey: "device:a")
        try await store.setValue([0, 255], forKey: "device*:literal")
        try await store.setValue([9], forKey: "failover:x")
        #expect(try await store.value(forKey: "device:a") == [4])
        #expect(try await store.value(forKey: "missing") == nil)
        let devices = try await store.values(prefix: "device:")
        #expect(devices.map(\.key) == ["device:a", "device:b"])
        #expect(devices.map(\.value) == [[4], [1, 2, 3]])
        // Glob characters in a prefix match only themselves.
        #expect(try await store.values(prefix: "device*").map(\.key) == ["device*:literal"])
        try await store.removeValue(forKey: "device:a")
        #expect(try await store.values(prefix: "device").map(\.key) == ["device*:literal", "device:b"])
        _ = try await store.values(prefix: "")
    }

    @Test("Set, read, prefix-read in key order (glob characters literal), remove: single server")
    func singleServer() async throws {
        try await withRedisClient(try RedisTest.configuration()) { redis in
            let store = RedisStateStore(redis: redis, hashKey: RedisTest.uniqueKey("state"))
            try await exercise(store)
            _ = try await redis.del([store.hashKey])
        }
    }

    @Test("The same through the cluster client")
    func cluster() async throws {
        try await withRedisClusterClient(try RedisClusterTest.configuration()) { redis in
            let store = RedisStateStore(redis: redis, hashKey: RedisTest.uniqueKey("state"))
            try await exercise(store)
            _ = try await redis.del([store.hashKey])
        }
    }
}
