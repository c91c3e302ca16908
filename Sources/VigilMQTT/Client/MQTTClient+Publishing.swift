//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import CoreMetrics
import Logging
public import NIOCore
import Synchronization
import VigilClientSupport

/// Publishing: straight to the broker while connected; QoS 1 and 2 wait in the bounded offline
/// queue while not.
extension MQTTClient {
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

    /// Publishes many QoS 0 messages at once: one hop to the connection's event loop and one socket
    /// flush for all of them, where ``publish(to:payload:qos:retain:properties:)`` costs a hop and
    /// a scheduled flush each (a fleet's expiries, or its retained states at every connection).
    ///
    /// - Parameter messages: Topic, payload and retain flag of each message.
    /// - Returns: How many were handed to the connection: all of them, or none without a
    ///   connection; messages whose topic is not a valid topic name are skipped (and not counted).
    @discardableResult
    public func publishAtMostOnce(_ messages: [(topic: String, payload: ByteBuffer, retain: Bool)]) async -> Int {
        guard let connection = state.withLock({ $0.connection }) else { return 0 }
        var valid: [MQTTMessage] = []
        valid.reserveCapacity(messages.count)
        for message in messages where mqttTopicNameProblem(message.topic) == nil {
            valid.append(MQTTMessage(topic: message.topic, payload: message.payload, qos: .atMostOnce, retain: message.retain))
        }
        await connection.publishAtMostOnce(valid)
        metrics.sent.increment(by: Int64(valid.count))
        return valid.count
    }

    /// Queues a message until the next connection.
    ///
    /// - Returns: `true` when it was sent and acknowledged, `false` when the caller should try again.
    func enqueue(_ message: MQTTMessage) async throws -> Bool {
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
}
