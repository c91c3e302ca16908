//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import GRDB
import GRDBSQLite

/// Multi-row `INSERT`s: many `VALUES` rows per statement, values bound straight through the SQLite
/// C API.
///
/// One statement per row spent most of a large flush in `sqlite3_step`'s per-statement overhead and
/// in boxing every value into GRDB's `StatementArguments`. Rows go in chunks of a few fixed sizes,
/// so that GRDB's statement cache holds at most four statements per table whatever the batch size.
enum SQLiteBatch {
    /// Rows per statement, largest first; the remainder of a batch uses the smaller sizes. 256 rows
    /// of 7 columns stay well below SQLite's limit of 32,766 variables.
    static let chunkSizes = [256, 32, 4, 1]

    /// Inserts `rows`, calling `bind` once per row to bind its `columns` values in order.
    static func insert<Row>(
        _ rows: [Row],
        into db: Database,
        head: String,
        row: String,
        columns: Int,
        bind: (inout SQLiteBinder, Row) throws -> Void
    ) throws {
        var start = rows.startIndex
        for size in chunkSizes {
            guard rows.endIndex - start >= size else { continue }
            let sql = head + repeatElement(row, count: size).joined(separator: ", ")
            let statement = try db.cachedStatement(sql: sql)
            let raw = statement.sqliteStatement
            while rows.endIndex - start >= size {
                sqlite3_reset(raw)
                var binder = SQLiteBinder(statement: raw)
                for index in start..<(start + size) { try bind(&binder, rows[index]) }
                precondition(binder.index == Int32(size * columns) + 1, "bound \(binder.index - 1) values for \(size) rows of \(columns)")
                let code = sqlite3_step(raw)
                sqlite3_reset(raw)
                guard code == SQLITE_DONE else {
                    throw DatabaseError(resultCode: ResultCode(rawValue: code), message: db.lastErrorMessage, sql: sql)
                }
                start += size
            }
        }
    }
}

/// Binds one statement's values in order.
struct SQLiteBinder {
    let statement: OpaquePointer
    private(set) var index: Int32 = 1

    init(statement: OpaquePointer) { self.statement = statement }

    /// SQLite copies text and blobs bound this way, so the caller's buffer may change afterwards.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    mutating func bind(_ value: Int64) {
        sqlite3_bind_int64(statement, index, value)
        index += 1
    }

    mutating func bind(_ value: Double) {
        sqlite3_bind_double(statement, index, value)
        index += 1
    }

    mutating func bind(_ value: String) {
        var value = value
        _ = value.withUTF8 { bytes in
            // An empty buffer may have no address, which would bind NULL instead of "".
            if let base = bytes.baseAddress {
                sqlite3_bind_text(statement, index, base, Int32(bytes.count), Self.transient)
            } else {
                sqlite3_bind_text(statement, index, "", 0, Self.transient)
            }
        }
        index += 1
    }

    mutating func bindBlob(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { buffer in
            if let base = buffer.baseAddress {
                sqlite3_bind_blob(statement, index, base, Int32(buffer.count), Self.transient)
            } else {
                sqlite3_bind_zeroblob(statement, index, 0)
            }
        }
        index += 1
    }
}
