//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import NIOCore

/// A record header: a key and an optional value.
public struct KafkaHeader: Hashable, Sendable {
    /// The header's key.
    public var key: String
    /// The header's value; `nil` is distinct from empty.
    public var value: ByteBuffer?

    /// Creates a header.
    public init(key: String, value: ByteBuffer?) {
        self.key = key
        self.value = value
    }
}

/// A record to produce.
///
/// ```swift
/// let record = KafkaProducerRecord(topic: "announcements", key: ByteBuffer(string: "room-1"),
///                                  value: ByteBuffer(string: #"{"message":"hi"}"#))
/// try await producer.send(record)
/// ```
public struct KafkaProducerRecord: Hashable, Sendable {
    /// The topic.
    public var topic: String
    /// The partition; `nil` lets the partitioner choose (by key, or spread when there is none).
    public var partition: Int32?
    /// The key; records with the same key go to the same partition.
    public var key: ByteBuffer?
    /// The value; `nil` is a tombstone.
    public var value: ByteBuffer?
    /// Headers, in order.
    public var headers: [KafkaHeader]
    /// Milliseconds since 1970; `nil` takes the time the record is batched.
    public var timestamp: Int64?

    /// Creates a record.
    public init(
        topic: String,
        partition: Int32? = nil,
        key: ByteBuffer? = nil,
        value: ByteBuffer?,
        headers: [KafkaHeader] = [],
        timestamp: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }
}

/// A record as stored in a partition.
public struct KafkaRecord: Hashable, Sendable {
    /// The record's offset in its partition.
    public var offset: Int64
    /// Milliseconds since 1970.
    public var timestamp: Int64
    /// The key.
    public var key: ByteBuffer?
    /// The value.
    public var value: ByteBuffer?
    /// Headers, in order.
    public var headers: [KafkaHeader]

    /// Creates a record.
    public init(offset: Int64, timestamp: Int64, key: ByteBuffer?, value: ByteBuffer?, headers: [KafkaHeader] = []) {
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers
    }
}
