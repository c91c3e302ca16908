//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import Synchronization

/// The bounded queue between the gateway monitor's MQTT subscription and its loop.
///
/// Status messages are coalesced per server: while a server's status waits in the queue, a newer
/// one replaces its payload in place (latest status wins, the order of servers is kept), so a
/// flood on one topic costs one slot. Admin replies are not coalesced (each answers its own
/// transaction) and are taken only from configured servers. Ticks are coalesced into one. Configured servers' statuses are always admitted
/// (there are few of them and failover depends on them); anything else is refused once
/// ``capacity`` items wait. Connection changes are always admitted (at most a few).
///
/// A plain value: ``GatewayMonitor`` keeps it in a `Mutex` and rings a one-slot doorbell.
struct GatewayInbox {
    enum Item: Sendable, Hashable {
        case status(server: String, payload: ByteBuffer)
        case reply(server: String, payload: ByteBuffer)
        case connected
        case disconnected
        case tick
    }

    private enum Slot {
        case status(String)
        case reply(String, ByteBuffer)
        case connected
        case disconnected
        case tick
    }

    /// Items that may wait, not counting configured servers' statuses and connection changes.
    let capacity: Int
    private let configured: Set<String>
    private var slots: [Slot] = []
    private var latestStatus: [String: ByteBuffer] = [:]
    private var bounded = 0
    private var tickQueued = false
    /// Status messages replaced by a newer one of the same server before they were handled.
    private(set) var coalesced = 0
    /// Messages refused because the inbox was full.
    private(set) var refused = 0

    init(capacity: Int, configured: Set<String>) {
        self.capacity = max(1, capacity)
        self.configured = configured
    }

    /// The number of items waiting.
    var count: Int { slots.count }

    /// Queues an item.
    ///
    /// - Returns: What happened to it.
    @discardableResult
    mutating func push(_ item: Item) -> Outcome {
        switch item {
        case .status(let server, let payload):
            if latestStatus.updateValue(payload, forKey: server) != nil {
                coalesced += 1
                return .coalesced
            }
            if !configured.contains(server) {
                guard bounded < capacity else {
                    latestStatus[server] = nil
                    refused += 1
                    return .refused
                }
                bounded += 1
            }
            slots.append(.status(server))
        case .reply(let server, let payload):
            // Only configured servers are asked anything, so only they can answer.
            guard configured.contains(server) else { return .ignored }
            guard bounded < capacity else {
                refused += 1
                return .refused
            }
            bounded += 1
            slots.append(.reply(server, payload))
        case .connected:
            slots.append(.connected)
        case .disconnected:
            slots.append(.disconnected)
        case .tick:
            if tickQueued { return .coalesced }
            tickQueued = true
            slots.append(.tick)
        }
        return .queued
    }

    /// What ``push(_:)`` did.
    enum Outcome: Sendable, Hashable {
        case queued
        case coalesced
        case refused
        /// An admin reply from a server that is not configured (never asked): dropped.
        case ignored
    }

    /// Takes every waiting item, oldest first.
    mutating func drain() -> [Item] {
        let taken = slots
        slots.removeAll(keepingCapacity: true)
        var items: [Item] = []
        items.reserveCapacity(taken.count)
        for slot in taken {
            switch slot {
            case .status(let server):
                if let payload = latestStatus.removeValue(forKey: server) { items.append(.status(server: server, payload: payload)) }
            case .reply(let server, let payload): items.append(.reply(server: server, payload: payload))
            case .connected: items.append(.connected)
            case .disconnected: items.append(.disconnected)
            case .tick: items.append(.tick)
            }
        }
        latestStatus.removeAll(keepingCapacity: true)
        bounded = 0
        tickQueued = false
        return items
    }
}

/// A ``GatewayInbox`` shared between the producers (subscription, connection events, ticker) and
/// the monitor loop, with a one-slot doorbell: the loop wakes, drains everything, and sleeps.
final class GatewayInboxQueue: Sendable {
    private let inbox: Mutex<GatewayInbox>
    private let bell: AsyncStream<Void>.Continuation
    /// Rings once per batch of pushes; iterate it and call ``drain()`` each time.
    let doorbell: AsyncStream<Void>
    private let metrics: GatewayMetrics

    init(capacity: Int, configured: Set<String>, metrics: GatewayMetrics) {
        self.inbox = Mutex(GatewayInbox(capacity: capacity, configured: configured))
        // One buffered ring is enough: a drain takes everything queued before it.
        (doorbell, bell) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.metrics = metrics
    }

    /// Queues an item and wakes the loop; coalesced and refused messages are counted.
    func push(_ item: GatewayInbox.Item) {
        let outcome = inbox.withLock { $0.push(item) }
        switch (outcome, item) {
        case (.coalesced, .status): metrics.countInboxCoalesced()
        case (.refused, _): metrics.countInboxRefused()
        case (.queued, _), (.coalesced, _), (.ignored, _): break
        }
        bell.yield()
    }

    /// Takes every waiting item, oldest first.
    func drain() -> [GatewayInbox.Item] { inbox.withLock { $0.drain() } }

    /// Ends the doorbell, so the loop finishes.
    func finish() { bell.finish() }
}
