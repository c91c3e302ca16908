//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
public import NIOCore
public import NIOPosix
public import ServiceLifecycle
import Synchronization
import VigilClientSupport

/// A Redis Cluster client: it learns which master serves which hash slot, sends each command to
/// the master of its key, follows `MOVED` and `ASK`, splits multi-key commands per slot, and
/// re-discovers the topology when a slot moves or a node is lost.
///
/// - Topology: `CLUSTER SHARDS` (Redis 7), else `CLUSTER SLOTS`, from the known nodes and then the
///   seeds. A server that says (in `HELLO`) that it is standalone is used as a single node, so one
///   configuration works for both.
/// - Routing: the first key decides (`XREAD`/`XREADGROUP`: the first stream; `EVAL`/`EVALSHA`/`FCALL`:
///   the first key); commands without a key go to the master of slot 0.
/// - `MGET`, `DEL`, `UNLINK`, `EXISTS` and `TOUCH` over keys of several slots are split per slot,
///   pipelined per master, and merged (values in key order; counts summed).
/// - `SCAN` walks every master in turn. Its cursor is `<slot>-<cursor>` (the lowest slot of the
///   master being scanned, then that master's cursor), stable across a failover; `0` starts and ends.
/// - Failures: a lost node, a timeout, `TRYAGAIN`, `CLUSTERDOWN` or `LOADING` are retried up to
///   ``RedisClusterConfiguration/maxRetries`` times, each after a re-discovery. Pub/Sub and
///   transactions are not supported.
///
/// Commands work without ``run()`` (the first one discovers the topology); ``run()`` discovers
/// at start, refreshes periodically and closes every connection when it returns.
///
/// ```swift
/// let cluster = RedisClusterClient(configuration: RedisClusterConfiguration(seeds: nodes), logger: logger)
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await cluster.run() }
///     let reply = try await cluster.execute(["MGET", "alice", "bob", "carol"])
/// }
/// ```
public final class RedisClusterClient: Service, RedisCommandExecutor, Sendable {
    /// The configuration given at creation.
    public let configuration: RedisClusterConfiguration
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    private let observer: @Sendable (RedisClusterEvent) -> Void
    private let state = Mutex(State())

    private enum Entry {
        case connecting(Task<RedisConnection, any Error>)
        case ready(RedisConnection)
    }

    private struct State {
        var running = false
        var stopped = false
        var topology: RedisClusterTopology?
        var discovery: Task<RedisClusterTopology, any Error>?
        var connections: [RedisClusterNode: Entry] = [:]
    }

    /// Creates a client. No connection is made until the first command or ``run()``.
    ///
    /// - Parameters:
    ///   - configuration: Seeds, login, retries.
    ///   - eventLoopGroup: Where connections run.
    ///   - logger: Logger for topology changes and retries.
    ///   - observer: Told of redirects, discoveries and retries (for metrics); called on any thread.
    public init(
        configuration: RedisClusterConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        observer: @escaping @Sendable (RedisClusterEvent) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.observer = observer
    }

    /// The topology last discovered, if any.
    public var topology: RedisClusterTopology? { state.withLock { $0.topology } }

    // MARK: - Running

    /// Discovers the topology (retrying with ``RedisConfiguration/reconnect`` of
    /// ``RedisClusterConfiguration/node`` until a node answers), refreshes it every
    /// ``RedisClusterConfiguration/refreshInterval``, and on cancellation or graceful shutdown
    /// closes every connection; waiting commands then fail with ``RedisClientError/Code/shutdown``.
    ///
    /// - Throws: ``RedisClientError`` with ``RedisClientError/Code/alreadyRunning`` when called twice
    ///   at the same time.
    public func run() async throws {
        let started = state.withLock { state in
            if state.running { return false }
            state.running = true
            state.stopped = false
            return true
        }
        guard started else { throw RedisClientError(.alreadyRunning) }
        defer { self.stop() }
        await cancelWhenGracefulShutdown {
            var failures = 0
            while !Task.isCancelled {
                do {
                    _ = try await self.rediscover()
                    break
                } catch {
                    failures += 1
                    self.logger.warning("Redis Cluster discovery failed", metadata: ["error": "\(error)"])
                    do { try await Task.sleep(for: self.configuration.node.reconnect.delay(forAttempt: failures)) } catch { return }
                }
            }
            while !Task.isCancelled {
                do { try await Task.sleep(for: self.configuration.refreshInterval ?? .seconds(3_600)) } catch { return }
                if self.configuration.refreshInterval != nil { _ = try? await self.rediscover() }
            }
        }
    }

