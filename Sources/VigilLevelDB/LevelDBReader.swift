//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation

/// Bounds on what a database may hold before reading it stops: the reader keeps the whole database
/// in memory, so a damaged or hostile folder must not make it allocate without limit.
public struct LevelDBLimits: Sendable {
    /// The largest file read.
    public var maxFileBytes = 256 << 20
    /// The most bytes read over all files.
    public var maxTotalBytes = 1 << 30
    /// The most entries (live or not) over all tables and logs.
    public var maxEntries = 2_000_000
    /// The most table and log files.
    public var maxFiles = 10_000
    /// The longest user key.
    public var maxKeyBytes = 64 << 10
    /// The longest value.
    public var maxValueBytes = 16 << 20
    /// The largest block once decompressed, and the largest log record.
    public var maxBlockBytes = 64 << 20

    /// The defaults: far above an iotmonitor state store (one payload per state topic).
    public init() {}
}

/// What a database holds: its live keys with their latest values, in key order.
public struct LevelDBContents: Sendable {
    /// Live entries, in byte order of the key.
    public var entries: [(key: [UInt8], value: [UInt8])]
    /// Keys whose latest write is a deletion.
    public var deletedKeys: Int
    /// The table files read.
    public var tables: Int
    /// The write-ahead logs read.
    public var logs: Int
}

/// Reads a LevelDB database folder without LevelDB: the manifest names the live tables and logs,
/// every table and log is read and checked, and for each key the write with the highest sequence
/// number wins, as in LevelDB itself.
///
/// It reads a closed database, or a copy of an open one; it never writes to the folder.
public enum LevelDBReader {
    /// Reads every live key of the database in a folder.
    ///
    /// - Throws: ``LevelDBError`` naming the file when the folder is not a database, a file is
    ///   damaged, or the database is beyond `limits`.
    public static func read(directory: String, limits: LevelDBLimits = LevelDBLimits()) throws(LevelDBError) -> LevelDBContents {
        var budget = limits.maxTotalBytes
        func load(_ name: String) throws(LevelDBError) -> [UInt8] {
            let path = (directory as NSString).appendingPathComponent(name)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            guard let size else { throw LevelDBError(.unreadable, file: name, "cannot be read") }
            guard size <= limits.maxFileBytes, size <= budget else {
                throw LevelDBError(.limitExceeded, file: name, "\(size) bytes, beyond the reader's limits")
            }
            guard let data = FileManager.default.contents(atPath: path) else { throw LevelDBError(.unreadable, file: name, "cannot be read") }
            budget -= data.count
            return [UInt8](data)
        }
        guard FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("CURRENT")) else {
            throw LevelDBError(.notADatabase, file: "CURRENT", "missing: \(directory) is not a LevelDB database")
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return try read(names: names, limits: limits, load: load)
    }

    /// The reader over any file source (tests and the fuzzer give files from memory).
    package static func read(
        names: [String],
        limits: LevelDBLimits,
        load: (String) throws(LevelDBError) -> [UInt8]
    ) throws(LevelDBError) -> LevelDBContents {
        let current = String(decoding: try load("CURRENT"), as: UTF8.self)
        let manifestName = current.trimmingCharacters(in: .whitespacesAndNewlines)
        guard manifestName.hasPrefix("MANIFEST-"), !manifestName.contains("/"), manifestName.count < 64 else {
            throw LevelDBError(.malformed, file: "CURRENT", "names \(manifestName.debugDescription), not a manifest")
        }
        let manifest = try LevelDBManifest(try load(manifestName), limits: limits, file: manifestName)

        var tableFiles: [(number: UInt64, name: String)] = []
        var logFiles: [(number: UInt64, name: String)] = []
        for name in names {
            guard let dot = name.lastIndex(of: "."), let number = UInt64(name[..<dot]) else { continue }
            switch name[name.index(after: dot)...] {
            case "ldb", "sst": if manifest.tables.contains(number) { tableFiles.append((number, name)) }
            case "log":
                if number >= manifest.logNumber || number == manifest.previousLogNumber { logFiles.append((number, name)) }
            default: continue
            }
        }
        let missing = manifest.tables.subtracting(tableFiles.map(\.number))
        if let number = missing.min() {
            throw LevelDBError(.unreadable, file: String(format: "%06llu.ldb", number), "listed in \(manifestName) but missing")
        }
        guard tableFiles.count + logFiles.count <= limits.maxFiles else {
            throw LevelDBError(.limitExceeded, file: manifestName, "more than \(limits.maxFiles) files")
        }

        var latest: [ArraySlice<UInt8>: LevelDBWrite] = [:]
        var entries = 0
        func apply(_ writes: [LevelDBWrite], file: String) throws(LevelDBError) {
            entries += writes.count
            guard entries <= limits.maxEntries else { throw LevelDBError(.limitExceeded, file: file, "more than \(limits.maxEntries) entries") }
            for write in writes where latest[write.key].map({ $0.sequence < write.sequence }) ?? true {
                latest[write.key] = write
            }
        }
        for table in tableFiles.sorted(by: { $0.number < $1.number }) {
            try apply(try LevelDBTable.writes(try load(table.name), limits: limits, file: table.name), file: table.name)
        }
        for log in logFiles.sorted(by: { $0.number < $1.number }) {
            for record in try LevelDBLog.records(try load(log.name), recordLimit: limits.maxBlockBytes, file: log.name) {
                try apply(try LevelDBWriteBatch.operations(record, limits: limits, file: log.name), file: log.name)
            }
        }

        var live: [(key: [UInt8], value: [UInt8])] = []
        var deleted = 0
        for write in latest.values {
            if let value = write.value { live.append((Array(write.key), Array(value))) } else { deleted += 1 }
        }
        live.sort { $0.key.lexicographicallyPrecedes($1.key) }
        return LevelDBContents(entries: live, deletedKeys: deleted, tables: tableFiles.count, logs: logFiles.count)
    }
}
