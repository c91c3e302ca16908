//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// Produce v3–7 with acks=all: one record batch per partition.
struct KafkaProduceRequest: KafkaRequest {
    typealias Response = [KafkaPartitionResult<KafkaProduceResult>]
    static var apiKey: KafkaAPIKey { .produce }
    static var supportedVersions: ClosedRange<Int16> { 3...7 }

    struct Partition: Sendable {
        var topic: String
        var partition: Int32
        /// An encoded record batch.
        var batch: ByteBuffer
    }

    var acks: Int16 = -1
    var timeoutMilliseconds: Int32 = 30_000
    var partitions: [Partition]

    func write(version: Int16, to buffer: inout ByteBuffer) {
        buffer.kafkaWriteString(nil, flexible: false)  // transactional_id
        buffer.writeInteger(acks)
        buffer.writeInteger(timeoutMilliseconds)
        buffer.kafkaWriteTopicArray(partitions, topic: \.topic) { buffer, partition in
            buffer.writeInteger(partition.partition)
            buffer.kafkaWriteBytes(partition.batch, flexible: false)
        }
    }

    static func readResponse(version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodeError) -> Response {
        var results: Response = []
        let topicCount = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 6, "Produce.responses")
        for _ in 0..<topicCount {
            let topic = try buffer.kafkaReadString(flexible: false, "Produce.name")
            let count = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 14, "Produce.partitions")
            for _ in 0..<count {
                let partition = try buffer.kafkaReadInt32("Produce.index")
                let errorCode = KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("Produce.error_code"))
                let baseOffset = try buffer.kafkaReadInt64("Produce.base_offset")
                _ = try buffer.kafkaReadInt64("Produce.log_append_time_ms")
                if version >= 5 { _ = try buffer.kafkaReadInt64("Produce.log_start_offset") }
                results.append(.init(topic: topic, partition: partition, errorCode: errorCode, value: KafkaProduceResult(baseOffset: baseOffset)))
            }
        }
        _ = try buffer.kafkaReadInt32("Produce.throttle_time_ms")
        return results
    }
}

/// What the broker says about one partition of a request.
struct KafkaPartitionResult<Value: Sendable>: Sendable {
    var topic: String
    var partition: Int32
    var errorCode: KafkaErrorCode
    var value: Value
}

extension KafkaPartitionResult: Equatable where Value: Equatable {}

/// Where a produced batch landed.
struct KafkaProduceResult: Sendable, Hashable {
    var baseOffset: Int64
}

/// InitProducerId v0–4 without a transactional id: a producer id and epoch for idempotence.
///
/// v2 and later are flexible. Tansu 0.6 answers v0–2 with UNKNOWN_SERVER_ERROR (it expects the
/// producer id and epoch fields that v3 added), so the negotiated v4 is what works there, while
/// a 2.1 broker gets v1.
struct KafkaInitProducerIDRequest: KafkaRequest {
    typealias Response = KafkaInitProducerIDResponse
    static var apiKey: KafkaAPIKey { .initProducerId }
    static var supportedVersions: ClosedRange<Int16> { 0...4 }
    static func isFlexible(_ version: Int16) -> Bool { version >= 2 }

    var transactionTimeoutMilliseconds: Int32 = 60_000

    func write(version: Int16, to buffer: inout ByteBuffer) {
        let flexible = Self.isFlexible(version)
        buffer.kafkaWriteString(nil, flexible: flexible)
        buffer.writeInteger(transactionTimeoutMilliseconds)
        if version >= 3 {
            buffer.writeInteger(Int64(-1))  // producer_id: none yet
            buffer.writeInteger(Int16(-1))  // producer_epoch
        }
        if flexible { buffer.kafkaWriteEmptyTaggedFields() }
    }

    static func readResponse(version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodeError) -> Response {
        _ = try buffer.kafkaReadInt32("InitProducerId.throttle_time_ms")
        let response = Response(
            errorCode: KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("InitProducerId.error_code")),
            producerID: try buffer.kafkaReadInt64("InitProducerId.producer_id"),
            producerEpoch: try buffer.kafkaReadInt16("InitProducerId.producer_epoch")
        )
        if isFlexible(version) { try buffer.kafkaSkipTaggedFields("InitProducerId.tagged_fields") }
        return response
    }
}

struct KafkaInitProducerIDResponse: Sendable, Hashable {
    var errorCode: KafkaErrorCode
    var producerID: Int64
    var producerEpoch: Int16
}

/// CreateTopics v2–4, so tests and operators can create topics with a partition count.
struct KafkaCreateTopicsRequest: KafkaRequest {
    typealias Response = [String: KafkaErrorCode]
    static var apiKey: KafkaAPIKey { .createTopics }
    static var supportedVersions: ClosedRange<Int16> { 2...4 }

    struct Topic: Sendable {
        var name: String
        var partitions: Int32
        var replicationFactor: Int16
    }

    var topics: [Topic]
    var timeoutMilliseconds: Int32 = 30_000

    func write(version: Int16, to buffer: inout ByteBuffer) {
        buffer.kafkaWriteArrayCount(topics.count, flexible: false)
        for topic in topics {
            buffer.kafkaWriteString(topic.name, flexible: false)
            buffer.writeInteger(topic.partitions)
            buffer.writeInteger(topic.replicationFactor)
            buffer.kafkaWriteArrayCount(0, flexible: false)  // assignments
            buffer.kafkaWriteArrayCount(0, flexible: false)  // configs
        }
        buffer.writeInteger(timeoutMilliseconds)
        buffer.writeInteger(UInt8(0))  // validate_only
    }

    static func readResponse(version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodeError) -> Response {
        _ = try buffer.kafkaReadInt32("CreateTopics.throttle_time_ms")
        let count = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 6, "CreateTopics.topics")
        var results: Response = [:]
        for _ in 0..<count {
            let name = try buffer.kafkaReadString(flexible: false, "CreateTopics.name")
            results[name] = KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("CreateTopics.error_code"))
            _ = try buffer.kafkaReadNullableString(flexible: false, "CreateTopics.error_message")
        }
        return results
    }
}
