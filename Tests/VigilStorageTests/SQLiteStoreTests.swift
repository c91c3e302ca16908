//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing
import VigilCore
import VigilStorage

@Suite("SQLiteStore")
struct SQLiteStoreTests {
    /// A fresh database file in a temporary folder that is removed afterwards.
    func withDatabase(_ body: (String) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-store-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try await body(folder.appendingPathComponent("nested/vigil.sqlite").path)
    }

    @Test("Migrations create the schema once, in a new folder, in WAL mode")
    func migrations() async throws {
        try await withDatabase { path in
            let store = try SQLiteStore(path: path)
            #expect(try store.appliedMigrations() == ["v1"])
            let reopened = try SQLiteStore(path: path)
            #expect(try reopened.appliedMigrations() == ["v1"])
            #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        }
    }

    @Test("Writes asked for by a cancelled task still commit (shutdown saves)")
    func writesOutliveCancellation() async throws {
        try await withDatabase { path in
            let store = try SQLiteStore(path: path)
            let task = Task {
                // Cancelled before the writes start, as a worker's last saves are on SIGTERM.
                while !Task.isCancelled { await Task.yield() }
                try await store.setValue([1, 2], forKey: "job/1")
                try await store.upsert([TargetState(target: TargetID(.device, "d1"), status: .up, since: 1, updatedAt: 1)])
                _ = try await store.append(Event(time: 1, type: "announcement_completed", severity: .info, message: "m"))
                try await store.removeValue(forKey: "job/0")
            }
            task.cancel()
            try await task.value
            #expect(try await store.value(forKey: "job/1") == [1, 2])
            #expect(try await store.states(kind: .device).map(\.target.name) == ["d1"])
            #expect(try await store.events(afterID: nil, since: nil, limit: 10).count == 1)
        }
    }

    @Test("Latest states, key/value state and events survive a restart")
    func restartKeepsData() async throws {
        try await withDatabase { path in
            do {
                let store = try SQLiteStore(path: path)
                let state = TargetState(
                    target: TargetID(.device, "esp04"),
                    status: .down,
                    since: 5,
                    updatedAt: 6,
                    attributes: ["hello_count": 3, "note": "x"],
                    values: ["up": 0]
                )
                try await store.upsert([state])
                try await store.setValue(Array("ON".utf8), forKey: "state/home/esp04/actuators/led")
                _ = try await store.append(
                    Event(
                        time: 7,
                        target: TargetID(.device, "esp04"),
                        type: "expired",
                        severity: .warning,
                        message: "expired",
                        fields: ["since": "6"]
                    )
                )
            }
            let store = try SQLiteStore(path: path)
            let states = try await store.states(kind: .device)
            #expect(states.count == 1)
            #expect(states.first?.status == .down)
            #expect(states.first?.attributes["hello_count"] == 3)
            #expect(states.first?.values["up"] == 0)
            #expect(try await store.value(forKey: "state/home/esp04/actuators/led") == Array("ON".utf8))
            #expect(try await store.values(prefix: "state/home/").map(\.key) == ["state/home/esp04/actuators/led"])
            let events = try await store.events(afterID: nil, since: nil, limit: 10)
            #expect(events.count == 1)
            #expect(events.first?.target == TargetID(.device, "esp04"))
            #expect(events.first?.fields == ["since": "6"])
            #expect(events.first?.severity == .warning)
            try await store.removeValue(forKey: "state/home/esp04/actuators/led")
            #expect(try await store.value(forKey: "state/home/esp04/actuators/led") == nil)
        }
    }

    @Test("History queries by range, downsamples, and retention deletes old points and events")
    func historyAndRetention() async throws {
        try await withDatabase { path in
            let store = try SQLiteStore(path: path)
            let points =
                (0..<100).map { HistoryPoint(series: "stream/cam1/bitrate", time: Double($0), value: Double($0)) }
                + [HistoryPoint(series: "host/a/load1", time: 50, value: 1)]
            try await store.append(points)
            #expect(try await store.query(series: "stream/cam1/bitrate", from: 10, to: 19, step: 0).map(\.value) == (10...19).map(Double.init))
            let buckets = try await store.query(series: "stream/cam1/bitrate", from: 0, to: 99, step: 25)
            #expect(buckets.map(\.time) == [0, 25, 50, 75])
            #expect(buckets.map(\.value) == [12, 37, 62, 87])
            #expect(try await store.query(series: "missing", from: 0, to: 100, step: 0).isEmpty)
            #expect(try await store.series(prefix: "stream/") == ["stream/cam1/bitrate"])
            _ = try await store.append(Event(time: 10, type: "old", message: "old"))
            _ = try await store.append(Event(time: 90, type: "new", message: "new"))

            let removed = try await store.prune(before: 60)
            #expect(removed == 60 + 1 + 1)
            #expect(try await store.query(series: "stream/cam1/bitrate", from: 0, to: 100, step: 0).first?.time == 60)
            #expect(try await store.series(prefix: "host/") == [])
            #expect(try await store.events(afterID: nil, since: nil, limit: 10).map(\.type) == ["new"])
        }
    }

    @Test("Large batches go in multi-row statements; series ids survive flushes and pruning")
    func batchesAndSeriesCache() async throws {
        try await withDatabase { path in
            let store = try SQLiteStore(path: path)
            // 3 series × 300 points: every chunk size is used, and a NaN is skipped, not fatal.
            let keys = ["device/d1/rssi_dbm", "device/d2/rssi_dbm", "host/a/load1"]
            var points = (0..<900).map { HistoryPoint(series: keys[$0 % 3], time: Double($0 / 3), value: Double($0)) }
            points.append(HistoryPoint(series: keys[0], time: 400, value: .nan))
            try await store.append(points)
            try await store.append([HistoryPoint(series: keys[1], time: 500, value: -1)])
            #expect(try await store.query(series: keys[0], from: 0, to: 1_000, step: 0).count == 300)
            #expect(try await store.query(series: keys[1], from: 0, to: 1_000, step: 0).last?.value == -1)
            // Pruning deletes every series; the same keys must come back as fresh series, not as
            // points of deleted ids.
            #expect(try await store.prune(before: 10_000) == 901)
            #expect(try await store.series(prefix: "") == [])
            try await store.append([HistoryPoint(series: keys[2], time: 20_000, value: 7)])
            #expect(try await store.query(series: keys[2], from: 0, to: 30_000, step: 0).map(\.value) == [7])
        }
    }

    @Test("Latest states round-trip through the hand-written JSON columns")
    func latestStateColumns() async throws {
        try await withDatabase { path in
            let store = try SQLiteStore(path: path)
            let states = (0..<300).map { index in
                TargetState(
                    target: TargetID(.device, "d\(index)"),
                    status: .up,
                    since: 1.5,
                    updatedAt: Double(index),
                    attributes: [
                        "name": .string("d\(index) \"quoted\" \\ tab\t é"), "count": .number(Double(index)), "ratio": .number(0.25),
                        "flag": .bool(true), "none": .null, "list": .array([1, "x"]), "nested": .object(["k": .number(-3)]),
                    ],
                    values: ["up": 1, "last_seen_seconds": 1_800_000_000.125, "tiny": 1e-7]
                )
            }
            try await store.upsert(states)
            #expect(try await store.states(kind: .device).sorted { $0.updatedAt < $1.updatedAt } == states)
            // Numbers JSON cannot carry do not fail the batch.
            var odd = states[0]
            odd.values["nan"] = .nan
            odd.attributes["inf"] = .number(.infinity)
            try await store.upsert([odd])
            let read = try #require(try await store.states(kind: .device).first { $0.target == odd.target })
            #expect(read.values["nan"] == nil)
            #expect(read.attributes["inf"] == JSONValue.null)
        }
    }

    @Test("Event paging by id and time")
    func eventPaging() async throws {
        try await withDatabase { path in
            let store = try SQLiteStore(path: path)
            for index in 1...5 { _ = try await store.append(Event(time: Double(index * 10), type: "t", message: "\(index)")) }
            #expect(try await store.events(afterID: 3, since: nil, limit: 10).map(\.message) == ["4", "5"])
            #expect(try await store.events(afterID: nil, since: 30, limit: 10).map(\.message) == ["3", "4", "5"])
            #expect(try await store.events(afterID: nil, since: nil, limit: 2).map(\.message) == ["4", "5"])
        }
    }

    @Test("A file that is not a database is a clear error")
    func notADatabase() async throws {
        try await withDatabase { path in
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data("this is not sqlite".utf8).write(to: URL(fileURLWithPath: path))
            #expect(throws: (any Error).self) { try SQLiteStore(path: path) }
        }
    }
}

@Suite("StoreMaintenance")
struct StoreMaintenanceTests {
    @Test("Retention removes what is older than the retention period")
    func retention() async throws {
        let store = MemoryStore()
        try await store.append([HistoryPoint(series: "s", time: 0, value: 1), HistoryPoint(series: "s", time: 1000, value: 2)])
        let maintenance = StoreMaintenance(
            history: store,
            configuration: StoreConfiguration(retention: .seconds(500)),
            clock: ManualClock(wallClockSeconds: 1100)
        )
        #expect(try await maintenance.pruneOnce() == 1)
        #expect(try await store.query(series: "s", from: 0, to: 2000, step: 0).map(\.value) == [2])
    }
}
