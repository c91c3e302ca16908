//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
import Testing
import VigilMQTT

/// `vigil import iotmonitor-leveldb` on a state store written by real LevelDB (plyvel) in
/// iotmonitor's layout and with its options, then a hello against real Mosquitto.
@Suite("iotmonitor LevelDB import", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct IotmonitorImportIntegrationTests {
    /// Writes iotmonitor's store: key = state topic, value = last payload, 1 KiB blocks, restart
    /// interval 4, a small write buffer (many tables and compactions), then overwrites, deletions,
    /// two keys that are not topic names, and a tail left in the write-ahead log. Prints the
    /// contents LevelDB itself iterates (over a copy, so that the import sees the unflushed log).
    static let writer = #"""
        import base64, json, shutil, sys, plyvel
        path, prefix = sys.argv[1], sys.argv[2]
        db = plyvel.DB(path, create_if_missing=True, block_size=1024, block_restart_interval=4,
                       write_buffer_size=1000, max_open_files=10, lru_cache_size=4096)
        for i in range(3000):
            db.put(f"{prefix}/dev{i % 50}/state/item{i}".encode(), json.dumps({"level": i, "pad": "x" * (i % 40)}).encode())
        for i in range(0, 3000, 7):
            db.put(f"{prefix}/dev{i % 50}/state/item{i}".encode(), f"second-{i}".encode())
        for i in range(3, 3000, 11):
            db.delete(f"{prefix}/dev{i % 50}/state/item{i}".encode())
        db.put(f"{prefix}/dev7/state/binary".encode(), bytes(range(256)))
        db.put(f"{prefix}/wild/+/state".encode(), b"not a topic name")
        db.put(b"\xff\xfe", b"not UTF-8")
        db.close()
        shutil.copytree(path, path + ".check")
        db = plyvel.DB(path + ".check")
        print(json.dumps({base64.b64encode(k).decode(): base64.b64encode(v).decode() for k, v in db}))
        db.close()
        """#

    @Test("the imported states equal what LevelDB holds, and a hello republishes the device's imported states")
    func importThenHello() async throws {
        let prefix = MQTTTestSupport.uniqueTopic("import")
        let directory = DevicesIntegrationTests.scratch("import")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let database = directory.appendingPathComponent("iotdb.leveldb").path
        let written = try VigilProcess.runToCompletion(["-c", Self.writer, database, prefix], executable: try IntegrationEnvironment.leveldbPython)
        try #require(written.status == 0, "plyvel writer failed: \(written.output)")
        let json = try #require(written.output.split(separator: "\n").last.map(String.init))
        let encoded = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String])
        var expected: [String: [UInt8]] = [:]
        for (key, value) in encoded {
            expected[String(decoding: Data(base64Encoded: key)!, as: UTF8.self)] = Array(Data(base64Encoded: value)!)
        }
        let topics = expected.filter { !$0.key.contains("+") && $0.key.hasPrefix(prefix) }
        #expect(topics.count == 3000 - 273 + 1)

        let config = try DevicesIntegrationTests.config(
            prefix: prefix,
            """
            [device_dev7]
            helloTopic = "\(prefix)/dev7/hello"
            stateTopics = "\(prefix)/dev7/state/#"
            """
        )
        let configPath = directory.appendingPathComponent("config.toml")
        try config.write(to: configPath, atomically: true, encoding: .utf8)
        let store = ["VIGIL_STORE_PATH": directory.appendingPathComponent("vigil.sqlite").path]
        let dryRun = try VigilProcess.runToCompletion(
            ["import", "iotmonitor-leveldb", database, "--config", configPath.path, "--dry-run"],
            environment: store
        )
        #expect(dryRun.status == 0, "\(dryRun.output)")
        #expect(dryRun.output.contains("would import \(topics.count) states"))
        let imported = try VigilProcess.runToCompletion(["import", "iotmonitor-leveldb", database, "--config", configPath.path], environment: store)
        #expect(imported.status == 0, "\(imported.output)")
        #expect(imported.output.contains("imported \(topics.count) states"))
        #expect(imported.output.contains("2 keys skipped"))
        // Not a database: exit 1 and the reason, nothing written.
        let wrong = try VigilProcess.runToCompletion(
            ["import", "iotmonitor-leveldb", directory.path, "--config", configPath.path],
            environment: store
        )
        #expect(wrong.status == 1)
        #expect(wrong.output.contains("not a LevelDB database"))

        let device = topics.filter { $0.key.hasPrefix("\(prefix)/dev7/state/") }
        #expect(device.count > 50)
        try await DevicesIntegrationTests.withVigil(config, directory: directory) { _ in
            try await DevicesIntegrationTests.withObserver(["\(prefix)/#"], noLocal: true) { client, log in
                _ = try await log.next(timeout: .seconds(8)) { $0.topic == "\(prefix)/mon/helloTopicCount/dev7" }
                log.clear()
                try await client.publish(to: "\(prefix)/dev7/hello", payload: ByteBuffer(string: "hello"), qos: .atLeastOnce)
                func republished() -> [MQTTMessage] { log.messages.filter { $0.topic.hasPrefix("\(prefix)/dev7/state/") } }
                let deadline = ContinuousClock.now + .seconds(10)
                while republished().count < device.count && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
                try await Task.sleep(for: .milliseconds(300))
                var received: [String: [UInt8]] = [:]
                for message in republished() { received[message.topic] = Array(message.payload.readableBytesView) }
                #expect(republished().count == device.count)
                #expect(received == device)
            }
        }
    }
}
