//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// How much state one device may keep: wildcard `stateTopics` let a device (or anyone who can
/// publish under its filters) create any number of distinct topics, so each device has a cap.
///
/// `[watchdog]` keys `state_max_topics`, `state_max_bytes`, `state_max_payload`.
public struct DeviceStateLimits: Sendable, Hashable {
    /// Distinct state topics kept per device; the least recently written is evicted beyond it.
    public var maxTopics: Int
    /// Bytes (topic names plus payloads) kept per device; the least recently written states are
    /// evicted beyond it.
    public var maxBytes: Int
    /// The largest payload stored; a larger one is refused (and the topic's older state dropped,
    /// because it is no longer the latest).
    public var maxPayload: Int

    /// Creates limits.
    ///
    /// - Parameters:
    ///   - maxTopics: Topics per device (default 256).
    ///   - maxBytes: Bytes per device (default 1 MiB).
    ///   - maxPayload: Bytes per payload (default 64 KiB).
    public init(maxTopics: Int = 256, maxBytes: Int = 1 << 20, maxPayload: Int = 64 << 10) {
        self.maxTopics = max(maxTopics, 1)
        self.maxBytes = max(maxBytes, 1)
        self.maxPayload = max(maxPayload, 0)
    }
}

/// The state topics one device keeps, in the order they were last written, with their sizes.
///
/// Payloads live in the table (a topic may belong to several devices); the ledger holds only what
/// eviction needs. `order` is appended to on every write and skips stale entries lazily, so a
/// write and an eviction cost O(1) amortised.
struct DeviceStateLedger: Sendable {
    private struct Entry: Sendable {
        var bytes: Int
        var stamp: UInt64
    }

    private var entries: [String: Entry] = [:]
    private var order = CircularBuffer<(stamp: UInt64, topic: String)>()
    /// Bytes of topic names and payloads currently kept.
    private(set) var bytes = 0
    /// States evicted to stay within the limits.
    private(set) var evicted = 0
    /// Messages refused because their payload was too large.
    private(set) var refused = 0

    /// The number of topics kept.
    var count: Int { entries.count }

    /// The topics kept, in no particular order.
    var topics: [String] { Array(entries.keys) }

    func contains(_ topic: String) -> Bool { entries[topic] != nil }

    /// The bytes a state costs against ``DeviceStateLimits/maxBytes``.
    static func cost(topic: String, payloadCount: Int) -> Int { topic.utf8.count + payloadCount }

    /// Records a write of `topic`, then evicts the least recently written other topics until the
    /// device is within `limits`.
    ///
    /// The caller has checked that this state alone fits (``cost(topic:payloadCount:)`` ≤
    /// `maxBytes`), so the new state itself is never evicted.
    ///
    /// - Returns: The topics evicted.
    mutating func write(_ topic: String, payloadCount: Int, stamp: UInt64, limits: DeviceStateLimits) -> [String] {
        let cost = Self.cost(topic: topic, payloadCount: payloadCount)
        bytes += cost - (entries[topic]?.bytes ?? 0)
        entries[topic] = Entry(bytes: cost, stamp: stamp)
        order.append((stamp, topic))
        var gone: [String] = []
        while entries.count > limits.maxTopics || bytes > limits.maxBytes, let oldest = order.popFirst() {
            guard let entry = entries[oldest.topic], entry.stamp == oldest.stamp else { continue }
            entries[oldest.topic] = nil
            bytes -= entry.bytes
            evicted += 1
            gone.append(oldest.topic)
        }
        compactIfNeeded()
        return gone
    }

    /// Forgets a topic (an empty payload, a refused one, or eviction by the table).
    mutating func remove(_ topic: String) {
        guard let entry = entries.removeValue(forKey: topic) else { return }
        bytes -= entry.bytes
        compactIfNeeded()
    }

    /// Counts a refused message.
    mutating func countRefused() { refused += 1 }

    /// Rebuilds `order` when stale entries (rewrites of the same topic) dominate, so its length
    /// stays within a small multiple of the topics kept.
    private mutating func compactIfNeeded() {
        guard order.count > 2 * entries.count + 32 else { return }
        let live = entries.map { (stamp: $0.value.stamp, topic: $0.key) }.sorted { $0.stamp < $1.stamp }
        order = CircularBuffer(live)
    }
}