    private func stop() {
        let (entries, discovery) = state.withLock { state in
            state.running = false
            state.stopped = true
            defer {
                state.connections.removeAll()
                state.discovery = nil
            }
            return (Array(state.connections.values), state.discovery)
        }
        discovery?.cancel()
        for entry in entries {
            switch entry {
            case .connecting(let task): task.cancel()
            case .ready(let connection): connection.close()
            }
        }
    }

    // MARK: - Topology

    private func currentTopology() async throws -> RedisClusterTopology {
        if let topology = state.withLock({ $0.topology }) { return topology }
        return try await rediscover()
    }

    /// Asks the cluster for its topology; concurrent callers share one discovery.
    @discardableResult
    func rediscover() async throws -> RedisClusterTopology {
        let task = state.withLock { state -> Task<RedisClusterTopology, any Error>? in
            if state.stopped { return nil }
            if let discovery = state.discovery { return discovery }
            // Unstructured: the discovery belongs to no one caller (a cancelled caller must not end
            // it for the others); stop() cancels it.
            let discovery = Task { try await self.discover() }
            state.discovery = discovery
            return discovery
        }
        guard let task else { throw RedisClientError(.shutdown) }
        return try await task.value
    }

    private func discover() async throws -> RedisClusterTopology {
        var candidates: [RedisClusterNode] = []
        for node in (state.withLock { $0.topology?.nodes } ?? []) + configuration.seeds where !candidates.contains(node) {
            candidates.append(node)
        }
        var failures: [String] = []
        var lastError: (any Error)?
        for node in candidates {
            do {
                let topology = try await topology(from: node)
                let (changed, unused) = state.withLock { state -> (Bool, [RedisConnection]) in
                    let changed = state.topology != topology
                    state.topology = topology
                    state.discovery = nil
                    return (changed, Self.removeUnused(&state, keeping: Set(topology.nodes)))
                }
                for connection in unused { connection.close() }
                observer(.discovery(succeeded: true))
                if changed {
                    logger.info("Redis Cluster topology", metadata: ["redis.masters": "\(topology.summary)"])
                }
                return topology
            } catch {
                if Self.isConnectionFailure(error) { self.drop(node) }
                failures.append("\(node): \(error)")
                lastError = error
            }
        }
        state.withLock { $0.discovery = nil }
        observer(.discovery(succeeded: false))
        throw RedisClientError(
            .notConnected,
            message: "no Redis Cluster node gave a topology (\(failures.prefix(8).joined(separator: "; ")))",
            underlyingError: lastError
        )
    }

    private func topology(from node: RedisClusterNode) async throws -> RedisClusterTopology {
        let connection = try await self.connection(to: node)
        if connection.serverInfo["mode"]?.string == "standalone" { return .standalone(node) }
        do {
            return try RedisClusterTopology.parseShards(
                try await connection.execute(RedisCommand("CLUSTER", "SHARDS")),
                from: node,
                tls: configuration.node.tls != nil
            )
        } catch let error as RedisClientError where error.errorCode == .serverError {
            // Before Redis 7: CLUSTER SHARDS is an unknown subcommand.
            return try RedisClusterTopology.parseSlots(try await connection.execute(RedisCommand("CLUSTER", "SLOTS")), from: node)
        }
    }

