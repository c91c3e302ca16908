//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// The "consumer" embedded protocol: what members put in JoinGroup metadata and SyncGroup
/// assignments (version 0 of both, which every broker and client reads).
enum KafkaConsumerProtocol {
    static func writeSubscription(topics: [String]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int16(0))
        buffer.kafkaWriteArrayCount(topics.count, flexible: false)
        for topic in topics { buffer.kafkaWriteString(topic, flexible: false) }
        buffer.kafkaWriteBytes(nil, flexible: false)
        return buffer
    }

    /// The topics of a member's subscription; later versions only append fields, which are ignored.
    static func readSubscription(_ bytes: ByteBuffer) throws(KafkaDecodeError) -> [String] {
        var buffer = bytes
        let version = try buffer.kafkaReadInt16("Subscription.version")
        guard version >= 0 else { throw KafkaDecodeError(.invalidValue, "Subscription.version") }
        let count = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 2, "Subscription.topics")
        var topics: [String] = []
        for _ in 0..<count { topics.append(try buffer.kafkaReadString(flexible: false, "Subscription.topic")) }
        return topics
    }

    static func writeAssignment(_ partitions: [KafkaTopicPartition]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int16(0))
        buffer.kafkaWriteTopicArray(partitions.sorted(), topic: \.topic) { buffer, partition in
            buffer.writeInteger(partition.partition)
        }
        buffer.kafkaWriteBytes(nil, flexible: false)
        return buffer
    }

    static func readAssignment(_ bytes: ByteBuffer) throws(KafkaDecodeError) -> [KafkaTopicPartition] {
        // An empty assignment (no bytes) is what a member with nothing to do receives.
        guard bytes.readableBytes > 0 else { return [] }
        var buffer = bytes
        _ = try buffer.kafkaReadInt16("Assignment.version")
        let count = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 6, "Assignment.topics")
        var partitions: [KafkaTopicPartition] = []
        for _ in 0..<count {
            let topic = try buffer.kafkaReadString(flexible: false, "Assignment.topic")
            let partitionCount = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 4, "Assignment.partitions")
            for _ in 0..<partitionCount {
                partitions.append(KafkaTopicPartition(topic: topic, partition: try buffer.kafkaReadInt32("Assignment.partition")))
            }
        }
        return partitions
    }
}

/// How the group leader splits partitions among members.
public struct KafkaAssignor: Hashable, Sendable, CustomStringConvertible {
    fileprivate enum _Internal: Hashable, Sendable {
        case range
        case roundRobin
    }

    fileprivate let value: _Internal

    /// Per topic, consecutive ranges of partitions: members sorted by id, the first
    /// `partitions % members` get one extra (the Java client's `range`).
    public static let range = KafkaAssignor(value: .range)
    /// All subscribed partitions, sorted, dealt one by one to the members subscribed to their
    /// topic (the Java client's `roundrobin`).
    public static let roundRobin = KafkaAssignor(value: .roundRobin)

    /// The protocol name members advertise in JoinGroup.
    public var name: String {
        switch value {
        case .range: "range"
        case .roundRobin: "roundrobin"
        }
    }

    /// The assignor with a protocol name, if this client implements it.
    public init?(name: String) {
        switch name {
        case "range": self = .range
        case "roundrobin": self = .roundRobin
        default: return nil
        }
    }

    private init(value: _Internal) { self.value = value }

    /// The protocol name.
    public var description: String { name }

    /// Splits partitions among members.
    ///
    /// - Parameters:
    ///   - subscriptions: Each member's subscribed topics.
    ///   - partitionCounts: The number of partitions of each topic; topics missing here get none.
    /// - Returns: Each member's partitions (every member appears, possibly with none).
    public func assign(subscriptions: [String: [String]], partitionCounts: [String: Int32]) -> [String: [KafkaTopicPartition]] {
        var result: [String: [KafkaTopicPartition]] = subscriptions.mapValues { _ in [] }
        let members = subscriptions.keys.sorted()
        switch value {
        case .range:
            let topics = Set(subscriptions.values.joined()).sorted()
            for topic in topics {
                let subscribers = members.filter { subscriptions[$0]?.contains(topic) == true }
                let count = Int(partitionCounts[topic] ?? 0)
                guard !subscribers.isEmpty, count > 0 else { continue }
                let share = count / subscribers.count
                let extra = count % subscribers.count
                var next = 0
                for (index, member) in subscribers.enumerated() {
                    let take = share + (index < extra ? 1 : 0)
                    for partition in next..<(next + take) {
                        result[member, default: []].append(KafkaTopicPartition(topic: topic, partition: Int32(partition)))
                    }
                    next += take
                }
            }
        case .roundRobin:
            let all = Set(subscriptions.values.joined()).sorted().flatMap { topic in
                (0..<(partitionCounts[topic] ?? 0)).map { KafkaTopicPartition(topic: topic, partition: $0) }
            }
            var cursor = 0
            for partition in all {
                // The next member in the circle that subscribes to this topic.
                for step in 0..<members.count {
                    let member = members[(cursor + step) % members.count]
                    if subscriptions[member]?.contains(partition.topic) == true {
                        result[member, default: []].append(partition)
                        cursor = (cursor + step + 1) % members.count
                        break
                    }
                }
            }
        }
        return result
    }
}
