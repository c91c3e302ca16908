//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
public import VigilCore
public import VigilRedis

/// `[store] backend = "redis"`: latest states in hashes, history and events in Streams, the
/// key/value rows in one hash (``RedisStateStore``). The key layout is ``RedisStoreKeys``.
///
/// Every command names one key (the event append names two with one hash tag), so the store works
/// on a single server and on a Redis Cluster alike. Writes are batched per key: a history flush is
/// one script call per series, run a bounded number at a time.
public struct RedisStore: LatestStore, HistoryStore, EventLog {
    /// The limits of the store.
    public struct Limits: Sendable, Hashable {
        /// Events kept in the event stream (`XADD MAXLEN ~`), whatever their age.
        public var maxEvents: Int
        /// Points kept per history series (`XADD MAXLEN ~`), whatever their age.
        public var maxPointsPerSeries: Int
        /// The most points one history query reads; a larger range is an error, not an unbounded reply.
        public var maxQueryPoints: Int

        /// Creates limits.
        public init(maxEvents: Int = 100_000, maxPointsPerSeries: Int = 1_000_000, maxQueryPoints: Int = 5_000_000) {
            self.maxEvents = maxEvents
            self.maxPointsPerSeries = maxPointsPerSeries
            self.maxQueryPoints = maxQueryPoints
        }
    }

    private let redis: any RedisCommandExecutor
    /// The key layout.
    public let keys: RedisStoreKeys
    /// The limits.
    public let limits: Limits
    /// Commands in flight at once for a batch over many keys.
    static let width = 32
    /// Entries read per `XRANGE`/`XREVRANGE`/`ZRANGEBYLEX` page.
    static let page = 1_000

    /// Creates the store on a client.
    ///
    /// - Parameters:
    ///   - redis: A ``RedisClusterClient`` (it also serves a standalone server) or ``RedisClient``.
    ///   - keys: The key layout.
    ///   - limits: The bounds of streams and queries.
    public init(redis: any RedisCommandExecutor, keys: RedisStoreKeys = RedisStoreKeys(), limits: Limits = Limits()) {
        self.redis = redis
        self.keys = keys
        self.limits = limits
    }

    /// The four store protocols on this server.
    public var stores: Stores {
        Stores(latest: self, history: self, state: RedisStateStore(redis: redis, hashKey: keys.state), events: self)
    }

    // MARK: - LatestStore

    public func upsert(_ states: [TargetState]) async throws {
        guard !states.isEmpty else { return }
        var commands: [String: RedisCommand] = [:]
        for state in states {
            let (key, field) = keys.latest(state.target)
            commands[key, default: RedisCommand("HSET", key)].append(field, ByteBuffer(bytes: StateJSON.encode(state)))
        }
        let batch = Array(commands.values)
        let redis = self.redis
        try await withCancellationShield {
            _ = try await Self.concurrently(batch) { try await redis.execute($0) }
        }
    }

    public func states(kind: TargetKind?) async throws -> [TargetState] {
        let kinds = kind.map { [$0] } ?? TargetKind.allCases
        var hashes = kinds.map { (key: keys.latestHash($0), mediaMTX: false) }
        if kinds.contains(.stream) { hashes.append((RedisStoreKeys.mediaMTXLatest, true)) }
        let decoder = JSONDecoder()
        var states: [TargetState] = []
        for hash in hashes {
            for (field, value) in try await redis.hgetall(hash.key) {
                // Another tool may write its own shape into the seed's hash: such fields are not ours.
                guard var state = try? decoder.decode(TargetState.self, from: Data(value.readableBytesView)) else { continue }
                if hash.mediaMTX {
                    state.target = RedisStoreKeys.mediaMTXTarget(field: field)
                } else if let kind = kinds.first(where: { keys.latestHash($0) == hash.key }) {
                    state.target = TargetID(kind, field)
                }
                states.append(state)
            }
        }
        return states.sorted { $0.target < $1.target }
    }

    public func remove(_ target: TargetID) async throws {
        let (key, field) = keys.latest(target)
        try await redis.hdel(key, fields: [field])
    }

    // MARK: - HistoryStore

    /// Appends the points of one series (in time order) in one call; a point whose millisecond is
    /// older than the stream's last entry (written by an earlier batch) gets the last entry's
    /// millisecond (its `time` field stays exact).
    static let appendScript = """
        local n = 0
        for i = 2, #ARGV, 3 do
          local r = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], ARGV[i] .. '-*', 'time', ARGV[i + 1], 'value', ARGV[i + 2])
          if type(r) == 'table' and r.err then
            local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
            local id = '*'
            if top[1] then id = string.match(top[1][1], '^(%d+)-') .. '-*' end
            redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], id, 'time', ARGV[i + 1], 'value', ARGV[i + 2])
          end
          n = n + 1
        end
        return n
        """

