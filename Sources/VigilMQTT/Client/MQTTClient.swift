//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import CoreMetrics
public import Logging
public import NIOCore
public import NIOPosix
public import ServiceLifecycle
import Synchronization
import VigilClientSupport

/// An MQTT client that stays connected: it reconnects with backoff, subscribes again after every
/// reconnect and queues QoS 1/2 publications while disconnected.
///
/// The client is a `Service`: nothing happens until ``run()`` is called, and ``run()`` returns on
/// task cancellation or graceful shutdown. Other methods may be called from any task.
///
/// ```swift
/// let client = MQTTClient(configuration: configuration, logger: logger)
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await client.run() }
///     try await client.subscribe(to: [MQTTSubscribeInfo(filter: "gateways/+/status")]) { subscription in
///         for try await message in subscription {
///             print(message.topic, String(buffer: message.payload))
///         }
///     }
/// }
/// ```
///
/// Delivery path: the channel handler collects the messages of one socket read and hands them over
/// as a batch; the client matches them against a topic trie of all subscriptions under one lock
/// acquisition per batch and appends them to each subscription's bounded buffer (see
/// ``MQTTSubscription`` for the slow-consumer policy).
///
/// Every connection of a client runs on one event loop, chosen at creation, and the body of
/// ``subscribe(to:bufferSize:_:)`` prefers that loop as its task executor: a batch read from the
/// socket wakes its consumer on the same thread, in the same turn of the loop, instead of waking a
/// thread of the global executor, and the consumer's acknowledgements go out without a thread hop.
/// Code in the body that is isolated to an actor still runs on that actor.
public final class MQTTClient: Service, Sendable {
    /// The configuration given at creation.
    public let configuration: MQTTClientConfiguration
    let eventLoopGroup: any EventLoopGroup
    /// The loop of every connection.
    let eventLoop: any EventLoop
    /// The preferred executor of subscription bodies: the connections' loop, when it is a loop of
    /// a `MultiThreadedEventLoopGroup` (a loop that runs its own tasks; an `EmbeddedEventLoop`
    /// in tests runs them only when told to).
    let taskExecutor: EventLoopTaskExecutor?
    let logger: Logger
    let metrics: MQTTMetrics
    let state = Mutex(State())
    /// Unfinished QoS 1/2 publications between connections, when sessions are not clean.
    let session: MQTTSession?

    /// Creates a client. No connection is made until ``run()``.
    ///
    /// - Parameters:
    ///   - configuration: Broker address and session settings.
    ///   - eventLoopGroup: The event loops the connection runs on.
    ///   - logger: Logger for connection events; the client adds `mqtt.client_id` metadata.
    ///   - name: The client's name in its metrics: the `client` label of every `vigil_mqtt_*`
    ///     series, so that several clients of one process are told apart.
    public convenience init(
        configuration: MQTTClientConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        name: String = "mqtt"
    ) {
        self.init(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger, metrics: MQTTMetrics(client: name))
    }

    /// Creates a client with explicit metric objects (tests inject a metrics factory this way).
    init(configuration: MQTTClientConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger, metrics: MQTTMetrics) {
        self.metrics = metrics
        self.configuration = configuration
        self.session = configuration.cleanSession ? nil : MQTTSession()
        self.eventLoopGroup = eventLoopGroup
        let eventLoop = eventLoopGroup.next()
        self.eventLoop = eventLoop
        self.taskExecutor = eventLoopGroup is MultiThreadedEventLoopGroup ? EventLoopTaskExecutor(eventLoop: eventLoop) : nil
        var logger = logger
        logger[metadataKey: "mqtt.client_id"] = .string(configuration.clientID)
        self.logger = logger
    }

    // MARK: - Running

    /// Connects and keeps the connection up until the task is cancelled or a graceful shutdown is
    /// triggered.
    ///
    /// Failed attempts and lost connections are retried with the delays of
    /// ``MQTTClientConfiguration/reconnect``. After each successful connection the queued
    /// publications are sent and every active subscription is made again. On exit the client sends
    /// DISCONNECT, ends all subscriptions and event streams, and fails waiting publications.
    ///
    /// - Throws: ``MQTTClientError`` with code ``MQTTClientError/Code/alreadyRunning`` when called
    ///   twice at the same time, or the last connection error after
    ///   ``MQTTClientConfiguration/reconnect``'s `maxAttempts` consecutive failed attempts (by
    ///   default there is no limit); otherwise it returns normally.
    public func run() async throws {
        let started = state.withLock { state in
            if state.running { return false }
            state.running = true
            return true
        }
        guard started else { throw MQTTClientError(.alreadyRunning) }
        defer { self.stopped() }
        try await cancelWhenGracefulShutdown {
            try await self.connectionLoop()
        }
    }

