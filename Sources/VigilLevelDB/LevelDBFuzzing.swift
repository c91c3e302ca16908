//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Entry points for the fuzz target and the seeded fuzz test (docs/FUZZING.md).
package enum LevelDBFuzzing {
    /// Small limits, so that a fuzzer finds missing bounds instead of running out of memory.
    package static var limits: LevelDBLimits {
        var limits = LevelDBLimits()
        limits.maxEntries = 1 << 16
        limits.maxBlockBytes = 1 << 20
        limits.maxValueBytes = 1 << 20
        return limits
    }

    /// Reads `bytes` as each file kind of a database: a table, a write-ahead log, a manifest and a
    /// Snappy stream. Only ``LevelDBError`` may come out; a trap or a huge allocation is a bug.
    ///
    /// - Returns: How many of the readings succeeded.
    @discardableResult
    package static func decode(_ bytes: [UInt8]) -> Int {
        var decoded = 0
        if (try? LevelDBTable.writes(bytes, limits: limits, file: "fuzz.ldb")) != nil { decoded += 1 }
        if let records = try? LevelDBLog.records(bytes, recordLimit: limits.maxBlockBytes, file: "fuzz.log") {
            decoded += 1
            for record in records where (try? LevelDBWriteBatch.operations(record, limits: limits, file: "fuzz.log")) != nil { decoded += 1 }
        }
        if (try? LevelDBManifest(bytes, limits: limits, file: "MANIFEST-fuzz")) != nil { decoded += 1 }
        if (try? Snappy.decompress(bytes[...], limit: limits.maxBlockBytes)) != nil { decoded += 1 }
        return decoded
    }
}
