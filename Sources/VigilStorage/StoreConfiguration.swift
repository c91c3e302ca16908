//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Where Vigil keeps latest state, history, durable key/value state and events.
///
/// TOML section `[store]`:
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `backend` | string | `"sqlite"` | `sqlite` (embedded, one machine), `redis` (shared by instances) or `memory` (nothing survives a restart) |
/// | `path` | string | `"./vigil-data/vigil.sqlite"` | the SQLite database file; its folder is created |
/// | `retention` | duration | `"7d"` | history points and events older than this are deleted |
/// | `prune_interval` | duration | `"10m"` | how often retention is applied |
/// | `url` | string | none | `redis`: `redis://[user:password@]host:port[/db]` of a single server |
/// | `cluster_nodes` | list | none | `redis`: `host:port` seeds of a Redis Cluster (instead of `url`) |
/// | `username`, `password` | string | none | `redis` with `cluster_nodes`: the login |
/// | `key_prefix` | string | `"vigil:"` | `redis`: prefix of every key but seed 003's `mediamtx:*` |
/// | `max_events` | int | `100000` | `redis`: events kept in the event stream |
/// | `max_points_per_series` | int | `1000000` | `redis`: points kept per history stream |
/// | `connect_timeout` | duration | `"5s"` | `redis`: TCP connect and handshake |
/// | `command_timeout` | duration | `"10s"` | `redis`: the wait for each reply |
/// | `max_retries` | int | `3` | `redis`: a command sent again after a lost node, a timeout or a cluster that is reconfiguring |
/// | `instance` | string | `<host name>-<http port>` | `redis`: this instance's name among the instances sharing the store (membership, work split, MQTT client id suffix); stable across restarts |
public struct StoreConfiguration: Sendable, Hashable {
    /// The storage backends.
    public enum Backend: String, Sendable, Hashable, CaseIterable {
        /// SQLite through GRDB, the embedded default.
        case sqlite
        /// In memory; for tests and throw-away runs.
        case memory
        /// Redis, a single server or a cluster, shared by several instances.
        case redis
    }

    /// Where the `redis` backend connects.
    public enum RedisEndpoint: Sendable, Hashable {
        /// A single server: `redis://[user:password@]host:port[/db]`.
        case url(String)
        /// The seeds of a Redis Cluster (`host:port`), with an optional login.
        case cluster(nodes: [String], username: String?, password: String?)
    }

    /// The backend in use.
    public var backend: Backend
    /// The SQLite database file.
    public var path: String
    /// How long history points and events are kept.
    public var retention: Duration
    /// How often retention is applied.
    public var pruneInterval: Duration
    /// The Redis server or cluster of the `redis` backend.
    public var redis: RedisEndpoint?
    /// The prefix of Vigil's own Redis keys.
    public var keyPrefix: String = "vigil:"
    /// Events kept in the Redis event stream.
    public var maxEvents: Int = 100_000
    /// Points kept per Redis history stream.
    public var maxPointsPerSeries: Int = 1_000_000
    /// This instance's name among those sharing the Redis store; `nil`: `<host name>-<http port>`.
    public var instance: String?
    /// The Redis client's limit for TCP connect and the handshake.
    public var redisConnectTimeout: Duration = .seconds(5)
    /// The Redis client's wait for each reply.
    public var redisCommandTimeout: Duration = .seconds(10)
    /// How often the Redis client sends a command again (lost node, timeout, reconfiguration).
    public var redisMaxRetries = 3

    /// Creates a configuration; every parameter has the default listed above.
    public init(
        backend: Backend = .sqlite,
        path: String = "./vigil-data/vigil.sqlite",
        retention: Duration = .seconds(7 * 86_400),
        pruneInterval: Duration = .seconds(600)
    ) {
        self.backend = backend
        self.path = path
        self.retention = retention
        self.pruneInterval = pruneInterval
    }
}
