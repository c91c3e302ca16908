//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

/// FindCoordinator v0–2 for a consumer group.
struct KafkaFindCoordinatorRequest: KafkaRequest {
    typealias Response = KafkaFindCoordinatorResponse
    static var apiKey: KafkaAPIKey { .findCoordinator }
    static var supportedVersions: ClosedRange<Int16> { 0...2 }

    var groupID: String

    func write(version: Int16, to buffer: inout ByteBuffer) {
        buffer.kafkaWriteString(groupID, flexible: false)
        if version >= 1 { buffer.writeInteger(Int8(0)) }  // key_type: group
    }

    static func readResponse(version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodeError) -> Response {
        if version >= 1 { _ = try buffer.kafkaReadInt32("FindCoordinator.throttle_time_ms") }
        let errorCode = KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("FindCoordinator.error_code"))
        if version >= 1 { _ = try buffer.kafkaReadNullableString(flexible: false, "FindCoordinator.error_message") }
        let nodeID = try buffer.kafkaReadInt32("FindCoordinator.node_id")
        let host = try buffer.kafkaReadString(flexible: false, "FindCoordinator.host")
        let port = try buffer.kafkaReadInt32("FindCoordinator.port")
        return Response(errorCode: errorCode, nodeID: nodeID, address: KafkaBrokerAddress(host: host, port: Int(port)))
    }
}

struct KafkaFindCoordinatorResponse: Sendable, Hashable {
    var errorCode: KafkaErrorCode
    var nodeID: Int32
    var address: KafkaBrokerAddress
}

/// JoinGroup v2–4 (4.0 dropped v0–1; v4 introduced MEMBER_ID_REQUIRED).
struct KafkaJoinGroupRequest: KafkaRequest {
    typealias Response = KafkaJoinGroupResponse
    static var apiKey: KafkaAPIKey { .joinGroup }
    static var supportedVersions: ClosedRange<Int16> { 2...4 }

    var groupID: String
    var sessionTimeoutMilliseconds: Int32
    var rebalanceTimeoutMilliseconds: Int32
    var memberID: String
    /// (assignor name, subscription metadata), in order of preference.
    var protocols: [(name: String, metadata: ByteBuffer)]

    func write(version: Int16, to buffer: inout ByteBuffer) {
        buffer.kafkaWriteString(groupID, flexible: false)
        buffer.writeInteger(sessionTimeoutMilliseconds)
        buffer.writeInteger(rebalanceTimeoutMilliseconds)
        buffer.kafkaWriteString(memberID, flexible: false)
        buffer.kafkaWriteString("consumer", flexible: false)
        buffer.kafkaWriteArrayCount(protocols.count, flexible: false)
        for entry in protocols {
            buffer.kafkaWriteString(entry.name, flexible: false)
            buffer.kafkaWriteBytes(entry.metadata, flexible: false)
        }
    }

    static func readResponse(version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodeError) -> Response {
        _ = try buffer.kafkaReadInt32("JoinGroup.throttle_time_ms")
        var response = KafkaJoinGroupResponse()
        response.errorCode = KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("JoinGroup.error_code"))
        response.generationID = try buffer.kafkaReadInt32("JoinGroup.generation_id")
        response.protocolName = try buffer.kafkaReadString(flexible: false, "JoinGroup.protocol_name")
        response.leader = try buffer.kafkaReadString(flexible: false, "JoinGroup.leader")
        response.memberID = try buffer.kafkaReadString(flexible: false, "JoinGroup.member_id")
        let count = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 6, "JoinGroup.members")
        for _ in 0..<count {
            let memberID = try buffer.kafkaReadString(flexible: false, "JoinGroup.members.member_id")
            let metadata = try buffer.kafkaReadBytes(flexible: false, "JoinGroup.members.metadata")
            response.members.append(.init(memberID: memberID, metadata: metadata))
        }
        return response
    }
}

struct KafkaJoinGroupResponse: Sendable {
    struct Member: Sendable {
        var memberID: String
        var metadata: ByteBuffer
    }

    var errorCode = KafkaErrorCode.none
    var generationID: Int32 = -1
    var protocolName = ""
    var leader = ""
    var memberID = ""
    var members: [Member] = []
}

