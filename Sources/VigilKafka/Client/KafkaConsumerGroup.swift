//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
public import Metrics
import NIOCore
public import ServiceLifecycle
import Synchronization
import VigilClientSupport

/// A member of a classic Kafka consumer group: it joins, gets its share of the partitions, fetches
/// them into a bounded buffer and commits what the application marks as processed.
///
/// Delivery is at least once: an offset is committed only after ``markProcessed(_:)`` was called
/// for the record (and every earlier one the application cares about), so records handed out but
/// not marked are delivered again after a restart or a rebalance. On a rebalance the member
/// commits what was marked, drops what it buffered and starts again from the committed offsets.
///
/// ```swift
/// let group = KafkaConsumerGroup(cluster: cluster, configuration: .init(groupID: "announcer", topics: ["in"]), logger: logger)
/// try await withThrowingDiscardingTaskGroup { tasks in
///     tasks.addTask { try await group.run() }
///     for try await record in group.records {
///         try await handle(record)
///         await group.markProcessed(record)
///     }
/// }
/// ```
public actor KafkaConsumerGroup: Service {
    /// The cluster the group lives in.
    public nonisolated let cluster: KafkaCluster
    /// The settings.
    public nonisolated let configuration: KafkaConsumerConfiguration
    private let logger: Logger

    private var running = false
    private var stopped = false
    private var memberID = ""
    private var generation: Int32 = -1
    private var coordinator: (node: Int32, address: KafkaBrokerAddress)?
    /// The partitions of the current generation; empty between generations.
    private(set) var assigned: [KafkaTopicPartition] = []
    private var positions: [KafkaTopicPartition: Int64] = [:]
    /// What the application marked, behind a lock rather than the actor: marking is once per
    /// record, and a hop onto the actor per record competed with fetching for it.
    private let processed = Mutex(ProcessedOffsets())
    private var committed: [KafkaTopicPartition: Int64] = [:]

    private var buffer: [KafkaConsumerRecord] = []
    private var bufferHead = 0
    private var readerWaiters: [CheckedContinuation<Void, Never>] = []
    private var spaceWaiters: [CheckedContinuation<Void, Never>] = []

    private let consumedCounter: Counter
    private let rebalanceCounter: Counter
    private let errorCounter: Counter
    private var lagGauges: [KafkaTopicPartition: Gauge] = [:]
    private let metricsFactory: any MetricsFactory

    /// Creates a member; nothing happens until ``run()``.
    ///
    /// - Parameters:
    ///   - cluster: The cluster.
    ///   - configuration: The group settings.
    ///   - metricsFactory: Where `vigil_kafka_records_consumed_total`, `vigil_kafka_rebalances_total`,
    ///     `vigil_kafka_errors_total{operation="consume"}` and `vigil_kafka_consumer_lag` go.
    ///   - logger: Logger for group events.
    public init(
        cluster: KafkaCluster,
        configuration: KafkaConsumerConfiguration,
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        logger: Logger
    ) {
        self.cluster = cluster
        self.configuration = configuration
        self.logger = logger
        self.metricsFactory = metricsFactory
        let group = [("group", configuration.groupID)]
        self.consumedCounter = Counter(label: "vigil_kafka_records_consumed_total", dimensions: group, factory: metricsFactory)
        self.rebalanceCounter = Counter(label: "vigil_kafka_rebalances_total", dimensions: group, factory: metricsFactory)
        self.errorCounter = Counter(label: "vigil_kafka_errors_total", dimensions: [("operation", "consume")], factory: metricsFactory)
    }

    // MARK: - Public API

    /// The records of this member's partitions, in offset order per partition.
    ///
    /// The sequence ends when ``run()`` returns. Iterate it from one task.
    public nonisolated var records: KafkaConsumerRecords { KafkaConsumerRecords(group: self) }

    /// The partitions this member owns in the current generation.
    public var assignment: [KafkaTopicPartition] { assigned }

    /// Marks a record as processed: its offset + 1 is committed at the next commit.
    ///
    /// Mark records in order per partition; marking a later record covers the earlier ones.
    public nonisolated func markProcessed(_ record: KafkaConsumerRecord) {
        processed.withLock { $0.mark(record) }
    }

    /// Commits the processed offsets now.
    ///
    /// - Throws: ``KafkaClientError`` when the coordinator refuses or cannot be reached.
    public func commit() async throws {
        guard let coordinator, generation >= 0 else { return }
        let marked = processed.withLock { $0.offsets }
        let pending = marked.filter { $0.value > committed[$0.key] ?? -1 }
        guard !pending.isEmpty else { return }
        let connection = try await cluster.connection(node: coordinator.node, purpose: .group, address: coordinator.address)
        let request = KafkaOffsetCommitRequest(groupID: configuration.groupID, generationID: generation, memberID: memberID, offsets: pending)
        let results = try await connection.send(request)
        for result in results {
            let partition = KafkaTopicPartition(topic: result.topic, partition: result.partition)
            guard result.errorCode == .none else { throw KafkaClientError.broker(result.errorCode, "OffsetCommit \(partition)") }
            if let offset = pending[partition] { committed[partition] = max(committed[partition] ?? -1, offset) }
        }
    }

    /// Joins the group and consumes until cancelled; then commits and leaves the group.
    ///
    /// Broker failures, coordinator moves and rebalances are handled inside with backoff.
    ///
    /// - Throws: ``KafkaClientError/Code/alreadyRunning``.
    public func run() async throws {
        guard !running else { throw KafkaClientError(.alreadyRunning) }
        running = true
        var attempt = 0
        while !Task.isCancelled {
            do {
                try await runGeneration()
                attempt = 0
            } catch {
                if Task.isCancelled { break }
                errorCounter.increment()
                attempt += 1
                logger.warning("Kafka consumer group error; rejoining", metadata: ["kafka.group": "\(configuration.groupID)", "error": "\(error)"])
                if let error = error as? KafkaClientError, error.brokerErrorCode == .unknownMemberID || error.brokerErrorCode == .illegalGeneration {
                    memberID = ""
                }
                if let error = error as? KafkaClientError,
                    error.errorCode == .connectionClosed || error.brokerErrorCode == .notCoordinator
                        || error.brokerErrorCode == .coordinatorNotAvailable
                {
                    coordinator = nil
                }
                try? await Task.sleep(for: cluster.configuration.reconnect.delay(forAttempt: attempt))
            }
        }
        try? await commit()
        if let coordinator, !memberID.isEmpty {
            let leave = KafkaLeaveGroupRequest(groupID: configuration.groupID, memberID: memberID)
            do {
                let code = try await cluster.connection(node: coordinator.node, purpose: .group, address: coordinator.address).send(leave)
                logger.debug("Kafka group left", metadata: ["kafka.group": "\(configuration.groupID)", "kafka.error": "\(code)"])
            } catch {
                logger.debug("Kafka LeaveGroup failed", metadata: ["kafka.group": "\(configuration.groupID)", "error": "\(error)"])
            }
        }
        endGeneration()
        stopped = true
        wakeAll()
    }

    // MARK: - Membership

    private func findCoordinator() async throws -> (node: Int32, address: KafkaBrokerAddress) {
        if let coordinator { return coordinator }
        let connection = try await cluster.anyConnection()
        let response = try await connection.send(KafkaFindCoordinatorRequest(groupID: configuration.groupID))
        guard response.errorCode == .none else { throw KafkaClientError.broker(response.errorCode, "FindCoordinator") }
        coordinator = (response.nodeID, response.address)
        return (response.nodeID, response.address)
    }

    private func runGeneration() async throws {
        let coordinator = try await findCoordinator()
        let connection = try await cluster.connection(node: coordinator.node, purpose: .group, address: coordinator.address)
        let subscription = KafkaConsumerProtocol.writeSubscription(topics: configuration.topics)
        var join = KafkaJoinGroupResponse()
        var sync: (errorCode: KafkaErrorCode, assignment: ByteBuffer)
        var unsyncedRounds = 0
        // A rebalance that starts again during the join or the sync is answered by joining again
        // at once, as the protocol expects; waiting out a backoff would only let it restart again.
        while true {
            // The broker may answer every round with another rebalance: only cancellation ends it.
            try Task.checkCancellation()
            let request = KafkaJoinGroupRequest(
                groupID: configuration.groupID,
                sessionTimeoutMilliseconds: Self.milliseconds(configuration.sessionTimeout),
                rebalanceTimeoutMilliseconds: Self.milliseconds(configuration.rebalanceTimeout),
                memberID: memberID,
                protocols: configuration.assignors.map { ($0.name, subscription) }
            )
            join = try await connection.send(request, extraTimeout: TimeAmount(configuration.rebalanceTimeout))
            // Since JoinGroup v4 a new member first learns its id, then joins with it.
            if join.errorCode == .memberIDRequired {
                memberID = join.memberID
                continue
            }
            if join.errorCode == .rebalanceInProgress { continue }
            guard join.errorCode == .none else { throw KafkaClientError.broker(join.errorCode, "JoinGroup") }
            memberID = join.memberID
            var assignments: [(memberID: String, assignment: ByteBuffer)] = []
            if join.leader == join.memberID {
                assignments = try await assign(join)
            }
            logger.debug(
                "Kafka group join answered",
                metadata: [
                    "kafka.group": "\(configuration.groupID)", "kafka.generation": "\(join.generationID)",
                    "kafka.members": "\(join.members.count)", "kafka.leader": "\(join.leader == memberID)",
                ]
            )
            sync = try await connection.send(
                KafkaSyncGroupRequest(groupID: configuration.groupID, generationID: join.generationID, memberID: memberID, assignments: assignments),
                extraTimeout: TimeAmount(configuration.rebalanceTimeout)
            )
            if sync.errorCode == .rebalanceInProgress {
                // A broker whose group lost its leader (Tansu 0.6 after its members left at
                // once) answers so for ever: visible in the log and the error counter.
                unsyncedRounds += 1
                if unsyncedRounds >= 3 {
                    errorCounter.increment()
                    logger.warning(
                        "Kafka group keeps rebalancing; the coordinator's leader never assigns",
                        metadata: ["kafka.group": "\(configuration.groupID)", "kafka.rounds": "\(unsyncedRounds)", "kafka.leader": "\(join.leader)"]
                    )
                }
                continue
            }
            guard sync.errorCode == .none else { throw KafkaClientError.broker(sync.errorCode, "SyncGroup") }
            break
        }
        let partitions = try KafkaConsumerProtocol.readAssignment(sync.assignment).filter { configuration.topics.contains($0.topic) }
        rebalanceCounter.increment()
        logger.info(
            "Kafka group joined",
            metadata: [
                "kafka.group": "\(configuration.groupID)", "kafka.generation": "\(join.generationID)",
                "kafka.leader": "\(join.leader == memberID)", "kafka.partitions": "\(partitions.sorted())",
            ]
        )
        try await startGeneration(join.generationID, partitions: partitions, connection: connection)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.heartbeatLoop() }
                group.addTask { try await self.commitLoop() }
                if !partitions.isEmpty { group.addTask { try await self.fetchLoop(partitions) } }
                // The heartbeat returns when the group rebalances; any task's error ends it too.
                try await group.next()
                group.cancelAll()
            }
        } catch {
            // Still inside the generation, so the coordinator accepts what was processed.
            try? await commit()
            endGeneration()
            throw error
        }
        try? await commit()
        endGeneration()
    }

    private func assign(_ join: KafkaJoinGroupResponse) async throws -> [(memberID: String, assignment: ByteBuffer)] {
        guard let assignor = KafkaAssignor(name: join.protocolName) else {
            throw KafkaClientError(.invalidConfiguration, message: "group chose unknown assignor \(join.protocolName)")
        }
        var subscriptions: [String: [String]] = [:]
        for member in join.members {
            subscriptions[member.memberID] = try KafkaConsumerProtocol.readSubscription(member.metadata)
        }
        let topics = Set(subscriptions.values.joined()).sorted()
        let metadata = try await cluster.refreshMetadata(topics: topics)
        let counts = metadata.topics.mapValues { Int32($0.partitions.count) }
        let plan = assignor.assign(subscriptions: subscriptions, partitionCounts: counts)
        return plan.sorted { $0.key < $1.key }.map { ($0.key, KafkaConsumerProtocol.writeAssignment($0.value)) }
    }

    private func startGeneration(_ generationID: Int32, partitions: [KafkaTopicPartition], connection: KafkaConnection) async throws {
        var starts: [KafkaTopicPartition: Int64] = [:]
        if !partitions.isEmpty {
            let fetched = try await connection.send(KafkaOffsetFetchRequest(groupID: configuration.groupID, partitions: partitions))
            guard fetched.errorCode == .none else { throw KafkaClientError.broker(fetched.errorCode, "OffsetFetch") }
            for result in fetched.offsets where result.errorCode == .none && result.value >= 0 {
                starts[KafkaTopicPartition(topic: result.topic, partition: result.partition)] = result.value
            }
            let missing = partitions.filter { starts[$0] == nil }
            for (partition, offset) in try await listOffsets(missing) { starts[partition] = offset }
        }
        generation = generationID
        assigned = partitions.sorted()
        positions = starts
        committed = starts
        processed.withLock { $0 = ProcessedOffsets(generation: generationID) }
        clearBuffer()
    }

    private func endGeneration() {
        generation = -1
        processed.withLock { $0.generation = -1 }
        assigned = []
        positions = [:]
        clearBuffer()
    }

    private func listOffsets(_ partitions: [KafkaTopicPartition]) async throws -> [KafkaTopicPartition: Int64] {
        var result: [KafkaTopicPartition: Int64] = [:]
        let timestamp = configuration.startFrom == .earliest ? KafkaListOffsetsRequest.earliest : KafkaListOffsetsRequest.latest
        for partition in partitions {
            let leader = try await cluster.leader(of: partition)
            let connection = try await cluster.connection(node: leader, purpose: .fetch)
            let answer = try await connection.send(
                KafkaListOffsetsRequest(partitions: [.init(topic: partition.topic, partition: partition.partition, timestamp: timestamp)])
            )
            guard let entry = answer.first, entry.errorCode == .none else {
                throw KafkaClientError.broker(answer.first?.errorCode ?? .unknownTopicOrPartition, "ListOffsets \(partition)")
            }
            result[partition] = entry.value
        }
        return result
    }

    // MARK: - Generation tasks

    private func heartbeatLoop() async throws {
        while true {
            try await Task.sleep(for: configuration.heartbeatInterval)
            guard let coordinator else { return }
            let connection = try await cluster.connection(node: coordinator.node, purpose: .group, address: coordinator.address)
            let code = try await connection.send(KafkaHeartbeatRequest(groupID: configuration.groupID, generationID: generation, memberID: memberID))
            switch code {
            case .none: continue
            case .rebalanceInProgress:
                logger.debug("Kafka group rebalancing", metadata: ["kafka.group": "\(configuration.groupID)"])
                return
            default: throw KafkaClientError.broker(code, "Heartbeat")
            }
        }
    }

    private func commitLoop() async throws {
        while true {
            try await Task.sleep(for: configuration.commitInterval)
            try await commit()
        }
    }

    /// Fetches and delivers until cancelled. The records of one response are checked, parsed and
    /// delivered while the next fetch is on the wire (its offsets come from the batch headers):
    /// parsing after each response, before the next request, left the broker idle for a quarter of
    /// the time. At most one response waits here besides the buffer.
    private func fetchLoop(_ partitions: [KafkaTopicPartition]) async throws {
        let currentGeneration = generation
        var previous: [FetchedPartition] = []
        while !Task.isCancelled {
            let parsing = previous
            async let delivered: Void = deliver(parsing, generation: currentGeneration)
            var byLeader: [Int32: [KafkaTopicPartition]] = [:]
            for partition in partitions { byLeader[try await cluster.leader(of: partition), default: []].append(partition) }
            let fetched = try await withThrowingTaskGroup(of: [FetchedPartition].self) { group in
                for (leader, owned) in byLeader {
                    group.addTask { try await self.fetchOnce(from: leader, partitions: owned, generation: currentGeneration) }
                }
                var all: [FetchedPartition] = []
                for try await part in group { all += part }
                return all
            }
            try await delivered
            previous = fetched
        }
    }

    /// One partition's records from a fetch response; the position is already past them.
    struct FetchedPartition: Sendable {
        var partition: KafkaTopicPartition
        var start: Int64
        /// The position after these batches, from their headers.
        var end: Int64
        var records: ByteBuffer
    }

    private nonisolated func fetchOnce(
        from leader: Int32,
        partitions: [KafkaTopicPartition],
        generation: Int32
    ) async throws -> [FetchedPartition] {
        let starts = await positions(for: partitions)
        guard !starts.isEmpty else { return [] }
        let connection = try await cluster.connection(node: leader, purpose: .fetch)
        let request = KafkaFetchRequest(
            maxWaitMilliseconds: Self.milliseconds(configuration.fetchMaxWait),
            partitionMaxBytes: Int32(clamping: configuration.partitionMaxBytes),
            partitions: starts.map { .init(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) }
        )
        let response: KafkaFetchResponse
        do {
            response = try await connection.send(request, extraTimeout: TimeAmount(configuration.fetchMaxWait))
        } catch {
            await cluster.discard(connection)
            throw error
        }
        var fetched: [FetchedPartition] = []
        for result in response.partitions {
            let partition = KafkaTopicPartition(topic: result.topic, partition: result.partition)
            guard let start = starts[partition] else { continue }
            switch result.errorCode {
            case .none:
                let next = try KafkaRecordBatch.nextOffset(after: result.value.records, from: start)
                if await advance(partition, from: start, to: next, highWatermark: result.value.highWatermark, generation: generation),
                    next > start
                {
                    fetched.append(FetchedPartition(partition: partition, start: start, end: next, records: result.value.records))
                }
            case .offsetOutOfRange:
                let reset = try await listOffsets([partition])
                await resetPosition(partition, to: reset[partition], generation: generation)
            default:
                await cluster.invalidate(topic: partition.topic)
                if !result.errorCode.isRetriable { throw KafkaClientError.broker(result.errorCode, "Fetch \(partition)") }
            }
        }
        return fetched
    }

    /// Moves a partition's fetch position past a response, unless a rebalance or a reset moved it
    /// since the request was sent (then the response is stale).
    private func advance(_ partition: KafkaTopicPartition, from start: Int64, to next: Int64, highWatermark: Int64, generation: Int32) -> Bool {
        guard generation == self.generation, positions[partition] == start else { return false }
        positions[partition] = next
        if highWatermark >= 0 { lagGauge(partition).record(max(highWatermark - next, 0)) }
        return true
    }

    /// Checks and parses fetched batches and appends their records to the buffer, in order.
    private nonisolated func deliver(_ fetched: [FetchedPartition], generation: Int32) async throws {
        for part in fetched {
            var records: [KafkaConsumerRecord] = []
            for batch in try KafkaRecordBatch.readBatches(from: part.records) where !batch.isControl {
                // A record outside its batch's range (an offset delta past lastOffsetDelta) is
                // malformed; keeping offsets below `end` also keeps `offset + 1` from overflowing.
                for record in batch.records where record.offset >= part.start && record.offset < part.end {
                    records.append(KafkaConsumerRecord(topicPartition: part.partition, record: record, generation: generation))
                }
            }
            if !records.isEmpty { await append(records, generation: generation) }
        }
    }

    private func positions(for partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: Int64] {
        positions.filter { partitions.contains($0.key) }
    }

    private func resetPosition(_ partition: KafkaTopicPartition, to offset: Int64?, generation: Int32) {
        guard generation == self.generation, let offset else { return }
        logger.warning("Kafka offset out of range; reset", metadata: ["kafka.partition": "\(partition)", "kafka.offset": "\(offset)"])
        positions[partition] = offset
    }

    // MARK: - Bounded buffer

    /// Appends fetched records, waiting while the buffer is full.
    private func append(_ records: [KafkaConsumerRecord], generation: Int32) async {
        while buffer.count - bufferHead >= configuration.bufferSize && generation == self.generation && !Task.isCancelled {
            await withTaskCancellationHandler {
                await withCheckedContinuation { spaceWaiters.append($0) }
            } onCancel: {
                Task { await self.wakeAll() }
            }
        }
        // A rebalance during the wait made these records someone else's (or stale).
        guard generation == self.generation, !Task.isCancelled else { return }
        buffer.append(contentsOf: records)
        consumedCounter.increment(by: Int64(records.count))
        let waiters = readerWaiters
        readerWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
    }

    private func lagGauge(_ partition: KafkaTopicPartition) -> Gauge {
        if let gauge = lagGauges[partition] { return gauge }
        let gauge = Gauge(
            label: "vigil_kafka_consumer_lag",
            dimensions: [("group", configuration.groupID), ("topic", partition.topic), ("partition", "\(partition.partition)")],
            factory: metricsFactory
        )
        lagGauges[partition] = gauge
        return gauge
    }

    /// Up to `limit` buffered records; waits while there are none. Empty once the member stopped.
    func nextBatch(limit: Int = 512) async -> [KafkaConsumerRecord] {
        while buffer.count == bufferHead {
            if stopped || Task.isCancelled { return [] }
            await withTaskCancellationHandler {
                await withCheckedContinuation { readerWaiters.append($0) }
            } onCancel: {
                Task { await self.wakeAll() }
            }
        }
        let end = min(buffer.count, bufferHead + limit)
        let batch = Array(buffer[bufferHead..<end])
        bufferHead = end
        if bufferHead == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            bufferHead = 0
        } else if bufferHead > 4096 {
            buffer.removeFirst(bufferHead)
            bufferHead = 0
        }
        let waiters = spaceWaiters
        spaceWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
        return batch
    }

    private func clearBuffer() {
        buffer.removeAll()
        bufferHead = 0
        wakeAll()
    }

    private func wakeAll() {
        let waiters = readerWaiters + spaceWaiters
        readerWaiters.removeAll()
        spaceWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
    }

    private static func milliseconds(_ duration: Duration) -> Int32 {
        let (seconds, attoseconds) = duration.components
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}

/// The records of a ``KafkaConsumerGroup`` member, as an async sequence.
public struct KafkaConsumerRecords: AsyncSequence, Sendable {
    /// The element type.
    public typealias Element = KafkaConsumerRecord
    let group: KafkaConsumerGroup

    /// Makes an iterator.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(group: group) }

    /// Takes records from the member's buffer in small batches.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let group: KafkaConsumerGroup
        var pending: [KafkaConsumerRecord] = []
        var index = 0

        /// The next record; `nil` once the member has stopped.
        public mutating func next() async -> KafkaConsumerRecord? {
            if index == pending.count {
                pending = await group.nextBatch()
                index = 0
                if pending.isEmpty { return nil }
            }
            defer { index += 1 }
            return pending[index]
        }
    }
}

/// The next offset to commit per partition, for one generation.
struct ProcessedOffsets: Sendable {
    var generation: Int32 = -1
    var offsets: [KafkaTopicPartition: Int64] = [:]

    mutating func mark(_ record: KafkaConsumerRecord) {
        guard record.generation == generation, record.offset >= 0, record.offset < Int64.max else { return }
        let next = record.offset + 1
        if next > offsets[record.topicPartition] ?? -1 { offsets[record.topicPartition] = next }
    }
}
