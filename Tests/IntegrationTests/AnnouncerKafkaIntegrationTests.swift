//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing
import VigilKafka
import VigilXMPP

/// The Announcer's Kafka sections end to end, with the `vigil` binary, Prosody, Tansu and
/// confluent-kafka as the independent client: an announcement put on the `[kafka-consumer]` topic
/// reaches a user; REST announcements with `persist: true` appear on the `[kafka-producer]` topic,
/// those with `persist: false` do not.
///
/// An extension of ``AnnouncerIntegrationTests`` so that it runs serialized with it: Prosody
/// accepts one connection per component.
extension AnnouncerIntegrationTests {
    /// Produces one record (argv: bootstrap, topic, value).
    static let produceOneScript = #"""
        import sys
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": sys.argv[1], "acks": "all"})
        p.produce(sys.argv[2], value=sys.argv[3].encode())
        if p.flush(30) != 0:
            sys.exit("not delivered")
        """#

    /// Reads a topic from the start until WANT records came, then LINGER seconds more (anything
    /// after them would be an extra record); prints a JSON list of {"key", "value"}.
    static let readRecordsScript = #"""
        import json, sys, time
        from confluent_kafka import Consumer
        bootstrap, topic, want, linger = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader-" + topic, "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, "session.timeout.ms": 6000})
        c.subscribe([topic])
        records, deadline, stop = [], time.monotonic() + 60, None
        while time.monotonic() < deadline and (stop is None or time.monotonic() < stop):
            m = c.poll(0.2)
            if m is not None and not m.error():
                records.append({"key": (m.key() or b"").decode(), "value": m.value().decode()})
            if stop is None and len(records) >= want:
                stop = time.monotonic() + linger
        c.close()
        print(json.dumps(records))
        """#

    struct ArchivedRecord: Decodable {
        var key: String
        var value: String
    }

    static func body(usernames: [String], text: String, persist: Bool) -> String {
        body(usernames: usernames, text: text).replacingOccurrences(of: #""persist": false"#, with: #""persist": \#(persist)"#)
    }

    @Test(
        "Kafka: a queued announcement reaches a Prosody user; persist: true REST announcements reach the producer topic, persist: false ones do not"
    )
    func kafkaInputAndPersist() async throws {
        let server = try IntegrationEnvironment.xmppServer("PROSODY", name: "Prosody")
        let bootstrap = try IntegrationEnvironment.require("KAFKA_BOOTSTRAP")
        let user = server.users[0]
        let input = KafkaTest.uniqueTopic("announce-in")
        let output = KafkaTest.uniqueTopic("announce-out")
        let admin = KafkaCluster(configuration: try KafkaTest.configuration(), logger: KafkaTest.logger)
        try await admin.createTopics([input, output], partitions: 2)
        await admin.close()

        let directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("announcer-kafka-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("announcer.toml")
        let text =
            configuration(server, connections: 1) + """

                [kafka-consumer]
                brokers = "\(bootstrap)"
                topics = "\(input)"
                group_name = "announcer-\(input)"
                buffer = 100

                [kafka-producer]
                brokers = "\(bootstrap)"
                topics = "\(output)"
                flush_frequency = "50ms"
                MaxRetry = 3
                """
        try text.write(to: path, atomically: true, encoding: .utf8)

        let receiver = try await server.login(user, resource: "kafka-test", logger: Self.logger)
        let vigil = try VigilProcess(arguments: ["serve", "--config", path.path], directory: directory)
        try await running(vigil, receivers: [receiver]) {
            try await vigil.waitUntilHealthy()
            // Persisted too (the default), so it appears on the producer topic as well.
            let queued = Self.body(usernames: [user.name], text: "From the Kafka queue", persist: true)
            _ = try await KafkaTest.python(Self.produceOneScript, [input, queued])
            // The group joins first (Tansu takes about half the session timeout).
            _ = try await withTimeout(.seconds(60)) {
                for await stanza in receiver.stanzas where stanza.name == "message" {
                    if stanza.firstChild(named: "body")?.text == "From the Kafka queue" { return stanza }
                }
                throw VigilProcess.Failure("the receiver's stream ended")
            }

            let kept = try await post(vigil, "/v1/announce/users", Self.body(usernames: [user.name], text: "Kept", persist: true))
            let notKept = try await post(vigil, "/v1/announce/users", Self.body(usernames: [user.name], text: "Not kept", persist: false))
            #expect(kept.status == 202 && notKept.status == 202, "\(kept) \(notKept)")
            let keptID = try #require(Self.receiptID(kept.body))
            let notKeptID = try #require(Self.receiptID(notKept.body))

            let read = try await KafkaTest.python(Self.readRecordsScript, [output, "2", "3"])
            let records = try JSONDecoder().decode([ArchivedRecord].self, from: Data(read.utf8))
            #expect(records.count == 2, "\(records)")
            #expect(records.contains { $0.key == keptID })
            #expect(!records.contains { $0.key == notKeptID })
            let archived = try #require(records.first { $0.key == keptID })
            let json = try #require(try JSONSerialization.jsonObject(with: Data(archived.value.utf8)) as? [String: Any])
            #expect(json["usernames"] as? [String] == [user.name])
            #expect(json["persist"] as? Bool == true)
            let message = try #require((json["message"] as? String).flatMap { Data(base64Encoded: $0) })
            #expect(String(decoding: message, as: UTF8.self).contains("<body>Kept</body>"))
            let fromQueue = try #require(records.first { $0.key != keptID })
            let queuedJSON = try #require(try JSONSerialization.jsonObject(with: Data(fromQueue.value.utf8)) as? [String: Any])
            let queuedMessage = try #require((queuedJSON["message"] as? String).flatMap { Data(base64Encoded: $0) })
            #expect(String(decoding: queuedMessage, as: UTF8.self).contains("<body>From the Kafka queue</body>"))

            let metrics = try await vigil.get("/metrics").body
            #expect(
                metrics.contains(#"vigil_announcer_kafka_records_total{result="accepted"} 1"#),
                "\(metrics.split(separator: "\n").filter { $0.contains("kafka") })"
            )
            #expect(metrics.contains("vigil_kafka_records_consumed_total"))
            #expect(metrics.contains("vigil_announcer_archived_total"))
        }
    }

    static func receiptID(_ body: String) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["id"] as? String
    }
}
