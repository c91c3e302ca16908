//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

extension MQTTChannelHandler {
    /// The incoming QoS 1/2 messages of one connection that still owe the broker their
    /// acknowledgement, as a value.
    ///
    /// Every received QoS 1/2 PUBLISH gets the next sequence number and a place in a FIFO. A message
    /// is *completed* when its consumers have processed it; acknowledgements leave only from the
    /// front of the FIFO, so PUBACK and PUBREC go out in the order the PUBLISH packets arrived, as
    /// MQTT requires ([MQTT-4.6.0-2], [MQTT-4.6.0-3]), even when consumers finish out of order.
    ///
    /// The window is *full* when `limit` messages are waiting (processed or not): the handler then
    /// stops reading from the socket until acknowledgements make room.
    struct InboundWindow {
        /// An acknowledgement to send.
        enum Ack: Equatable {
            /// PUBACK for a QoS 1 message.
            case puback(UInt16)
            /// PUBREC for a QoS 2 message.
            case pubrec(UInt16)
        }

        private var pending = CircularBuffer<(ack: Ack, done: Bool)>()
        /// The sequence number of the front of `pending`.
        private var first: UInt64 = 0
        /// The number of waiting messages at which reading pauses.
        let limit: Int

        init(limit: Int) {
            self.limit = max(1, limit)
        }

        /// The number of messages waiting for their acknowledgement to be sent.
        var count: Int { pending.count }

        /// Whether reading must pause.
        var isFull: Bool { pending.count >= limit }

        /// Whether an acknowledgement is already waiting (a QoS 2 PUBLISH repeated before its
        /// PUBREC went out needs no entry of its own).
        func contains(_ ack: Ack) -> Bool {
            pending.contains { $0.ack == ack }
        }

        /// Records a received message that consumers must process; returns its sequence number.
        mutating func receive(_ ack: Ack) -> UInt64 {
            pending.append((ack, false))
            return first + UInt64(pending.count - 1)
        }

        /// Records a message that needs no processing (a QoS 2 repetition); returns what may be sent
        /// now, in order.
        mutating func receiveProcessed(_ ack: Ack) -> [Ack] {
            pending.append((ack, true))
            return drain()
        }

        /// Marks a message processed; returns the acknowledgements that may be sent now, in order.
        /// A sequence number this window does not hold (already completed, or never issued) is
        /// ignored.
        mutating func complete(_ sequence: UInt64) -> [Ack] {
            guard sequence >= first, sequence - first < UInt64(pending.count) else { return [] }
            let index = pending.index(pending.startIndex, offsetBy: Int(sequence - first))
            guard !pending[index].done else { return [] }
            pending[index].done = true
            return drain()
        }

        private mutating func drain() -> [Ack] {
            var ready: [Ack] = []
            while let front = pending.first, front.done {
                pending.removeFirst()
                first += 1
                ready.append(front.ack)
            }
            return ready
        }
    }
}
