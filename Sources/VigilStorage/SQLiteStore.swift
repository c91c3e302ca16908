//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import GRDB
import Synchronization
public import VigilCore

/// The embedded store: one SQLite database in WAL mode, accessed through a GRDB `DatabasePool`.
///
/// Layout (migration `v1`):
/// - `latest_state(kind, name, status, since, updated_at, attributes, vals)`: one row per target,
///   attributes and values as JSON.
/// - `history_series(id, key)` and `history_point(series_id, time, value)`: series keys are stored
///   once, points reference them, indexed by `(series_id, time)` and by `time` for retention.
/// - `kv(key, value)`: durable key/value state.
/// - `event(id, time, kind, name, type, severity, message, fields)`.
///
/// Writes use `synchronous = NORMAL`: in WAL mode a committed transaction survives a crash of
/// the process (`kill -9`); only a power loss can undo the last commits.
public final class SQLiteStore: LatestStore, HistoryStore, StateStore, EventLog {
    private let pool: DatabasePool
    private let encoder = JSONEncoder()
    /// Series key → `history_series.id`, kept across flushes: a steady flush touches the same
    /// series every time. Only written inside a write transaction (writes are serialised); cleared
    /// when pruning deletes series rows or a write fails.
    private let seriesIDs = Mutex<[String: Int64]>([:])

    /// Opens (creating if needed) the database at a path and runs the migrations.
    ///
    /// - Parameter path: The database file; its folder is created when missing.
    /// - Throws: When the file cannot be created or opened, or a migration fails.
    public init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.label = "vigil"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            if !db.configuration.readonly {
                // A flush at full speed (100,000 points, tens of thousands of states) touches more
                // pages than SQLite's default 2 MiB cache holds; it then spills pages to the WAL in
                // mid-transaction and reads them back, which cost a third of the CPU of a flush
                // (bench/hub). The cache fills only as far as it is used.
                try db.execute(sql: "PRAGMA cache_size = -32768")
            }
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    /// The four store protocols backed by this database.
    public var stores: Stores { Stores(latest: self, history: self, state: self, events: self) }

