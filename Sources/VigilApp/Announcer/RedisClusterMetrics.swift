//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Metrics
import VigilRedis

/// The counters of the Redis Cluster client (`vigil_redis_cluster_*`), made once.
/// `vigil_redis_cluster_*{client}`: the events of a Redis client (`announcer`: the Announcer's
/// online-user lookups; `store`: the Redis store).
struct RedisClusterMetrics: Sendable {
    let moved: Counter
    let ask: Counter
    let discovered: Counter
    let discoveryFailed: Counter
    let retries: Counter

    init(client: String) {
        moved = Counter(label: "vigil_redis_cluster_redirects_total", dimensions: [("client", client), ("kind", "moved")])
        ask = Counter(label: "vigil_redis_cluster_redirects_total", dimensions: [("client", client), ("kind", "ask")])
        discovered = Counter(label: "vigil_redis_cluster_discoveries_total", dimensions: [("client", client), ("result", "ok")])
        discoveryFailed = Counter(label: "vigil_redis_cluster_discoveries_total", dimensions: [("client", client), ("result", "failed")])
        retries = Counter(label: "vigil_redis_cluster_retries_total", dimensions: [("client", client)])
    }

    /// Counts the events of the client named `client`.
    static func observer(client: String) -> @Sendable (RedisClusterEvent) -> Void {
        let metrics = RedisClusterMetrics(client: client)
        return { event in
            switch event {
            case .redirect(.moved): metrics.moved.increment()
            case .redirect(.ask): metrics.ask.increment()
            case .discovery(succeeded: true): metrics.discovered.increment()
            case .discovery(succeeded: false): metrics.discoveryFailed.increment()
            case .retry: metrics.retries.increment()
            }
        }
    }
}
