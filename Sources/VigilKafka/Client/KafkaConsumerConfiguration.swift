//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Consumer-group settings.
///
/// | Key | Type | Default |
/// |---|---|---|
/// | `groupID` | String | required (the seed's `group`) |
/// | `topics` | [String] | required |
/// | `sessionTimeout` | Duration | 10 s (a member silent this long is dropped from the group) |
/// | `rebalanceTimeout` | Duration | 30 s |
/// | `heartbeatInterval` | Duration | 1 s |
/// | `assignors` | [``KafkaAssignor``] | range, round-robin (in order of preference) |
/// | `startFrom` | ``KafkaConsumerConfiguration/StartPosition`` | earliest (where no offset is committed) |
/// | `commitInterval` | Duration | 1 s |
/// | `bufferSize` | Int | 10 000 records fetched but not yet taken (the seed's `buffer`) |
/// | `fetchMaxWait` | Duration | 500 ms |
/// | `partitionMaxBytes` | Int | 1 MiB per partition per fetch |
public struct KafkaConsumerConfiguration: Sendable {
    /// Where a partition without a committed offset starts.
    public enum StartPosition: Sendable, Hashable {
        /// The oldest record still stored.
        case earliest
        /// Only records produced from now on.
        case latest
    }

    /// The consumer group's name.
    public var groupID: String
    /// The topics to consume.
    public var topics: [String]
    /// How long the coordinator waits for a heartbeat before dropping the member.
    public var sessionTimeout: Duration
    /// How long the coordinator waits for members to rejoin during a rebalance.
    public var rebalanceTimeout: Duration
    /// The time between heartbeats; well under a third of the session timeout.
    public var heartbeatInterval: Duration
    /// The assignors this member offers, in order of preference; the group uses one all offer.
    public var assignors: [KafkaAssignor]
    /// Where partitions without a committed offset start.
    public var startFrom: StartPosition
    /// How often processed offsets are committed (also on every rebalance and on shutdown).
    public var commitInterval: Duration
    /// Records fetched but not yet taken by the application; fetching pauses when it is full.
    public var bufferSize: Int
    /// How long a fetch waits on the broker for new records.
    public var fetchMaxWait: Duration
    /// The most bytes fetched per partition per request.
    public var partitionMaxBytes: Int

    /// Creates settings.
    public init(
        groupID: String,
        topics: [String],
        sessionTimeout: Duration = .seconds(10),
        rebalanceTimeout: Duration = .seconds(30),
        heartbeatInterval: Duration = .seconds(1),
        assignors: [KafkaAssignor] = [.range, .roundRobin],
        startFrom: StartPosition = .earliest,
        commitInterval: Duration = .seconds(1),
        bufferSize: Int = 10_000,
        fetchMaxWait: Duration = .milliseconds(500),
        partitionMaxBytes: Int = 1 << 20
    ) {
        self.groupID = groupID
        self.topics = topics
        self.sessionTimeout = sessionTimeout
        self.rebalanceTimeout = rebalanceTimeout
        self.heartbeatInterval = heartbeatInterval
        self.assignors = assignors
        self.startFrom = startFrom
        self.commitInterval = commitInterval
        self.bufferSize = bufferSize
        self.fetchMaxWait = fetchMaxWait
        self.partitionMaxBytes = partitionMaxBytes
    }
}

/// A record delivered to a consumer-group member.
public struct KafkaConsumerRecord: Sendable, Hashable {
    /// The topic and partition it came from.
    public var topicPartition: KafkaTopicPartition
    /// The record.
    public var record: KafkaRecord
    /// The group generation it was fetched in; marks from an older generation are ignored,
    /// because the partition may belong to another member by then.
    let generation: Int32

    /// The topic.
    public var topic: String { topicPartition.topic }
    /// The partition.
    public var partition: Int32 { topicPartition.partition }
    /// The offset.
    public var offset: Int64 { record.offset }
}
