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

/// Limits and timeouts of a ``MySQLClient``.
///
/// The seed's `[mysql]` section maps onto it: `address`, `username`, `password` and `db` form
/// ``connection``, `max_open_conn` is ``maxOpenConnections`` and `max_ideal_conn` is
/// ``maxIdleConnections``.
///
/// ```swift
/// let configuration = MySQLClientConfiguration(
///     connection: MySQLConnectionConfiguration(address: "127.0.0.1:3306", username: "u", password: "p", database: "db"),
///     maxOpenConnections: 50,
///     maxIdleConnections: 50
/// )
/// ```
public struct MySQLClientConfiguration: Sendable {
    /// Where and as whom each connection connects.
    public var connection: MySQLConnectionConfiguration
    /// The most connections open at once; further callers wait.
    public var maxOpenConnections: Int
    /// The most unused connections kept open for the next caller.
    public var maxIdleConnections: Int
    /// How long a caller waits for a free connection before failing with `timeout`.
    public var acquireTimeout: Duration

    /// Creates a configuration; the defaults are the seed's (10 open, 10 idle).
    public init(
        connection: MySQLConnectionConfiguration,
        maxOpenConnections: Int = 10,
        maxIdleConnections: Int = 10,
        acquireTimeout: Duration = .seconds(10)
    ) {
        self.connection = connection
        self.maxOpenConnections = max(1, maxOpenConnections)
        self.maxIdleConnections = max(0, maxIdleConnections)
        self.acquireTimeout = acquireTimeout
    }
}

/// A pool of MySQL connections that reconnects after the server went away.
///
/// Connections are opened on demand up to ``MySQLClientConfiguration/maxOpenConnections``. One that
/// the server closed (restart, `wait_timeout`) is replaced the next time it is needed, and
/// ``query(_:_:)`` repeats a read once when the connection it used turned out to be dead. Add the
/// client to a `ServiceGroup`: ``run()`` does no work but closes the pool on graceful shutdown.
///
/// ```swift
/// let client = MySQLClient(configuration: configuration, logger: logger)
/// let rows = try await client.query("SELECT user FROM members WHERE channel = ? ORDER BY user LIMIT ?, ?", [channel, offset, 100])
/// ```
public final class MySQLClient: Service, Sendable {
    private let pool: MySQLConnectionPool
    private let logger: Logger

    /// Creates a client; no connection is opened until the first command.
    ///
    /// - Parameters:
    ///   - configuration: Server, account and pool limits.
    ///   - eventLoopGroup: Where the connections run.
    ///   - logger: Logger for connection events.
    public init(
        configuration: MySQLClientConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.pool = MySQLConnectionPool(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
        self.logger = logger
    }

    /// Waits for graceful shutdown or cancellation, then closes every connection.
    public func run() async throws {
        try? await gracefulShutdown()
        await pool.shutdown()
    }

    /// Closes idle connections now and refuses further commands.
    public func shutdown() async {
        await pool.shutdown()
    }

    /// The number of open connections, leased or idle.
    public var openConnections: Int {
        get async { await pool.openConnections }
    }

    /// Leases a connection for `operation` and returns it to the pool afterwards.
    ///
    /// Use this for several statements that must run on one connection (a transaction, or
    /// `SET` variables). The connection must not be used after `operation` returns.
    ///
    /// - Parameter operation: Work to do with the connection.
    /// - Returns: The result of `operation`.
    /// - Throws: ``MySQLClientError`` when no connection can be had, or what `operation` throws.
    nonisolated(nonsending) public func withConnection<Result: Sendable>(_ operation: (MySQLConnection) async throws -> Result) async throws -> Result
    {
        let connection = try await pool.lease()
        do {
            let result = try await operation(connection)
            await pool.release(connection)
            return result
        } catch {
            await pool.release(connection)
            throw error
        }
    }

    /// Runs a read on a pooled connection; see ``MySQLConnection/query(_:_:)``.
    ///
    /// When the connection turns out to be closed (the server restarted since it was last used),
    /// the query is repeated once on a new connection: only use this for statements that are safe to
    /// run twice.
    ///
    /// - Throws: ``MySQLError`` or ``MySQLClientError``.
    public func query(_ sql: String, _ binds: [MySQLValue] = []) async throws -> [MySQLRow] {
        do {
            return try await withConnection { try await $0.query(sql, binds) }
        } catch let error as MySQLClientError where error.errorCode == .connectionClosed {
            logger.debug("retrying a MySQL query on a new connection", metadata: ["error": "\(error)"])
            return try await withConnection { try await $0.query(sql, binds) }
        }
    }

    /// Runs a statement without a result set on a pooled connection; it is never repeated.
    ///
    /// - Throws: ``MySQLError`` or ``MySQLClientError``.
    @discardableResult
    public func execute(_ sql: String, _ binds: [MySQLValue] = []) async throws -> MySQLExecuteResult {
        try await withConnection { try await $0.execute(sql, binds) }
    }
}
