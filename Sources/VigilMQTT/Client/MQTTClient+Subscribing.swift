//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import CoreMetrics
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Subscribing and routing: the subscription registry (slots and a topic trie) and the delivery
/// of each socket read to the matching subscriptions' buffers.
extension MQTTClient {
    /// Subscribes to topic filters for the duration of `body`.
    ///
    /// The subscription is registered before anything is sent, so no matching message is lost; if
    /// the client is connected the SUBSCRIBE is sent and its SUBACK checked, otherwise it is sent as
    /// soon as a connection is up. After every reconnect it is sent again. When `body` returns or
    /// throws, the filters that no other active subscription uses are unsubscribed, except when
    /// the session is persistent and the task is shutting down gracefully or cancelled (unless
    /// ``unsubscribesOnCancellation`` is set): then the
    /// broker keeps the subscription and queues its QoS 1/2 messages for the next connection with
    /// this client id, so that a graceful restart loses nothing (a stray message meanwhile is
    /// unrouted: held, then acknowledged).
    ///
    /// Several active subscriptions may use the same or overlapping filters: each receives every
    /// matching message once.
    ///
    /// The method runs on the caller's actor (`nonisolated(nonsending)`), so `body` may capture
    /// actor-isolated, non-`Sendable` state. Nonisolated code in `body` (and in tasks it starts)
    /// runs on the client's event loop, where messages arrive: it must not block, and heavy work
    /// belongs on another executor.
    ///
    /// - Parameters:
    ///   - subscriptions: The filters and their options.
    ///   - bufferSize: How many undelivered QoS 0 messages the subscription buffers before it drops
    ///     the oldest (see ``MQTTSubscription``; QoS 1/2 messages are never dropped).
    ///   - body: Receives the messages as an ``MQTTSubscription``.
    /// - Returns: The result of `body`.
    /// - Throws: ``MQTTClientError`` with code ``MQTTClientError/Code/invalidTopicFilter`` or
    ///   ``MQTTClientError/Code/subscriptionRejected``, or what `body` throws.
    nonisolated(nonsending) public func subscribe<Result: Sendable>(
        to subscriptions: [MQTTSubscribeInfo],
        bufferSize: Int = 10_000,
        _ body: (MQTTSubscription) async throws -> Result
    ) async throws -> Result {
        let filters = try subscriptions.map { try MQTTTopicFilter($0.filter) }
        guard !subscriptions.isEmpty else {
            throw MQTTClientError(.invalidTopicFilter, message: "no topic filters given")
        }
        let buffer = MQTTSubscriptionBuffer(capacity: bufferSize)
        let (index, connection, claimedHeld) = state.withLock { state in
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
            // Messages of a persistent session that arrived before their subscription was
            // registered go to the first subscription that matches them.
            var claimed: [MQTTMessage] = []
            if !state.held.isEmpty {
                state.held.removeAll { message in
                    guard filters.contains(where: { $0.matches(topic: message.topic) }) else { return false }
                    claimed.append(message)
                    return true
                }
                if !claimed.isEmpty { _ = buffer.append(claimed) }
            }
            guard let connection = state.connection else { return (index, nil as MQTTConnection?, !claimed.isEmpty) }
            state.slots[index]!.subscribedGeneration = state.generation
            return (index, connection, !claimed.isEmpty)
        }
        do {
            if let connection, claimedHeld {
                // Held messages wait for this consumer and may have filled the inbound window, so
                // that the SUBACK cannot be read before they are processed: do not wait for it. A
                // rejection ends the subscription with the error.
                let future = await connection.subscribeNoWait(subscriptions)
                let logger = self.logger
                future.whenSuccess { codes in
                    guard let (info, code) = zip(subscriptions, codes).first(where: { $0.1.isMQTTFailure }) else { return }
                    logger.error("MQTT broker rejected subscription to '\(info.filter)'", metadata: ["mqtt.reason_code": "\(code)"])
                    buffer.finish(throwing: MQTTClientError(.subscriptionRejected, message: "broker rejected '\(info.filter)'", reasonCode: code))
                }
            } else if let connection {
                let codes: [UInt8]
                do {
                    codes = try await connection.subscribe(subscriptions)
                } catch  where Self.isRetryable(error) {
                    if let failure = Self.sharedSubscriptionFailure(subscriptions, error) {
                        logger.error("\(failure.message ?? "shared subscriptions not supported")", metadata: ["error": "\(error)"])
                        throw failure
                    }
                    // The connection dropped; the next connection subscribes again.
                    codes = []
                }
                let rejected = zip(subscriptions, codes).filter { $0.1.isMQTTFailure }
                if let (info, code) = rejected.first {
                    throw MQTTClientError(.subscriptionRejected, message: "broker rejected '\(info.filter)'", reasonCode: code)
                }
            }
            // On the loop that reads the socket: see "Delivery path" at MQTTClient.
            let result = try await withTaskExecutorPreference(taskExecutor) {
                try await body(MQTTSubscription(buffer: buffer))
            }
            await self.removeSubscription(index, keepAtBroker: keepsSubscriptionAtBroker)
            return result
        } catch {
            await self.removeSubscription(index, keepAtBroker: keepsSubscriptionAtBroker)
            throw error
        }
    }

    /// Set by a caller that cancels consumers while the process keeps running (a cluster handing
    /// work to another instance): their filters are then unsubscribed when cancelled, even with a
    /// persistent session, unless the process is shutting down gracefully.
    @TaskLocal public static var unsubscribesOnCancellation = false