    /// Applies a `MOVED` at once and asks for the full topology in the background.
    private func moved(slot: Int, to node: RedisClusterNode) {
        state.withLock { state in
            state.topology?.move(slot: slot, to: node)
            guard state.discovery == nil, !state.stopped else { return }
            // Not awaited: the command follows the redirect now while the map catches up.
            state.discovery = Task { try await self.discover() }
        }
    }

    // MARK: - Connections

    /// The shared connection to a node, opened on first use; concurrent callers share one attempt.
    func connection(to node: RedisClusterNode) async throws -> RedisConnection {
        enum Lookup {
            case ready(RedisConnection)
            case wait(Task<RedisConnection, any Error>)
            case stopped
            case full
        }
        let lookup = state.withLock { state -> (Lookup, [RedisConnection]) in
            if state.stopped { return (.stopped, []) }
            switch state.connections[node] {
            case .ready(let connection) where connection.channel.isActive: return (.ready(connection), [])
            case .connecting(let task): return (.wait(task), [])
            default: break
            }
            var evicted: [RedisConnection] = []
            if state.connections[node] == nil, state.connections.count >= configuration.maxConnections {
                evicted = Self.removeUnused(&state, keeping: Set(state.topology?.nodes ?? []))
                if state.connections.count >= configuration.maxConnections { return (.full, evicted) }
            }
            var nodeConfiguration = configuration.node
            nodeConfiguration.host = node.host
            nodeConfiguration.port = node.port
            let (group, logger) = (eventLoopGroup, logger)
            // Unstructured: shared by every caller that needs this node; stop() cancels it.
            let task = Task { try await RedisConnection.connect(configuration: nodeConfiguration, eventLoopGroup: group, logger: logger) }
            state.connections[node] = .connecting(task)
            return (.wait(task), evicted)
        }
        for connection in lookup.1 { connection.close() }
        switch lookup.0 {
        case .ready(let connection): return connection
        case .stopped: throw RedisClientError(.shutdown)
        case .full:
            throw RedisClientError(.notConnected, message: "\(configuration.maxConnections) Redis Cluster node connections are open already")
        case .wait(let task):
            do {
                let connection = try await task.value
                let kept = state.withLock { state -> Bool in
                    guard !state.stopped else { return false }
                    if case .connecting(let pending) = state.connections[node], pending == task {
                        state.connections[node] = .ready(connection)
                    }
                    return true
                }
                guard kept else {
                    connection.close()
                    throw RedisClientError(.shutdown)
                }
                return connection
            } catch {
                state.withLock { state in
                    if case .connecting(let pending) = state.connections[node], pending == task { state.connections[node] = nil }
                }
                throw error
            }
        }
    }

    /// Forgets (and closes) the connection to a node after it failed.
    private func drop(_ node: RedisClusterNode) {
        let connection = state.withLock { state -> RedisConnection? in
            guard case .ready(let connection) = state.connections[node] else { return nil }
            state.connections[node] = nil
            return connection
        }
        connection?.close()
    }

    private static func removeUnused(_ state: inout State, keeping nodes: Set<RedisClusterNode>) -> [RedisConnection] {
        var closed: [RedisConnection] = []
        for (node, entry) in state.connections where !nodes.contains(node) {
            if case .ready(let connection) = entry {
                closed.append(connection)
                state.connections[node] = nil
            }
        }
        return closed
    }

    // MARK: - Commands

