//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import NIOCore
import VigilKafka

/// VigilKafka's side of bench/kafka/run.sh, configured like the confluent-kafka side (bench.py):
/// an idempotent producer with acks=all and a 5 ms linger (`flushInterval`), and a consumer-group
/// member that starts from the earliest offset and marks every record processed.
///
/// Usage: KafkaBench create BOOTSTRAP TOPIC... | produce BOOTSTRAP TOPIC COUNT SIZE | consume BOOTSTRAP TOPIC COUNT
/// `produce` prints the seconds from the first send to the last acknowledgement; `consume` the
/// seconds from the first record received to the COUNT-th.
@main
struct KafkaBench {
    /// Synchronous on purpose, like bench/redis: an `async` main parks the main thread in
    /// `dispatch_main()`.
    static func main() {
        let finished = DispatchSemaphore(value: 0)
        Task.detached {
            do { try await run(Array(CommandLine.arguments.dropFirst())) } catch { fatalError("KafkaBench: \(error)") }
            finished.signal()
        }
        finished.wait()
    }

    @concurrent
    static func run(_ arguments: [String]) async throws {
        guard arguments.count >= 3, let bootstrap = KafkaBrokerAddress(arguments[1]) else {
            fatalError("usage: KafkaBench create|produce|consume BOOTSTRAP TOPIC [COUNT [SIZE]]")
        }
        var logger = Logger(label: "vigil.kafka.bench")
        logger.logLevel = .error
        let cluster = KafkaCluster(configuration: KafkaConfiguration(bootstrapBrokers: [bootstrap], clientID: "vigil-bench"), logger: logger)
        defer { Task { await cluster.close() } }
        let topic = arguments[2]
        let count = arguments.count > 3 ? Int(arguments[3]) ?? 100_000 : 100_000
        switch arguments[0] {
        case "create":
            try await cluster.createTopics(Array(arguments.dropFirst(2)), partitions: 6)
        case "produce":
            let size = arguments.count > 4 ? Int(arguments[4]) ?? 1000 : 1000
            print(try await produce(cluster: cluster, topic: topic, count: count, size: size, logger: logger))
        case "consume":
            print(try await consume(cluster: cluster, topic: topic, count: count, logger: logger))
        default:
            fatalError("KafkaBench: unknown mode \(arguments[0])")
        }
    }

    static func produce(cluster: KafkaCluster, topic: String, count: Int, size: Int, logger: Logger) async throws -> Double {
        let producer = KafkaProducer(
            cluster: cluster,
            configuration: KafkaProducerConfiguration(flushInterval: .milliseconds(5), bufferLimit: 200_000),
            logger: logger
        )
        let value = ByteBuffer(repeating: UInt8(ascii: "x"), count: size)
        // Metadata and the producer id first, as librdkafka has them before its first produce().
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await producer.run() }
            _ = try await producer.sendAndWait(KafkaProducerRecord(topic: topic, partition: 0, value: value))
            let start = ContinuousClock.now
            for _ in 1..<count { try await producer.send(KafkaProducerRecord(topic: topic, value: value)) }
            try await producer.flush()
            let elapsed = ContinuousClock.now - start
            group.cancelAll()
            return seconds(elapsed)
        }
    }

    static func consume(cluster: KafkaCluster, topic: String, count: Int, logger: Logger) async throws -> Double {
        let member = KafkaConsumerGroup(
            cluster: cluster,
            configuration: KafkaConsumerConfiguration(groupID: "bench-vigil-\(topic)", topics: [topic], sessionTimeout: .seconds(6)),
            logger: logger
        )
        return try await withThrowingTaskGroup(of: Double?.self) { group in
            group.addTask {
                try await member.run()
                return nil
            }
            group.addTask {
                var seen = 0
                var start: ContinuousClock.Instant?
                for await record in member.records {
                    if start == nil { start = .now }
                    seen += 1
                    member.markProcessed(record)
                    if seen == count { break }
                }
                return start.map { seconds(ContinuousClock.now - $0) }
            }
            var result: Double?
            while let next = try await group.next() {
                if let next {
                    result = next
                    break
                }
            }
            group.cancelAll()
            return result ?? .infinity
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
