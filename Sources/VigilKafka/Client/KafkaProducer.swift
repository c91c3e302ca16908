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
import VigilClientSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Producer settings.
///
/// | Key | Type | Default | Seed name |
/// |---|---|---|---|
/// | `flushInterval` | Duration | 10 ms | `flush_frequency` |
/// | `maximumBatchBytes` | Int | 1 MiB | |
/// | `maximumRetries` | Int | 10 | `MaxRetry` |
/// | `bufferLimit` | Int | 100 000 records | |
/// | `idempotent` | Bool | true | |
/// | `compression` | ``KafkaCompression`` | none (gzip, lz4, zstd) | |
public struct KafkaProducerConfiguration: Sendable {
    /// How long a partition's first buffered record waits for more to share its batch.
    public var flushInterval: Duration
    /// The largest record batch (the broker's `message.max.bytes` must allow it).
    public var maximumBatchBytes: Int
    /// Attempts after the first before a batch's records fail.
    public var maximumRetries: Int
    /// Records buffered (not yet acknowledged) before ``KafkaProducer/send(_:)`` waits.
    public var bufferLimit: Int
    /// Whether to use a producer id and sequence numbers, so retries never duplicate.
    public var idempotent: Bool
    /// How record batches are compressed.
    public var compression: KafkaCompression

    /// Creates settings.
    public init(
        flushInterval: Duration = .milliseconds(10),
        maximumBatchBytes: Int = 1 << 20,
        maximumRetries: Int = 10,
        bufferLimit: Int = 100_000,
        idempotent: Bool = true,
        compression: KafkaCompression = .none
    ) {
        self.flushInterval = flushInterval
        self.maximumBatchBytes = maximumBatchBytes
        self.maximumRetries = maximumRetries
        self.bufferLimit = bufferLimit
        self.idempotent = idempotent
        self.compression = compression
    }
}