    /// Trims one series to a minimum id, deletes the stream when it is empty, and returns
    /// `{removed, 1 if the stream remains else 0}`.
    static let trimScript = """
        local n = redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
        if redis.call('XLEN', KEYS[1]) == 0 then
          redis.call('DEL', KEYS[1])
          return {n, 0}
        end
        return {n, 1}
        """

    public func append(_ points: [HistoryPoint]) async throws {
        var bySeries: [String: RedisCommand] = [:]
        // Stream ids must grow: each series' points go in time order (the sort is stable).
        let ordered = points.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }.map(\.element)
        for point in ordered where point.value.isFinite && point.time.isFinite {
            let key = keys.history(point.series)
            if bySeries[point.series] == nil {
                var command = RedisCommand("EVAL", Self.appendScript, 1, key)
                command.append(limits.maxPointsPerSeries)
                bySeries[point.series] = command
            }
            bySeries[point.series]!.append(Self.milliseconds(point.time), point.time, point.value)
        }
        guard !bySeries.isEmpty else { return }
        var index = RedisCommand("ZADD", keys.historyIndex)
        for series in bySeries.keys.sorted() { index.append(0, series) }
        let batch = [index] + Array(bySeries.values)
        let redis = self.redis
        try await withCancellationShield {
            _ = try await Self.concurrently(batch) { try await redis.execute($0) }
        }
    }

    public func query(series: String, from: Double, to: Double, step: Double) async throws -> [HistoryPoint] {
        guard from <= to else { return [] }
        let key = keys.history(series)
        var start = from.isFinite && from > 0 ? "\(Self.milliseconds(from))" : "-"
        let end = to.isFinite && to * 1000 < 9e15 ? "\(Self.milliseconds(to))" : "+"
        if to.isFinite, to < 0 { return [] }
        var points: [HistoryPoint] = []
        while true {
            let entries = try await redis.xrange(key, from: start, to: end, count: Self.page)
            for entry in entries {
                guard let time = entry["time"].flatMap({ Double(String(buffer: $0)) }),
                    let value = entry["value"].flatMap({ Double(String(buffer: $0)) }), time >= from, time <= to
                else { continue }
                points.append(HistoryPoint(series: series, time: time, value: value))
            }
            guard entries.count == Self.page, let last = entries.last else { break }
            guard points.count <= limits.maxQueryPoints else {
                throw RedisClientError(
                    .unexpectedResponse,
                    message: "more than \(limits.maxQueryPoints) points in the range of '\(series.prefix(128))'"
                )
            }
            start = "(" + last.id
        }
        // Stream order is id order; a late point may sit after later ones.
        points.sort { $0.time < $1.time }
        return step > 0 ? downsample(points, from: from, step: step) : points
    }

    public func series(prefix: String) async throws -> [String] {
        var result: [String] = []
        var start = prefix.isEmpty ? "-" : "[" + prefix
        while true {
            let reply = try await redis.execute(RedisCommand("ZRANGEBYLEX", keys.historyIndex, start, "+", "LIMIT", 0, Self.page))
            guard let members = reply.array?.compactMap(\.string) else {
                throw RedisClientError(.unexpectedResponse, message: "ZRANGEBYLEX returned \(reply)")
            }
            for member in members {
                guard member.hasPrefix(prefix) else { return result }
                result.append(member)
            }
            guard members.count == Self.page, let last = members.last else { return result }
            start = "(" + last
        }
    }

    public func prune(before time: Double) async throws -> Int {
        let cutoff = "\(Self.milliseconds(time))"
        let redis = self.redis
        let keys = self.keys
        let all = try await series(prefix: "")
        let trimmed = try await withCancellationShield {
            try await Self.concurrently(all) { series -> (series: String, removed: Int, remains: Bool) in
                let reply = try await redis.execute(RedisCommand("EVAL", Self.trimScript, 1, keys.history(series), cutoff))
                guard let parts = reply.array, parts.count == 2, let removed = parts[0].int, let remains = parts[1].int else {
                    throw RedisClientError(.unexpectedResponse, message: "trim returned \(reply)")
                }
                return (series, removed, remains == 1)
            }
        }
        let emptied = trimmed.filter { !$0.remains }.map(\.series)
        for chunk in stride(from: 0, to: emptied.count, by: 1000) {
            var command = RedisCommand("ZREM", keys.historyIndex)
            for series in emptied[chunk..<min(chunk + 1000, emptied.count)] { command.append(series) }
            _ = try await redis.execute(command)
        }
        let events = try await redis.execute(RedisCommand("XTRIM", keys.events, "MINID", cutoff)).int ?? 0
        return trimmed.reduce(events) { $0 + $1.removed }
    }

    // MARK: - EventLog

    /// Assigns the next event id and appends the event, atomically (both keys share a hash tag).
    static let eventScript = """
        local id = redis.call('INCR', KEYS[2])
        redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'id', id, 'event', ARGV[2])
        return id
        """

    public func append(_ event: Event) async throws -> Event {
        var stored = event
        stored.id = 0
        let json = try JSONEncoder().encode(stored)
        let command = RedisCommand("EVAL", Self.eventScript, 2, keys.events, keys.eventSequence, limits.maxEvents, ByteBuffer(bytes: json))
        let redis = self.redis
        let reply = try await withCancellationShield { try await redis.execute(command) }
        guard let id = reply.int else { throw RedisClientError(.unexpectedResponse, message: "event append returned \(reply)") }
        stored.id = Int64(id)
        return stored
    }

    /// Many events (a fleet expiring at once): up to 128 appends in flight on the connection instead
    /// of one round trip after the other. Events of one batch share their moment, so the order of
    /// their ids within it is not kept.
    public func append(contentsOf events: [Event]) async throws -> [Event] {
        var stored = events
        let chunk = 128
        for start in stride(from: 0, to: events.count, by: chunk) {
            let end = min(start + chunk, events.count)
            try await withThrowingTaskGroup(of: (Int, Event).self) { group in
                for index in start..<end {
                    let event = events[index]
                    group.addTask { (index, try await self.append(event)) }
                }
                for try await (index, event) in group { stored[index] = event }
            }
        }
        return stored
    }

    public func events(afterID: Int64?, since: Double?, limit: Int) async throws -> [Event] {
        guard limit > 0 else { return [] }
        // Stream ids carry the server's time of the append; a margin covers clocks that differ.
        let lowest = since.map { $0.isFinite && $0 > 300 ? "\(Self.milliseconds($0 - 300))" : "-" } ?? "-"
        var end = "+"
        var result: [Event] = []
        let decoder = JSONDecoder()
        while result.count < limit {
            let entries = try await redis.xrevrange(keys.events, from: end, to: lowest, count: min(max(limit, 100), Self.page))
            for entry in entries {
                guard let id = entry["id"].flatMap({ Int64(String(buffer: $0)) }) else { continue }
                if let afterID, id <= afterID { return result.reversed() }
                guard let body = entry["event"], var event = try? decoder.decode(Event.self, from: Data(body.readableBytesView)) else { continue }
                if let since, event.time < since { continue }
                event.id = id
                result.append(event)
                if result.count == limit { break }
            }
            guard entries.count == min(max(limit, 100), Self.page), let last = entries.last else { break }
            end = "(" + last.id
        }
        return result.reversed()
    }

    // MARK: - Helpers

    /// Whole milliseconds since the epoch, the time part of a stream id (never negative).
    static func milliseconds(_ time: Double) -> Int {
        guard time > 0 else { return 0 }
        return Int(min((time * 1000).rounded(.down), 9e15))
    }

    /// Runs `body` for every item, at most ``width`` at a time, and returns the results in any order.
    static func concurrently<Item: Sendable, Output: Sendable>(
        _ items: [Item],
        _ body: @escaping @Sendable (Item) async throws -> Output
    ) async throws -> [Output] {
        try await withThrowingTaskGroup(of: Output.self) { group in
            var results: [Output] = []
            results.reserveCapacity(items.count)
            var iterator = items.makeIterator()
            for _ in 0..<width {
                guard let item = iterator.next() else { break }
                group.addTask { try await body(item) }
            }
            while let output = try await group.next() {
                results.append(output)
                if let item = iterator.next() { group.addTask { try await body(item) } }
            }
            return results
        }
    }
}

/// The JSON of a latest state, as stored in the hashes and published on the channels: the
/// ``TargetState`` coding keys, with non-finite numbers left out (values) or `null` (attributes).
enum StateJSON {
    static func encode(_ state: TargetState) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        append(state, to: &bytes)
        return bytes
    }

    static func append(_ state: TargetState, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: #"{"target":{"kind":"#.utf8)
        JSONText.appendString(state.target.kind.rawValue, to: &bytes)
        bytes.append(contentsOf: #","name":"#.utf8)
        JSONText.appendString(state.target.name, to: &bytes)
        bytes.append(contentsOf: #"},"status":"#.utf8)
        JSONText.appendString(state.status.rawValue, to: &bytes)
        bytes.append(contentsOf: #","since":"#.utf8)
        JSONText.append(.number(state.since), to: &bytes)
        bytes.append(contentsOf: #","updatedAt":"#.utf8)
        JSONText.append(.number(state.updatedAt), to: &bytes)
        bytes.append(contentsOf: #","attributes":"#.utf8)
        JSONText.append(state.attributes, to: &bytes)
        bytes.append(contentsOf: #","values":"#.utf8)
        JSONText.append(state.values, to: &bytes)
        bytes.append(UInt8(ascii: "}"))
    }
}
