//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// The client's shared state, behind one `Mutex`: the connection, the subscription registry, the
/// offline queue and the waiters.
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
        /// The broker refused the subscription (a shared one it closed the connection on): it is
        /// not sent again.
        var rejected = false
        var pending: [MQTTMessage] = []

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
        var offlineQueue: [QueuedPublish] = []
        /// QoS 1/2 messages of a persistent session that no subscription matched yet.
        var held: [MQTTMessage] = []
        /// Until when unmatched messages are held; `nil` acknowledges them at once.
        var holdUnroutedUntil: ContinuousClock.Instant?
        var connectedWaiters: [Int: CheckedContinuation<Void, any Error>] = [:]
        var eventContinuations: [Int: AsyncStream<MQTTConnectionEvent>.Continuation] = [:]
        var nextID = 0
    }
}