/// SyncGroup v0–2: the leader sends every member's assignment, everyone receives their own.
struct KafkaSyncGroupRequest: KafkaRequest {
    typealias Response = (errorCode: KafkaErrorCode, assignment: ByteBuffer)
    static var apiKey: KafkaAPIKey { .syncGroup }
    static var supportedVersions: ClosedRange<Int16> { 0...2 }

    var groupID: String
    var generationID: Int32
    var memberID: String
    var assignments: [(memberID: String, assignment: ByteBuffer)]

    func write(version: Int16, to buffer: inout ByteBuffer) {
        buffer.kafkaWriteString(groupID, flexible: false)
        buffer.writeInteger(generationID)
        buffer.kafkaWriteString(memberID, flexible: false)
        buffer.kafkaWriteArrayCount(assignments.count, flexible: false)
        for entry in assignments {
            buffer.kafkaWriteString(entry.memberID, flexible: false)
            buffer.kafkaWriteBytes(entry.assignment, flexible: false)
        }
    }

    static func readResponse(version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodeError) -> Response {
        if version >= 1 { _ = try buffer.kafkaReadInt32("SyncGroup.throttle_time_ms") }
        let errorCode = KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("SyncGroup.error_code"))
        return (errorCode, try buffer.kafkaReadBytes(flexible: false, "SyncGroup.assignment"))
    }
}

/// Heartbeat v0–2.
struct KafkaHeartbeatRequest: KafkaRequest {
    typealias Response = KafkaErrorCode
    static var apiKey: KafkaAPIKey { .heartbeat }
    static var supportedVersions: ClosedRange<Int16> { 0...2 }

    var groupID: String
    var generationID: Int32
    var memberID: String

    func write(version: Int16, to buffer: inout ByteBuffer) {
        buffer.kafkaWriteString(groupID, flexible: false)
        buffer.writeInteger(generationID)
        buffer.kafkaWriteString(memberID, flexible: false)
    }

    static func readResponse(version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodeError) -> Response {
        if version >= 1 { _ = try buffer.kafkaReadInt32("Heartbeat.throttle_time_ms") }
        return KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("Heartbeat.error_code"))
    }
}

/// LeaveGroup v0–2.
/// LeaveGroup v0–3: v3 (Kafka 2.4) names the member in a `members` array, which brokers that
/// implement only the batch form (Tansu 0.6) need to remove it.
struct KafkaLeaveGroupRequest: KafkaRequest {
    typealias Response = KafkaErrorCode
    static var apiKey: KafkaAPIKey { .leaveGroup }
    static var supportedVersions: ClosedRange<Int16> { 0...3 }

    var groupID: String
    var memberID: String

    func write(version: Int16, to buffer: inout ByteBuffer) {
        buffer.kafkaWriteString(groupID, flexible: false)
        if version >= 3 {
            buffer.kafkaWriteArrayCount(1, flexible: false)
            buffer.kafkaWriteString(memberID, flexible: false)
            buffer.kafkaWriteString(nil, flexible: false)  // group_instance_id: a dynamic member
        } else {
            buffer.kafkaWriteString(memberID, flexible: false)
        }
    }

    static func readResponse(version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodeError) -> Response {
        if version >= 1 { _ = try buffer.kafkaReadInt32("LeaveGroup.throttle_time_ms") }
        let code = KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("LeaveGroup.error_code"))
        guard version >= 3, code == .none else { return code }
        let count = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 6, "LeaveGroup.members")
        var memberCode = KafkaErrorCode.none
        for _ in 0..<count {
            _ = try buffer.kafkaReadString(flexible: false, "LeaveGroup.members.member_id")
            _ = try buffer.kafkaReadNullableString(flexible: false, "LeaveGroup.members.group_instance_id")
            let code = KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("LeaveGroup.members.error_code"))
            if code != .none { memberCode = code }
        }
        return memberCode
    }
}

/// OffsetCommit v2–6.
struct KafkaOffsetCommitRequest: KafkaRequest {
    typealias Response = [KafkaPartitionResult<Void>]
    static var apiKey: KafkaAPIKey { .offsetCommit }
    static var supportedVersions: ClosedRange<Int16> { 2...6 }

