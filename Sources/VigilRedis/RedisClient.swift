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

/// A Redis client that stays connected: it keeps one RESP3 connection, reconnects with capped,
/// jittered backoff, and subscribes again to every Pub/Sub channel and pattern after a reconnect.
///
/// The client is a `Service`: nothing happens until ``run()`` is called, and ``run()`` returns on
/// task cancellation or graceful shutdown. Other methods may be called from any task; commands
/// from concurrent tasks share the connection and are pipelined. RESP3 lets Pub/Sub share the
/// same connection. Blocking commands (`XREAD` with `block`) run on a connection of their own.
///
/// ```swift
/// let client = RedisClient(configuration: try RedisConfiguration(url: "redis://127.0.0.1:6379"), logger: logger)
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await client.run() }
///     try await client.hset("state:gw-1", fields: ["status": "up"])
///     for try await message in try await client.subscribe(to: ["changes"]) {
///         print(message.channel, String(buffer: message.payload))
///     }
/// }
/// ```
public final class RedisClient: Service, RedisCommandExecutor, Sendable {
    /// The configuration given at creation.
    public let configuration: RedisConfiguration
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    private let state = Mutex(State())
    private let actions: AsyncStream<Int>
    private let actionsContinuation: AsyncStream<Int>.Continuation

    private typealias MessageContinuation = AsyncThrowingStream<RedisPubSubMessage, any Error>.Continuation

    private struct Subscriber {
        var command: RedisPubSubCommand
        var names: [String]
        var continuation: MessageContinuation
    }

    private struct PendingPubSub {
        var command: RedisPubSubCommand
        var names: [String]
        var continuation: CheckedContinuation<Void, any Error>?
    }

    private struct State {
        var running = false
        var stopped = false
        var connection: RedisConnection?
        var nextID = 0
        var connectionWaiters: [Int: CheckedContinuation<RedisConnection, any Error>] = [:]
        var subscribers: [Int: Subscriber] = [:]
        /// Subscriber IDs per channel and per pattern.
        var channels: [String: Set<Int>] = [:]
        var patterns: [String: Set<Int>] = [:]
        /// Pub/Sub commands waiting for the action loop, by ID (the ID goes through `actions`).
        var pendingPubSub: [Int: PendingPubSub] = [:]

        mutating func makeID() -> Int {
            nextID += 1
            return nextID
        }
    }

