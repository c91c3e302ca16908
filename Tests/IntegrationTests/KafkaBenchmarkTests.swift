//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
import Testing
import VigilKafka

/// Throughput of VigilKafka against confluent-kafka (librdkafka 2.16) on the same Tansu, 1 KB
/// records: `KAFKA_BENCH=1 SERVICES=kafka /tmp/svc-test.sh --filter KafkaBenchmark` (numbers in
/// docs/BENCHMARKS.md). Off by default: it measures, it does not check.
@Suite(
    "Kafka throughput, VigilKafka and confluent-kafka",
    .enabled(if: IntegrationEnvironment.enabled && ProcessInfo.processInfo.environment["KAFKA_BENCH"] == "1"),
    .serialized
)
struct KafkaBenchmarkTests {
    static let count = 100_000
    static let size = 1000

    static let pythonBench = #"""
        import sys, time
        from confluent_kafka import Consumer, Producer
        bootstrap, mode, topic, count, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        if mode == "produce":
            p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5,
                          "queue.buffering.max.messages": 200000})
            value = b"x" * size
            start = time.monotonic()
            for n in range(count):
                while True:
                    try:
                        p.produce(topic, value=value)
                        break
                    except BufferError:
                        p.poll(0.05)
            p.flush(120)
            print(time.monotonic() - start)
        else:
            c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-" + topic, "auto.offset.reset": "earliest",
                          "session.timeout.ms": 6000})
            c.subscribe([topic])
            seen, start = 0, None
            while seen < count:
                for m in c.consume(10000, 1.0):
                    if not m.error():
                        if start is None:
                            start = time.monotonic()
                        seen += 1
            print(time.monotonic() - start)
            c.close()
        """#

    @Test("produce and consume 100,000 records of 1 KB")
    func throughput() async throws {
        let configuration = try KafkaTest.configuration()
        let cluster = KafkaCluster(configuration: configuration, logger: KafkaTest.logger)
        let vigilTopic = KafkaTest.uniqueTopic("bench-vigil")
        let pythonTopic = KafkaTest.uniqueTopic("bench-python")
        try await cluster.createTopics([vigilTopic, pythonTopic], partitions: 6)
        let value = ByteBuffer(repeating: UInt8(ascii: "x"), count: Self.size)

        let producer = KafkaProducer(cluster: cluster, logger: KafkaTest.logger)
        let produceStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await producer.run() }
            for _ in 0..<Self.count { try await producer.send(KafkaProducerRecord(topic: vigilTopic, value: value)) }
            try await producer.flush()
            group.cancelAll()
        }
        let vigilProduce = Self.seconds(ContinuousClock.now - produceStart)
        await cluster.close()

        let pythonProduce = Double(try await KafkaTest.python(Self.pythonBench, ["produce", pythonTopic, "\(Self.count)", "\(Self.size)"]).trimmed)!
        let pythonConsume = Double(try await KafkaTest.python(Self.pythonBench, ["consume", vigilTopic, "\(Self.count)", "\(Self.size)"]).trimmed)!

        let consumerCluster = KafkaCluster(configuration: configuration, logger: KafkaTest.logger)
        let member = KafkaConsumerGroup(
            cluster: consumerCluster,
            configuration: KafkaConsumerConfiguration(groupID: "bench-\(pythonTopic)", topics: [pythonTopic], sessionTimeout: .seconds(6)),
            logger: KafkaTest.logger
        )
        let vigilConsume = try await withThrowingTaskGroup(of: Double?.self) { group in
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
                    await member.markProcessed(record)
                    if seen == Self.count { break }
                }
                return start.map { Self.seconds(ContinuousClock.now - $0) }
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
        await consumerCluster.close()

        func rate(_ seconds: Double) -> String { "\(Int(Double(Self.count) / seconds)) records/s" }
        print("kafka-bench: produce VigilKafka \(rate(vigilProduce)), confluent-kafka \(rate(pythonProduce)), ratio \(pythonProduce / vigilProduce)")
        print("kafka-bench: consume VigilKafka \(rate(vigilConsume)), confluent-kafka \(rate(pythonConsume)), ratio \(pythonConsume / vigilConsume)")
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

extension String {
    fileprivate var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
