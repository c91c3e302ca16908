//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Metrics
import VigilRedis

/// The counters of the Redis Cluster client (`vigil_redis_cluster_*`), made once.
enum RedisClusterMetrics {
    static let moved = Counter(label: "vigil_redis_cluster_redirects_total", dimensions: [("kind", "moved")])
    static let ask = Counter(label: "vigil_redis_cluster_redirects_total", dimensions: [("kind", "ask")])
    static let discovered = Counter(label: "vigil_redis_cluster_discoveries_total", dimensions: [("result", "ok")])
    static let discoveryFailed = Counter(label: "vigil_redis_cluster_discoveries_total", dimensions: [("result", "failed")])
    static let retries = Counter(label: "vigil_redis_cluster_retries_total")

    /// Counts one client event.
    @Sendable static func observer(_ event: RedisClusterEvent) {
        switch event {
        case .redirect(.moved): moved.increment()
        case .redirect(.ask): ask.increment()
        case .discovery(succeeded: true): discovered.increment()
        case .discovery(succeeded: false): discoveryFailed.increment()
        case .retry: retries.increment()
        }
    }
}