    /// Creates a client. No connection is made until ``run()``.
    ///
    /// - Parameters:
    ///   - configuration: Server address, credentials, timeouts and reconnect policy.
    ///   - eventLoopGroup: The event loops the connections run on.
    ///   - logger: Logger for connection events.
    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        var logger = logger
        logger[metadataKey: "redis.server"] = "\(configuration.host):\(configuration.port)"
        self.logger = logger
        (self.actions, self.actionsContinuation) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .unbounded)
    }

    // MARK: - Running

    /// Connects and keeps the connection up until the task is cancelled or a graceful shutdown is
    /// triggered.
    ///
    /// Failed attempts and lost connections are retried with the delays of
    /// ``RedisConfiguration/reconnect``. After each connection every active subscription is made
    /// again before commands may use it. On exit, waiting commands and subscriptions fail with
    /// ``RedisClientError/Code/shutdown``.
    ///
    /// - Throws: ``RedisClientError`` with ``RedisClientError/Code/alreadyRunning`` when called
    ///   twice at the same time, or the last connection error after ``RedisConfiguration/reconnect``'s
    ///   `maxAttempts` consecutive failed attempts (by default there is no limit); otherwise it
    ///   returns normally.
    public func run() async throws {
        let started = state.withLock { state in
            if state.running { return false }
            state.running = true
            state.stopped = false
            return true
        }
        guard started else { throw RedisClientError(.alreadyRunning) }
        defer { self.stopped() }
        try await cancelWhenGracefulShutdown {
            // Throwing group: when the connection loop gives up, the action loop is cancelled.
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await self.connectionLoop() }
                group.addTask { await self.actionLoop() }
            }
        }
    }

    private func connectionLoop() async throws {
        // `attempt` numbers reconnection attempts from 1 (the first connection is attempt 0 and
        // does not wait); `failures` counts failed attempts in a row for the policy's limit.
        var attempt = 0
        var failures = 0
        // The address tried: the configured one, or after a failed attempt the next fallback node.
        let addresses = [RedisClusterNode(host: configuration.host, port: configuration.port)] + configuration.fallbackNodes
        var addressIndex = 0
        while !Task.isCancelled {
            if attempt > 0 {
                let delay = configuration.reconnect.delay(forAttempt: attempt)
                logger.debug("Redis reconnecting", metadata: ["redis.attempt": "\(attempt)", "redis.delay": "\(delay)"])
                do { try await Task.sleep(for: delay) } catch { break }
            }
            attempt += 1
            let connection: RedisConnection
            do {
                connection = try await connectAndSubscribe(to: addresses[addressIndex])
            } catch {
                if Task.isCancelled { break }
                logger.warning("Redis connection failed", metadata: ["redis.node": "\(addresses[addressIndex])", "error": "\(error)"])
                addressIndex = (addressIndex + 1) % addresses.count
                failures += 1
                guard configuration.reconnect.allowsRetry(afterFailures: failures) else {
                    logger.error("Redis client gives up", metadata: ["redis.attempts": "\(failures)"])
                    throw error
                }
                continue
            }
            attempt = 1
            failures = 0
            let waiters = state.withLock { state in
                state.connection = connection
                defer { state.connectionWaiters.removeAll() }
                return Array(state.connectionWaiters.values)
            }
            logger.info("Redis connected")
            for waiter in waiters { waiter.resume(returning: connection) }
            let reason = await withTaskCancellationHandler {
                await connection.waitUntilClosed()
            } onCancel: {
                connection.close()
            }
            state.withLock { state in
                if state.connection === connection { state.connection = nil }
            }
            if !Task.isCancelled {
                logger.warning("Redis disconnected", metadata: ["redis.reason": "\(reason)"])
            }
        }
    }

    /// Opens a connection and makes every active subscription on it; closes it again on failure.
    private func connectAndSubscribe(to address: RedisClusterNode) async throws -> RedisConnection {
        var configuration = self.configuration
        configuration.host = address.host
        configuration.port = address.port
        let connection = try await RedisConnection.connect(
            configuration: configuration,
            eventLoopGroup: eventLoopGroup,
            logger: logger,
            onMessage: { [weak self] message in self?.deliver(message) }
        )
        do {
            let (channels, patterns) = state.withLock { (Array($0.channels.keys), Array($0.patterns.keys)) }
            try await connection.pubSub(.subscribe, channels)
            try await connection.pubSub(.psubscribe, patterns)
            return connection
        } catch {
            connection.close()
            throw error
        }
    }

    /// Sends SUBSCRIBE-family commands in the order subscriptions change, so a later subscribe
    /// can never be undone by an earlier unsubscribe that went out after it.
    private func actionLoop() async {
        for await id in actions {
            guard let action = state.withLock({ $0.pendingPubSub[id] }) else { continue }
            var failure: (any Error)?
            do {
                let connection = try await self.connection()
                try await connection.pubSub(action.command, action.names)
            } catch let error as RedisClientError where error.errorCode == .serverError {
                failure = error
            } catch {
                // The connection was lost (or is not up yet): the next connection subscribes to
                // everything registered, so the subscription still takes effect.
                if Task.isCancelled { failure = RedisClientError(.shutdown) }
            }
            let continuation = state.withLock { $0.pendingPubSub.removeValue(forKey: id)?.continuation }
            if let failure { continuation?.resume(throwing: failure) } else { continuation?.resume() }
        }
    }

    private func stopped() {
        let (waiters, pending, subscribers) = state.withLock { state in
            state.running = false
            state.stopped = true
            state.connection = nil
            defer {
                state.connectionWaiters.removeAll()
                state.pendingPubSub.removeAll()
                state.subscribers.removeAll()
                state.channels.removeAll()
                state.patterns.removeAll()
            }
            return (Array(state.connectionWaiters.values), state.pendingPubSub.values.compactMap(\.continuation), Array(state.subscribers.values))
        }
        let error = RedisClientError(.shutdown)
        for waiter in waiters { waiter.resume(throwing: error) }
        for continuation in pending { continuation.resume(throwing: error) }
        for subscriber in subscribers { subscriber.continuation.finish(throwing: error) }
    }

    // MARK: - Connection

    /// Returns the current connection, waiting up to the command timeout for one.
    func connection() async throws -> RedisConnection {
        if let connection = state.withLock({ $0.connection }) { return connection }
        let timeout = configuration.commandTimeout
        return try await withThrowingTaskGroup(of: RedisConnection.self) { group in
            group.addTask { try await self.waitForConnection() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw RedisClientError(.notConnected, message: "no connection to the server within \(timeout)")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    private func waitForConnection() async throws -> RedisConnection {
        let id = state.withLock { $0.makeID() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RedisConnection, any Error>) in
                enum Outcome {
                    case ready(RedisConnection)
                    case stopped, cancelled, wait
                }
                let outcome: Outcome = state.withLock { state in
                    if let connection = state.connection { return .ready(connection) }
                    if state.stopped { return .stopped }
                    // Checked under the lock: a cancellation that arrives later finds the waiter.
                    if Task.isCancelled { return .cancelled }
                    state.connectionWaiters[id] = continuation
                    return .wait
                }
                switch outcome {
                case .ready(let connection): continuation.resume(returning: connection)
                case .stopped: continuation.resume(throwing: RedisClientError(.shutdown))
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .wait: break
                }
            }
        } onCancel: {
            state.withLock { $0.connectionWaiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }

    // MARK: - Commands

    /// Sends a command on the shared connection and waits for its reply.
    ///
    /// Waits up to the command timeout for a connection when none is up. A command whose
    /// connection is lost fails with ``RedisClientError/Code/connectionClosed`` and is not
    /// retried: it may or may not have run.
    ///
    /// - Parameter command: The command.
    /// - Returns: The reply.
    /// - Throws: ``RedisClientError``.
    public func execute(_ command: RedisCommand) async throws -> RESPValue {
        try await self.connection().execute(command)
    }

    /// Runs a blocking command on a new connection of its own, closed afterwards.
    ///
    /// - Parameters:
    ///   - command: The command.
    ///   - block: The server-side block time; `nil` for no limit.
    /// - Returns: The reply.
    /// - Throws: ``RedisClientError``.
    public func executeBlocking(_ command: RedisCommand, block: Duration?) async throws -> RESPValue {
        try await self.withDedicatedConnection { try await $0.executeBlocking(command, block: block) }
    }

    /// Sends several commands in one write on the shared connection and returns each reply.
    ///
    /// - Parameter commands: The commands.
    /// - Returns: One result per command.
    /// - Throws: ``RedisClientError`` when no connection is up within the command timeout.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [Result<RESPValue, RedisClientError>] {
        try await self.connection().pipeline(commands)
    }

    /// Runs `operation` on a new connection that no one else uses, for loops of blocking commands.
    ///
    /// - Parameter operation: The work; the connection is closed when it returns or throws.
    /// - Returns: The result of `operation`.
    /// - Throws: ``RedisClientError`` or what `operation` throws.
    public func withDedicatedConnection<Result: Sendable>(
        _ operation: (RedisConnection) async throws -> Result
    ) async throws -> Result {
        try await RedisConnection.withConnection(
            configuration: configuration,
            eventLoopGroup: eventLoopGroup,
            logger: logger,
            operation: operation
        )
    }

    // MARK: - Pub/Sub

    /// Subscribes to channels and returns their messages.
    ///
    /// Returns once the server confirmed the subscription (or, when the connection is down, once
    /// the subscription is registered: the next connection makes it).
    ///
    /// - Parameter channels: The channel names.
    /// - Returns: The messages of these channels.
    /// - Throws: ``RedisClientError`` (a server error such as `NOPERM`, or
    ///   ``RedisClientError/Code/shutdown``).
    public func subscribe(to channels: [String]) async throws -> RedisSubscription {
        try await self.addSubscriber(.subscribe, channels)
    }

    /// Subscribes to glob patterns of channel names and returns their messages.
    ///
    /// - Parameter patterns: The patterns, such as `vigil.changes.*`.
    /// - Returns: The messages of matching channels; ``RedisPubSubMessage/pattern`` tells which
    ///   pattern matched.
    /// - Throws: ``RedisClientError``.
    public func psubscribe(patterns: [String]) async throws -> RedisSubscription {
        try await self.addSubscriber(.psubscribe, patterns)
    }

    private func addSubscriber(_ command: RedisPubSubCommand, _ names: [String]) async throws -> RedisSubscription {
        let (stream, continuation) = AsyncThrowingStream.makeStream(
            of: RedisPubSubMessage.self,
            bufferingPolicy: .bufferingNewest(max(1, configuration.subscriptionBufferSize))
        )
        let names = Array(Set(names)).sorted()
        let subscriberID = state.withLock { state -> Int? in
            guard !state.stopped else { return nil }
            let id = state.makeID()
            state.subscribers[id] = Subscriber(command: command, names: names, continuation: continuation)
            for name in names {
                if command == .subscribe {
                    state.channels[name, default: []].insert(id)
                } else {
                    state.patterns[name, default: []].insert(id)
                }
            }
            return id
        }
        guard let subscriberID else { throw RedisClientError(.shutdown) }
        continuation.onTermination = { [weak self] _ in self?.removeSubscriber(subscriberID) }
        do {
            try await withCheckedThrowingContinuation { (waiter: CheckedContinuation<Void, any Error>) in
                self.enqueue(PendingPubSub(command: command, names: names, continuation: waiter))
            }
        } catch {
            continuation.finish(throwing: error)
            throw error
        }
        return RedisSubscription(stream: stream)
    }

    /// Queues a Pub/Sub command for the action loop; fails it at once when the client stopped.
    private func enqueue(_ action: PendingPubSub) {
        let queued = state.withLock { state -> Bool in
            guard !state.stopped else { return false }
            let id = state.makeID()
            state.pendingPubSub[id] = action
            actionsContinuation.yield(id)
            return true
        }
        if !queued { action.continuation?.resume(throwing: RedisClientError(.shutdown)) }
    }

    private func removeSubscriber(_ id: Int) {
        let unsubscribe = state.withLock { state -> PendingPubSub? in
            guard let subscriber = state.subscribers.removeValue(forKey: id) else { return nil }
            var unused: [String] = []
            for name in subscriber.names {
                if subscriber.command == .subscribe {
                    state.channels[name]?.remove(id)
                    if state.channels[name]?.isEmpty == true {
                        state.channels[name] = nil
                        unused.append(name)
                    }
                } else {
                    state.patterns[name]?.remove(id)
                    if state.patterns[name]?.isEmpty == true {
                        state.patterns[name] = nil
                        unused.append(name)
                    }
                }
            }
            guard !unused.isEmpty, !state.stopped, state.connection != nil else { return nil }
            return PendingPubSub(command: subscriber.command == .subscribe ? .unsubscribe : .punsubscribe, names: unused, continuation: nil)
        }
        if let unsubscribe { self.enqueue(unsubscribe) }
    }

    /// Hands a message to the subscriptions of its channel or pattern; runs on the event loop.
    private func deliver(_ message: RedisPubSubMessage) {
        let continuations = state.withLock { state -> [MessageContinuation] in
            let ids = message.pattern.map { state.patterns[$0] } ?? state.channels[message.channel]
            return ids?.compactMap { state.subscribers[$0]?.continuation } ?? []
        }
        for continuation in continuations {
            if case .dropped = continuation.yield(message) {
                logger.warning("Redis subscription buffer full; dropped the oldest message", metadata: ["redis.channel": "\(message.channel)"])
            }
        }
    }
}