    var groupID: String
    var generationID: Int32
    var memberID: String
    var offsets: [KafkaTopicPartition: Int64]

    func write(version: Int16, to buffer: inout ByteBuffer) {
        buffer.kafkaWriteString(groupID, flexible: false)
        buffer.writeInteger(generationID)
        buffer.kafkaWriteString(memberID, flexible: false)
        if version <= 4 { buffer.writeInteger(Int64(-1)) }  // retention_time_ms: the broker's default
        buffer.kafkaWriteTopicArray(offsets.sorted { $0.key < $1.key }, topic: \.key.topic) { buffer, entry in
            buffer.writeInteger(entry.key.partition)
            buffer.writeInteger(entry.value)
            if version >= 6 { buffer.writeInteger(Int32(-1)) }  // committed_leader_epoch
            buffer.kafkaWriteString(nil, flexible: false)
        }
    }

    static func readResponse(version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodeError) -> Response {
        if version >= 3 { _ = try buffer.kafkaReadInt32("OffsetCommit.throttle_time_ms") }
        var results: Response = []
        let topicCount = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 6, "OffsetCommit.topics")
        for _ in 0..<topicCount {
            let topic = try buffer.kafkaReadString(flexible: false, "OffsetCommit.name")
            let count = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 6, "OffsetCommit.partitions")
            for _ in 0..<count {
                let partition = try buffer.kafkaReadInt32("OffsetCommit.partition_index")
                let errorCode = KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("OffsetCommit.error_code"))
                results.append(.init(topic: topic, partition: partition, errorCode: errorCode, value: ()))
            }
        }
        return results
    }
}

/// OffsetFetch v1–5: the group's committed offsets (-1 where none).
struct KafkaOffsetFetchRequest: KafkaRequest {
    typealias Response = (errorCode: KafkaErrorCode, offsets: [KafkaPartitionResult<Int64>])
    static var apiKey: KafkaAPIKey { .offsetFetch }
    static var supportedVersions: ClosedRange<Int16> { 1...5 }

    var groupID: String
    var partitions: [KafkaTopicPartition]

    func write(version: Int16, to buffer: inout ByteBuffer) {
        buffer.kafkaWriteString(groupID, flexible: false)
        buffer.kafkaWriteTopicArray(partitions, topic: \.topic) { buffer, partition in
            buffer.writeInteger(partition.partition)
        }
    }

    static func readResponse(version: Int16, from buffer: inout ByteBuffer) throws(KafkaDecodeError) -> Response {
        if version >= 3 { _ = try buffer.kafkaReadInt32("OffsetFetch.throttle_time_ms") }
        var results: [KafkaPartitionResult<Int64>] = []
        let topicCount = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 6, "OffsetFetch.topics")
        for _ in 0..<topicCount {
            let topic = try buffer.kafkaReadString(flexible: false, "OffsetFetch.name")
            let count = try buffer.kafkaReadNonNullArrayCount(flexible: false, minimumElementSize: 16, "OffsetFetch.partitions")
            for _ in 0..<count {
                let partition = try buffer.kafkaReadInt32("OffsetFetch.partition_index")
                let offset = try buffer.kafkaReadInt64("OffsetFetch.committed_offset")
                if version >= 5 { _ = try buffer.kafkaReadInt32("OffsetFetch.committed_leader_epoch") }
                _ = try buffer.kafkaReadNullableString(flexible: false, "OffsetFetch.metadata")
                let errorCode = KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("OffsetFetch.error_code"))
                results.append(.init(topic: topic, partition: partition, errorCode: errorCode, value: offset))
            }
        }
        let errorCode = version >= 2 ? KafkaErrorCode(rawValue: try buffer.kafkaReadInt16("OffsetFetch.error_code")) : .none
        return (errorCode, results)
    }
}

/// A topic and one of its partitions.
public struct KafkaTopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The topic.
    public var topic: String
    /// The partition index.
    public var partition: Int32

    /// Creates a topic-partition.
    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    /// Orders by topic, then partition.
    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }

    /// `topic-partition`.
    public var description: String { "\(topic)-\(partition)" }
}
