//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
public import NIOCore
public import NIOPosix

/// The brokers of one cluster: bootstrap, metadata and one connection per (broker, purpose).
///
/// Purposes keep slow requests from delaying urgent ones: a broker handles a connection's
/// requests one at a time, so a fetch waiting 500 ms for data must not sit in front of a group
/// heartbeat. A closed connection is replaced on the next request.
public actor KafkaCluster {
    /// Why a connection is used; each gets its own socket to a broker.
    enum Purpose: Hashable, Sendable {
        case metadata
        case produce
        case fetch
        case group
    }

    private struct ConnectionKey: Hashable {
        var node: Int32
        var purpose: Purpose
    }

    /// The configuration.
    public nonisolated let configuration: KafkaConfiguration
    private let logger: Logger
    private let eventLoopGroup: any EventLoopGroup
    private var connections: [ConnectionKey: KafkaConnection] = [:]
    private var bootstrapConnection: KafkaConnection?
    private(set) var metadata = KafkaMetadata()
    private var closed = false

    /// Creates a cluster; nothing connects until the first request.
    public init(configuration: KafkaConfiguration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// Closes every connection.
    public func close() {
        closed = true
        for connection in connections.values { connection.close() }
        connections.removeAll()
        bootstrapConnection?.close()
        bootstrapConnection = nil
    }

    // MARK: - Connections

    /// A connection to any broker: the metadata's brokers first, then the bootstrap list.
    func anyConnection() async throws -> KafkaConnection {
        if let bootstrapConnection, bootstrapConnection.isActive { return bootstrapConnection }
        var lastError: (any Error)?
        let known = metadata.brokers.values.sorted { $0.description < $1.description }
        for address in known + configuration.bootstrapBrokers.shuffled() {
            try checkOpen()
            do {
                let connection = try await KafkaConnection.connect(
                    to: address,
                    configuration: configuration,
                    eventLoopGroup: eventLoopGroup,
                    logger: logger
                )
                // Another task may have connected meanwhile and be using its connection: keep
                // that one rather than close it under a request in flight.
                if let existing = bootstrapConnection, existing.isActive {
                    connection.close()
                    return existing
                }
                if closed {
                    connection.close()
                    throw KafkaClientError(.shutdown)
                }
                bootstrapConnection = connection
                return connection
            } catch {
                lastError = error
                logger.debug("Kafka broker unreachable", metadata: ["kafka.broker": "\(address)", "error": "\(error)"])
            }
        }
        throw KafkaClientError(.noBrokerAvailable, message: "\(configuration.bootstrapBrokers)", underlyingError: lastError)
    }

    /// The connection to a broker for a purpose, opened if needed.
    func connection(node: Int32, purpose: Purpose, address: KafkaBrokerAddress? = nil) async throws -> KafkaConnection {
        let key = ConnectionKey(node: node, purpose: purpose)
        if let existing = connections[key], existing.isActive { return existing }
        guard let address = address ?? metadata.brokers[node] else {
            throw KafkaClientError(.noBrokerAvailable, message: "unknown broker id \(node)")
        }
        try checkOpen()
        let connection = try await KafkaConnection.connect(to: address, configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
        // Another task may have connected meanwhile; keep one.
        if let existing = connections[key], existing.isActive {
            connection.close()
            return existing
        }
        if closed {
            connection.close()
            throw KafkaClientError(.shutdown)
        }
        connections[key] = connection
        return connection
    }

    private func checkOpen() throws {
        if closed { throw KafkaClientError(.shutdown) }
    }

    // MARK: - Metadata

    /// Asks any broker for the metadata of `topics` and remembers it.
    @discardableResult
    func refreshMetadata(topics: [String]) async throws -> KafkaMetadata {
        let connection = try await anyConnection()
        let fresh: KafkaMetadata
        do {
            fresh = try await connection.send(KafkaMetadataRequest(topics: topics))
        } catch {
            // The connection may still look open while its close is queued on the event loop.
            discard(connection)
            throw error
        }
        metadata.brokers = fresh.brokers
        metadata.controllerID = fresh.controllerID
        for (name, topic) in fresh.topics { metadata.topics[name] = topic }
        return fresh
    }

    /// The partitions of a topic, from the cache or the broker.
    func partitions(of topic: String) async throws -> [KafkaMetadata.Partition] {
        if let known = metadata.topics[topic], known.errorCode == .none, !known.partitions.isEmpty { return known.partitions }
        let fresh = try await refreshMetadata(topics: [topic])
        guard let entry = fresh.topics[topic], entry.errorCode == .none, !entry.partitions.isEmpty else {
            let code = fresh.topics[topic]?.errorCode ?? .unknownTopicOrPartition
            throw KafkaClientError(
                code.isRetriable && code != .unknownTopicOrPartition ? .brokerError : .unknownTopic,
                message: topic,
                brokerErrorCode: code
            )
        }
        return entry.partitions
    }

    /// The leader of a partition, from the cache or the broker.
    func leader(of partition: KafkaTopicPartition) async throws -> Int32 {
        let partitions = try await partitions(of: partition.topic)
        guard let entry = partitions.first(where: { $0.index == partition.partition }) else {
            throw KafkaClientError(.unknownTopic, message: "\(partition)")
        }
        guard entry.leader >= 0 else {
            metadata.topics[partition.topic] = nil
            throw KafkaClientError.broker(.leaderNotAvailable, "\(partition)")
        }
        return entry.leader
    }

    /// Forgets a topic's metadata so the next lookup asks again (after NOT_LEADER and the like).
    func invalidate(topic: String) {
        metadata.topics[topic] = nil
    }

    /// Drops a broken connection so the next request opens a new one.
    func discard(_ connection: KafkaConnection) {
        connection.close()
        connections = connections.filter { $0.value !== connection }
        if bootstrapConnection === connection { bootstrapConnection = nil }
    }

    // MARK: - Administration

    /// Creates topics; topics that exist already are not an error.
    ///
    /// - Parameters:
    ///   - names: The topics.
    ///   - partitions: The number of partitions of each.
    ///   - replicationFactor: Copies of each partition (-1 for the broker's default).
    /// - Throws: ``KafkaClientError`` when the broker refuses a topic.
    public func createTopics(_ names: [String], partitions: Int32, replicationFactor: Int16 = -1) async throws {
        let connection = try await anyConnection()
        let request = KafkaCreateTopicsRequest(topics: names.map { .init(name: $0, partitions: partitions, replicationFactor: replicationFactor) })
        let results = try await connection.send(request)
        for (name, code) in results where code != .none && code != .topicAlreadyExists {
            throw KafkaClientError.broker(code, "CreateTopics \(name)")
        }
        for name in names { metadata.topics[name] = nil }
    }
}
