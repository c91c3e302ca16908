//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import VigilKafka

enum KafkaTest {
    static var logger: Logger {
        var logger = Logger(label: "vigil.kafka.test")
        logger.logLevel = ProcessInfo.processInfo.environment["KAFKA_TEST_LOG"] == "1" ? .debug : .critical
        return logger
    }

    /// The broker started by scripts/services/kafka.sh.
    static func configuration() throws -> KafkaConfiguration {
        let bootstrap = try IntegrationEnvironment.require("KAFKA_BOOTSTRAP")
        guard let address = KafkaBrokerAddress(bootstrap) else {
            throw IntegrationEnvironment.MissingService(variable: "KAFKA_BOOTSTRAP", detail: "'\(bootstrap)' is not host:port")
        }
        return KafkaConfiguration(bootstrapBrokers: [address], clientID: "vigil-test", requestTimeout: .seconds(10))
    }

    /// A topic no other test uses.
    static func uniqueTopic(_ name: String) -> String {
        "vigil-\(name)-\(UUID().uuidString.prefix(8))"
    }

    /// Runs a Python script with confluent-kafka (KAFKA_PYTHON) and returns its standard output.
    /// `bootstrap` defaults to the shared broker (KAFKA_BOOTSTRAP).
    static func python(
        _ script: String,
        _ arguments: [String],
        bootstrap: String? = nil,
        timeout: Duration = .seconds(180)
    ) async throws -> String {
        let interpreter = try IntegrationEnvironment.require("KAFKA_PYTHON")
        let bootstrap = try bootstrap ?? IntegrationEnvironment.require("KAFKA_BOOTSTRAP")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: interpreter)
        process.arguments = ["-c", script, bootstrap] + arguments
        let output = Pipe()
        // A file, not a second pipe: librdkafka's log lines could fill a pipe nobody reads while
        // this reads the output, and the script would block forever.
        let errorsURL = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-kafka-python-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: errorsURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errorsURL) }
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: errorsURL)
        try process.run()
        let outputData = try await withTimeout(timeout) {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return data
        }
        let text = String(decoding: outputData, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            let message = (try? String(contentsOf: errorsURL, encoding: .utf8)) ?? ""
            throw PythonFailed(status: process.terminationStatus, output: text + message)
        }
        return text
    }

    struct PythonFailed: Error, CustomStringConvertible {
        var status: Int32
        var output: String
        var description: String { "python exited \(status): \(output.suffix(2000))" }
    }

    /// Reads a whole topic with a confluent-kafka consumer; prints JSON
    /// `{"count", "distinct", "ordered", "partitions"}` (values are decimal record numbers).
    static let readTopicScript = #"""
        import json, sys
        from confluent_kafka import Consumer, TopicPartition
        bootstrap, topic, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader-" + topic, "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, "session.timeout.ms": 6000})
        c.subscribe([topic])
        seen, last, ordered, count, parts, idle = set(), {}, True, 0, set(), 0
        while count < expected and idle < 20:
            batch = c.consume(10000, 1.0)
            if not batch:
                idle += 1
                continue
            idle = 0
            for m in batch:
                if m.error():
                    continue
                n = int(m.value())
                count += 1
                seen.add(n)
                parts.add(m.partition())
                if m.partition() in last and last[m.partition()] >= n:
                    ordered = False
                last[m.partition()] = n
        # Anything after the expected count would be a duplicate.
        extra = c.consume(10000, 2.0)
        count += len([m for m in extra if not m.error()])
        c.close()
        print(json.dumps({"count": count, "distinct": len(seen), "ordered": ordered, "partitions": len(parts)}))
        """#

    /// Produces records numbered FROM..<TO with confluent-kafka (value = the number, key = number % 97),
    /// with an optional compression type as the fifth argument.
    static let produceScript = #"""
        import sys
        from confluent_kafka import Producer
        bootstrap, topic, start, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        compression = sys.argv[5] if len(sys.argv) > 5 else "none"
        p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5,
                      "queue.buffering.max.messages": 200000, "compression.type": compression})
        for n in range(start, end):
            while True:
                try:
                    p.produce(topic, key=str(n % 97).encode(), value=str(n).encode())
                    break
                except BufferError:
                    p.poll(0.1)
            p.poll(0)
        left = p.flush(60)
        print(left)
        sys.exit(1 if left else 0)
        """#
}

/// A Tansu broker of one test's own, on the S3 store started by scripts/services/kafka.sh
/// (KAFKA_S3_ENDPOINT), so that what it stored survives its death: killed and started again on the
/// same port and cluster id, it serves the same topics, records, offsets and producer state.
final class TansuBroker: Sendable {
    let port: Int
    let clusterID = "vigil-restart-\(UUID().uuidString.prefix(8))"
    private let process = Mutex<Process?>(nil)
    private let logURL = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-tansu-\(UUID().uuidString).log")

    /// Starts a broker on a free port.
    init() async throws {
        port = try freeLoopbackPort()
        try await start()
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(at: logURL)
    }

    var bootstrap: String { "127.0.0.1:\(port)" }

    /// A client configuration for this broker, with a short request timeout.
    func clientConfiguration() throws -> KafkaConfiguration {
        var configuration = try KafkaTest.configuration()
        configuration.bootstrapBrokers = [KafkaBrokerAddress(host: "127.0.0.1", port: port)]
        configuration.requestTimeout = .seconds(2)
        return configuration
    }

    /// Starts the process (again) and waits until it accepts connections.
    func start() async throws {
        let binary = try IntegrationEnvironment.require("TANSU_BIN")
        let endpoint = try IntegrationEnvironment.require("KAFKA_S3_ENDPOINT")
        let started = Process()
        started.executableURL = URL(fileURLWithPath: binary)
        let listener = "tcp://127.0.0.1:\(port)"
        started.arguments = [
            "broker", "--listener-url", listener, "--advertised-listener-url", listener, "--cluster-id", clusterID,
            "--storage-engine", "s3://vigil/", "--silent",
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ENDPOINT"] = endpoint
        environment["AWS_ALLOW_HTTP"] = "true"
        environment["AWS_ACCESS_KEY_ID"] = "vigil"
        environment["AWS_SECRET_ACCESS_KEY"] = "vigil"
        environment["AWS_DEFAULT_REGION"] = "us-east-1"
        started.environment = environment
        // Appended across restarts, for the error below.
        if !FileManager.default.fileExists(atPath: logURL.path) { _ = FileManager.default.createFile(atPath: logURL.path, contents: nil) }
        let log = try FileHandle(forWritingTo: logURL)
        try log.seekToEnd()
        started.standardOutput = log
        started.standardError = log
        try started.run()
        process.withLock { $0 = started }
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            if let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get() {
                try? await channel.close()
                return
            }
            guard ContinuousClock.now < deadline, started.isRunning else {
                kill()
                let tail = ((try? String(contentsOf: logURL, encoding: .utf8)) ?? "").suffix(2_000)
                throw IntegrationEnvironment.MissingService(variable: "TANSU_BIN", detail: "tansu did not listen on \(port); its log:\n\(tail)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// SIGKILL, and waits for the process to end (its port is free again).
    func kill() {
        guard let running = process.withLock({ $0.take() }), running.isRunning else { return }
        Foundation.kill(running.processIdentifier, SIGKILL)
        running.waitUntilExit()
    }
}

/// Collects what consumer-group members receive, across members and restarts.
actor KafkaReceipts {
    private(set) var values: [Int: Int] = [:]
    private(set) var total = 0

    var distinct: Int { values.count }
    var duplicates: Int { total - values.count }

    func add(_ value: Int) {
        values[value, default: 0] += 1
        total += 1
    }

    /// Waits until `count` distinct values arrived.
    func wait(forDistinct count: Int, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while values.count < count {
            guard ContinuousClock.now < deadline else { throw TimeoutError(duration: timeout) }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
