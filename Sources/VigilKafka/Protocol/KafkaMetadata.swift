//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// Metadata v1–7: brokers, and each topic's partitions with their leaders.
struct KafkaMetadataRequest: KafkaRequest {
    typealias Response = KafkaMetadata
    static var apiKey: KafkaAPIKey { .metadata }
    static var supportedVersions: ClosedRange<Int16> { 1...7 }

    /// The topics to describe; `nil` for all of them.
    var topics: [String]?
    var allowAutoTopicCreation = false

    func write(version: Int16, to buffer: inout ByteBuffer) {
        buffer.kafkaWriteArrayCount(topics?.count, flexible: false)
        for topic in topics ?? [] { buffer.kafkaWriteString(topic, flexible: false) }
        if version >= 4 { buffer.writeInteger(UInt8(allowAutoTopicCreation ? 1 : 0)) }
    }

    static func readResponse(version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodeError) -> Response {
        if version >= 3 { _ = try buffer.kafkaReadInt32("Metadata.throttle_time_ms") }
        var metadata = KafkaMetadata()
        let brokerCount = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 12, "Metadata.brokers")
        for _ in 0..<brokerCount {
            let nodeID = try buffer.kafkaReadInt32("Metadata.node_id")
            let host = try buffer.kafkaReadString(flexible: false, "Metadata.host")
            let port = try buffer.kafkaReadInt32("Metadata.port")
            _ = try buffer.kafkaReadNullableString(flexible: false, "Metadata.rack")
            metadata.brokers[nodeID] = KafkaBrokerAddress(host: host, port: Int(port))
        }
        if version >= 2 { _ = try buffer.kafkaReadNullableString(flexible: false, "Metadata.cluster_id") }
        metadata.controllerID = try buffer.kafkaReadInt32("Metadata.controller_id")
        let topicCount = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 9, "Metadata.topics")
        for _ in 0..<topicCount {
            var topic = KafkaMetadata.Topic()
            topic.errorCode = KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("Metadata.topic.error_code"))
            topic.name = try buffer.kafkaReadString(flexible: false, "Metadata.topic.name")
            _ = try buffer.kafkaReadBool("Metadata.is_internal")
            let partitionCount = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 18, "Metadata.partitions")
            for _ in 0..<partitionCount {
                var partition = KafkaMetadata.Partition()
                partition.errorCode = KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("Metadata.partition.error_code"))
                partition.index = try buffer.kafkaReadInt32("Metadata.partition_index")
                partition.leader = try buffer.kafkaReadInt32("Metadata.leader_id")
                if version >= 7 { partition.leaderEpoch = try buffer.kafkaReadInt32("Metadata.leader_epoch") }
                try skipInt32Array(&buffer, "Metadata.replica_nodes")
                try skipInt32Array(&buffer, "Metadata.isr_nodes")
                if version >= 5 { try skipInt32Array(&buffer, "Metadata.offline_replicas") }
                topic.partitions.append(partition)
            }
            topic.partitions.sort { $0.index < $1.index }
            metadata.topics[topic.name] = topic
        }
        return metadata
    }

    private static func skipInt32Array(_ buffer: inout ByteBuffer, _ context: String) throws(KafkaDecodeError) {
        let count = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 4, context)
        buffer.moveReaderIndex(forwardBy: count * 4)
    }
}

/// A broker's advertised address.
public struct KafkaBrokerAddress: Hashable, Sendable, CustomStringConvertible {
    /// The host name or IP address.
    public var host: String
    /// The TCP port.
    public var port: Int

    /// Creates an address.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (an IPv6 host in brackets); `nil` when it is not that shape.
    public init?(_ text: some StringProtocol) {
        let text = String(text)
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    /// `host:port`.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// What a Metadata response says about the cluster.
struct KafkaMetadata: Sendable, Hashable {
    struct Partition: Sendable, Hashable {
        var errorCode = KafkaErrorCode.none
        var index: Int32 = 0
        var leader: Int32 = -1
        var leaderEpoch: Int32 = -1
    }

    struct Topic: Sendable, Hashable {
        var errorCode = KafkaErrorCode.none
        var name = ""
        var partitions: [Partition] = []
    }

    var brokers: [Int32: KafkaBrokerAddress] = [:]
    var controllerID: Int32 = -1
    var topics: [String: Topic] = [:]
}