/// An idempotent Kafka producer with acks=all, batching per partition and ordered delivery.
///
/// Each partition has one batch in flight at a time, so a retry can never overtake a later batch;
/// with idempotence the broker drops a retried batch it already wrote (by producer id and
/// sequence number), so retries do not duplicate either. ``run()`` does the sending and must run
/// (for example in a `ServiceGroup`) while records are sent.
///
/// ```swift
/// let producer = KafkaProducer(cluster: cluster, logger: logger)
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await producer.run() }
///     try await producer.send(KafkaProducerRecord(topic: "t", value: ByteBuffer(string: "hello")))
///     try await producer.flush()
///     group.cancelAll()
/// }
/// ```
public actor KafkaProducer: Service {
    private struct Entry {
        var record: KafkaProducerRecord
        var size: Int
        var acknowledgement: CheckedContinuation<Int64, any Error>?
    }

    private struct PartitionQueue {
        var entries: [Entry] = []
        var bytes = 0
        var waiter: CheckedContinuation<Void, Never>?
    }

    /// The cluster the producer writes to.
    public nonisolated let cluster: KafkaCluster
    private let configuration: KafkaProducerConfiguration
    private let logger: Logger
    private var queues: [KafkaTopicPartition: PartitionQueue] = [:]
    private let newPartitions: (stream: AsyncStream<KafkaTopicPartition>, continuation: AsyncStream<KafkaTopicPartition>.Continuation)
    private var outstanding = 0
    private var spaceWaiters: [CheckedContinuation<Void, Never>] = []
    private var flushWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
    private var nextFlushWaiter = 0
    private var flushing = 0
    private var deliveryError: KafkaClientError?
    private var roundRobin: [String: Int32] = [:]
    /// Partition counts by topic, so that sending a record does not ask the cluster actor each
    /// time; a topic's partition count only grows, and an operator who adds partitions restarts.
    private var partitionCounts: [String: Int32] = [:]
    private var producerID: Int64 = -1
    private var producerEpoch: Int16 = -1
    /// Changes when the producer id does; partitions then restart their sequences at 0.
    private var producerGeneration = 0
    private var running = false
    private var stopped = false
    private let producedCounter: Counter
    private let errorCounter: Counter

    /// Creates a producer; nothing is sent until ``run()`` runs.
    ///
    /// - Parameters:
    ///   - cluster: The cluster.
    ///   - configuration: The producer settings.
    ///   - metricsFactory: Where `vigil_kafka_records_produced_total` and
    ///     `vigil_kafka_errors_total{operation="produce"}` go.
    ///   - logger: Logger for producer events.
    public init(
        cluster: KafkaCluster,
        configuration: KafkaProducerConfiguration = KafkaProducerConfiguration(),
        metricsFactory: any MetricsFactory = MetricsSystem.factory,
        logger: Logger
    ) {
        self.cluster = cluster
        self.configuration = configuration
        self.logger = logger
        self.newPartitions = AsyncStream.makeStream(of: KafkaTopicPartition.self, bufferingPolicy: .unbounded)
        self.producedCounter = Counter(label: "vigil_kafka_records_produced_total", factory: metricsFactory)
        self.errorCounter = Counter(label: "vigil_kafka_errors_total", dimensions: [("operation", "produce")], factory: metricsFactory)
    }

    // MARK: - Public API

    /// Buffers a record for sending; waits while ``KafkaProducerConfiguration/bufferLimit`` records
    /// are buffered.
    ///
    /// Records sent one after another from one task reach their partition in that order.
    /// Delivery failures surface from ``flush()``.
    ///
    /// - Throws: ``KafkaClientError`` when the topic does not exist or the producer has stopped.
    public func send(_ record: KafkaProducerRecord) async throws {
        let partition = try await reserve(for: record)
        append(record, to: partition, acknowledgement: nil)
    }

    /// Sends a record and waits until the broker has acknowledged it (acks=all).
    ///
    /// - Returns: The record's offset in its partition.
    /// - Throws: ``KafkaClientError/Code/deliveryFailed`` after the retries, or what ``send(_:)`` throws.
    public func sendAndWait(_ record: KafkaProducerRecord) async throws -> Int64 {
        let partition = try await reserve(for: record)
        return try await withCheckedThrowingContinuation { continuation in
            append(record, to: partition, acknowledgement: continuation)
        }
    }

    /// Waits until every buffered record is acknowledged or has failed.
    ///
    /// - Throws: The first delivery failure since the previous `flush()`, if any;
    ///   `CancellationError` when the task is cancelled first (the records stay buffered).
    public func flush() async throws {
        flushing += 1
        defer { flushing -= 1 }
        for partition in queues.keys { wake(partition) }
        if outstanding > 0 {
            let id = nextFlushWaiter
            nextFlushWaiter += 1
            await withTaskCancellationHandler {
                await withCheckedContinuation { flushWaiters[id] = $0 }
            } onCancel: {
                Task { await self.resumeFlushWaiter(id) }
            }
            try Task.checkCancellation()
        }
        if let error = deliveryError {
            deliveryError = nil
            throw error
        }
    }

    /// Sends buffered records until cancelled.
    ///
    /// An idempotent producer first obtains its producer id, trying again (with the cluster's
    /// reconnect pauses) until a broker answers or the task is cancelled: a producer started
    /// while the brokers are down buffers records and sends them once they are back.
    ///
    /// - Throws: ``KafkaClientError/Code/alreadyRunning``. Cancelled before it had a producer
    ///   id, it returns (failing what was buffered, as at any stop).
    public func run() async throws {
        guard !running else { throw KafkaClientError(.alreadyRunning) }
        running = true
        defer { shutDown() }
        guard configuration.compression.isAvailable else {
            throw KafkaClientError(
                .invalidConfiguration,
                message: "\(configuration.compression) compression: lib\(configuration.compression).so.1 could not be loaded"
            )
        }
        if configuration.idempotent {
            do {
                try await initProducerID(retries: .max)
            } catch  where Task.isCancelled {
                return
            }
        }
        await withDiscardingTaskGroup { group in
            for await partition in newPartitions.stream {
                group.addTask { await self.runPartition(partition) }
            }
            group.cancelAll()
        }
    }

    // MARK: - Buffering

    /// Waits for buffer space, then picks the record's partition.
    private func reserve(for record: KafkaProducerRecord) async throws -> KafkaTopicPartition {
        while outstanding >= configuration.bufferLimit && !stopped {
            await withCheckedContinuation { spaceWaiters.append($0) }
        }
        if stopped { throw KafkaClientError(.shutdown, message: "the producer has stopped") }
        let partition = try await choosePartition(for: record)
        if stopped { throw KafkaClientError(.shutdown) }
        return partition
    }

    private func append(_ record: KafkaProducerRecord, to partition: KafkaTopicPartition, acknowledgement: CheckedContinuation<Int64, any Error>?) {
        let size =
            (record.key?.readableBytes ?? 0) + (record.value?.readableBytes ?? 0)
            + record.headers.reduce(0) { $0 + $1.key.utf8.count + ($1.value?.readableBytes ?? 0) + 4 } + 24
        if queues[partition] == nil {
            queues[partition] = PartitionQueue()
            newPartitions.continuation.yield(partition)
        }
        queues[partition]!.entries.append(Entry(record: record, size: size, acknowledgement: acknowledgement))
        queues[partition]!.bytes += size
        outstanding += 1
        if let waiter = queues[partition]!.waiter {
            queues[partition]!.waiter = nil
            waiter.resume()
        }
    }

    private func choosePartition(for record: KafkaProducerRecord) async throws -> KafkaTopicPartition {
        let count: Int32
        if let known = partitionCounts[record.topic] {
            count = known
        } else {
            count = Int32(try await cluster.partitions(of: record.topic).count)
            partitionCounts[record.topic] = count
        }
        if let explicit = record.partition {
            guard (0..<count).contains(explicit) else { throw KafkaClientError(.unknownTopic, message: "\(record.topic)-\(explicit)") }
            return KafkaTopicPartition(topic: record.topic, partition: explicit)
        }
        if let key = record.key {
            return KafkaTopicPartition(
                topic: record.topic,
                partition: KafkaPartitioner.partition(forKey: key.readableBytesView, partitionCount: count)
            )
        }
        let next = roundRobin[record.topic, default: 0]
        roundRobin[record.topic] = (next + 1) % count
        return KafkaTopicPartition(topic: record.topic, partition: next % count)
    }

    /// The next batch of a partition: waits for a record, then up to the flush interval for more.
    private func takeBatch(_ partition: KafkaTopicPartition) async -> [Entry]? {
        while queues[partition]?.entries.isEmpty ?? true {
            if Task.isCancelled || stopped { return nil }
            await withTaskCancellationHandler {
                await withCheckedContinuation { queues[partition]?.waiter = $0 }
            } onCancel: {
                Task { await self.wake(partition) }
            }
        }
        if (queues[partition]?.bytes ?? 0) < configuration.maximumBatchBytes && flushing == 0 && configuration.flushInterval > .zero {
            try? await Task.sleep(for: configuration.flushInterval)
        }
        guard var queue = queues[partition], !queue.entries.isEmpty else { return nil }
        var bytes = 0
        var count = 0
        for entry in queue.entries {
            if count > 0 && bytes + entry.size > configuration.maximumBatchBytes { break }
            bytes += entry.size
            count += 1
        }
        let batch = Array(queue.entries.prefix(count))
        queue.entries.removeFirst(count)
        queue.bytes -= bytes
        queues[partition] = queue
        return batch
    }

    private func resumeFlushWaiter(_ id: Int) {
        flushWaiters.removeValue(forKey: id)?.resume()
    }

    private func wake(_ partition: KafkaTopicPartition) {
        queues[partition]?.waiter?.resume()
        queues[partition]?.waiter = nil
    }

    private func completed(_ entries: [Entry], baseOffset: Int64?, error: KafkaClientError?) {
        outstanding -= entries.count
        for (index, entry) in entries.enumerated() {
            if let baseOffset {
                // Wrapping: the broker chose the base offset, and a hostile one must not trap.
                entry.acknowledgement?.resume(returning: baseOffset &+ Int64(index))
            } else {
                entry.acknowledgement?.resume(throwing: error ?? KafkaClientError(.deliveryFailed))
            }
        }
        if let error {
            errorCounter.increment()
            if deliveryError == nil { deliveryError = error }
        } else {
            producedCounter.increment(by: Int64(entries.count))
        }
        let waiters = spaceWaiters
        spaceWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
        if outstanding == 0 {
            let waiters = flushWaiters.values
            flushWaiters.removeAll()
            for waiter in waiters { waiter.resume() }
        }
    }

    private func shutDown() {
        stopped = true
        newPartitions.continuation.finish()
        for (partition, queue) in queues {
            completed(queue.entries, baseOffset: nil, error: KafkaClientError(.shutdown))
            queues[partition]?.entries.removeAll()
            queues[partition]?.bytes = 0
            queue.waiter?.resume()
            queues[partition]?.waiter = nil
        }
        let waiters = spaceWaiters + flushWaiters.values
        spaceWaiters.removeAll()
        flushWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
    }

    // MARK: - Sending

    private func initProducerID(retries: Int? = nil) async throws {
        let retries = retries ?? configuration.maximumRetries
        var attempt = 0
        while true {
            do {
                let connection = try await cluster.anyConnection()
                let response = try await connection.send(KafkaInitProducerIDRequest())
                guard response.errorCode == .none else { throw KafkaClientError.broker(response.errorCode, "InitProducerId") }
                producerID = response.producerID
                producerEpoch = response.producerEpoch
                producerGeneration += 1
                logger.debug("Kafka producer id", metadata: ["kafka.producer_id": "\(producerID)", "kafka.producer_epoch": "\(producerEpoch)"])
                return
            } catch {
                attempt = min(attempt, Int.max - 1) + 1
                guard attempt <= retries, !Task.isCancelled else { throw error }
                logger.warning("Kafka InitProducerId failed; retrying", metadata: ["error": "\(error)"])
                try await Task.sleep(for: cluster.configuration.reconnect.delay(forAttempt: attempt))
            }
        }
    }

    private func producerIdentity() -> (id: Int64, epoch: Int16, generation: Int) {
        (producerID, producerEpoch, producerGeneration)
    }

    /// Sends one partition's batches, one at a time, until cancelled.
    private nonisolated func runPartition(_ partition: KafkaTopicPartition) async {
        var sequence: Int32 = 0
        var generation = await producerIdentity().generation
        while let entries = await takeBatch(partition) {
            var attempt = 0
            var encodedFor: (generation: Int, sequence: Int32)?
            var batch = ByteBuffer()
            var outcome: Result<Int64, KafkaClientError>
            while true {
                let identity = await producerIdentity()
                if identity.generation != generation {
                    generation = identity.generation
                    sequence = 0
                }
                if encodedFor == nil || encodedFor! != (generation, sequence) {
                    batch.clear()
                    KafkaRecordBatch.write(
                        records: entries.map(\.record),
                        defaultTimestamp: Self.now(),
                        producerID: configuration.idempotent ? identity.id : -1,
                        producerEpoch: configuration.idempotent ? identity.epoch : -1,
                        baseSequence: configuration.idempotent ? sequence : -1,
                        compression: configuration.compression,
                        to: &batch
                    )
                    encodedFor = (generation, sequence)
                }
                let error: KafkaClientError
                do {
                    let leader = try await cluster.leader(of: partition)
                    let connection = try await cluster.connection(node: leader, purpose: .produce)
                    let request = KafkaProduceRequest(partitions: [.init(topic: partition.topic, partition: partition.partition, batch: batch)])
                    let results: [KafkaPartitionResult<KafkaProduceResult>]
                    do {
                        results = try await connection.send(request)
                    } catch {
                        await cluster.discard(connection)
                        throw error
                    }
                    guard let result = results.first(where: { $0.topic == partition.topic && $0.partition == partition.partition }) else {
                        throw KafkaClientError(.decodeError, message: "Produce response without \(partition)")
                    }
                    if result.errorCode == .none || result.errorCode == .duplicateSequenceNumber {
                        outcome = .success(result.value.baseOffset)
                        break
                    }
                    if result.errorCode == .unknownProducerID || result.errorCode == .outOfOrderSequenceNumber {
                        // The broker lost this producer's state (a restart with new storage):
                        // start a new producer id; sequences restart at 0.
                        logger.warning("Kafka broker lost the producer state; new producer id", metadata: ["kafka.partition": "\(partition)"])
                        if await producerIdentity().generation == generation { try await initProducerID() }
                    } else if result.errorCode.isRetriable {
                        await cluster.invalidate(topic: partition.topic)
                    } else {
                        outcome = .failure(KafkaClientError.broker(result.errorCode, "Produce \(partition)"))
                        break
                    }
                    error = KafkaClientError.broker(result.errorCode, "Produce \(partition)")
                } catch let failure as KafkaClientError {
                    error = failure
                    await cluster.invalidate(topic: partition.topic)
                } catch {
                    outcome = .failure(KafkaClientError(.shutdown, underlyingError: error))
                    break
                }
                attempt += 1
                guard attempt <= configuration.maximumRetries, !Task.isCancelled else {
                    outcome = .failure(KafkaClientError(.deliveryFailed, message: "\(partition) after \(attempt) attempts", underlyingError: error))
                    break
                }
                logger.warning("Kafka produce failed; retrying", metadata: ["kafka.partition": "\(partition)", "error": "\(error)"])
                try? await Task.sleep(for: cluster.configuration.reconnect.delay(forAttempt: attempt))
            }
            switch outcome {
            case .success(let offset):
                // Sequences wrap from Int32.max to 0, as the broker expects.
                sequence = Int32((Int64(sequence) + Int64(entries.count)) % (Int64(Int32.max) + 1))
                await completed(entries, baseOffset: offset, error: nil)
            case .failure(let error):
                logger.error("Kafka records not delivered", metadata: ["kafka.partition": "\(partition)", "error": "\(error)"])
                // The broker may have written the batch after all (a lost response). Reusing its
                // sequence would make the broker drop the next batch as a duplicate of it, so the
                // producer takes a new id and every partition's sequences restart.
                if configuration.idempotent, await producerIdentity().generation == generation {
                    try? await initProducerID()
                }
                await completed(entries, baseOffset: nil, error: error)
            }
        }
    }

    private static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
    }
}
