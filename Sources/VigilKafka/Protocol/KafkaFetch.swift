//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// Fetch v4–10 (no fetch sessions: each request names every partition), read-committed.
struct KafkaFetchRequest: KafkaRequest {
    typealias Response = KafkaFetchResponse
    static var apiKey: KafkaAPIKey { .fetch }
    static var supportedVersions: ClosedRange<Int16> { 4...10 }

    struct Partition: Sendable, Hashable {
        var topic: String
        var partition: Int32
        var offset: Int64
    }

    var maxWaitMilliseconds: Int32 = 500
    var minBytes: Int32 = 1
    var maxBytes: Int32 = 50 << 20
    var partitionMaxBytes: Int32 = 1 << 20
    var partitions: [Partition]

    func write(version: Int16, to buffer: inout ByteBuffer) {
        buffer.writeInteger(Int32(-1))  // replica_id: a consumer
        buffer.writeInteger(maxWaitMilliseconds)
        buffer.writeInteger(minBytes)
        buffer.writeInteger(maxBytes)
        buffer.writeInteger(Int8(1))  // isolation_level READ_COMMITTED
        if version >= 7 {
            buffer.writeInteger(Int32(0))  // session_id
            buffer.writeInteger(Int32(-1))  // session_epoch: full fetch, no session
        }
        buffer.kafkaWriteTopicArray(partitions, topic: \.topic) { buffer, partition in
            buffer.writeInteger(partition.partition)
            if version >= 9 { buffer.writeInteger(Int32(-1)) }  // current_leader_epoch
            buffer.writeInteger(partition.offset)
            if version >= 5 { buffer.writeInteger(Int64(-1)) }  // log_start_offset
            buffer.writeInteger(partitionMaxBytes)
        }
        if version >= 7 { buffer.kafkaWriteArrayCount(0, flexible: false) }  // forgotten_topics_data
    }

    static func readResponse(version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodeError) -> Response {
        var response = KafkaFetchResponse()
        _ = try buffer.kafkaReadInt32("Fetch.throttle_time_ms")
        if version >= 7 {
            response.errorCode = KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("Fetch.error_code"))
            _ = try buffer.kafkaReadInt32("Fetch.session_id")
        }
        let topicCount = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 6, "Fetch.responses")
        for _ in 0..<topicCount {
            let topic = try buffer.kafkaReadString(flexible: false, "Fetch.topic")
            let count = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 30, "Fetch.partitions")
            for _ in 0..<count {
                var data = KafkaFetchResponse.PartitionData()
                let partition = try buffer.kafkaReadInt32("Fetch.partition_index")
                let errorCode = KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("Fetch.error_code"))
                data.highWatermark = try buffer.kafkaReadInt64("Fetch.high_watermark")
                data.lastStableOffset = try buffer.kafkaReadInt64("Fetch.last_stable_offset")
                if version >= 5 { data.logStartOffset = try buffer.kafkaReadInt64("Fetch.log_start_offset") }
                if let aborted = try buffer.kafkaReadArrayCount(flexible: false, minimumElementSize: 16, "Fetch.aborted_transactions") {
                    buffer.moveReaderIndex(forwardBy: aborted * 16)
                }
                data.records = try buffer.kafkaReadNullableBytes(flexible: false, "Fetch.records") ?? ByteBuffer()
                response.partitions.append(.init(topic: topic, partition: partition, errorCode: errorCode, value: data))
            }
        }
        return response
    }
}

struct KafkaFetchResponse: Sendable {
    struct PartitionData: Sendable {
        var highWatermark: Int64 = -1
        var lastStableOffset: Int64 = -1
        var logStartOffset: Int64 = -1
        /// The raw record batches, decoded by the consumer.
        var records = ByteBuffer()
    }

    var errorCode = KafkaErrorCode.none
    var partitions: [KafkaPartitionResult<PartitionData>] = []
}

/// ListOffsets v1–4: the offset for a timestamp (-2 earliest, -1 latest).
struct KafkaListOffsetsRequest: KafkaRequest {
    typealias Response = [KafkaPartitionResult<Int64>]
    static var apiKey: KafkaAPIKey { .listOffsets }
    static var supportedVersions: ClosedRange<Int16> { 1...4 }

    static let earliest: Int64 = -2
    static let latest: Int64 = -1

    struct Partition: Sendable, Hashable {
        var topic: String
        var partition: Int32
        var timestamp: Int64
    }

    var partitions: [Partition]

    func write(version: Int16, to buffer: inout ByteBuffer) {
        buffer.writeInteger(Int32(-1))  // replica_id
        if version >= 2 { buffer.writeInteger(Int8(1)) }  // isolation_level READ_COMMITTED
        buffer.kafkaWriteTopicArray(partitions, topic: \.topic) { buffer, partition in
            buffer.writeInteger(partition.partition)
            if version >= 4 { buffer.writeInteger(Int32(-1)) }  // current_leader_epoch
            buffer.writeInteger(partition.timestamp)
        }
    }

    static func readResponse(version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodeError) -> Response {
        if version >= 2 { _ = try buffer.kafkaReadInt32("ListOffsets.throttle_time_ms") }
        var results: Response = []
        let topicCount = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 6, "ListOffsets.topics")
        for _ in 0..<topicCount {
            let topic = try buffer.kafkaReadString(flexible: false, "ListOffsets.name")
            let count = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 22, "ListOffsets.partitions")
            for _ in 0..<count {
                let partition = try buffer.kafkaReadInt32("ListOffsets.partition_index")
                let errorCode = KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("ListOffsets.error_code"))
                _ = try buffer.kafkaReadInt64("ListOffsets.timestamp")
                let offset = try buffer.kafkaReadInt64("ListOffsets.offset")
                if version >= 4 { _ = try buffer.kafkaReadInt32("ListOffsets.leader_epoch") }
                results.append(.init(topic: topic, partition: partition, errorCode: errorCode, value: offset))
            }
        }
        return results
    }
}
