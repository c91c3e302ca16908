//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
public import NIOCore
public import NIOPosix
import NIOSSL
import Synchronization
import VigilClientSupport

/// One network connection to a Redis server: an actor that runs on the channel's event loop, so it
/// reaches its channel handler without a thread hop.
///
/// The connection speaks RESP3: it opens with `HELLO 3` (with `AUTH` and `SETNAME` when
/// configured) and then `SELECT`s the database. Commands may be sent from many tasks at once; they
/// are pipelined and answered in order. Reconnection is not done here: ``RedisClient`` builds it on
/// top of this type and is what most code should use. A connection of its own is right for
/// blocking commands (`XREAD BLOCK`), which hold the connection until they return.
///
/// ```swift
/// try await RedisConnection.withConnection(configuration: configuration, logger: logger) { connection in
///     while true {
///         let batches = try await connection.xread(streams: [("activity", lastID)], count: 100, block: .seconds(5))
///         …
///     }
/// }
/// ```
public final actor RedisConnection: RedisCommandExecutor {
    nonisolated let channel: any Channel
    /// The executor of the channel's event loop, on which the actor runs.
    public nonisolated let unownedExecutor: UnownedSerialExecutor
    /// The server's answer to `HELLO` (server, version, proto, id, mode, role, modules).
    public nonisolated let serverInfo: [String: RESPValue]
    private let handler: NIOLoopBound<RedisChannelHandler>
    private let commandTimeout: TimeAmount
    private let executor: EventLoopTaskExecutor
    /// The source of request identifiers, which let a cancelled request be found.
    private let requestIDs = Atomic<UInt64>(0)

    /// A task executor on the connection's event loop.
    ///
    /// A loop that sends many commands is fastest inside
    /// `withTaskExecutorPreference(connection.taskExecutor) { … }`: its code then runs on the
    /// connection's thread, and neither sending a command nor resuming with the reply switches
    /// threads. Without it, a command costs a hop onto the event loop and one back.
    public nonisolated var taskExecutor: any TaskExecutor { executor }

    private init(
        channel: any Channel,
        handler: NIOLoopBound<RedisChannelHandler>,
        serverInfo: [String: RESPValue],
        commandTimeout: TimeAmount
    ) {
        self.channel = channel
        self.unownedExecutor = channel.eventLoop.executor.asUnownedSerialExecutor()
        self.handler = handler
        self.serverInfo = serverInfo
        self.commandTimeout = commandTimeout
        self.executor = EventLoopTaskExecutor(eventLoop: channel.eventLoop)
    }

    /// Connects, runs `operation` with the connection, then closes it, even when `operation`
    /// throws.
    ///
    /// - Parameters:
    ///   - configuration: Server address, credentials and timeouts.
    ///   - eventLoopGroup: Where the channel runs.
    ///   - logger: Logger for connection events.
    ///   - operation: Work to do while connected.
    /// - Returns: The result of `operation`.
    /// - Throws: ``RedisClientError`` when the connection or handshake fails, or what `operation`
    ///   throws.
    nonisolated(nonsending) public static func withConnection<Result: Sendable>(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        operation: (RedisConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try await connect(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
        do {
            let result = try await operation(connection)
            connection.close()
            return result
        } catch {
            connection.close()
            throw error
        }
    }

    /// Opens TCP (and TLS) and performs the handshake.
    ///
    /// - Parameters:
    ///   - configuration: Server address, credentials and timeouts.
    ///   - eventLoopGroup: Where the channel runs.
    ///   - logger: Logger for connection events.
    ///   - onMessage: Receives Pub/Sub messages on the event loop; it must return quickly.
    /// - Returns: A connection that is ready for commands.
    /// - Throws: ``RedisClientError`` with ``RedisClientError/Code/connectFailed``,
    ///   ``RedisClientError/Code/serverError`` (for example `WRONGPASS`) or
    ///   ``RedisClientError/Code/timeout``.
    public static func connect(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onMessage: @escaping @Sendable (RedisPubSubMessage) -> Void = { _ in }
    ) async throws -> RedisConnection {
        let sslContext: NIOSSLContext?
        let serverName: String?
        if let tls = configuration.tls {
            (sslContext, serverName) = try makeTLSContext(tls, host: configuration.host)
        } else {
            (sslContext, serverName) = (nil, nil)
        }
        let connectTimeout = TimeAmount(configuration.connectTimeout)
        let bootstrap = ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
        let (channel, handler): (any Channel, NIOLoopBound<RedisChannelHandler>)
        do {
            (channel, handler) = try await bootstrap.connect(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    }
                    let handler = RedisChannelHandler(eventLoop: channel.eventLoop, logger: logger, onMessage: onMessage)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
        } catch {
            throw RedisClientError(.connectFailed, message: "cannot connect to \(configuration.host):\(configuration.port)", underlyingError: error)
        }

        do {
            let hello = try await withTaskCancellationHandler {
                try await handshake(configuration, channel: channel, handler: handler, timeout: connectTimeout)
            } onCancel: {
                channel.close(promise: nil)
            }
            var info: [String: RESPValue] = [:]
            for entry in hello.mapEntries ?? [] {
                if let key = entry.key.string { info[key] = entry.value }
            }
            logger.debug(
                "Redis connected",
                metadata: ["redis.server": "\(configuration.host):\(configuration.port)", "redis.version": "\(info["version"]?.string ?? "?")"]
            )
            return RedisConnection(channel: channel, handler: handler, serverInfo: info, commandTimeout: TimeAmount(configuration.commandTimeout))
        } catch {
            channel.close(promise: nil)
            if let error = error as? RedisClientError, error.errorCode == .serverError || error.errorCode == .timeout {
                throw error
            }
            throw RedisClientError(
                .connectFailed,
                message: "handshake with \(configuration.host):\(configuration.port) failed",
                underlyingError: error
            )
        }
    }

    /// Sends HELLO (and SELECT), pipelined, and returns HELLO's reply.
    private static func handshake(
        _ configuration: RedisConfiguration,
        channel: any Channel,
        handler: NIOLoopBound<RedisChannelHandler>,
        timeout: TimeAmount
    ) async throws -> RESPValue {
        var hello = RedisCommand("HELLO", "3")
        if let password = configuration.password {
            hello.append("AUTH", configuration.username ?? "default", password)
        }
        if let name = configuration.clientName {
            hello.append("SETNAME", name)
        }
        let helloCommand = hello
        let helloReply = channel.eventLoop.makePromise(of: RESPValue.self)
        let selectReply: EventLoopPromise<RESPValue>? = configuration.database != 0 ? channel.eventLoop.makePromise() : nil
        let database = configuration.database
        channel.eventLoop.execute {
            handler.value.send(helloCommand, kind: .reply, promise: helloReply, timeout: timeout)
            if let selectReply {
                handler.value.send(RedisCommand("SELECT", database), kind: .reply, promise: selectReply, timeout: timeout)
            }
        }
        let reply = try await helloReply.futureResult.get()
        if let selectReply { _ = try await selectReply.futureResult.get() }
        return reply
    }

    static func makeTLSContext(_ tls: RedisTLSConfiguration, host: String) throws -> (NIOSSLContext, String?) {
        do {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let caFile = tls.caFile {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            }
            if !tls.verifyCertificate {
                configuration.certificateVerification = .none
            }
            let name = tls.serverName ?? host
            let isIPAddress = (try? SocketAddress(ipAddress: name, port: 0)) != nil
            return (try NIOSSLContext(configuration: configuration), isIPAddress ? nil : name)
        } catch {
            throw RedisClientError(.tlsConfiguration, message: "cannot set up TLS", underlyingError: error)
        }
    }

    // MARK: - Commands

    /// Sends a command and waits for its reply.
    ///
    /// It runs on the caller's executor and reaches the event loop without entering the actor.
    ///
    /// - Parameter command: The command.
    /// - Returns: The reply.
    /// - Throws: ``RedisClientError``: ``RedisClientError/Code/serverError`` for an error reply,
    ///   ``RedisClientError/Code/timeout`` or ``RedisClientError/Code/connectionClosed``; or
    ///   `CancellationError` when the task is cancelled (the reply is then discarded).
    nonisolated(nonsending) public func execute(_ command: RedisCommand) async throws -> RESPValue {
        try await self.send(command, kind: .reply, timeout: commandTimeout)
    }

    /// Sends a blocking command (such as `XREAD BLOCK`) whose reply may take `block` longer than
    /// the command timeout.
    ///
    /// - Parameters:
    ///   - command: The command.
    ///   - block: How long the server may block; `nil` for no limit (`BLOCK 0`).
    /// - Returns: The reply.
    /// - Throws: As ``execute(_:)``.
    nonisolated(nonsending) public func executeBlocking(_ command: RedisCommand, block: Duration?) async throws -> RESPValue {
        try await self.send(command, kind: .reply, timeout: block.map { commandTimeout + TimeAmount($0) })
    }

    /// Sends several commands in one write and returns each reply, in order.
    ///
    /// The task waits once for the whole pipeline.
    ///
    /// - Parameter commands: The commands.
    /// - Returns: One result per command: the reply or the error for that command.
    nonisolated(nonsending) public func pipeline(_ commands: [RedisCommand]) async -> [Result<RESPValue, RedisClientError>] {
        guard !commands.isEmpty else { return [] }
        let handler = self.handler
        let eventLoop = channel.eventLoop
        let timeout = commandTimeout
        return await withCheckedContinuation { continuation in
            if eventLoop.inEventLoop {
                handler.value.send(batch: commands, continuation: continuation, timeout: timeout)
            } else {
                eventLoop.execute { handler.value.send(batch: commands, continuation: continuation, timeout: timeout) }
            }
        }
    }

    /// Subscribes to channels (`SUBSCRIBE`) or patterns (`PSUBSCRIBE`), or unsubscribes, and waits
    /// for the server's confirmation of each name.
    ///
    /// Messages arrive at the `onMessage` closure given to ``connect(configuration:eventLoopGroup:logger:onMessage:)``.
    ///
    /// - Parameters:
    ///   - command: `SUBSCRIBE`, `PSUBSCRIBE`, `UNSUBSCRIBE` or `PUNSUBSCRIBE`.
    ///   - names: The channels or patterns; must not be empty.
    /// - Throws: ``RedisClientError``.
    public func pubSub(_ command: RedisPubSubCommand, _ names: [String]) async throws {
        guard !names.isEmpty else { return }
        var full = RedisCommand(command.rawValue)
        for name in names { full.append(name) }
        _ = try await self.send(full, kind: .subscription(remaining: names.count), timeout: commandTimeout)
    }

    /// Sends a command from the caller's executor and waits for its reply with one continuation.
    nonisolated(nonsending) private func send(
        _ command: RedisCommand,
        kind: RedisChannelHandler.StateMachine.Pending.Kind,
        timeout: TimeAmount?
    ) async throws -> RESPValue {
        let id = requestIDs.wrappingAdd(1, ordering: .relaxed).newValue
        let handler = self.handler
        let eventLoop = channel.eventLoop
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RESPValue, any Error>) in
                guard !Task.isCancelled else {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                if eventLoop.inEventLoop {
                    handler.value.send(command, kind: kind, waiter: .continuation(continuation, id: id), timeout: timeout)
                } else {
                    eventLoop.execute {
                        handler.value.send(command, kind: kind, waiter: .continuation(continuation, id: id), timeout: timeout)
                    }
                }
            }
        } onCancel: {
            // Runs after the send, which is already done or queued on the loop. The reply still
            // arrives and is matched in order; it is then discarded.
            eventLoop.execute { handler.value.cancel(id: id) }
        }
    }

    /// Closes the connection; waiting commands fail with ``RedisClientError/Code/connectionClosed``.
    /// Safe to call from any context and more than once.
    public nonisolated func close() {
        let handler = self.handler
        channel.eventLoop.execute {
            handler.value.close(reason: RedisClientError(.connectionClosed, message: "closed by the client"))
        }
    }

    /// Waits until the connection closes and returns why.
    ///
    /// - Returns: The reason, for example ``RedisClientError/Code/connectionClosed``.
    public func waitUntilClosed() async -> RedisClientError {
        let future = handler.value.closed.futureResult
        return (try? await future.get()) ?? RedisClientError(.connectionClosed)
    }
}

/// The Pub/Sub commands whose confirmations arrive as push frames, one per name.
public enum RedisPubSubCommand: String, Sendable, Hashable {
    /// `SUBSCRIBE channel…`
    case subscribe = "SUBSCRIBE"
    /// `UNSUBSCRIBE channel…`
    case unsubscribe = "UNSUBSCRIBE"
    /// `PSUBSCRIBE pattern…`
    case psubscribe = "PSUBSCRIBE"
    /// `PUNSUBSCRIBE pattern…`
    case punsubscribe = "PUNSUBSCRIBE"
}
