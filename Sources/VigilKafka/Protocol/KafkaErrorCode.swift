//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// A Kafka protocol error code from a response.
///
/// Only the codes the client reacts to have names; any other value is kept as it came.
public struct KafkaErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The wire value.
    public var rawValue: Int16

    /// Creates a code from its wire value.
    public init(rawValue: Int16) { self.rawValue = rawValue }

    /// No error.
    public static let none = KafkaErrorCode(rawValue: 0)
    /// The requested offset is outside the partition's range.
    public static let offsetOutOfRange = KafkaErrorCode(rawValue: 1)
    /// The broker does not know the topic or partition.
    public static let unknownTopicOrPartition = KafkaErrorCode(rawValue: 3)
    /// The partition has no leader right now (an election is running).
    public static let leaderNotAvailable = KafkaErrorCode(rawValue: 5)
    /// The broker is not the partition's leader: refresh metadata.
    public static let notLeaderOrFollower = KafkaErrorCode(rawValue: 6)
    /// The request timed out on the broker.
    public static let requestTimedOut = KafkaErrorCode(rawValue: 7)
    /// The coordinator is still loading the group.
    public static let coordinatorLoadInProgress = KafkaErrorCode(rawValue: 14)
    /// The group coordinator is not available.
    public static let coordinatorNotAvailable = KafkaErrorCode(rawValue: 15)
    /// This broker is not the group's coordinator.
    public static let notCoordinator = KafkaErrorCode(rawValue: 16)
    /// Fewer in-sync replicas than acks=all requires.
    public static let notEnoughReplicas = KafkaErrorCode(rawValue: 19)
    /// The group moved to a new generation: rejoin.
    public static let illegalGeneration = KafkaErrorCode(rawValue: 22)
    /// The coordinator does not know this member id.
    public static let unknownMemberID = KafkaErrorCode(rawValue: 25)
    /// A rebalance started: rejoin.
    public static let rebalanceInProgress = KafkaErrorCode(rawValue: 27)
    /// The broker does not support this request version.
    public static let unsupportedVersion = KafkaErrorCode(rawValue: 35)
    /// The topic already exists (CreateTopics).
    public static let topicAlreadyExists = KafkaErrorCode(rawValue: 36)
    /// An idempotent batch's sequence number is not the next one expected.
    public static let outOfOrderSequenceNumber = KafkaErrorCode(rawValue: 45)
    /// An idempotent batch was already written: a retry whose first attempt succeeded.
    public static let duplicateSequenceNumber = KafkaErrorCode(rawValue: 46)
    /// The broker lost the producer's state.
    public static let unknownProducerID = KafkaErrorCode(rawValue: 59)
    /// The member must rejoin with the member id the broker assigned.
    public static let memberIDRequired = KafkaErrorCode(rawValue: 79)

    /// Whether retrying the same request (after refreshing metadata) can succeed.
    public var isRetriable: Bool {
        switch rawValue {
        case 3, 5, 6, 7, 13, 14, 15, 16, 19, 20, 56, 74, 75, 89: true
        default: false
        }
    }

    /// `KafkaErrorCode(<value>)`.
    public var description: String { "KafkaErrorCode(\(rawValue))" }
}