    func connectionLoop() async throws {
        // `attempt` numbers reconnection attempts from 1 (the first connection is attempt 0 and
        // does not wait); `failures` counts failed attempts in a row for the policy's limit.
        var attempt = 0
        var failures = 0
        var takeovers = MQTTTakeoverWindow(limit: configuration.takeoverLimit, window: configuration.takeoverWindow)
        // The last connection was closed by the broker soon after it was accepted: a takeover by a
        // broker that does not say so (Mosquitto 2.0 just closes), if the broker accepts us again.
        var suspectedTakeover = false
        while !Task.isCancelled {
            if attempt > 0 {
                let delay = configuration.reconnect.delay(forAttempt: attempt)
                self.emit(.reconnecting(attempt: attempt, delay: delay))
                metrics.reconnects.increment()
                logger.debug("MQTT reconnecting", metadata: ["mqtt.attempt": "\(attempt)", "mqtt.delay": "\(delay)"])
                do { try await Task.sleep(for: delay) } catch { break }
            }
            attempt += 1
            if session != nil {
                state.withLock { $0.holdUnroutedUntil = .now + configuration.unroutedHold }
            }
            let connection: MQTTConnection
            do {
                connection = try await MQTTConnection.connect(
                    configuration: configuration,
                    eventLoopGroup: eventLoop,
                    logger: logger,
                    session: session,
                    metrics: metrics,
                    deliver: { [weak self] batch in self?.deliver(batch) }
                )
            } catch {
                let reason = (error as? MQTTClientError) ?? MQTTClientError(.connectionClosed, underlyingError: error)
                if Task.isCancelled { break }
                logger.warning("MQTT connection to \(configuration.address) failed", metadata: ["error": "\(reason)"])
                self.emit(.disconnected(reason))
                suspectedTakeover = false
                failures += 1
                guard configuration.reconnect.allowsRetry(afterFailures: failures) else {
                    logger.error("MQTT client gives up", metadata: ["mqtt.attempts": "\(failures)"])
                    throw reason
                }
                continue
            }
            attempt = 1
            failures = 0
            let connectedAt = ContinuousClock.now
            if suspectedTakeover {
                suspectedTakeover = false
                try noteTakeover(&takeovers, definite: false)
            }
            // Held messages not claimed within the hold are acknowledged without a consumer.
            let holdTimer: Scheduled<Void>? =
                session == nil
                ? nil
                : connection.channel.eventLoop.scheduleTask(in: TimeAmount(configuration.unroutedHold)) { [weak self] in
                    self?.releaseHeld()
                }
            let reason = await withTaskCancellationHandler {
                await self.connected(connection)
            } onCancel: {
                connection.close()
            }
            holdTimer?.cancel()
            state.withLock { state in
                if state.connection === connection { state.connection = nil }
                // Their connection is gone: the broker sends them again on the next one.
                state.held.removeAll()
                state.holdUnroutedUntil = nil
            }
            metrics.connected.record(0)
            logger.info("MQTT disconnected", metadata: ["mqtt.reason": "\(reason)"])
            self.emit(.disconnected(reason))
            switch takeovers.classify(reason, connectedFor: .now - connectedAt) {
            case .takenOver:
                try noteTakeover(&takeovers, definite: true)
            case .suspected:
                // The earlier ones were confirmed by an accepted reconnect: this one makes the loop,
                // and not reconnecting leaves the session to the other connection.
                if takeovers.reachesLimit(at: .now) {
                    try noteTakeover(&takeovers, definite: false)
                } else {
                    suspectedTakeover = true
                }
            case .other:
                break
            }
        }
    }

