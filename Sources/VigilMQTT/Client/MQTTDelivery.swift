//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Synchronization

/// The acknowledgement owed for one received QoS 1 or 2 message.
///
/// The channel handler creates one per incoming QoS 1/2 PUBLISH and attaches it to the
/// ``MQTTMessage``. The client sets how many subscriptions received the message; each of them
/// calls ``release()`` once its consumer has processed the message. When the last one does, the
/// handler may send PUBACK (QoS 1) or PUBREC (QoS 2), in the order the messages arrived.
///
/// A delivery whose connection has closed completes into nothing: the broker sends the message
/// again on the next connection of a persistent session.
final class MQTTDelivery: Sendable {
    /// The message's position among the QoS 1/2 messages of its connection, from 0.
    let sequence: UInt64
    /// Whether the broker marked the message as a redelivery (DUP).
    let isRedelivery: Bool
    private let remaining = Atomic<Int>(1)
    private let complete: @Sendable (UInt64) -> Void

    init(sequence: UInt64, isRedelivery: Bool, complete: @escaping @Sendable (UInt64) -> Void) {
        self.sequence = sequence
        self.isRedelivery = isRedelivery
        self.complete = complete
    }

    /// Sets how many consumers must release the delivery before it is acknowledged; zero
    /// acknowledges it at once.
    func expect(_ consumers: Int) {
        if consumers <= 0 {
            remaining.store(0, ordering: .relaxed)
            complete(sequence)
        } else {
            remaining.store(consumers, ordering: .releasing)
        }
    }

    /// Records that one consumer has processed the message; the last one acknowledges it.
    func release() {
        let (_, now) = remaining.subtract(1, ordering: .acquiringAndReleasing)
        if now == 0 { complete(sequence) }
    }
}
