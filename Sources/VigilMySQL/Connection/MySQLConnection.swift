//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
public import NIOCore
public import NIOPosix
import Synchronization

/// One authenticated connection to a MySQL or MariaDB server: an actor that runs on the channel's
/// event loop, so it reaches its channel handler without a thread hop.
///
/// Commands are answered in order; concurrent calls are queued by the handler. A server error
/// (``MySQLError``) fails only its statement; a ``MySQLClientError`` with code `connectionClosed`
/// or `protocolViolation` means the connection is gone.
///
/// ```swift
/// try await MySQLConnection.withConnection(configuration: configuration, logger: logger) { connection in
///     let rows = try await connection.query("SELECT id, name FROM channels WHERE owner = ? LIMIT 100", [ownerID])
///     for row in rows { print(row["name"]?.string ?? "-") }
/// }
/// ```
public final actor MySQLConnection {
    nonisolated let channel: any Channel
    /// The executor of the channel's event loop, on which the actor runs.
    public nonisolated let unownedExecutor: UnownedSerialExecutor
    /// The server's version string, for example `5.5.5-10.11.19-MariaDB-0+deb12u1`.
    public nonisolated let serverVersion: String
    private let handler: NIOLoopBound<MySQLChannelHandler>
    private let closed = Atomic<Bool>(false)
    /// Prepared statements by SQL text, oldest first in `statementOrder`: a paging loop that runs
    /// the same statement again costs one round trip instead of two.
    private var statements: [String: MySQLPrepareOK] = [:]
    private var statementOrder: [String] = []
    /// How many prepared statements one connection keeps open on the server.
    static let statementCacheSize = 32

    private init(channel: any Channel, handler: NIOLoopBound<MySQLChannelHandler>, serverVersion: String) {
        self.channel = channel
        self.unownedExecutor = channel.eventLoop.executor.asUnownedSerialExecutor()
        self.handler = handler
        self.serverVersion = serverVersion
    }

    /// Connects, runs `operation` with the connection, then closes it, even when `operation` throws.
    ///
    /// - Parameters:
    ///   - configuration: Server address and account.
    ///   - eventLoopGroup: Where the channel runs.
    ///   - logger: Logger for connection events.
    ///   - operation: Work to do while connected.
    /// - Returns: The result of `operation`.
    /// - Throws: ``MySQLError`` when the server refuses the account (code 1045), ``MySQLClientError``
    ///   when it cannot be reached, or what `operation` throws.
    nonisolated(nonsending) public static func withConnection<Result: Sendable>(
        configuration: MySQLConnectionConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        operation: (MySQLConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try await connect(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
        do {
            let result = try await operation(connection)
            await connection.disconnect()
            return result
        } catch {
            await connection.disconnect()
            throw error
        }
    }

    /// Opens TCP, answers the handshake and waits until the server accepted the account.
    ///
    /// The caller must ``close()`` or ``disconnect()`` the connection.
    ///
    /// - Throws: ``MySQLError`` when the server refuses the account, ``MySQLClientError`` otherwise.
    public static func connect(
        configuration: MySQLConnectionConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) async throws -> MySQLConnection {
        let credentials = MySQLChannelHandler.StateMachine.Credentials(
            username: configuration.username,
            password: configuration.password,
            database: configuration.database
        )
        let timeout = TimeAmount(configuration.connectTimeout)
        let commandTimeout = configuration.commandTimeout.map { TimeAmount($0) }
        let bootstrap = ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
        let (channel, handler): (any Channel, NIOLoopBound<MySQLChannelHandler>)
        do {
            (channel, handler) = try await bootstrap.connect(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = MySQLChannelHandler(
                        credentials: credentials,
                        maxPacketSize: configuration.maxPacketSize,
                        commandTimeout: commandTimeout,
                        logger: logger
                    )
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
        } catch {
            throw MySQLClientError(
                .connectionClosed,
                message: "cannot connect to \(configuration.host):\(configuration.port)",
                underlyingError: error
            )
        }

        let promise = channel.eventLoop.makePromise(of: Void.self)
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(MySQLClientError(.timeout, message: "handshake with \(configuration.host):\(configuration.port) timed out"))
        }
        channel.eventLoop.execute { handler.value.waitForStartup(promise) }
        do {
            try await promise.futureResult.get()
            deadline.cancel()
        } catch {
            deadline.cancel()
            try? await channel.close()
            throw error
        }
        let version = try await channel.eventLoop.submit { handler.value.serverVersion }.get()
        return MySQLConnection(channel: channel, handler: handler, serverVersion: version)
    }

    /// Runs `sql` and returns all rows of its result set (none for statements without one).
    ///
    /// Without binds the statement goes through the text protocol (COM_QUERY). With binds it is
    /// prepared (once per connection: the last 32 statements stay prepared) and executed with the
    /// values in the binary protocol, so values are never spliced into SQL text: use `?`
    /// placeholders for anything that comes from outside.
    ///
    /// - Parameters:
    ///   - sql: One SQL statement.
    ///   - binds: One value per `?` placeholder.
    /// - Returns: The rows, in the order the server sent them.
    /// - Throws: ``MySQLError`` for a failed statement (the connection stays usable) or
    ///   ``MySQLClientError``.
    public func query(_ sql: String, _ binds: [MySQLValue] = []) async throws -> [MySQLRow] {
        switch try await run(sql, binds) {
        case .rows(_, let rows): rows
        case .ok, .prepared: []
        }
    }

    /// Runs a statement without a result set (INSERT, UPDATE, DDL) and returns its summary.
    ///
    /// - Parameters:
    ///   - sql: One SQL statement.
    ///   - binds: One value per `?` placeholder.
    /// - Returns: The affected-row count and last insert id.
    /// - Throws: ``MySQLError`` or ``MySQLClientError``.
    @discardableResult
    public func execute(_ sql: String, _ binds: [MySQLValue] = []) async throws -> MySQLExecuteResult {
        switch try await run(sql, binds) {
        case .ok(let ok): MySQLExecuteResult(affectedRows: ok.affectedRows, lastInsertID: ok.lastInsertID)
        case .rows, .prepared: MySQLExecuteResult(affectedRows: 0, lastInsertID: 0)
        }
    }

    private func run(_ sql: String, _ binds: [MySQLValue]) async throws -> MySQLCommandResult {
        if binds.isEmpty {
            return try await send(.query(sql))
        }
        let prepared = try await prepare(sql)
        guard prepared.parameterCount == binds.count else {
            throw MySQLClientError(
                .bindCountMismatch,
                message: "statement has \(prepared.parameterCount) placeholders but \(binds.count) binds were given"
            )
        }
        // No suspension between taking the statement from the cache and queueing the execute, so a
        // COM_STMT_CLOSE from an eviction is always queued after it.
        return try await send(.execute(statementID: prepared.statementID, binds: binds))
    }

    /// Returns the cached statement for `sql`, or prepares and caches it, closing the oldest one
    /// when the cache is full.
    private func prepare(_ sql: String) async throws -> MySQLPrepareOK {
        if let cached = statements[sql] { return cached }
        guard case .prepared(let prepared) = try await send(.prepare(sql)) else {
            throw MySQLClientError(.protocolViolation, message: "COM_STMT_PREPARE did not return a statement")
        }
        // Another task may have prepared the same text while this one waited.
        if let cached = statements[sql] {
            sendWithoutResponse(.closeStatement(prepared.statementID))
            return cached
        }
        statements[sql] = prepared
        statementOrder.append(sql)
        if statementOrder.count > Self.statementCacheSize {
            let oldest = statementOrder.removeFirst()
            if let evicted = statements.removeValue(forKey: oldest) {
                // Closing needs no answer, so it is queued without waiting and costs no round trip.
                sendWithoutResponse(.closeStatement(evicted.statementID))
            }
        }
        return prepared
    }

    /// Sends COM_PING and waits for the answer.
    ///
    /// - Throws: ``MySQLClientError`` when the connection is gone.
    public func ping() async throws {
        _ = try await send(.ping)
    }

    /// Whether the connection has been closed (by ``close()`` or by the peer).
    public nonisolated var isClosed: Bool {
        closed.load(ordering: .relaxed) || !channel.isActive
    }

    /// Sends COM_QUIT and waits until the connection is closed.
    public func disconnect() async {
        close()
        _ = await waitUntilClosed()
    }

    /// Sends COM_QUIT and closes the socket without waiting; safe to call from any context (a task
    /// cancellation handler, for example) and more than once.
    public nonisolated func close() {
        guard closed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        let handler = self.handler
        let channel = self.channel
        channel.eventLoop.execute {
            handler.value.send(.quit, promise: nil)
            channel.close(promise: nil)
        }
    }

    /// Waits until the connection closes and returns why.
    ///
    /// - Returns: The reason, for example ``MySQLClientError/Code/timeout`` after a command timed
    ///   out; another error (such as a ``MySQLError`` during the handshake) is its underlying error.
    public func waitUntilClosed() async -> MySQLClientError {
        _ = try? await channel.closeFuture.get()
        switch handler.value.closeReason {
        case let reason as MySQLClientError: return reason
        case let reason?: return MySQLClientError(.connectionClosed, underlyingError: reason)
        case nil: return MySQLClientError(.connectionClosed)
        }
    }

    private func send(_ command: MySQLCommand) async throws -> MySQLCommandResult {
        let promise = channel.eventLoop.makePromise(of: MySQLCommandResult.self)
        handler.value.send(command, promise: promise)
        return try await promise.futureResult.get()
    }

    private func sendWithoutResponse(_ command: MySQLCommand) {
        handler.value.send(command, promise: nil)
    }
}

/// What a statement without a result set did.
public struct MySQLExecuteResult: Hashable, Sendable {
    /// The number of rows changed (or matched, as the client asks for CLIENT_FOUND_ROWS).
    public var affectedRows: UInt64
    /// The AUTO_INCREMENT value of the last inserted row, or 0.
    public var lastInsertID: UInt64
}
