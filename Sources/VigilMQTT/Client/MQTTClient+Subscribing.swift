//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import CoreMetrics
import Logging
import NIOCore
import Synchronization

/// Subscribing and routing: the subscription registry (slots and a topic trie) and the delivery
/// of each socket read to the matching subscriptions' buffers.
extension MQTTClient {
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

    func removeSubscription(_ index: Int) async {
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
            logger.debug("MQTT unsubscribe not confirmed", metadata: ["error": "\(error)"])
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
}
