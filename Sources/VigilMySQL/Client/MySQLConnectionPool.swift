//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import NIOCore

/// Hands out connections, at most `maxOpenConnections` at a time, and keeps up to
/// `maxIdleConnections` open between uses.
///
/// A connection that died while idle (for example because the server restarted) is dropped when it
/// is next leased, and a new one is opened in its place: that is the whole reconnect story, so a
/// caller never holds a broken connection for longer than one failed command.
///
/// The actor runs on one event loop of the group, so a waiter's deadline is a NIO scheduled task on
/// that loop which enters the actor synchronously: no task per waiter, and a task cancellation
/// handler reaches the actor the same way.
actor MySQLConnectionPool {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<MySQLConnection?, any Error>
        var deadline: Scheduled<Void>
    }

    /// The executor of the pool's event loop, on which the actor runs.
    nonisolated let unownedExecutor: UnownedSerialExecutor
    private nonisolated let eventLoop: any EventLoop
    private let configuration: MySQLClientConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private var idle: [MySQLConnection] = []
    /// Leased, idle and connecting connections.
    private var openCount = 0
    private var waiters: [Waiter] = []
    private var nextWaiterID: UInt64 = 0
    private var isShutDown = false

    init(configuration: MySQLClientConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.eventLoop = eventLoopGroup.any()
        self.unownedExecutor = eventLoop.executor.asUnownedSerialExecutor()
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// The number of open connections, leased or idle.
    var openConnections: Int { openCount }

    /// The number of connections waiting in the pool.
    var idleConnections: Int { idle.count }

    /// Returns an open connection, opening one when none is idle and the limit allows, or waiting.
    func lease() async throws -> MySQLConnection {
        while true {
            guard !isShutDown else { throw MySQLClientError(.poolClosed, message: "the MySQL client is shut down") }
            while let connection = idle.popLast() {
                if !connection.isClosed { return connection }
                openCount -= 1
                logger.debug("dropping a pooled MySQL connection that closed while idle")
            }
            if openCount < configuration.maxOpenConnections {
                openCount += 1
                do {
                    return try await MySQLConnection.connect(
                        configuration: configuration.connection,
                        eventLoopGroup: eventLoopGroup,
                        logger: logger
                    )
                } catch {
                    openCount -= 1
                    wakeWaiter(with: nil)
                    logger.warning("cannot open a MySQL connection", metadata: ["error": "\(error)"])
                    throw error
                }
            }
            // nil means a slot became free: go round again and open a connection.
            if let connection = try await waitForConnection() { return connection }
        }
    }

    /// Returns a leased connection: it goes to a waiter, back to the idle list, or is closed.
    func release(_ connection: MySQLConnection) {
        if !connection.isClosed, !isShutDown {
            if !waiters.isEmpty {
                wakeWaiter(with: connection)
                return
            }
            if idle.count < configuration.maxIdleConnections {
                idle.append(connection)
                return
            }
        }
        openCount -= 1
        wakeWaiter(with: nil)
        connection.close()
    }

    /// Closes idle connections and fails waiters; connections still leased close when returned.
    func shutdown() async {
        isShutDown = true
        let pending = waiters
        waiters = []
        for waiter in pending {
            waiter.deadline.cancel()
            waiter.continuation.resume(throwing: MySQLClientError(.poolClosed, message: "the MySQL client is shut down"))
        }
        let connections = idle
        idle = []
        openCount -= connections.count
        for connection in connections { await connection.disconnect() }
    }

    private func waitForConnection() async throws -> MySQLConnection? {
        let id = nextWaiterID
        nextWaiterID += 1
        let timeout = configuration.acquireTimeout
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                let deadline = eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                    self.assumeIsolated { pool in
                        pool.removeWaiter(id, error: MySQLClientError(.timeout, message: "no MySQL connection became free within \(timeout)"))
                    }
                }
                waiters.append(Waiter(id: id, continuation: continuation, deadline: deadline))
            }
        } onCancel: {
            eventLoop.execute {
                self.assumeIsolated { $0.removeWaiter(id, error: CancellationError()) }
            }
        }
    }

    private func removeWaiter(_ id: UInt64, error: any Error) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        let waiter = waiters.remove(at: index)
        waiter.deadline.cancel()
        waiter.continuation.resume(throwing: error)
    }

    private func wakeWaiter(with connection: MySQLConnection?) {
        guard !waiters.isEmpty else {
            if let connection { idle.append(connection) }
            return
        }
        let waiter = waiters.removeFirst()
        waiter.deadline.cancel()
        waiter.continuation.resume(returning: connection)
    }
}