    /// Sends a command to the master of its key and returns the reply; see the type's description
    /// for routing, splitting, redirects and retries.
    ///
    /// - Parameter command: The command.
    /// - Returns: The reply (merged for split commands).
    /// - Throws: ``RedisClientError``: the server's error, the last failure after
    ///   ``RedisClusterConfiguration/maxRetries`` retries, or ``RedisClientError/Code/serverError``
    ///   after more than ``RedisClusterConfiguration/maxRedirects`` redirects.
    public func execute(_ command: RedisCommand) async throws -> RESPValue {
        switch command.name {
        case "MGET": return try await multiKey(command, merge: .values)
        case "DEL", "UNLINK", "EXISTS", "TOUCH": return try await multiKey(command, merge: .sum)
        case "SCAN": return try await scan(command)
        default: return try await send(command, slot: Self.slot(of: command))
        }
    }

    /// Runs a blocking command on a new connection to the master of its key, closed afterwards.
    ///
    /// - Parameters:
    ///   - command: The command.
    ///   - block: The server-side block time; `nil` for no limit.
    /// - Returns: The reply.
    /// - Throws: ``RedisClientError``.
    public func executeBlocking(_ command: RedisCommand, block: Duration?) async throws -> RESPValue {
        let slot = Self.slot(of: command)
        var redirects = 0
        while true {
            let topology = try await currentTopology()
            guard let node = slot.map({ topology.master(forSlot: $0) }) ?? topology.shards.first?.master else {
                throw RedisClientError(.notConnected, message: "no master serves slot \(slot ?? 0)")
            }
            var nodeConfiguration = configuration.node
            nodeConfiguration.host = node.host
            nodeConfiguration.port = node.port
            do {
                return try await RedisConnection.withConnection(configuration: nodeConfiguration, eventLoopGroup: eventLoopGroup, logger: logger) {
                    try await $0.executeBlocking(command, block: block)
                }
            } catch let error as RedisClientError {
                guard let redirect = Self.redirect(in: error), redirects < configuration.maxRedirects else { throw error }
                redirects += 1
                observer(.redirect(redirect.kind))
                moved(slot: redirect.slot, to: redirect.target(answeredBy: node))
            }
        }
    }

    /// Sends one command to the master of `slot` (slot 0's for `nil`), following redirects and
    /// retrying retryable failures.
    func send(_ command: RedisCommand, slot: Int?) async throws -> RESPValue {
        var retries = 0
        var redirects = 0
        var ask: RedisClusterNode?
        while true {
            var node: RedisClusterNode?
            do {
                let target: RedisClusterNode
                if let ask {
                    target = ask
                } else {
                    let topology = try await currentTopology()
                    guard let master = slot.map({ topology.master(forSlot: $0) }) ?? topology.shards.first?.master else {
                        throw RedisClientError(.serverError, message: "CLUSTERDOWN no master serves slot \(slot ?? 0)")
                    }
                    target = master
                }
                node = target
                let connection = try await self.connection(to: target)
                if ask != nil {
                    ask = nil
                    let replies = await connection.pipeline([RedisCommand("ASKING"), command])
                    _ = try replies[0].get()
                    return try replies[1].get()
                }
                return try await connection.execute(command)
            } catch let error as RedisClientError {
                if let redirect = Self.redirect(in: error) {
                    redirects += 1
                    guard redirects <= configuration.maxRedirects else {
                        throw RedisClientError(
                            .serverError,
                            message: "more than \(configuration.maxRedirects) redirects for \(command.name); last: \(error.message ?? "")"
                        )
                    }
                    observer(.redirect(redirect.kind))
                    let target = redirect.target(answeredBy: node ?? redirect.node)
                    if redirect.kind == .moved { moved(slot: redirect.slot, to: target) } else { ask = target }
                    continue
                }
                guard Self.isRetryable(error) else { throw error }
                if let node, Self.isConnectionFailure(error) { drop(node) }
                retries += 1
                guard retries <= configuration.maxRetries else { throw error }
                observer(.retry)
                logger.debug(
                    "Redis Cluster command retried",
                    metadata: ["error": "\(error)", "redis.node": "\(node.map { "\($0)" } ?? "?")", "redis.attempt": "\(retries)"]
                )
                try await Task.sleep(for: configuration.retryBackoff.delay(forAttempt: retries))
                _ = try? await rediscover()
            }
        }
    }

