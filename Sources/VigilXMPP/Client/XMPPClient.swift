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

/// An XMPP connection that stays up: a `Service` that connects, and after a lost connection or a
/// failed attempt reconnects with capped, jittered exponential backoff.
///
/// Nothing happens until ``run()`` is called; ``run()`` returns on task cancellation or graceful
/// shutdown. Stanzas from every connection in turn arrive on the single ``stanzas`` sequence.
///
/// ```swift
/// let client = XMPPClient(configuration: XMPPClientConfiguration(connection: component), logger: logger)
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await client.run() }
///     try await client.waitUntilConnected()
///     try await client.send(rawStanza: renderedMessage)
/// }
/// ```
public final class XMPPClient: Service, Sendable {
    private struct State {
        var running = false
        var stopped = false
        var connection: XMPPConnection?
        var waiters: [CheckedContinuation<XMPPConnection, any Error>] = []
    }

    /// What happened to the client's connection, for ``init(configuration:eventLoopGroup:logger:observer:)``'s
    /// observer (metrics, status pages).
    public enum ConnectionEvent: Sendable, Hashable {
        /// An attempt to connect starts; `attempt` counts from 1 after every established
        /// connection, so 1 is a first connection or a reconnection right after a loss.
        case connecting(attempt: Int)
        /// The connection is established and logged in.
        case connected
        /// The connection was lost or the attempt failed; `failures` counts failed attempts in a
        /// row (0 after a loss of an established connection).
        case disconnected(failures: Int)
        /// ``run()`` returned.
        case stopped
    }

    /// The configuration given at creation.
    public let configuration: XMPPClientConfiguration
    /// Incoming stanzas of all connections, including `type='error'` bounces; ends when ``run()``
    /// returns. Only one task should iterate it.
    public let stanzas: AsyncStream<XMLElement>
    private let continuation: AsyncStream<XMLElement>.Continuation
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let state = Mutex(State())
    private let observer: (@Sendable (ConnectionEvent) -> Void)?

    /// Creates a client. No connection is made until ``run()``.
    ///
    /// - Parameters:
    ///   - configuration: Connection and reconnect settings.
    ///   - eventLoopGroup: The event loops connections run on.
    ///   - logger: Logger for connection events.
    ///   - observer: Told of every ``ConnectionEvent``, synchronously: it must not block.
    public init(
        configuration: XMPPClientConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        observer: (@Sendable (ConnectionEvent) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.observer = observer
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        (stanzas, continuation) = AsyncStream.makeStream(
            of: XMLElement.self,
            bufferingPolicy: .bufferingNewest(max(1, configuration.incomingBufferSize))
        )
    }

    /// The current connection, if one is established.
    public var connection: XMPPConnection? { state.withLock { $0.connection } }

    /// Connects and keeps a connection up until the task is cancelled or a graceful shutdown is
    /// triggered; then closes the stream and returns.
    ///
    /// - Throws: ``XMPPClientError`` with ``XMPPClientError/Code/alreadyRunning`` when called while
    ///   already running, or the last connection error after ``XMPPClientConfiguration/backoff``'s
    ///   `maxAttempts` consecutive failed attempts (by default there is no limit); other
    ///   connection failures are logged and retried.
    public func run() async throws {
        let alreadyRunning = state.withLock { state in
            defer { state.running = true }
            return state.running
        }
        guard !alreadyRunning else { throw XMPPClientError(.alreadyRunning) }
        state.withLock { $0.stopped = false }
        defer {
            let waiters = state.withLock { state in
                state.running = false
                state.stopped = true
                state.connection = nil
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume(throwing: XMPPClientError(.shutdown)) }
            continuation.finish()
            observer?(.stopped)
        }
        try await cancelWhenGracefulShutdown {
            try await self.connectionLoop()
        }
    }

    private func connectionLoop() async throws {
        // `attempt` numbers the next reconnection attempt from 1; `failures` counts failed attempts
        // in a row for the policy's limit.
        var attempt = 1
        var failures = 0
        while !Task.isCancelled {
            observer?(.connecting(attempt: failures + 1))
            do {
                let connection = try await XMPPConnection.connect(
                    configuration: configuration.connection,
                    eventLoopGroup: eventLoopGroup,
                    logger: logger
                )
                attempt = 1
                failures = 0
                let waiters = state.withLock { state in
                    state.connection = connection
                    defer { state.waiters = [] }
                    return state.waiters
                }
                for waiter in waiters { waiter.resume(returning: connection) }
                observer?(.connected)
                await withTaskCancellationHandler {
                    for await stanza in connection.stanzas { continuation.yield(stanza) }
                } onCancel: {
                    connection.close()
                }
                state.withLock { $0.connection = nil }
                observer?(.disconnected(failures: 0))
                let reason = await connection.waitUntilClosed()
                if Task.isCancelled { break }
                logger.warning("XMPP connection lost", metadata: ["xmpp.reason": "\(reason)"])
            } catch {
                if Task.isCancelled { break }
                failures += 1
                observer?(.disconnected(failures: failures))
                logger.warning("XMPP connect failed", metadata: ["error": "\(error)", "xmpp.attempt": "\(failures)"])
                guard configuration.backoff.allowsRetry(afterFailures: failures) else {
                    logger.error("XMPP client gives up", metadata: ["xmpp.attempts": "\(failures)"])
                    throw error
                }
            }
            let delay = configuration.backoff.delay(forAttempt: attempt)
            attempt += 1
            do {
                try await Task.sleep(for: delay)
            } catch {
                break
            }
        }
    }

    /// Waits until a connection is established and returns it; may be called before ``run()``.
    ///
    /// - Throws: ``XMPPClientError/Code/shutdown`` when the client has stopped or stops first.
    public func waitUntilConnected() async throws -> XMPPConnection {
        try await withCheckedThrowingContinuation { waiter in
            let ready: XMPPConnection?? = state.withLock { state in
                if let connection = state.connection { return .some(connection) }
                guard !state.stopped else { return .some(nil) }
                state.waiters.append(waiter)
                return .none
            }
            switch ready {
            case .some(.some(let connection)): waiter.resume(returning: connection)
            case .some(.none): waiter.resume(throwing: XMPPClientError(.shutdown, message: "the client is not running"))
            case .none: break
            }
        }
    }

    private func current() throws -> XMPPConnection {
        guard let connection = state.withLock({ $0.connection }) else {
            throw XMPPClientError(.notConnected)
        }
        return connection
    }

    /// Sends a pre-rendered stanza on the current connection and returns that connection, on which
    /// ``XMPPConnection/confirmDelivery()`` confirms it later (a reconnection in between means the
    /// stanza's fate is unknown).
    ///
    /// - Throws: ``XMPPClientError/Code/notConnected`` while no connection is established.
    @discardableResult
    public func send(rawStanza: String) async throws -> XMPPConnection {
        let connection = try current()
        try await connection.send(rawStanza: rawStanza)
        return connection
    }

    /// Sends a pre-rendered stanza on the current connection.
    public func send(rawStanza: ByteBuffer) async throws {
        try await current().send(rawStanza: rawStanza)
    }

    /// Serializes and sends an element on the current connection.
    public func send(_ element: XMLElement) async throws {
        try await current().send(element)
    }

    /// Sends an IQ request on the current connection and returns its result.
    public func sendIQ(_ iq: XMLElement, timeout: Duration? = nil) async throws -> XMLElement {
        try await current().sendIQ(iq, timeout: timeout)
    }
}
