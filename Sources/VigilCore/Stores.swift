//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The latest state of every target.
///
/// The embedded SQLite backend keeps it in a table; the Redis backend in hashes. Reads are served
/// from the ``Hub``'s memory in a single process, so implementations optimise for batched writes.
public protocol LatestStore: Sendable {
    /// Inserts or replaces the given states.
    func upsert(_ states: [TargetState]) async throws
    /// Returns every stored state, optionally only those of one kind, ordered by target.
    func states(kind: TargetKind?) async throws -> [TargetState]
    /// Removes the state of one target.
    func remove(_ target: TargetID) async throws
}

/// One point of a history series.
public struct HistoryPoint: Sendable, Hashable, Codable {
    /// The series key, see ``Sample/seriesKey(for:)``.
    public var series: String
    /// Seconds since the epoch.
    public var time: Double
    /// The value.
    public var value: Double

    /// Creates a point.
    public init(series: String, time: Double, value: Double) {
        self.series = series
        self.time = time
        self.value = value
    }
}

/// Time series of samples, with retention.
public protocol HistoryStore: Sendable {
    /// Appends points; callers batch them.
    func append(_ points: [HistoryPoint]) async throws
    /// Returns the points of one series in `[from, to]`, averaged into buckets of `step` seconds
    /// when `step` is greater than zero (the bucket's start time is the point's time).
    func query(series: String, from: Double, to: Double, step: Double) async throws -> [HistoryPoint]
    /// Lists the series keys that start with a prefix.
    func series(prefix: String) async throws -> [String]
    /// Deletes points older than a time and returns how many were removed.
    @discardableResult
    func prune(before time: Double) async throws -> Int
}

/// Small durable key/value state: device states to republish, failover mappings, agent PIDs.
public protocol StateStore: Sendable {
    /// Returns the value stored under a key.
    func value(forKey key: String) async throws -> [UInt8]?
    /// Stores a value, durably, before returning.
    func setValue(_ value: [UInt8], forKey key: String) async throws
    /// Removes a key.
    func removeValue(forKey key: String) async throws
    /// Returns every key with a prefix and its value, ordered by key.
    func values(prefix: String) async throws -> [(key: String, value: [UInt8])]
}

/// A durable log of events.
public protocol EventLog: Sendable {
    /// Appends an event and returns it with its assigned ``Event/id``.
    func append(_ event: Event) async throws -> Event
    /// Appends events in order (one write where the store can) and returns them with their ids.
    func append(contentsOf events: [Event]) async throws -> [Event]
    /// Returns events with an id greater than `afterID` (or with `time >= since`), newest last.
    func events(afterID: Int64?, since: Double?, limit: Int) async throws -> [Event]
    /// Deletes events older than a time.
    @discardableResult
    func prune(before time: Double) async throws -> Int
}

extension EventLog {
    /// One append after the other, for stores without a cheaper batch.
    public func append(contentsOf events: [Event]) async throws -> [Event] {
        var stored: [Event] = []
        stored.reserveCapacity(events.count)
        for event in events { stored.append(try await append(event)) }
        return stored
    }
}

/// The set of stores one backend provides.
public struct Stores: Sendable {
    /// Latest state per target.
    public var latest: any LatestStore
    /// Time series.
    public var history: any HistoryStore
    /// Durable key/value state.
    public var state: any StateStore
    /// Event log.
    public var events: any EventLog

    /// Bundles the stores of a backend.
    public init(latest: any LatestStore, history: any HistoryStore, state: any StateStore, events: any EventLog) {
        self.latest = latest
        self.history = history
        self.state = state
        self.events = events
    }
}

/// Averages points into buckets of `step` seconds starting at `from`, for backends that cannot
/// downsample in their query language.
public func downsample(_ points: [HistoryPoint], from: Double, step: Double) -> [HistoryPoint] {
    guard step > 0, let first = points.first else { return points }
    var result: [HistoryPoint] = []
    var bucket = ((first.time - from) / step).rounded(.down)
    var sum = 0.0
    var count = 0.0
    for point in points {
        let index = ((point.time - from) / step).rounded(.down)
        if index != bucket {
            result.append(HistoryPoint(series: point.series, time: from + bucket * step, value: sum / count))
            bucket = index
            sum = 0
            count = 0
        }
        sum += point.value
        count += 1
    }
    result.append(HistoryPoint(series: first.series, time: from + bucket * step, value: sum / count))
    return result
}