    // MARK: - Multi-key commands

    private enum Merge {
        case values
        case sum
    }

    /// Splits a command over keys into one command per slot, pipelined per master, and merges
    /// the replies in the order of the keys.
    private func multiKey(_ command: RedisCommand, merge: Merge) async throws -> RESPValue {
        let arguments = command.argumentBuffers
        let keys = arguments.dropFirst()
        var groups: [Int: [Int]] = [:]
        var slotOrder: [Int] = []
        for (index, key) in keys.enumerated() {
            let slot = RedisClusterSlot.slot(for: key)
            if groups[slot] == nil { slotOrder.append(slot) }
            groups[slot, default: []].append(index)
        }
        guard slotOrder.count > 1 else { return try await send(command, slot: slotOrder.first) }
        let keyArray = Array(keys)
        let parts: [(slot: Int, indices: [Int], command: RedisCommand)] = slotOrder.map { slot in
            var part = RedisCommand(command.name)
            for index in groups[slot]! { part.append(keyArray[index]) }
            return (slot, groups[slot]!, part)
        }
        let topology = try await currentTopology()
        var byNode: [RedisClusterNode: [Int]] = [:]
        for (partIndex, part) in parts.enumerated() {
            byNode[topology.master(forSlot: part.slot) ?? topology.shards[0].master, default: []].append(partIndex)
        }
        let replies = try await withThrowingTaskGroup(of: [(Int, RESPValue)].self) { group in
            for (node, partIndices) in byNode {
                group.addTask {
                    let replies = try await self.pipeline(partIndices.map { parts[$0].command }, slots: partIndices.map { parts[$0].slot }, on: node)
                    return Array(zip(partIndices, replies))
                }
            }
            var replies = [RESPValue?](repeating: nil, count: parts.count)
            for try await batch in group {
                for (index, reply) in batch { replies[index] = reply }
            }
            return replies
        }
        switch merge {
        case .values:
            var values = [RESPValue](repeating: .null, count: keyArray.count)
            for (part, reply) in zip(parts, replies) {
                guard let list = reply?.array, list.count == part.indices.count else {
                    throw RedisClientError(
                        .unexpectedResponse,
                        message: "\(command.name) returned \(reply.map { "\($0)" } ?? "nothing") for \(part.indices.count) keys"
                    )
                }
                for (index, value) in zip(part.indices, list) { values[index] = value }
            }
            return .array(values)
        case .sum:
            var total: Int64 = 0
            for reply in replies {
                guard let count = reply?.int else {
                    throw RedisClientError(.unexpectedResponse, message: "\(command.name) returned \(reply.map { "\($0)" } ?? "nothing")")
                }
                total &+= Int64(count)
            }
            return .integer(total)
        }
    }

    /// Pipelines commands to one node; those that fail with a redirect or a retryable error are
    /// sent again one by one through ``send(_:slot:)``.
    private func pipeline(_ commands: [RedisCommand], slots: [Int], on node: RedisClusterNode) async throws -> [RESPValue] {
        var results: [Result<RESPValue, RedisClientError>]
        do {
            results = try await self.connection(to: node).pipeline(commands)
        } catch let error as RedisClientError {
            results = Array(repeating: .failure(error), count: commands.count)
        }
        if results.contains(where: { if case .failure(let error) = $0 { Self.isConnectionFailure(error) } else { false } }) {
            drop(node)
        }
        var replies: [RESPValue] = []
        replies.reserveCapacity(commands.count)
        for (index, result) in results.enumerated() {
            switch result {
            case .success(let reply): replies.append(reply)
            case .failure(let error) where Self.redirect(in: error) != nil || Self.isRetryable(error):
                replies.append(try await send(commands[index], slot: slots[index]))
            case .failure(let error): throw error
            }
        }
        return replies
    }

