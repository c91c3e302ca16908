//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
import Testing
import VigilClientSupport
import VigilCore
import VigilRedis
import VigilStorage

/// `[store] backend = "redis"` against the real single server and the real cluster of
/// `scripts/services/redis.sh`: every store protocol, retention, downsampling equal to SQLite's,
/// the seed-003 keys as a tool reads them, and two hubs on one Redis seeing each other's targets.
@Suite("Redis store against real servers", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct RedisStoreIntegrationTests {
    enum Server: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case single, cluster
        var testDescription: String { rawValue }
    }

    /// A client for `server`, running for the duration of `body`.
    static func withClient<Result: Sendable>(
        _ server: Server,
        _ body: @Sendable @escaping (RedisClusterClient) async throws -> Result
    ) async throws -> Result {
        switch server {
        case .cluster: return try await withRedisClusterClient(try RedisClusterTest.configuration(), body)
        case .single:
            let node = RedisClusterNode(host: try IntegrationEnvironment.redisHost, port: try IntegrationEnvironment.redisPort)
            return try await withRedisClusterClient(RedisClusterConfiguration(seeds: [node]), body)
        }
    }

    /// A key prefix no other test uses, and the MediaMTX instance name no other test uses.
    static func unique() -> (prefix: String, instance: String) {
        let id = UUID().uuidString.prefix(8).lowercased()
        return ("vigil-test-\(id):", "it\(id)")
    }

    @Test("Latest states, history, events and key/value rows round-trip", arguments: Server.allCases)
    func roundTrip(server: Server) async throws {
        let (prefix, instance) = Self.unique()
        try await Self.withClient(server) { redis in
            let stores = RedisStore(redis: redis, keys: RedisStoreKeys(prefix: prefix)).stores
            // Latest: a MediaMTX path (seed-003 hash), a device, a non-finite value left out.
            let path = TargetState(
                target: TargetID(.stream, "mediamtx/\(instance)/cam1"),
                status: .up,
                since: 100,
                updatedAt: 200.5,
                attributes: ["sourceType": .string("rtspSource"), "ready": .bool(true), "odd": .number(.nan)],
                values: ["readers": 2, "bytes_received_total": 12_345, "nan": .nan]
            )
            let device = TargetState(
                target: TargetID(.device, "lamp \(instance)"),
                status: .down,
                since: 1,
                updatedAt: 2,
                attributes: [:],
                values: [:]
            )
            try await stores.latest.upsert([path, device])
            let streams = try await stores.latest.states(kind: .stream).filter { $0.target.name.contains(instance) }
            var expected = path
            expected.values["nan"] = nil
            expected.attributes["odd"] = JSONValue.null
            #expect(streams == [expected])
            let devices = try await stores.latest.states(kind: .device).filter { $0.target.name.contains(instance) }
            #expect(devices == [device])
            let all = try await stores.latest.states(kind: nil).filter { $0.target.name.contains(instance) }
            #expect(all.map(\.target) == [device.target, path.target].sorted())
            try await stores.latest.remove(path.target)
            #expect(try await stores.latest.states(kind: .stream).filter { $0.target.name.contains(instance) }.isEmpty)

            // History: two series, points out of order within a batch, NaN skipped.
            let series = "stream/mediamtx/\(instance)/cam1/rtt_seconds"
            let other = "host/\(instance)/cpu_usage_ratio"
            try await stores.history.append([
                HistoryPoint(series: series, time: 1_000.25, value: 1),
                HistoryPoint(series: series, time: 1_001.5, value: 2),
                HistoryPoint(series: other, time: 1_000, value: 0.5),
                HistoryPoint(series: series, time: 1_000.75, value: 3),
                HistoryPoint(series: series, time: 1_002, value: .nan),
            ])
            let points = try await stores.history.query(series: series, from: 1_000, to: 1_001.5, step: 0)
            #expect(points.map(\.time) == [1_000.25, 1_000.75, 1_001.5])
            #expect(points.map(\.value) == [1, 3, 2])
            #expect(try await stores.history.query(series: series, from: 1_000.3, to: 1_001, step: 0).map(\.value) == [3])
            #expect(try await stores.history.series(prefix: "stream/mediamtx/\(instance)/") == [series])
            #expect(try await stores.history.series(prefix: "host/\(instance)/") == [other])

            // Events: ids increase, afterID / since / limit as the SQLite store answers them.
            var ids: [Int64] = []
            for index in 0..<5 {
                let event = Event(time: 5_000 + Double(index), target: device.target, type: "t\(index)", message: "m\(index) \(prefix)")
                ids.append(try await stores.events.append(event).id)
            }
            #expect(ids == ids.sorted() && Set(ids).count == 5)
            let newest = try await stores.events.events(afterID: ids[1], since: nil, limit: 2)
            #expect(newest.map(\.id) == [ids[3], ids[4]])
            #expect(newest.last?.message == "m4 \(prefix)")
            #expect(try await stores.events.events(afterID: ids[1], since: nil, limit: 10).map(\.id) == Array(ids[2...]))
            #expect(try await stores.events.events(afterID: nil, since: nil, limit: 0).isEmpty)

            // Key/value rows.
            try await stores.state.setValue([1, 2], forKey: "device/lamp")
            try await stores.state.setValue([3], forKey: "gateways/failover")
            #expect(try await stores.state.value(forKey: "device/lamp") == [1, 2])
            #expect(try await stores.state.values(prefix: "device/").map(\.key) == ["device/lamp"])
            try await stores.state.removeValue(forKey: "device/lamp")
            #expect(try await stores.state.value(forKey: "device/lamp") == nil)
            try await Self.cleanUp(redis, prefix: prefix, instance: instance)
        }
    }

    @Test("Retention trims old points (MINID), drops emptied series from the index and trims events", arguments: Server.allCases)
    func retention(server: Server) async throws {
        let (prefix, instance) = Self.unique()
        try await Self.withClient(server) { redis in
            let store = RedisStore(redis: redis, keys: RedisStoreKeys(prefix: prefix))
            let now = Date().timeIntervalSince1970
            let old = "host/\(instance)/old"
            let mixed = "stream/mediamtx/\(instance)/p/mixed"
            try await store.append([
                HistoryPoint(series: old, time: now - 7_200, value: 1),
                HistoryPoint(series: old, time: now - 7_100, value: 2),
                HistoryPoint(series: mixed, time: now - 7_000, value: 3),
                HistoryPoint(series: mixed, time: now - 10, value: 4),
            ])
            let removed = try await store.prune(before: now - 3_600)
            #expect(removed == 3)
            #expect(try await store.series(prefix: "host/\(instance)/").isEmpty)
            #expect(try await store.query(series: mixed, from: 0, to: now, step: 0).map(\.value) == [4])
            #expect(try await redis.execute(["EXISTS", store.keys.history(old)]).int == 0)
            // Per-series bound: MAXLEN keeps a stream near its limit whatever the age.
            let bounded = RedisStore(redis: redis, keys: RedisStoreKeys(prefix: prefix), limits: .init(maxPointsPerSeries: 1_000))
            let many = "host/\(instance)/many"
            try await bounded.append((0..<5_000).map { HistoryPoint(series: many, time: now + Double($0) / 1_000, value: Double($0)) })
            let length = try await redis.xlen(bounded.keys.history(many))
            #expect(length >= 1_000 && length <= 1_100, "stream length \(length)")
            try await Self.cleanUp(redis, prefix: prefix, instance: instance)
        }
    }

    @Test("History downsampling equals the SQLite store's for the same data", arguments: Server.allCases)
    func downsamplingMatchesSQLite(server: Server) async throws {
        let (prefix, instance) = Self.unique()
        let directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("redis-store-\(instance)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let sqlite = try SQLiteStore(path: directory.appendingPathComponent("vigil.sqlite").path)
        try await Self.withClient(server) { redis in
            let store = RedisStore(redis: redis, keys: RedisStoreKeys(prefix: prefix))
            let series = "stream/mediamtx/\(instance)/cam/bitrate"
            var generator = SystemRandomNumberGenerator()
            var time = 1_700_000_000.0
            var points: [HistoryPoint] = []
            for _ in 0..<3_000 {
                time += Double.random(in: 0.001...3, using: &generator)
                points.append(HistoryPoint(series: series, time: time, value: Double.random(in: -1e6...1e6, using: &generator)))
            }
            for start in stride(from: 0, to: points.count, by: 700) {
                let batch = Array(points[start..<min(start + 700, points.count)])
                try await store.append(batch)
                try await sqlite.append(batch)
            }
            let from = points[100].time - 0.5
            let to = points[2_800].time
            for step in [0.0, 1, 7.5, 60, 3_600] {
                let fromRedis = try await store.query(series: series, from: from, to: to, step: step)
                let fromSQLite = try await sqlite.query(series: series, from: from, to: to, step: step)
                #expect(fromRedis.count == fromSQLite.count, "step \(step)")
                #expect(fromRedis.map(\.time) == fromSQLite.map(\.time), "step \(step)")
                for (a, b) in zip(fromRedis, fromSQLite) where abs(a.value - b.value) > 1e-9 * max(1, abs(b.value)) {
                    Issue.record("step \(step) at \(a.time): redis \(a.value), sqlite \(b.value)")
                    break
                }
            }
            try await Self.cleanUp(redis, prefix: prefix, instance: instance)
        }
    }

    @Test("The seed-003 keys: a hash of latest MediaMTX states, history Streams, changes on mediamtx:updates", arguments: Server.allCases)
    func seedKeys(server: Server) async throws {
        let (prefix, instance) = Self.unique()
        let subscriber = try Self.subscriberConfiguration(server)
        try await Self.withClient(server) { redis in
            let keys = RedisStoreKeys(prefix: prefix)
            let hub = Hub(stores: RedisStore(redis: redis, keys: keys).stores)
            let fanout = RedisFanout(hub: hub, publisher: redis, subscriber: subscriber, keys: keys, logger: RedisTest.logger)
            try await withRedisClient(subscriber) { listener in
                let updates = try await listener.subscribe(to: [RedisStoreKeys.mediaMTXUpdates])
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await fanout.run() }
                    defer { group.cancelAll() }
                    let target = TargetID(.stream, "mediamtx/\(instance)/cam1")
                    // The fan-out subscribes to the bus when it starts: publish until a message arrives.
                    let message = try await withThrowingTaskGroup(of: RedisPubSubMessage?.self) { publishing -> RedisPubSubMessage? in
                        publishing.addTask { try await collect(1, from: updates, timeout: .seconds(20)).first }
                        publishing.addTask {
                            var tick = 0.0
                            while !Task.isCancelled {
                                tick += 1
                                await hub.apply(
                                    Observation(target: target, time: 1_700_000_000 + tick, status: .up, samples: [Sample("readers", tick)])
                                )
                                await hub.flush()
                                try? await Task.sleep(for: .milliseconds(100))
                            }
                            return nil
                        }
                        defer { publishing.cancelAll() }
                        while let result = try await publishing.next() {
                            if let result { return result }
                        }
                        return nil
                    }
                    let payload = try #require(message).payload
                    let json = try #require(try JSONSerialization.jsonObject(with: Data(payload.readableBytesView)) as? [String: Any])
                    #expect(json["field"] as? String == "\(instance)/cam1")
                    #expect((json["state"] as? [String: Any])?["status"] as? String == "up")
                    // The hash, as `redis-cli HGET mediamtx:streams:latest <instance>/cam1` shows it.
                    #expect(try await redis.execute(["TYPE", RedisStoreKeys.mediaMTXLatest]).string == "hash")
                    let field = try #require(try await redis.hmget(RedisStoreKeys.mediaMTXLatest, fields: ["\(instance)/cam1"]).first ?? nil)
                    let state = try JSONDecoder().decode(TargetState.self, from: Data(field.readableBytesView))
                    #expect(state.target == target && state.status == .up && (state.values["readers"] ?? 0) >= 1)
                    // The history stream, as `redis-cli XRANGE mediamtx:history:<instance>/cam1/readers - +` shows it.
                    let stream = RedisStoreKeys.mediaMTXHistoryPrefix + "\(instance)/cam1/readers"
                    #expect(try await redis.execute(["TYPE", stream]).string == "stream")
                    let entries = try await redis.xrange(stream)
                    #expect(!entries.isEmpty)
                    #expect(entries.allSatisfy { $0["time"] != nil && $0["value"] != nil })
                    #expect(entries.first.map { $0.id.hasPrefix("1700000001") } == true)
                }
            }
            try await Self.cleanUp(redis, prefix: prefix, instance: instance)
        }
    }

    @Test("Two hubs on one Redis see each other's targets, removals and events, without echo", arguments: Server.allCases)
    func twoHubs(server: Server) async throws {
        let (prefix, instance) = Self.unique()
        let subscriber = try Self.subscriberConfiguration(server)
        try await Self.withClient(server) { redis in
            let keys = RedisStoreKeys(prefix: prefix)
            let first = Hub(stores: RedisStore(redis: redis, keys: keys).stores)
            let second = Hub(stores: RedisStore(redis: redis, keys: keys).stores)
            let fanouts = [first, second].enumerated().map { index, hub in
                RedisFanout(
                    hub: hub,
                    publisher: redis,
                    subscriber: subscriber,
                    keys: keys,
                    instanceID: "\(instance)-\(index)",
                    logger: RedisTest.logger,
                    latest: RedisStore(redis: redis, keys: keys),
                    resyncInterval: .milliseconds(200)
                )
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for fanout in fanouts { group.addTask { try await fanout.run() } }
                defer { group.cancelAll() }
                let a = TargetID(.device, "a-\(instance)")
                let b = TargetID(.stream, "mediamtx/\(instance)/b")
                try await withTimeout(.seconds(30)) {
                    var tick = 0.0
                    while true {
                        let (seenA, seenB) = (await second.state(of: a), await first.state(of: b))
                        if seenA != nil, seenB != nil { break }
                        tick += 1
                        await first.apply(Observation(target: a, time: 1_000 + tick, status: .up, attributes: ["n": .number(tick)]))
                        await second.apply(Observation(target: b, time: 1_000 + tick, status: .down, attributes: ["n": .number(tick)]))
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
                // Each sees the other's latest: the view converges on the owner's state.
                try await withTimeout(.seconds(10)) {
                    while true {
                        let (a1, a2, b1, b2) = (
                            await first.state(of: a), await second.state(of: a), await first.state(of: b), await second.state(of: b)
                        )
                        if a1 == a2, b1 == b2 { break }
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
                #expect(await second.states().map(\.target).contains(a))
                // An event recorded on one reaches the other's bus once.
                let feed = second.bus.subscribe(name: "test")
                let recorded = await first.record(Event(time: 2_000, target: a, type: "it_\(instance)", message: "hello"))
                let seen = try await withTimeout(.seconds(10)) { () -> Event? in
                    for await update in feed {
                        if case .event(let event) = update, event.type == "it_\(instance)" { return event }
                    }
                    return nil
                }
                #expect(seen?.id == recorded.id)
                // A removal on the owner reaches the other.
                await first.remove(a)
                try await withTimeout(.seconds(10)) {
                    while await second.state(of: a) != nil { try await Task.sleep(for: .milliseconds(50)) }
                }
                // No echo: the merged state of b on `first` was not published back, so `second`
                // still holds b as it made it.
                #expect(await second.state(of: b)?.status == .down)
                // A change that never went through Pub/Sub (written while an instance was away)
                // reaches both views through the periodic resync with the store.
                let quiet = TargetState(
                    target: TargetID(.host, "quiet-\(instance)"),
                    status: .up,
                    since: 1,
                    updatedAt: 3_000,
                    attributes: [:],
                    values: [:]
                )
                try await RedisStore(redis: redis, keys: keys).upsert([quiet])
                try await withTimeout(.seconds(10)) {
                    while true {
                        let (one, two) = (await first.state(of: quiet.target), await second.state(of: quiet.target))
                        if one == quiet, two == quiet { break }
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
            }
            try await Self.cleanUp(redis, prefix: prefix, instance: instance)
        }
    }

    @Test("Membership: heartbeat keys with a TTL; a stopped instance leaves, a silent one expires", arguments: Server.allCases)
    func membership(server: Server) async throws {
        let (prefix, instance) = Self.unique()
        try await Self.withClient(server) { redis in
            let keys = RedisStoreKeys(prefix: prefix)
            let members = [1, 2].map {
                RedisMembership(
                    redis: redis,
                    keys: keys,
                    instanceID: "\(instance)-\($0)",
                    version: "t",
                    interval: .seconds(1),
                    logger: RedisTest.logger
                )
            }
            let (one, two) = (members[0], members[1])
            try await two.beat()
            let ttl = try await redis.execute(["TTL", keys.member("\(instance)-2")]).int ?? -1
            #expect(ttl > 0 && ttl <= 3, "TTL \(ttl)")
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await one.run() }
                try await withTimeout(.seconds(10)) {
                    while try await two.members().map(\.id) != ["\(instance)-1", "\(instance)-2"] {
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
                group.cancelAll()
            }
            // The stopped one deleted its key; the other, no longer beating, expires.
            #expect(try await one.members().map(\.id) == ["\(instance)-2"])
            try await withTimeout(.seconds(10)) {
                while try await one.members().isEmpty == false { try await Task.sleep(for: .milliseconds(200)) }
            }
            try await Self.cleanUp(redis, prefix: prefix, instance: instance)
        }
    }

    /// Where a fan-out subscribes: the single server, or the first cluster node.
    static func subscriberConfiguration(_ server: Server) throws -> RedisConfiguration {
        switch server {
        case .single: return try RedisTest.configuration()
        case .cluster:
            let seed = try #require(try RedisClusterTest.seeds().first)
            var configuration = RedisConfiguration(host: seed.host, port: seed.port)
            configuration.reconnect = RedisReconnectPolicy(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(200))
            return configuration
        }
    }

    /// Deletes the keys a test made: its prefix and its MediaMTX instance's fields and streams.
    static func cleanUp(_ redis: RedisClusterClient, prefix: String, instance: String) async throws {
        var keys: [String] = []
        for try await key in redis.scanKeys(matching: "\(prefix)*", count: 1_000) { keys.append(key) }
        for try await key in redis.scanKeys(matching: "\(RedisStoreKeys.mediaMTXHistoryPrefix)\(instance)/*", count: 1_000) { keys.append(key) }
        if !keys.isEmpty { try await redis.del(keys) }
        let fields = try await redis.hgetall(RedisStoreKeys.mediaMTXLatest).keys.filter { $0.hasPrefix("\(instance)/") }
        if !fields.isEmpty { try await redis.hdel(RedisStoreKeys.mediaMTXLatest, fields: Array(fields)) }
    }
}
