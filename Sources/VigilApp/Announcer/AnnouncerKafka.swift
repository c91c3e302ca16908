//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import Metrics
import NIOCore
import NIOSSL
import ServiceLifecycle
import VigilAnnouncer
import VigilKafka

/// `[kafka-producer]`: `persist: true` announcements go to every `topics` entry, keyed by the
/// announcement's id, through an idempotent producer (acks=all). An announcement counts as
/// archived once every topic acknowledged it; until then the Announcer keeps its archive row and
/// hands it over again, so each one reaches Kafka at least once, across restarts.
struct KafkaAnnouncementArchive: AnnouncementArchive {
    let producer: KafkaProducer
    let topics: [String]

    func archive(_ announcements: [ArchivedAnnouncement]) async throws {
        // All at once: each waits up to flush_frequency for its batch, so one at a time would
        // archive one announcement per flush_frequency.
        try await withThrowingDiscardingTaskGroup { group in
            for announcement in announcements {
                let key = ByteBuffer(string: announcement.id)
                let value = ByteBuffer(bytes: announcement.body)
                for topic in topics {
                    group.addTask { _ = try await producer.sendAndWait(KafkaProducerRecord(topic: topic, key: key, value: value)) }
                }
            }
        }
    }
}

/// `[kafka-consumer]`: a consumer-group member whose records are announcement JSON, the same
/// bodies as `POST /v1/announce/users` and `/v1/announce/channel` (one with `channel_id` is a
/// channel announcement). Each is stored in the Announcer's outbox before its offset may be
/// committed: at least once. A full Announcer (`input_buffer`) or a failing outbox holds the
/// record (and so the partition) and tries again; a record that is no announcement is logged,
/// counted and skipped.
///
/// Metrics: `vigil_announcer_kafka_records_total{result="accepted"|"invalid"}` besides
/// VigilKafka's own (`vigil_kafka_records_consumed_total`, `vigil_kafka_consumer_lag`, …).
struct KafkaAnnouncementInput: Service {
    let group: KafkaConsumerGroup
    let announcer: Announcer
    let logger: Logger

    func run() async throws {
        let accepted = Counter(label: "vigil_announcer_kafka_records_total", dimensions: [("result", "accepted")])
        let invalid = Counter(label: "vigil_announcer_kafka_records_total", dimensions: [("result", "invalid")])
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await group.run() }
                    tasks.addTask { await consume(accepted: accepted, invalid: invalid) }
                    try await tasks.next()
                    tasks.cancelAll()
                }
            }
        } catch {
            await group.cluster.close()
            throw error
        }
        await group.cluster.close()
    }

    private func consume(accepted: Counter, invalid: Counter) async {
        for await record in group.records {
            let announcement: Announcement
            do throws(AnnouncementError) {
                announcement = try Announcement.queued(json: Data(record.record.value.map { Array($0.readableBytesView) } ?? []))
            } catch {
                invalid.increment()
                logger.warning(
                    "Skipping a Kafka record that is no announcement",
                    metadata: ["kafka.partition": "\(record.topicPartition)", "kafka.offset": "\(record.offset)", "error": "\(error)"]
                )
                group.markProcessed(record)
                continue
            }
            guard await submit(announcement, record: record) else { return }
            accepted.increment()
            group.markProcessed(record)
        }
    }

    /// Stores the announcement, waiting while the Announcer is full or its outbox fails; `false`
    /// when stopping first. A refusal that waiting cannot mend is logged and counts as done.
    private func submit(_ announcement: Announcement, record: KafkaConsumerRecord) async -> Bool {
        var pause = Duration.milliseconds(100)
        while true {
            do throws(Announcer.SubmitError) {
                let receipt = try await announcer.submit(announcement)
                logger.debug("Announcement from Kafka accepted", metadata: ["announcement.id": "\(receipt.id)", "kafka.offset": "\(record.offset)"])
                return true
            } catch .busy, .storeFailed {
                do { try await Task.sleep(for: pause) } catch { return false }
                pause = min(pause * 2, .seconds(5))
            } catch {
                logger.warning(
                    "Kafka announcement refused",
                    metadata: ["kafka.partition": "\(record.topicPartition)", "kafka.offset": "\(record.offset)", "error": "\(error)"]
                )
                return true
            }
        }
    }
}

/// Runs a producer until graceful shutdown, then closes its connections.
struct KafkaProducerService: Service {
    let producer: KafkaProducer

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await producer.run() }
        } catch {
            await producer.cluster.close()
            throw error
        }
        await producer.cluster.close()
    }
}

extension AnnouncerConfiguration {
    /// A VigilKafka cluster for `brokers` (already checked as `host:port`), logging in as `security` says.
    static func kafkaCluster(_ brokers: [String], security: KafkaSecurity, logger: Logger) throws -> KafkaCluster {
        let addresses = brokers.compactMap { KafkaBrokerAddress($0) }
        var configuration = KafkaConfiguration(bootstrapBrokers: addresses, clientID: "vigil-announcer")
        if let name = security.saslMechanism, let mechanism = KafkaSASL.Mechanism(rawValue: name) {
            configuration.sasl = KafkaSASL(mechanism: mechanism, username: security.saslUsername, password: security.saslPassword)
        }
        if security.tls {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let file = security.tlsCAFile { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(file)) }
            configuration.tls = tls
        }
        return KafkaCluster(configuration: configuration, logger: logger)
    }
}