    // MARK: - SCAN

    /// One `SCAN` step on one master; the cursor names the master by its lowest slot.
    private func scan(_ command: RedisCommand) async throws -> RESPValue {
        let arguments = command.argumentBuffers
        guard arguments.count >= 2 else { return try await send(command, slot: nil) }
        let cursor = String(buffer: arguments[1])
        let topology = try await currentTopology()
        let startSlot: Int
        let nodeCursor: String
        if UInt64(cursor) != nil {
            // `0` starts; a plain cursor (saved by a single-node client) continues on the first master.
            startSlot = topology.shards.first?.slots.first?.lowerBound ?? 0
            nodeCursor = cursor
        } else {
            let parts = cursor.split(separator: "-", maxSplits: 1)
            guard parts.count == 2, let slot = Int(parts[0]), (0..<RedisClusterSlot.count).contains(slot), UInt64(parts[1]) != nil else {
                throw RedisClientError(.serverError, message: "ERR invalid cluster cursor '\(cursor.prefix(64))'")
            }
            startSlot = slot
            nodeCursor = String(parts[1])
        }
        var step = RedisCommand("SCAN")
        step.append(nodeCursor)
        for argument in arguments.dropFirst(2) { step.append(argument) }
        let reply = try await send(step, slot: startSlot)
        guard let parts = reply.array, parts.count == 2, let next = parts[0].string else {
            throw RedisClientError(.unexpectedResponse, message: "SCAN returned \(reply)")
        }
        var composite = "0"
        if next != "0" {
            composite = "\(startSlot)-\(next)"
        } else if let shard = topology.shardIndex(forSlot: startSlot), shard + 1 < topology.shards.count {
            composite = "\(topology.shards[shard + 1].slots[0].lowerBound)-0"
        }
        return .array([.bulkString(ByteBuffer(string: composite)), parts[1]])
    }

    // MARK: - Classification

    /// The slot a command is routed by, or `nil` for a command without a key.
    static func slot(of command: RedisCommand) -> Int? {
        switch command.name {
        case "PING", "ECHO", "INFO", "CLUSTER", "DBSIZE", "FLUSHDB", "FLUSHALL", "TIME", "HELLO", "CLIENT", "CONFIG", "COMMAND", "KEYS",
            "RANDOMKEY", "WAIT", "SCRIPT", "FUNCTION", "LASTSAVE", "MEMORY", "SLOWLOG", "LATENCY":
            return nil
        default: break
        }
        guard command.count >= 2 else { return nil }
        let arguments = command.argumentBuffers
        switch command.name {
        case "XREAD", "XREADGROUP":
            guard let streams = arguments.firstIndex(where: { String(buffer: $0).uppercased() == "STREAMS" }), streams + 1 < arguments.count else {
                return nil
            }
            return RedisClusterSlot.slot(for: arguments[streams + 1])
        case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
            guard arguments.count >= 4, let keys = Int(String(buffer: arguments[2])), keys > 0 else { return nil }
            return RedisClusterSlot.slot(for: arguments[3])
        default:
            return RedisClusterSlot.slot(for: arguments[1])
        }
    }

    static func redirect(in error: RedisClientError) -> RedisClusterRedirect? {
        guard error.errorCode == .serverError, let message = error.message else { return nil }
        return RedisClusterRedirect(message)
    }

    /// Failures after which the same command may succeed a moment later, perhaps on another node.
    static func isRetryable(_ error: RedisClientError) -> Bool {
        if isConnectionFailure(error) { return true }
        switch error.serverErrorPrefix {
        case "TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN": return true
        default: return false
        }
    }

    static func isConnectionFailure(_ error: any Error) -> Bool {
        guard let error = error as? RedisClientError else { return false }
        return [.connectFailed, .connectionClosed, .notConnected, .timeout].contains(error.errorCode)
    }
}