    /// Counts a session takeover, and stops the client when they come in a loop.
    ///
    /// - Parameter definite: The broker said so (DISCONNECT 0x8E); otherwise it closed the
    ///   connection soon after accepting it and accepted the next one at once.
    /// - Throws: ``MQTTClientError/Code/clientIdentifierInUse`` at the configured limit.
    private func noteTakeover(_ takeovers: inout MQTTTakeoverWindow, definite: Bool) throws {
        metrics.takeovers.increment()
        logger.warning(
            definite
                ? "MQTT session taken over: another connection uses this client id"
                : "MQTT broker closed the connection soon after accepting it, and accepted the next at once: another connection may use this client id",
            metadata: ["mqtt.client_id": "\(configuration.clientID)"]
        )
        guard takeovers.record(at: .now) else { return }
        let error = MQTTClientError(
            .clientIdentifierInUse,
            message: "client id '\(configuration.clientID)' is in use by another connection: the broker ended its session "
                + "\(takeovers.count) times within \(configuration.takeoverWindow); give each process its own client id",
            reasonCode: definite ? MQTTTakeoverWindow.sessionTakenOver : nil
        )
        logger.error("MQTT client stops: \(error.message ?? "")", metadata: ["mqtt.broker": "\(configuration.address)"])
        throw error
    }

    /// Runs one connection: subscribes again, sends queued publications, waits for the close.
    ///
    /// Subscriptions come first so that queued messages to the client's own topics are received.
    /// The connection becomes visible to other tasks only once nothing is left to subscribe or to
    /// send from the queue, so that new publications cannot overtake queued ones.
    func connected(_ connection: MQTTConnection) async -> MQTTClientError {
        let generation = state.withLock { state in
            state.generation &+= 1
            return state.generation
        }
        let waiters: [CheckedContinuation<Void, any Error>]
        while true {
            enum Step {
                case work([MQTTSubscribeInfo], [QueuedPublish])
                case done([CheckedContinuation<Void, any Error>])
            }
            let step: Step = state.withLock { state in
                var resubscribe: [MQTTSubscribeInfo] = []
                // A set, not a search of the list: a fleet resubscribes 100,000 filters at connect.
                var seen = Set<String>()
                for index in state.slots.indices {
                    guard let slot = state.slots[index], slot.subscribedGeneration != generation, !slot.rejected else { continue }
                    state.slots[index]!.subscribedGeneration = generation
                    for info in slot.infos where seen.insert(info.filter).inserted {
                        resubscribe.append(info)
                    }
                }
                if !resubscribe.isEmpty || !state.offlineQueue.isEmpty {
                    defer { state.offlineQueue.removeAll() }
                    return .work(resubscribe, state.offlineQueue)
                }
                state.connection = connection
                defer { state.connectedWaiters.removeAll() }
                return .done(Array(state.connectedWaiters.values))
            }
            switch step {
            case .work(let resubscribe, let queued):
                if !resubscribe.isEmpty {
                    await self.resubscribe(resubscribe, on: connection)
                }
                for item in queued {
                    let future = await connection.publishNoWait(item.message)
                    let sent = metrics.sent
                    future.whenComplete { result in
                        switch result {
                        case .success:
                            sent.increment()
                            item.continuation.resume(returning: true)
                        case .failure(let error):
                            if Self.isRetryable(error) {
                                item.continuation.resume(returning: false)
                            } else {
                                item.continuation.resume(throwing: error)
                            }
                        }
                    }
                }
                continue
            case .done(let list):
                waiters = list
            }
            break
        }
        metrics.connected.record(1)
        logger.info(
            "MQTT connected",
            metadata: ["mqtt.broker": "\(configuration.address)", "mqtt.session_present": "\(connection.sessionPresent)"]
        )
        self.emit(.connected(sessionPresent: connection.sessionPresent))
        for waiter in waiters { waiter.resume() }
        return await connection.waitUntilClosed()
    }

    func resubscribe(_ subscriptions: [MQTTSubscribeInfo], on connection: MQTTConnection) async {
        do {
            let codes = try await connection.subscribe(subscriptions)
            for (info, code) in zip(subscriptions, codes) where code.isMQTTFailure {
                logger.error("MQTT broker rejected subscription to '\(info.filter)'", metadata: ["mqtt.reason_code": "\(code)"])
            }
            logger.debug("MQTT subscribed after connecting", metadata: ["mqtt.filters": "\(subscriptions.count)"])
        } catch {
            guard let failure = Self.sharedSubscriptionFailure(subscriptions, error) else {
                logger.warning("MQTT subscription after connecting failed", metadata: ["error": "\(error)"])
                return
            }
            // Subscribing again would close the next connection too: end the subscriptions that
            // ask for a shared filter instead of reconnecting in a loop.
            logger.error("\(failure.message ?? "shared subscriptions not supported")", metadata: ["error": "\(error)"])
            let buffers = state.withLock { state in
                state.slots.indices.compactMap { index -> MQTTSubscriptionBuffer? in
                    guard let slot = state.slots[index], slot.infos.contains(where: { $0.filter.hasPrefix("$share/") }) else { return nil }
                    state.slots[index]!.rejected = true
                    return slot.buffer
                }
            }
            for buffer in buffers { buffer.finish(throwing: failure) }
        }
    }

