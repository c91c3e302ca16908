//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The live files of a database, replayed from its `MANIFEST`: a log of version edits, each adding
/// and deleting tables and moving the oldest write-ahead log still needed.
///
/// Files that a finished compaction made obsolete can stay on disk after a crash; reading them
/// would bring back deleted keys, so only the tables the manifest lists are read.
struct LevelDBManifest {
    /// Table file numbers, over all levels.
    var tables: Set<UInt64> = []
    /// Logs with a number at or above this hold writes not yet in a table.
    var logNumber: UInt64 = 0
    /// A log still being compacted when the manifest was written (0 when none).
    var previousLogNumber: UInt64 = 0

    private enum Tag: UInt32 {
        case comparator = 1
        case logNumber = 2
        case nextFileNumber = 3
        case lastSequence = 4
        case compactPointer = 5
        case deletedFile = 6
        case newFile = 7
        case previousLogNumber = 9
    }

    init(_ bytes: [UInt8], limits: LevelDBLimits, file: String) throws(LevelDBError) {
        var levels: [UInt32: Set<UInt64>] = [:]
        for record in try LevelDBLog.records(bytes, recordLimit: limits.maxBlockBytes, file: file) {
            var reader = LevelDBBytes(record[...], file: file)
            while !reader.isAtEnd {
                let tagValue = try reader.varint32()
                guard let tag = Tag(rawValue: tagValue) else { throw reader.malformed("manifest tag \(tagValue)") }
                switch tag {
                case .comparator:
                    let name = String(decoding: try reader.lengthPrefixed(limit: 1024), as: UTF8.self)
                    guard name == "leveldb.BytewiseComparator" else {
                        throw LevelDBError(.unsupported, file: file, "comparator \(name) (only leveldb.BytewiseComparator orders keys as read here)")
                    }
                case .logNumber: logNumber = try reader.varint64()
                case .previousLogNumber: previousLogNumber = try reader.varint64()
                case .nextFileNumber, .lastSequence: _ = try reader.varint64()
                case .compactPointer:
                    _ = try Self.level(&reader)
                    _ = try reader.lengthPrefixed(limit: limits.maxKeyBytes + 8)
                case .deletedFile:
                    let level = try Self.level(&reader)
                    levels[level, default: []].remove(try reader.varint64())
                case .newFile:
                    let level = try Self.level(&reader)
                    let number = try reader.varint64()
                    _ = try reader.varint64()  // file size
                    _ = try reader.lengthPrefixed(limit: limits.maxKeyBytes + 8)  // smallest key
                    _ = try reader.lengthPrefixed(limit: limits.maxKeyBytes + 8)  // largest key
                    guard levels.values.reduce(0, { $0 + $1.count }) < limits.maxFiles else {
                        throw LevelDBError(.limitExceeded, file: file, "more than \(limits.maxFiles) tables")
                    }
                    levels[level, default: []].insert(number)
                }
            }
        }
        tables = levels.values.reduce(into: []) { $0.formUnion($1) }
    }

    private static func level(_ reader: inout LevelDBBytes) throws(LevelDBError) -> UInt32 {
        let level = try reader.varint32()
        // LevelDB has 7 levels; more is not a manifest of this format.
        guard level < 7 else { throw reader.malformed("level \(level)") }
        return level
    }
}
