//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Synchronization
import VigilRedis

/// The Redis Cluster started by `scripts/services/redis.sh`: three masters with a replica each.
enum RedisClusterTest {
    /// Every node, as seeds.
    static func seeds() throws -> [RedisClusterNode] {
        try IntegrationEnvironment.redisClusterNodes.map { node in
            guard let parsed = RedisClusterNode(node) else {
                throw IntegrationEnvironment.MissingService(variable: "REDIS_CLUSTER_NODES", detail: "'\(node)' is not host:port")
            }
            return parsed
        }
    }

    /// A configuration whose retries outlast a failover (1 s node timeout, about 2–3 s in all).
    static func configuration(maxRetries: Int = 20) throws -> RedisClusterConfiguration {
        var node = RedisConfiguration()
        node.commandTimeout = .seconds(2)
        node.connectTimeout = .seconds(2)
        var configuration = RedisClusterConfiguration(seeds: try seeds(), node: node)
        configuration.maxRetries = maxRetries
        return configuration
    }

    /// A key for every one of the 16,384 slots, all starting with `prefix`.
    static func keyPerSlot(prefix: String) -> [String] {
        var keys = [String?](repeating: nil, count: RedisClusterSlot.count)
        var missing = RedisClusterSlot.count
        var index = 0
        while missing > 0 {
            let key = "\(prefix)\(index)"
            let slot = RedisClusterSlot.slot(for: key)
            if keys[slot] == nil {
                keys[slot] = key
                missing -= 1
            }
            index += 1
        }
        return keys.map { $0! }
    }

    /// Runs `operation` on a node of its own connection.
    static func onNode<Result: Sendable>(_ node: RedisClusterNode, _ operation: (RedisConnection) async throws -> Result) async throws -> Result {
        var configuration = RedisConfiguration(host: node.host, port: node.port)
        configuration.commandTimeout = .seconds(5)
        return try await RedisConnection.withConnection(configuration: configuration, logger: RedisTest.logger, operation: operation)
    }

    /// The masters as the first answering node but `excluding` sees them.
    static func masters(excluding: RedisClusterNode) async throws -> [RedisClusterNode] {
        for seed in try seeds() where seed != excluding {
            if let reply = try? await onNode(seed, { try await $0.execute(["CLUSTER", "SHARDS"]) }),
                let topology = try? RedisClusterTopology.parseShards(reply, from: seed)
            {
                return topology.shards.map(\.master)
            }
        }
        throw VigilProcess.Failure("no cluster node answered CLUSTER SHARDS")
    }

    /// Kills a node with SIGKILL (its pid is in `$REDIS_CLUSTER_DIR/PORT/redis.pid`).
    static func kill(_ node: RedisClusterNode) throws {
        let pidFile = "\(try IntegrationEnvironment.redisClusterDirectory)/\(node.port)/redis.pid"
        let text = try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let pid = Int32(text) else { throw VigilProcess.Failure("no pid in \(pidFile)") }
        Foundation.kill(pid, SIGKILL)
    }

    /// Starts a killed node again (daemonized, so `redis_cluster_stop` stops it through its pid
    /// file) and waits until the cluster is whole: every node `cluster_state:ok` and three
    /// replicas in sync.
    static func restart(_ node: RedisClusterNode) async throws {
        // Back before its replica took over, the empty node (no persistence) would stay master.
        try await withTimeout(.seconds(20)) {
            while try await masters(excluding: node).contains(node) { try await Task.sleep(for: .milliseconds(100)) }
        }
        let directory = "\(try IntegrationEnvironment.redisClusterDirectory)/\(node.port)"
        // posix_spawn and waitpid, not Foundation's Process: the daemonizing parent exits at once,
        // and Process neither returned from reading its pipe (the daemon keeps it) nor reaped it.
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let arguments = [IntegrationEnvironment.redisBinary, "\(directory)/redis.conf", "--daemonize", "yes"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, IntegrationEnvironment.redisBinary, &actions, nil, &argv, environ) == 0 else {
            throw VigilProcess.Failure("cannot start \(IntegrationEnvironment.redisBinary)")
        }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        guard status == 0 else { throw VigilProcess.Failure("redis-server restart failed: status \(status)") }
        try await waitUntilWhole()
    }

    /// Runs `body`, then restarts the node it killed (recorded in the ``KilledNode``) however it
    /// ends; the old master comes back as a replica of the promoted one.
    static func restoringKilledNode(_ body: (KilledNode) async throws -> Void) async throws {
        let killed = KilledNode()
        do {
            try await body(killed)
        } catch {
            if let node = killed.node.withLock({ $0 }) { try? await restart(node) }
            throw error
        }
        if let node = killed.node.withLock({ $0 }) { try await restart(node) }
    }

    /// Waits until every node says `cluster_state:ok` and three replicas report a link that is up.
    static func waitUntilWhole(timeout: Duration = .seconds(30)) async throws {
        try await withTimeout(timeout) {
            while true {
                var whole = true
                var linked = 0
                for seed in try seeds() {
                    let state = try? await onNode(seed) { connection -> (Bool, Bool) in
                        let info = try await connection.execute(["CLUSTER", "INFO"]).string ?? ""
                        let replication = try await connection.execute(["INFO", "replication"]).string ?? ""
                        return (info.contains("cluster_state:ok"), replication.contains("master_link_status:up"))
                    }
                    guard let state, state.0 else {
                        whole = false
                        break
                    }
                    if state.1 { linked += 1 }
                }
                if whole, linked == 3 { return }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}

/// The node a test killed, to restart it however the test ends.
final class KilledNode: Sendable {
    let node = Mutex<RedisClusterNode?>(nil)

    /// Kills `victim` with SIGKILL and remembers it.
    func kill(_ victim: RedisClusterNode) throws {
        node.withLock { $0 = victim }
        try RedisClusterTest.kill(victim)
    }
}

/// Counts what a cluster client reports.
final class RedisClusterEventCounter: Sendable {
    private let events = Mutex<[RedisClusterEvent: Int]>([:])

    func record(_ event: RedisClusterEvent) {
        events.withLock { $0[event, default: 0] += 1 }
    }

    subscript(event: RedisClusterEvent) -> Int {
        events.withLock { $0[event] ?? 0 }
    }
}

/// Runs a cluster client next to `operation` and stops it afterwards.
func withRedisClusterClient<Result: Sendable>(
    _ configuration: RedisClusterConfiguration,
    events: RedisClusterEventCounter = RedisClusterEventCounter(),
    timeout: Duration = .seconds(120),
    _ operation: @Sendable @escaping (RedisClusterClient) async throws -> Result
) async throws -> Result {
    let client = RedisClusterClient(configuration: configuration, logger: RedisTest.logger) { events.record($0) }
    return try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask {
            try await client.run()
            return nil
        }
        defer { group.cancelAll() }
        return try await withTimeout(timeout) { try await operation(client) }
    }
}
