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
public final class MQTTClient: Service, Sendable {
    /// The configuration given at creation.
    public let configuration: MQTTClientConfiguration
    let eventLoopGroup: any EventLoopGroup
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
    public convenience init(
        configuration: MQTTClientConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.init(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger, metrics: MQTTMetrics())
    }

    /// Creates a client with explicit metric objects (tests inject a metrics factory this way).
    init(configuration: MQTTClientConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger, metrics: MQTTMetrics) {
        self.metrics = metrics
        self.configuration = configuration
        self.session = configuration.cleanSession ? nil : MQTTSession()
        self.eventLoopGroup = eventLoopGroup
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

    private func connectionLoop() async throws {
        // `attempt` numbers reconnection attempts from 1 (the first connection is attempt 0 and
        // does not wait); `failures` counts failed attempts in a row for the policy's limit.
        var attempt = 0
        var failures = 0
        while !Task.isCancelled {
            if attempt > 0 {
                let delay = configuration.reconnect.delay(forAttempt: attempt)
                self.emit(.reconnecting(attempt: attempt, delay: delay))
                metrics.reconnects.increment()
                logger.debug("MQTT reconnecting", metadata: ["mqtt.attempt": "\(attempt)", "mqtt.delay": "\(delay)"])
                do { try await Task.sleep(for: delay) } catch { break }
            }
            attempt += 1
            let connection: MQTTConnection
            do {
                connection = try await MQTTConnection.connect(
                    configuration: configuration,
                    eventLoopGroup: eventLoopGroup,
                    logger: logger,
                    session: session,
                    deliver: { [weak self] batch in self?.deliver(batch) }
                )
            } catch {
                let reason = (error as? MQTTClientError) ?? MQTTClientError(.connectionClosed, underlyingError: error)
                if Task.isCancelled { break }
                logger.warning("MQTT connection to \(configuration.address) failed", metadata: ["mqtt.error": "\(reason)"])
                self.emit(.disconnected(reason))
                failures += 1
                guard configuration.reconnect.allowsRetry(afterFailures: failures) else {
                    logger.error("MQTT client gives up", metadata: ["mqtt.attempts": "\(failures)"])
                    throw reason
                }
                continue
            }
            attempt = 1
            failures = 0
            let reason = await withTaskCancellationHandler {
                await self.connected(connection)
            } onCancel: {
                connection.close()
            }
            state.withLock { state in
                if state.connection === connection { state.connection = nil }
            }
            metrics.connected.record(0)
            logger.info("MQTT disconnected", metadata: ["mqtt.reason": "\(reason)"])
            self.emit(.disconnected(reason))
        }
    }

    /// Runs one connection: subscribes again, sends queued publications, waits for the close.
    ///
    /// Subscriptions come first so that queued messages to the client's own topics are received.
    /// The connection becomes visible to other tasks only once nothing is left to subscribe or to
    /// send from the queue, so that new publications cannot overtake queued ones.
    private func connected(_ connection: MQTTConnection) async -> MQTTClientError {
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
                for index in state.slots.indices {
                    guard let slot = state.slots[index], slot.subscribedGeneration != generation else { continue }
                    state.slots[index]!.subscribedGeneration = generation
                    for info in slot.infos where !resubscribe.contains(where: { $0.filter == info.filter }) {
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

    private func resubscribe(_ subscriptions: [MQTTSubscribeInfo], on connection: MQTTConnection) async {
        do {
            let codes = try await connection.subscribe(subscriptions)
            for (info, code) in zip(subscriptions, codes) where code.isMQTTFailure {
                logger.error("MQTT broker rejected subscription to '\(info.filter)'", metadata: ["mqtt.reason_code": "\(code)"])
            }
            logger.debug("MQTT subscribed after connecting", metadata: ["mqtt.filters": "\(subscriptions.count)"])
        } catch {
            logger.warning("MQTT subscription after connecting failed", metadata: ["mqtt.error": "\(error)"])
        }
    }

    private func stopped() {
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

    private func emit(_ event: MQTTConnectionEvent) {
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

    // MARK: - Publishing

    /// Publishes a message.
    ///
    /// QoS 0 messages need a connection: without one the call fails at once with
    /// ``MQTTClientError/Code/notConnected``. QoS 1 and 2 messages are sent when connected and
    /// otherwise queued (up to ``MQTTClientConfiguration/offlineQueueLimit``) until the next
    /// connection; the call returns when the broker has acknowledged the message. A message whose
    /// connection drops before its acknowledgement is sent again on the next connection: when the
    /// client keeps sessions (``MQTTClientConfiguration/cleanSession`` `false`) and the broker kept
    /// it too, with DUP set and its original packet identifier, so QoS 2 stays exactly once;
    /// otherwise as a new message, which may then arrive twice.
    ///
    /// - Parameters:
    ///   - topic: The topic name (no wildcards).
    ///   - payload: The payload.
    ///   - qos: The quality of service.
    ///   - retain: Whether the broker retains the message.
    ///   - properties: MQTT 5 properties (ignored under 3.1.1).
    /// - Throws: ``MQTTClientError`` (``MQTTClientError/Code/notConnected``,
    ///   ``MQTTClientError/Code/offlineQueueFull``, ``MQTTClientError/Code/invalidTopicName``,
    ///   ``MQTTClientError/Code/publishRejected``, ``MQTTClientError/Code/shutdown``) or
    ///   `CancellationError`.
    public func publish(
        to topic: String,
        payload: ByteBuffer,
        qos: MQTTQoS = .atMostOnce,
        retain: Bool = false,
        properties: MQTTPublishProperties = .init()
    ) async throws {
        if let problem = mqttTopicNameProblem(topic) {
            throw MQTTClientError(.invalidTopicName, message: "topic name '\(topic)': \(problem)")
        }
        let message = MQTTMessage(topic: topic, payload: payload, qos: qos, retain: retain, properties: properties)
        if qos == .atMostOnce {
            guard let connection = state.withLock({ $0.connection }) else {
                throw MQTTClientError(.notConnected, message: "QoS 0 message to '\(topic)' not sent: not connected")
            }
            try await connection.publish(message)
            metrics.sent.increment()
            return
        }
        while true {
            try Task.checkCancellation()
            if let connection = state.withLock({ $0.connection }) {
                do {
                    try await connection.publish(message)
                    metrics.sent.increment()
                    return
                } catch  where Self.isRetryable(error) {
                    continue
                }
            }
            if try await self.enqueue(message) { return }
        }
    }

    /// Queues a message until the next connection.
    ///
    /// - Returns: `true` when it was sent and acknowledged, `false` when the caller should try again.
    private func enqueue(_ message: MQTTMessage) async throws -> Bool {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        let limit = configuration.offlineQueueLimit
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Bool, any Error>) in
                enum Action { case retry, full, cancelled, queued }
                let action: Action = state.withLock { state in
                    if state.connection != nil { return .retry }
                    if Task.isCancelled { return .cancelled }
                    if state.offlineQueue.count >= limit { return .full }
                    state.offlineQueue.append(QueuedPublish(id: id, message: message, continuation: continuation))
                    return .queued
                }
                switch action {
                case .retry: continuation.resume(returning: false)
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .full:
                    continuation.resume(
                        throwing: MQTTClientError(.offlineQueueFull, message: "offline queue holds \(limit) messages")
                    )
                case .queued:
                    logger.debug("MQTT publication queued while disconnected", metadata: ["mqtt.topic": "\(message.topic)"])
                }
            }
        } onCancel: {
            let item: QueuedPublish? = state.withLock { state in
                guard let index = state.offlineQueue.firstIndex(where: { $0.id == id }) else { return nil }
                return state.offlineQueue.remove(at: index)
            }
            item?.continuation.resume(throwing: CancellationError())
        }
    }

    // MARK: - Subscribing

    /// Subscribes to topic filters for the duration of `body`.
    ///
    /// The subscription is registered before anything is sent, so no matching message is lost; if
    /// the client is connected the SUBSCRIBE is sent and its SUBACK checked, otherwise it is sent as
    /// soon as a connection is up. After every reconnect it is sent again. When `body` returns or
    /// throws, the filters that no other active subscription uses are unsubscribed.
    ///
    /// Several active subscriptions may use the same or overlapping filters: each receives every
    /// matching message once.
    ///
    /// The method runs on the caller's actor (`nonisolated(nonsending)`), so `body` may capture
    /// actor-isolated, non-`Sendable` state.
    ///
    /// - Parameters:
    ///   - subscriptions: The filters and their options.
    ///   - bufferSize: How many undelivered messages the subscription buffers before it drops the
    ///     oldest (see ``MQTTSubscription``).
    ///   - body: Receives the messages as an ``MQTTSubscription``.
    /// - Returns: The result of `body`.
    /// - Throws: ``MQTTClientError`` with code ``MQTTClientError/Code/invalidTopicFilter`` or
    ///   ``MQTTClientError/Code/subscriptionRejected``, or what `body` throws.
    nonisolated(nonsending) public func subscribe<Result: Sendable>(
        to subscriptions: [MQTTSubscribeInfo],
        bufferSize: Int = 10_000,
        _ body: (MQTTSubscription) async throws -> Result
    ) async throws -> Result {
        for info in subscriptions { _ = try MQTTTopicFilter(info.filter) }
        guard !subscriptions.isEmpty else {
            throw MQTTClientError(.invalidTopicFilter, message: "no topic filters given")
        }
        let buffer = MQTTSubscriptionBuffer(capacity: bufferSize)
        let (index, connection) = state.withLock { state in
            let slot = SubscriptionSlot(infos: subscriptions, buffer: buffer)
            let index: Int
            if let free = state.freeSlots.popLast() {
                index = free
                state.slots[index] = slot
            } else {
                index = state.slots.count
                state.slots.append(slot)
            }
            for info in subscriptions { state.trie.insert(filter: info.filter, value: index) }
            guard let connection = state.connection else { return (index, nil as MQTTConnection?) }
            state.slots[index]!.subscribedGeneration = state.generation
            return (index, connection)
        }
        do {
            if let connection {
                let codes: [UInt8]
                do {
                    codes = try await connection.subscribe(subscriptions)
                } catch  where Self.isRetryable(error) {
                    // The connection dropped; the next connection subscribes again.
                    codes = []
                }
                let rejected = zip(subscriptions, codes).filter { $0.1.isMQTTFailure }
                if let (info, code) = rejected.first {
                    throw MQTTClientError(.subscriptionRejected, message: "broker rejected '\(info.filter)'", reasonCode: code)
                }
            }
            let result = try await body(MQTTSubscription(buffer: buffer))
            await self.removeSubscription(index)
            return result
        } catch {
            await self.removeSubscription(index)
            throw error
        }
    }

    private func removeSubscription(_ index: Int) async {
        let (buffer, unused, connection) = state.withLock { state in
            let slot = state.slots[index]!
            state.slots[index] = nil
            state.freeSlots.append(index)
            for info in slot.infos { state.trie.remove(filter: info.filter, value: index) }
            let stillUsed = Set(state.slots.lazy.compactMap { $0 }.flatMap { $0.infos.map(\.filter) })
            var unused: [String] = []
            for info in slot.infos where !stillUsed.contains(info.filter) && !unused.contains(info.filter) {
                unused.append(info.filter)
            }
            return (slot.buffer, unused, state.connection)
        }
        buffer.finish()
        guard let connection, !unused.isEmpty else { return }
        do {
            let codes = try await connection.unsubscribe(unused)
            for (filter, code) in zip(unused, codes) where code.isMQTTFailure {
                logger.warning("MQTT unsubscribe from '\(filter)' failed", metadata: ["mqtt.reason_code": "\(code)"])
            }
        } catch {
            logger.debug("MQTT unsubscribe not confirmed", metadata: ["mqtt.error": "\(error)"])
        }
    }

    /// Routes a batch of received messages to the matching subscriptions (on the event loop).
    func deliver(_ batch: [MQTTMessage]) {
        metrics.received.increment(by: Int64(batch.count))
        let targets: [(MQTTSubscriptionBuffer, [MQTTMessage])] = state.withLock { state in
            let trie = state.trie
            var touched: [Int] = []
            for message in batch {
                state.sequence &+= 1
                let sequence = state.sequence
                trie.forEachMatch(topic: message.topic) { index in
                    guard state.slots[index]!.lastSequence != sequence else { return }
                    state.slots[index]!.lastSequence = sequence
                    if state.slots[index]!.pending.isEmpty { touched.append(index) }
                    state.slots[index]!.pending.append(message)
                }
            }
            return touched.map { index in
                defer { state.slots[index]!.pending = [] }
                return (state.slots[index]!.buffer, state.slots[index]!.pending)
            }
        }
        for (buffer, messages) in targets {
            let dropped = buffer.append(messages)
            if dropped > 0 {
                metrics.dropped.increment(by: Int64(dropped))
                logger.warning("MQTT subscriber too slow: dropped oldest messages", metadata: ["mqtt.dropped": "\(dropped)"])
            }
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

extension MQTTClient {
    struct QueuedPublish {
        var id: Int
        var message: MQTTMessage
        var continuation: CheckedContinuation<Bool, any Error>
    }

    struct SubscriptionSlot {
        var infos: [MQTTSubscribeInfo]
        let buffer: MQTTSubscriptionBuffer
        var subscribedGeneration: UInt64?
        var pending: [MQTTMessage] = []
        var lastSequence: UInt64 = 0

        init(infos: [MQTTSubscribeInfo], buffer: MQTTSubscriptionBuffer) {
            self.infos = infos
            self.buffer = buffer
        }
    }

    struct State {
        var running = false
        var connection: MQTTConnection?
        var generation: UInt64 = 0
        var slots: [SubscriptionSlot?] = []
        var freeSlots: [Int] = []
        var trie = MQTTTopicTrie<Int>()
        var sequence: UInt64 = 0
        var offlineQueue: [QueuedPublish] = []
        var connectedWaiters: [Int: CheckedContinuation<Void, any Error>] = [:]
        var eventContinuations: [Int: AsyncStream<MQTTConnectionEvent>.Continuation] = [:]
        var nextID = 0
    }
}