    /// Whether a subscription ending now stays subscribed at the broker: a persistent session
    /// going down (see ``subscribe(to:bufferSize:_:)``).
    var keepsSubscriptionAtBroker: Bool {
        session != nil && (Task.isShuttingDownGracefully || (Task.isCancelled && !Self.unsubscribesOnCancellation))
    }

    func removeSubscription(_ index: Int, keepAtBroker: Bool = false) async {
        let (buffer, unused, connection) = state.withLock { state in
            let slot = state.slots[index]!
            state.slots[index] = nil
            state.freeSlots.append(index)
            for info in slot.infos { state.trie.remove(filter: info.filter, value: index) }
            let stillUsed = Set(state.slots.lazy.compactMap { $0 }.flatMap { $0.infos.map(\.filter) })
            // A set for the duplicates check: one subscription may hold 100,000 filters.
            var unused: [String] = []
            var seen: Set<String> = []
            for info in slot.infos where !stillUsed.contains(info.filter) && seen.insert(info.filter).inserted {
                unused.append(info.filter)
            }
            return (slot.buffer, unused, state.connection)
        }
        let unprocessed = buffer.finish()
        if !unprocessed.isEmpty {
            if session == nil {
                for delivery in unprocessed { delivery.release() }
            } else {
                logger.debug(
                    "MQTT subscription ended with unprocessed messages; the broker redelivers them after a reconnect",
                    metadata: ["mqtt.unprocessed": "\(unprocessed.count)"]
                )
            }
        }
        guard let connection, !unused.isEmpty, !keepAtBroker else { return }
        do {
            let codes = try await connection.unsubscribe(unused)
            for (filter, code) in zip(unused, codes) where code.isMQTTFailure {
                logger.warning("MQTT unsubscribe from '\(filter)' failed", metadata: ["mqtt.reason_code": "\(code)"])
            }
        } catch {
            logger.debug("MQTT unsubscribe not confirmed", metadata: ["error": "\(error)"])
        }
    }

    /// Routes a batch of received messages to the matching subscriptions (on the event loop).
    ///
    /// Each QoS 1/2 message learns how many subscriptions must process it before it is
    /// acknowledged. One that no subscription wants is held (persistent session, within
    /// ``MQTTClientConfiguration/unroutedHold`` of the connection) or acknowledged at once.
    func deliver(_ batch: [MQTTMessage]) {
        metrics.received.increment(by: Int64(batch.count))
        var unrouted: [MQTTDelivery] = []
        let targets: [(MQTTSubscriptionBuffer, [MQTTMessage])] = state.withLock { state in
            let trie = state.trie
            // The subscriptions matching the current message, each once (overlapping filters of
            // one subscription match twice).
            var matches: [Int] = []
            // While every message so far went to one subscription, `only`, and nowhere else, the
            // batch is handed over whole, without copying a message: the usual case of one
            // subscription per client.
            var only: Int?
            var whole = true
            var touched: [Int] = []
            for (position, message) in batch.enumerated() {
                matches.removeAll(keepingCapacity: true)
                trie.forEachMatch(topic: message.topic) { index in
                    if !matches.contains(index) { matches.append(index) }
                }
                if let delivery = message.delivery {
                    if !matches.isEmpty {
                        delivery.expect(matches.count)
                    } else if let until = state.holdUnroutedUntil, ContinuousClock.now < until {
                        state.held.append(message)
                    } else {
                        unrouted.append(delivery)
                    }
                }
                if whole {
                    if matches.count == 1 && (only == nil || only == matches[0]) {
                        only = matches[0]
                        continue
                    }
                    whole = false
                    if let only {
                        touched.append(only)
                        state.slots[only]!.pending.append(contentsOf: batch[..<position])
                    }
                }
                for index in matches {
                    if state.slots[index]!.pending.isEmpty { touched.append(index) }
                    state.slots[index]!.pending.append(message)
                }
            }
            if whole {
                guard let only else { return [] }
                return [(state.slots[only]!.buffer, batch)]
            }
            return touched.map { index in
                defer { state.slots[index]!.pending = [] }
                return (state.slots[index]!.buffer, state.slots[index]!.pending)
            }
        }
        if !unrouted.isEmpty {
            metrics.unrouted.increment(by: Int64(unrouted.count))
            for delivery in unrouted { delivery.expect(0) }
        }
        for (buffer, messages) in targets {
            let (dropped, refused) = buffer.append(messages)
            // A subscription that ended meanwhile: the message counts as processed for it.
            for delivery in refused { delivery.release() }
            if dropped > 0 {
                metrics.dropped.increment(by: Int64(dropped))
                logger.warning("MQTT subscriber too slow: dropped oldest QoS 0 messages", metadata: ["mqtt.dropped": "\(dropped)"])
            }
        }
    }

    /// Acknowledges the held messages nobody subscribed to in time.
    func releaseHeld() {
        let held = state.withLock { state in
            state.holdUnroutedUntil = nil
            defer { state.held.removeAll() }
            return state.held
        }
        guard !held.isEmpty else { return }
        metrics.unrouted.increment(by: Int64(held.count))
        logger.warning(
            "MQTT messages of the persistent session match no subscription; acknowledged without a consumer",
            metadata: ["mqtt.unrouted": "\(held.count)", "mqtt.topic": "\(held[0].topic)"]
        )
        for message in held { message.delivery?.expect(0) }
    }
}