    /// The error for a broker that closed the connection while a subscription to a shared filter
    /// (`$share/GROUP/…`) awaited its SUBACK, as brokers without shared subscriptions do (ejabberd
    /// 23.01: "Shared Subscriptions not supported"); `nil` when no shared filter was involved.
    static func sharedSubscriptionFailure(_ subscriptions: [MQTTSubscribeInfo], _ error: any Error) -> MQTTClientError? {
        guard let shared = subscriptions.first(where: { $0.filter.hasPrefix("$share/") }), isRetryable(error) else { return nil }
        return MQTTClientError(
            .subscriptionRejected,
            message: "the broker closed the connection on the shared subscription '\(shared.filter)': it does not support shared subscriptions",
            underlyingError: error
        )
    }

    func stopped() {
        let (slots, queue, waiters, events) = state.withLock { state in
            state.running = false
            state.connection = nil
            defer {
                state.offlineQueue.removeAll()
                state.connectedWaiters.removeAll()
                state.eventContinuations.removeAll()
            }
            return (
                state.slots.compactMap { $0?.buffer }, state.offlineQueue, Array(state.connectedWaiters.values),
                Array(state.eventContinuations.values)
            )
        }
        metrics.connected.record(0)
        let error = MQTTClientError(.shutdown, message: "the MQTT client stopped")
        session?.fail(with: error)
        for buffer in slots { buffer.finish(throwing: error) }
        for item in queue { item.continuation.resume(throwing: error) }
        for waiter in waiters { waiter.resume(throwing: error) }
        for continuation in events { continuation.finish() }
    }

    static func isRetryable(_ error: any Error) -> Bool {
        guard let error = error as? MQTTClientError else { return false }
        switch error.errorCode {
        case .connectionClosed, .keepAliveTimeout, .serverDisconnected, .protocolError, .notConnected, .connectTimeout:
            return true
        default:
            return false
        }
    }

    // MARK: - Connection state

    /// A new stream of connection state changes.
    ///
    /// Each access returns its own stream, which receives the events that happen after it was
    /// created (it keeps the newest 100 if not consumed). The stream finishes when ``run()`` returns.
    public var connectionEvents: AsyncStream<MQTTConnectionEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: MQTTConnectionEvent.self, bufferingPolicy: .bufferingNewest(100))
        let id = state.withLock { state in
            state.nextID += 1
            state.eventContinuations[state.nextID] = continuation
            return state.nextID
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.eventContinuations.removeValue(forKey: id) }
        }
        return stream
    }

    func emit(_ event: MQTTConnectionEvent) {
        let continuations = state.withLock { Array($0.eventContinuations.values) }
        for continuation in continuations { continuation.yield(event) }
    }

    /// Whether the client currently has a connection to the broker.
    public var isConnected: Bool {
        state.withLock { $0.connection != nil }
    }

    /// Waits until the client is connected; returns at once if it already is.
    ///
    /// "Connected" means what ``MQTTConnectionEvent/connected(sessionPresent:)`` means: the
    /// subscriptions active at that moment are in place again, so a message published afterwards
    /// reaches them.
    ///
    /// - Throws: `CancellationError` when the task is cancelled, or ``MQTTClientError`` with code
    ///   ``MQTTClientError/Code/shutdown`` when ``run()`` returns first.
    public func waitUntilConnected() async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let ready: Bool? = state.withLock { state in
                    if state.connection != nil { return true }
                    if Task.isCancelled { return false }
                    state.connectedWaiters[id] = continuation
                    return nil
                }
                switch ready {
                case true?: continuation.resume()
                case false?: continuation.resume(throwing: CancellationError())
                case nil: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.connectedWaiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }

    // MARK: - Testing hooks

    /// Closes the current connection without DISCONNECT, as a network failure would.
    func dropConnectionForTesting() async {
        if let connection = state.withLock({ $0.connection }) {
            await connection.closeAbruptly()
        }
    }
}
