//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Synchronization

/// Stores kept in memory: for tests, and for `[store] backend = "memory"`.
public final class MemoryStore: LatestStore, HistoryStore, StateStore, EventLog {
    private struct Contents {
        var latest: [TargetID: TargetState] = [:]
        var history: [String: [HistoryPoint]] = [:]
        var state: [String: [UInt8]] = [:]
        var events: [Event] = []
        var nextEventID: Int64 = 1
    }

    private let contents = Mutex(Contents())

    /// Creates an empty store.
    public init() {}

    /// The four store protocols backed by this object.
    public var stores: Stores { Stores(latest: self, history: self, state: self, events: self) }

    // MARK: - LatestStore

    public func upsert(_ states: [TargetState]) async throws {
        contents.withLock { contents in
            for state in states { contents.latest[state.target] = state }
        }
    }

    public func states(kind: TargetKind?) async throws -> [TargetState] {
        contents.withLock { contents in
            contents.latest.values.filter { kind == nil || $0.target.kind == kind }.sorted { $0.target < $1.target }
        }
    }

    public func remove(_ target: TargetID) async throws {
        _ = contents.withLock { $0.latest.removeValue(forKey: target) }
    }

    // MARK: - HistoryStore

    public func append(_ points: [HistoryPoint]) async throws {
        contents.withLock { contents in
            for point in points { contents.history[point.series, default: []].append(point) }
        }
    }

    public func query(series: String, from: Double, to: Double, step: Double) async throws -> [HistoryPoint] {
        let points = contents.withLock { contents in
            (contents.history[series] ?? []).filter { $0.time >= from && $0.time <= to }.sorted { $0.time < $1.time }
        }
        return downsample(points, from: from, step: step)
    }

    public func series(prefix: String) async throws -> [String] {
        contents.withLock { $0.history.keys.filter { $0.hasPrefix(prefix) }.sorted() }
    }

    public func prune(before time: Double) async throws -> Int {
        contents.withLock { contents in
            var removed = 0
            for key in contents.history.keys {
                let before = contents.history[key]!.count
                contents.history[key]!.removeAll { $0.time < time }
                removed += before - contents.history[key]!.count
            }
            let eventsBefore = contents.events.count
            contents.events.removeAll { $0.time < time }
            return removed + eventsBefore - contents.events.count
        }
    }

    // MARK: - StateStore

    public func value(forKey key: String) async throws -> [UInt8]? {
        contents.withLock { $0.state[key] }
    }

    public func setValue(_ value: [UInt8], forKey key: String) async throws {
        contents.withLock { $0.state[key] = value }
    }

    public func removeValue(forKey key: String) async throws {
        _ = contents.withLock { $0.state.removeValue(forKey: key) }
    }

    public func values(prefix: String) async throws -> [(key: String, value: [UInt8])] {
        contents.withLock { contents in
            contents.state.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
    }

    // MARK: - EventLog

    public func append(_ event: Event) async throws -> Event {
        contents.withLock { contents in
            var event = event
            event.id = contents.nextEventID
            contents.nextEventID += 1
            contents.events.append(event)
            return event
        }
    }

    public func events(afterID: Int64?, since: Double?, limit: Int) async throws -> [Event] {
        contents.withLock { contents in
            let matching = contents.events.filter { event in
                (afterID.map { event.id > $0 } ?? true) && (since.map { event.time >= $0 } ?? true)
            }
            return Array(matching.suffix(limit))
        }
    }
}