    /// The migrations applied to every database, in order.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE latest_state (
                        kind TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
                        since REAL NOT NULL, updated_at REAL NOT NULL,
                        attributes BLOB NOT NULL, vals BLOB NOT NULL,
                        PRIMARY KEY (kind, name)) WITHOUT ROWID;
                    CREATE TABLE history_series (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
                    CREATE TABLE history_point (series_id INTEGER NOT NULL, time REAL NOT NULL, value REAL NOT NULL);
                    CREATE INDEX history_point_series_time ON history_point (series_id, time);
                    CREATE INDEX history_point_time ON history_point (time);
                    CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
                    CREATE TABLE event (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, kind TEXT, name TEXT,
                        type TEXT NOT NULL, severity TEXT NOT NULL, message TEXT NOT NULL, fields BLOB NOT NULL);
                    CREATE INDEX event_time ON event (time);
                    """
            )
        }
        return migrator
    }

    /// The identifiers of the migrations applied to the database.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try Self.migrator.appliedIdentifiers(db).sorted() }
    }

    /// Writes in a transaction that runs to completion even when the calling task is cancelled:
    /// shutdown cancels the tasks whose last act is to save their state, and GRDB's async writes
    /// would refuse with `CancellationError` then (see ``withCancellationShield(_:)``). Reads stay
    /// cancellable.
    private func write<T: Sendable>(_ updates: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let pool = self.pool
        return try await withCancellationShield { try await pool.write(updates) }
    }

    // MARK: - LatestStore

    public func upsert(_ states: [TargetState]) async throws {
        guard !states.isEmpty else { return }
        // The JSON columns are written on the database's writer thread, straight into one scratch
        // buffer that SQLite copies from: no per-state `Data`, and the hub's actor is not held up.
        try await write { db in
            var scratch: [UInt8] = []
            scratch.reserveCapacity(512)
            try SQLiteBatch.insert(
                states,
                into: db,
                head: "INSERT OR REPLACE INTO latest_state (kind, name, status, since, updated_at, attributes, vals) VALUES ",
                row: "(?, ?, ?, ?, ?, ?, ?)",
                columns: 7
            ) { binder, state in
                binder.bind(state.target.kind.rawValue)
                binder.bind(state.target.name)
                binder.bind(state.status.rawValue)
                binder.bind(state.since)
                binder.bind(state.updatedAt)
                scratch.removeAll(keepingCapacity: true)
                JSONText.append(state.attributes, to: &scratch)
                binder.bindBlob(scratch)
                scratch.removeAll(keepingCapacity: true)
                JSONText.append(state.values, to: &scratch)
                binder.bindBlob(scratch)
            }
        }
    }

    public func states(kind: TargetKind?) async throws -> [TargetState] {
        try await pool.read { db -> [TargetState] in
            let decoder = JSONDecoder()
            let rows =
                if let kind {
                    try Row.fetchCursor(db, sql: "SELECT * FROM latest_state WHERE kind = ? ORDER BY kind, name", arguments: [kind.rawValue])
                } else {
                    try Row.fetchCursor(db, sql: "SELECT * FROM latest_state ORDER BY kind, name")
                }
            var states: [TargetState] = []
            while let row = try rows.next() {
                guard let kind = TargetKind(rawValue: row["kind"]) else { continue }
                let attributes: Data = row["attributes"]
                let values: Data = row["vals"]
                states.append(
                    TargetState(
                        target: TargetID(kind, row["name"]),
                        status: TargetStatus(rawValue: row["status"]) ?? .unknown,
                        since: row["since"],
                        updatedAt: row["updated_at"],
                        attributes: try decoder.decode([String: JSONValue].self, from: attributes),
                        values: try decoder.decode([String: Double].self, from: values)
                    )
                )
            }
            return states
        }
    }

    public func remove(_ target: TargetID) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM latest_state WHERE kind = ? AND name = ?", arguments: [target.kind.rawValue, target.name])
        }
    }

    // MARK: - HistoryStore

    public func append(_ points: [HistoryPoint]) async throws {
        guard !points.isEmpty else { return }
        do {
            try await write { db in
                try self.seriesIDs.withLock { ids in
                    do {
                        try Self.append(points, ids: &ids, db: db)
                    } catch {
                        // Series rows inserted by this transaction roll back with it.
                        ids.removeAll()
                        throw error
                    }
                }
            }
        } catch {
            // The commit itself may have failed after the cache learnt new ids.
            seriesIDs.withLock { $0.removeAll() }
            throw error
        }
    }

    /// Resolves each point's series id (known ones from the cache, which lives as long as the
    /// store; new ones inserted one by one, which happens once per series), then inserts the points
    /// many rows per statement.
    private static func append(_ points: [HistoryPoint], ids: inout [String: Int64], db: Database) throws {
        var rows: [(id: Int64, time: Double, value: Double)] = []
        rows.reserveCapacity(points.count)
        var findSeries: Statement?
        var insertSeries: Statement?
        for point in points where !point.value.isNaN {
            // SQLite stores NaN as NULL, which the NOT NULL column refuses: one such sample would
            // fail the whole batch.
            let id: Int64
            if let known = ids[point.series] {
                id = known
            } else {
                let find = try findSeries ?? db.cachedStatement(sql: "SELECT id FROM history_series WHERE key = ?")
                findSeries = find
                if let existing = try Int64.fetchOne(find, arguments: [point.series]) {
                    id = existing
                } else {
                    let insert = try insertSeries ?? db.cachedStatement(sql: "INSERT INTO history_series (key) VALUES (?)")
                    insertSeries = insert
                    try insert.execute(arguments: [point.series])
                    id = db.lastInsertedRowID
                }
                ids[point.series] = id
            }
            rows.append((id, point.time, point.value))
        }
        try SQLiteBatch.insert(rows, into: db, head: "INSERT INTO history_point (series_id, time, value) VALUES ", row: "(?, ?, ?)", columns: 3) {
            binder,
            row in
            binder.bind(row.id)
            binder.bind(row.time)
            binder.bind(row.value)
        }
    }

    public func query(series: String, from: Double, to: Double, step: Double) async throws -> [HistoryPoint] {
        try await pool.read { db in
            guard let id = try Int64.fetchOne(db, sql: "SELECT id FROM history_series WHERE key = ?", arguments: [series]) else {
                return []
            }
            if step > 0 {
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT CAST((time - ?) / ? AS INTEGER) AS bucket, AVG(value) AS value
                        FROM history_point WHERE series_id = ? AND time >= ? AND time <= ?
                        GROUP BY bucket ORDER BY bucket
                        """,
                    arguments: [from, step, id, from, to]
                )
                return rows.map { row in
                    let bucket: Int64 = row["bucket"]
                    return HistoryPoint(series: series, time: from + Double(bucket) * step, value: row["value"])
                }
            }
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT time, value FROM history_point WHERE series_id = ? AND time >= ? AND time <= ? ORDER BY time",
                arguments: [id, from, to]
            )
            return rows.map { HistoryPoint(series: series, time: $0["time"], value: $0["value"]) }
        }
    }

    public func series(prefix: String) async throws -> [String] {
        try await pool.read { db in
            // GLOB with escaped metacharacters keeps the prefix match on the UNIQUE index.
            let escaped = prefix.replacingOccurrences(of: "[", with: "[[]").replacingOccurrences(of: "*", with: "[*]")
                .replacingOccurrences(of: "?", with: "[?]")
            return try String.fetchAll(db, sql: "SELECT key FROM history_series WHERE key GLOB ? ORDER BY key", arguments: [escaped + "*"])
        }
    }

    public func prune(before time: Double) async throws -> Int {
        try await write { db in
            try db.execute(sql: "DELETE FROM history_point WHERE time < ?", arguments: [time])
            var removed = db.changesCount
            try db.execute(sql: "DELETE FROM event WHERE time < ?", arguments: [time])
            removed += db.changesCount
            try db.execute(sql: "DELETE FROM history_series WHERE id NOT IN (SELECT DISTINCT series_id FROM history_point)")
            if db.changesCount > 0 {
                // A deleted series may come back under a new id: forget the cached ones.
                self.seriesIDs.withLock { $0.removeAll() }
            }
            return removed
        }
    }

    // MARK: - StateStore

    public func value(forKey key: String) async throws -> [UInt8]? {
        try await pool.read { db in
            try Data.fetchOne(db, sql: "SELECT value FROM kv WHERE key = ?", arguments: [key]).map { [UInt8]($0) }
        }
    }

    public func setValue(_ value: [UInt8], forKey key: String) async throws {
        try await write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", arguments: [key, Data(value)])
        }
    }

    public func removeValue(forKey key: String) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM kv WHERE key = ?", arguments: [key])
        }
    }

    public func values(prefix: String) async throws -> [(key: String, value: [UInt8])] {
        try await pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT key, value FROM kv WHERE substr(key, 1, ?) = ? ORDER BY key",
                arguments: [prefix.utf8.count, prefix]
            )
            return rows.map { row in
                let value: Data = row["value"]
                return (key: row["key"], value: [UInt8](value))
            }
        }
    }

    // MARK: - EventLog

    public func append(_ event: Event) async throws -> Event {
        let fields = try encoder.encode(event.fields)
        return try await write { db in
            try db.execute(
                sql: "INSERT INTO event (time, kind, name, type, severity, message, fields) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    event.time, event.target?.kind.rawValue, event.target?.name, event.type, event.severity.rawValue, event.message, fields,
                ]
            )
            var stored = event
            stored.id = db.lastInsertedRowID
            return stored
        }
    }

    /// One transaction for all of them (100,000 devices expiring together are one write, not
    /// 100,000).
    public func append(contentsOf events: [Event]) async throws -> [Event] {
        guard !events.isEmpty else { return [] }
        let fields = try events.map { try encoder.encode($0.fields) }
        return try await write { db in
            let statement = try db.cachedStatement(
                sql: "INSERT INTO event (time, kind, name, type, severity, message, fields) VALUES (?, ?, ?, ?, ?, ?, ?)"
            )
            var stored = events
            for index in stored.indices {
                let event = stored[index]
                try statement.execute(arguments: [
                    event.time, event.target?.kind.rawValue, event.target?.name, event.type, event.severity.rawValue, event.message,
                    fields[index],
                ])
                stored[index].id = db.lastInsertedRowID
            }
            return stored
        }
    }

    public func events(afterID: Int64?, since: Double?, limit: Int) async throws -> [Event] {
        try await pool.read { db -> [Event] in
            let decoder = JSONDecoder()
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT * FROM (SELECT * FROM event WHERE id > ? AND time >= ? ORDER BY id DESC LIMIT ?) ORDER BY id",
                arguments: [afterID ?? 0, since ?? -Double.greatestFiniteMagnitude, limit]
            )
            return try rows.map { row in
                let kind: String? = row["kind"]
                let name: String? = row["name"]
                let fields: Data = row["fields"]
                return Event(
                    id: row["id"],
                    time: row["time"],
                    target: kind.flatMap(TargetKind.init(rawValue:)).flatMap { kind in name.map { TargetID(kind, $0) } },
                    type: row["type"],
                    severity: Event.Severity(rawValue: row["severity"]) ?? .info,
                    message: row["message"],
                    fields: try decoder.decode([String: String].self, from: fields)
                )
            }
        }
    }
}

extension SQLiteStore: @unchecked Sendable {}
// @unchecked: the stored properties are a DatabasePool and a Mutex (Sendable) and a JSONEncoder
// used solely through `encode`, which does not mutate shared state.
