//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
public import VigilCore
public import VigilRedis

/// An opened backend: its stores, and for Redis the client to run and the fan-out to start.
public struct StoreBackend: Sendable {
    /// The stores.
    public var stores: Stores
    /// The Redis client behind the stores (`nil` for SQLite and memory); run it before every
    /// service that uses the stores.
    public var redis: RedisClusterClient?
    /// The Redis key layout (`nil` for SQLite and memory).
    public var keys: RedisStoreKeys?
    /// This instance's id in fan-out messages and membership.
    public var instanceID = RedisFanout.defaultInstanceID()

    /// The Pub/Sub fan-out of the Redis backend (`nil` for the others), subscribing on the first
    /// seed with the store's login, and on the next seed when that one cannot be reached.
    public func fanout(hub: Hub, logger: Logger) -> RedisFanout? {
        guard let redis, let keys, let seed = redis.configuration.seeds.first else { return nil }
        var subscriber = redis.configuration.node
        subscriber.host = seed.host
        subscriber.port = seed.port
        subscriber.fallbackNodes = Array(redis.configuration.seeds.dropFirst())
        return RedisFanout(
            hub: hub,
            publisher: redis,
            subscriber: subscriber,
            keys: keys,
            instanceID: instanceID,
            logger: logger,
            latest: stores.latest
        )
    }

    /// The leases on once-only work of the Redis backend (`nil` for the others: one instance).
    public var leases: RedisWorkLeases? {
        guard let redis, let keys else { return nil }
        return RedisWorkLeases(redis: redis, keys: keys)
    }

    /// The membership heartbeat of the Redis backend (`nil` for the others).
    public func membership(version: String, logger: Logger, clock: any VigilClock, ownership: WorkOwnership? = nil) -> RedisMembership? {
        guard let redis, let keys else { return nil }
        return RedisMembership(
            redis: redis,
            keys: keys,
            instanceID: instanceID,
            version: version,
            logger: logger,
            clock: clock,
            ownership: ownership
        )
    }
}

/// Opens the stores a configuration names.
public enum StoreFactory {
    /// Opens the configured backend.
    ///
    /// - Throws: When the SQLite database cannot be opened or migrated, or the Redis URL is invalid.
    public static func open(_ configuration: StoreConfiguration) throws -> Stores {
        try openBackend(configuration, logger: Logger(label: "vigil.storage")).stores
    }

    /// Opens the configured backend, with its Redis client when it has one.
    ///
    /// The Redis client serves a single server (`url`) and a cluster (`cluster_nodes`) alike: it
    /// recognises a standalone server. Commands work before its `run()`, so the hub can restore
    /// before the services start.
    ///
    /// - Throws: When the SQLite database cannot be opened or migrated, or the Redis URL is invalid.
    ///
    /// - Parameter observer: Told of the Redis client's redirects, discoveries and retries.
    public static func openBackend(
        _ configuration: StoreConfiguration,
        logger: Logger,
        observer: @escaping @Sendable (RedisClusterEvent) -> Void = { _ in }
    ) throws -> StoreBackend {
        switch configuration.backend {
        case .sqlite: return StoreBackend(stores: try SQLiteStore(path: configuration.path).stores)
        case .memory: return StoreBackend(stores: MemoryStore().stores)
        case .redis:
            let client = try redisClient(configuration, logger: logger, observer: observer)
            let keys = RedisStoreKeys(prefix: configuration.keyPrefix)
            let limits = RedisStore.Limits(maxEvents: configuration.maxEvents, maxPointsPerSeries: configuration.maxPointsPerSeries)
            return StoreBackend(stores: RedisStore(redis: client, keys: keys, limits: limits).stores, redis: client, keys: keys)
        }
    }

    /// The client of the `redis` backend.
    ///
    /// - Throws: ``RedisClientError`` when the URL is invalid (its message masks the password).
    ///   - observer: Counts redirects, discoveries and retries (`vigil_redis_cluster_*{client="store"}`).
    public static func redisClient(
        _ configuration: StoreConfiguration,
        logger: Logger,
        observer: @escaping @Sendable (RedisClusterEvent) -> Void = { _ in }
    ) throws -> RedisClusterClient {
        var node: RedisConfiguration
        var seeds: [RedisClusterNode]
        switch configuration.redis ?? .url("redis://127.0.0.1:6379") {
        case .url(let url):
            node = try RedisConfiguration(url: url)
            seeds = [RedisClusterNode(host: node.host, port: node.port)]
        case .cluster(let nodes, let username, let password):
            node = RedisConfiguration(username: username, password: password)
            seeds = nodes.compactMap(Self.node)
        }
        node.clientName = "vigil-store"
        node.connectTimeout = configuration.redisConnectTimeout
        node.commandTimeout = configuration.redisCommandTimeout
        var cluster = RedisClusterConfiguration(seeds: seeds, node: node)
        cluster.maxRetries = configuration.redisMaxRetries
        return RedisClusterClient(configuration: cluster, logger: logger, observer: observer)
    }

    /// `host:port` (an IPv6 host in brackets) as a node, or `nil` (also for an empty host).
    public static func node(_ text: String) -> RedisClusterNode? {
        RedisClusterNode(text).flatMap { $0.host.isEmpty ? nil : $0 }
    }
}
