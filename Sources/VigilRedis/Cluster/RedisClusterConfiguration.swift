//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import VigilClientSupport

/// How a ``RedisClusterClient`` finds the cluster, logs in to its nodes and retries.
///
/// | Setting | Type | Default |
/// |---|---|---|
/// | `seeds` | [``RedisClusterNode``] | — (any nodes of the cluster; one is enough) |
/// | `node` | ``RedisConfiguration`` | credentials, TLS, client name and timeouts for every node (its host and port are not used) |
/// | `maxRetries` | Int | 3: retries of a command after a lost node, a timeout, `TRYAGAIN` or `CLUSTERDOWN` |
/// | `retryBackoff` | ``RedisReconnectPolicy`` | 100 ms doubling to 1 s: the wait before each retry |
/// | `maxRedirects` | Int | 5: `MOVED` and `ASK` replies followed per command |
/// | `refreshInterval` | Duration? | 30 s: periodic re-discovery while ``RedisClusterClient/run()`` runs |
/// | `maxConnections` | Int | 64: open node connections (one per node in use) |
///
/// ```swift
/// var configuration = RedisClusterConfiguration(seeds: [RedisClusterNode("10.0.0.1:6379")!, RedisClusterNode("10.0.0.2:6379")!])
/// configuration.node.password = "secret"
/// configuration.node.commandTimeout = .seconds(1)   // seed 001's read_timeout
/// configuration.maxRetries = 2                       // seed 001's max_retries
/// ```
public struct RedisClusterConfiguration: Sendable {
    /// Nodes to ask for the topology; after the first discovery the known nodes are asked first.
    public var seeds: [RedisClusterNode]
    /// Login, TLS and timeouts shared by every node connection. `commandTimeout` is the read
    /// timeout of each command; `database` must be 0 for a cluster (a standalone server, which the
    /// client also accepts, may use another).
    public var node: RedisConfiguration
    /// How often a command is sent again after a retryable failure. A command whose connection was
    /// lost may have run, so a retried write may run twice.
    public var maxRetries: Int
    /// The wait before retry *n* (`delay(forAttempt: n)`); its `maxAttempts` is not used.
    public var retryBackoff: RedisReconnectPolicy
    /// How many redirects one command follows before it fails.
    public var maxRedirects: Int
    /// How often ``RedisClusterClient/run()`` asks for the topology again; `nil` only on demand
    /// (a `MOVED`, a lost node).
    public var refreshInterval: Duration?
    /// The most node connections open at once.
    public var maxConnections: Int

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - seeds: Nodes of the cluster.
    ///   - node: Login and timeouts for each node.
    public init(seeds: [RedisClusterNode], node: RedisConfiguration = RedisConfiguration()) {
        self.seeds = seeds
        self.node = node
        self.maxRetries = 3
        self.retryBackoff = RedisReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(1), jitter: 0.2)
        self.maxRedirects = 5
        self.refreshInterval = .seconds(30)
        self.maxConnections = 64
    }
}

/// Something a ``RedisClusterClient`` did that operators count (see `vigil_redis_cluster_*`).
public enum RedisClusterEvent: Sendable, Hashable {
    /// A `MOVED` or `ASK` reply was followed.
    case redirect(RedisClusterRedirect.Kind)
    /// The topology was asked for; `succeeded` is false when no node answered with a valid map.
    case discovery(succeeded: Bool)
    /// A command is sent again after a retryable failure.
    case retry
}
