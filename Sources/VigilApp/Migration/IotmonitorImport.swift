//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import VigilCore
import VigilLevelDB
import VigilMonitors
import VigilStorage

/// `vigil import iotmonitor-leveldb DIR`: iotmonitor's state store into Vigil's.
///
/// iotmonitor keeps, in a LevelDB folder (`iotdb.leveldb` in its working directory), one entry per
/// state topic: the key is the topic, the value the last payload, both raw bytes. Vigil keeps the
/// same pairs in its ``StateStore`` under `devices/state/<topic>`, so the import is a copy. The
/// device watchdog restores them at its next start and republishes them on hello, as iotmonitor
/// did; states that no configured device's `stateTopics` match stay in the store unused.
public enum IotmonitorImport {
    /// What an import did.
    public struct Summary: Sendable, Equatable {
        /// States written (or, in a dry run, that would be).
        public var imported = 0
        /// Keys that are not MQTT topic names (not UTF-8, empty, with wildcards or NUL), skipped.
        public var refused = 0
        /// Keys whose latest write in the LevelDB log was a deletion.
        public var deleted = 0
        /// The first refused keys, escaped for printing.
        public var refusedExamples: [String] = []
    }

    /// Copies every state of an iotmonitor LevelDB folder into a store.
    ///
    /// - Parameters:
    ///   - directory: The LevelDB folder (iotmonitor's `iotdb.leveldb`); read only.
    ///   - store: Where the states go.
    ///   - dryRun: Count what would be written without writing.
    /// - Throws: `LevelDBError` when the folder cannot be read (nothing is written then), or the
    ///   store's error when a write fails (the states before it are written; rerunning is safe).
    public static func run(directory: String, into store: any StateStore, dryRun: Bool = false) async throws -> Summary {
        let contents = try LevelDBReader.read(directory: directory)
        var summary = Summary(deleted: contents.deletedKeys)
        for entry in contents.entries {
            guard let topic = topicName(entry.key) else {
                summary.refused += 1
                if summary.refusedExamples.count < 10 { summary.refusedExamples.append(String(decoding: entry.key, as: UTF8.self).debugDescription) }
                continue
            }
            if !dryRun { try await store.setValue(entry.value, forKey: DeviceWatchdog.statePrefix + topic) }
            summary.imported += 1
        }
        return summary
    }

    /// Opens the configured store and imports into it.
    public static func run(directory: String, configuration: VigilConfiguration, dryRun: Bool = false) async throws -> Summary {
        let stores = try StoreFactory.open(configuration.store)
        return try await run(directory: directory, into: stores.state, dryRun: dryRun)
    }

    /// A key that can be a state topic: valid UTF-8, 1 to 65,535 bytes (MQTT's limit), no
    /// wildcard and no NUL (a topic name, not a filter).
    static func topicName(_ key: [UInt8]) -> String? {
        guard (1...65_535).contains(key.count), !key.contains(0) else { return nil }
        guard let topic = String(validating: key, as: UTF8.self) else { return nil }
        guard !topic.contains("+"), !topic.contains("#") else { return nil }
        return topic
    }
}
