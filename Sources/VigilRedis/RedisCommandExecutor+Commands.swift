//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import NIOCore

// The typed commands Vigil needs, written by hand on top of `execute`.
extension RedisCommandExecutor {
    // MARK: - Server

    /// `PING`: checks that the server answers.
    ///
    /// - Throws: ``RedisClientError``.
    public func ping() async throws {
        _ = try await self.execute(RedisCommand("PING"))
    }

    // MARK: - Strings and keys

    /// `GET key`.
    ///
    /// - Parameter key: The key.
    /// - Returns: The value, or `nil` when the key does not exist.
    /// - Throws: ``RedisClientError``.
    public func get(_ key: String) async throws -> ByteBuffer? {
        let reply = try await self.execute(RedisCommand("GET", key))
        if reply.isNull { return nil }
        return try Self.bytes(reply, "GET")
    }

    /// `SET key value [EX seconds | PX milliseconds]`.
    ///
    /// - Parameters:
    ///   - key: The key.
    ///   - value: The value (`String`, `ByteBuffer`, `Int`, …).
    ///   - expiration: How long the key lives; `nil` for no expiry.
    /// - Throws: ``RedisClientError``.
    public func set(_ key: String, to value: some RedisArgument, expiration: RedisExpiration? = nil) async throws {
        var command = RedisCommand("SET", key, value)
        switch expiration {
        case .seconds(let seconds): command.append("EX", seconds)
        case .milliseconds(let milliseconds): command.append("PX", milliseconds)
        case nil: break
        }
        _ = try await self.execute(command)
    }

    /// `DEL key…`.
    ///
    /// - Parameter keys: The keys.
    /// - Returns: The number of keys that existed.
    /// - Throws: ``RedisClientError``.
    @discardableResult
    public func del(_ keys: [String]) async throws -> Int {
        var command = RedisCommand("DEL")
        for key in keys { command.append(key) }
        return try Self.int(try await self.execute(command), "DEL")
    }

    /// `EXPIRE key seconds`.
    ///
    /// - Parameters:
    ///   - key: The key.
    ///   - seconds: The time to live.
    /// - Returns: Whether the key exists (and so got the timeout).
    /// - Throws: ``RedisClientError``.
    @discardableResult
    public func expire(_ key: String, seconds: Int) async throws -> Bool {
        try Self.int(try await self.execute(RedisCommand("EXPIRE", key, seconds)), "EXPIRE") == 1
    }

    /// `SCAN cursor [MATCH pattern] [COUNT count]`: one step of a key scan.
    ///
    /// Prefer ``scanKeys(matching:count:)``, which iterates all steps.
    ///
    /// - Parameters:
    ///   - cursor: `"0"` to start, then the cursor of the previous step.
    ///   - pattern: A glob pattern for the keys.
    ///   - count: A hint for how many keys to look at per step.
    /// - Returns: The next cursor (`"0"` when done) and the keys of this step.
    /// - Throws: ``RedisClientError``.
    public func scan(cursor: String, matching pattern: String? = nil, count: Int? = nil) async throws -> (cursor: String, keys: [String]) {
        var command = RedisCommand("SCAN", cursor)
        if let pattern { command.append("MATCH", pattern) }
        if let count { command.append("COUNT", count) }
        let reply = try await self.execute(command)
        guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let keys = parts[1].array else {
            throw RedisClientError(.unexpectedResponse, message: "SCAN returned \(reply)")
        }
        return (next, keys.compactMap(\.string))
    }

    /// Iterates all keys matching a pattern with `SCAN`, one step per batch.
    ///
    /// Keys added or removed during the scan may or may not be returned, and a key may be returned
    /// more than once (the guarantees of `SCAN`).
    ///
    /// - Parameters:
    ///   - pattern: A glob pattern; `nil` for all keys.
    ///   - count: A hint for the batch size.
    /// - Returns: An asynchronous sequence of keys.
    public func scanKeys(matching pattern: String? = nil, count: Int? = nil) -> RedisScanSequence<Self> {
        RedisScanSequence(executor: self, pattern: pattern, count: count)
    }

    // MARK: - Hashes

    /// `HSET key field value [field value …]`.
    ///
    /// - Parameters:
    ///   - key: The hash's key.
    ///   - fields: The fields to set.
    /// - Returns: The number of fields that were added (not updated).
    /// - Throws: ``RedisClientError``.
    @discardableResult
    public func hset(_ key: String, fields: [String: some RedisArgument]) async throws -> Int {
        var command = RedisCommand("HSET", key)
        for (field, value) in fields.sorted(by: { $0.key < $1.key }) { command.append(field, value) }
        return try Self.int(try await self.execute(command), "HSET")
    }

    /// `HGETALL key`.
    ///
    /// - Parameter key: The hash's key.
    /// - Returns: All fields and values; empty when the key does not exist.
    /// - Throws: ``RedisClientError``.
    public func hgetall(_ key: String) async throws -> [String: ByteBuffer] {
        let reply = try await self.execute(RedisCommand("HGETALL", key))
        guard let entries = reply.mapEntries else {
            throw RedisClientError(.unexpectedResponse, message: "HGETALL returned \(reply)")
        }
        var result: [String: ByteBuffer] = [:]
        result.reserveCapacity(entries.count)
        for entry in entries {
            guard let field = entry.key.string, let value = entry.value.bytes else {
                throw RedisClientError(.unexpectedResponse, message: "HGETALL entry \(entry.key)")
            }
            result[field] = value
        }
        return result
    }

    /// `HMGET key field…`.
    ///
    /// - Parameters:
    ///   - key: The hash's key.
    ///   - fields: The fields.
    /// - Returns: One value per field, `nil` where the field does not exist.
    /// - Throws: ``RedisClientError``.
    public func hmget(_ key: String, fields: [String]) async throws -> [ByteBuffer?] {
        var command = RedisCommand("HMGET", key)
        for field in fields { command.append(field) }
        let reply = try await self.execute(command)
        guard let values = reply.array, values.count == fields.count else {
            throw RedisClientError(.unexpectedResponse, message: "HMGET returned \(reply)")
        }
        return values.map { $0.isNull ? nil : $0.bytes }
    }

    /// `HDEL key field…`.
    ///
    /// - Parameters:
    ///   - key: The hash's key.
    ///   - fields: The fields to remove.
    /// - Returns: The number of fields removed.
    /// - Throws: ``RedisClientError``.
    @discardableResult
    public func hdel(_ key: String, fields: [String]) async throws -> Int {
        var command = RedisCommand("HDEL", key)
        for field in fields { command.append(field) }
        return try Self.int(try await self.execute(command), "HDEL")
    }

    // MARK: - Streams

    /// `XADD key [MAXLEN|MINID [~] threshold] id field value [field value …]`.
    ///
    /// - Parameters:
    ///   - key: The stream's key.
    ///   - id: The entry ID; `*` lets the server choose.
    ///   - fields: The field names and values, in order.
    ///   - trim: How to trim the stream while adding; `nil` for no trimming.
    /// - Returns: The ID of the new entry.
    /// - Throws: ``RedisClientError``.
    @discardableResult
    public func xadd(_ key: String, id: String = "*", fields: [(String, any RedisArgument)], trim: RedisStreamTrim? = nil) async throws -> String {
        var command = RedisCommand("XADD", key)
        switch trim {
        case .maxLength(let count, let approximate): command.append("MAXLEN", approximate ? "~" : "=", count)
        case .minID(let minimum, let approximate): command.append("MINID", approximate ? "~" : "=", minimum)
        case nil: break
        }
        command.append(id)
        for (name, value) in fields {
            command.append(name)
            value.appendRedisArgument(to: &command)
        }
        let reply = try await self.execute(command)
        guard let newID = reply.string else {
            throw RedisClientError(.unexpectedResponse, message: "XADD returned \(reply)")
        }
        return newID
    }

    /// `XLEN key`.
    ///
    /// - Parameter key: The stream's key.
    /// - Returns: The number of entries.
    /// - Throws: ``RedisClientError``.
    public func xlen(_ key: String) async throws -> Int {
        try Self.int(try await self.execute(RedisCommand("XLEN", key)), "XLEN")
    }

    /// `XRANGE key start end [COUNT count]`: entries in ascending ID order.
    ///
    /// - Parameters:
    ///   - key: The stream's key.
    ///   - start: The lowest ID (`-` for the first; `(id` for exclusive).
    ///   - end: The highest ID (`+` for the last).
    ///   - count: The most entries to return.
    /// - Returns: The entries.
    /// - Throws: ``RedisClientError``.
    public func xrange(_ key: String, from start: String = "-", to end: String = "+", count: Int? = nil) async throws -> [RedisStreamEntry] {
        var command = RedisCommand("XRANGE", key, start, end)
        if let count { command.append("COUNT", count) }
        return try Self.entries(try await self.execute(command), "XRANGE")
    }

    /// `XREVRANGE key end start [COUNT count]`: entries in descending ID order.
    ///
    /// - Parameters:
    ///   - key: The stream's key.
    ///   - end: The highest ID (`+` for the last).
    ///   - start: The lowest ID (`-` for the first).
    ///   - count: The most entries to return.
    /// - Returns: The entries, newest first.
    /// - Throws: ``RedisClientError``.
    public func xrevrange(_ key: String, from end: String = "+", to start: String = "-", count: Int? = nil) async throws -> [RedisStreamEntry] {
        var command = RedisCommand("XREVRANGE", key, end, start)
        if let count { command.append("COUNT", count) }
        return try Self.entries(try await self.execute(command), "XREVRANGE")
    }

    /// `XREAD [COUNT count] [BLOCK milliseconds] STREAMS key… id…`.
    ///
    /// With `block`, the command holds its connection until data arrives or the time passes:
    /// ``RedisClient`` runs it on a connection of its own, so other commands are not delayed.
    ///
    /// - Parameters:
    ///   - streams: Each stream's key and the ID after which to read (`$` for only new entries).
    ///   - count: The most entries per stream.
    ///   - block: How long to wait for new entries; `nil` not to block, `.zero` to wait forever.
    /// - Returns: The new entries per stream; empty when the block time passed without any.
    /// - Throws: ``RedisClientError``.
    public func xread(streams: [(key: String, id: String)], count: Int? = nil, block: Duration? = nil) async throws -> [RedisStreamRead] {
        var command = RedisCommand("XREAD")
        if let count { command.append("COUNT", count) }
        if let block {
            let (seconds, attoseconds) = block.components
            command.append("BLOCK", Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
        }
        command.append("STREAMS")
        for stream in streams { command.append(stream.key) }
        for stream in streams { command.append(stream.id) }
        let reply: RESPValue
        if let block {
            reply = try await self.executeBlocking(command, block: block == .zero ? nil : block)
        } else {
            reply = try await self.execute(command)
        }
        if reply.isNull { return [] }
        guard let entries = reply.mapEntries else {
            throw RedisClientError(.unexpectedResponse, message: "XREAD returned \(reply)")
        }
        return try entries.map { entry in
            guard let key = entry.key.string else {
                throw RedisClientError(.unexpectedResponse, message: "XREAD stream key \(entry.key)")
            }
            return RedisStreamRead(key: key, entries: try Self.entries(entry.value, "XREAD"))
        }
    }

    // MARK: - Pub/Sub

    /// `PUBLISH channel message`.
    ///
    /// - Parameters:
    ///   - message: The message.
    ///   - channel: The channel.
    /// - Returns: The number of clients that received it.
    /// - Throws: ``RedisClientError``.
    @discardableResult
    public func publish(_ message: some RedisArgument, to channel: String) async throws -> Int {
        try Self.int(try await self.execute(RedisCommand("PUBLISH", channel, message)), "PUBLISH")
    }

    // MARK: - Reply conversion

    static func int(_ reply: RESPValue, _ name: String) throws -> Int {
        guard let value = reply.int else {
            throw RedisClientError(.unexpectedResponse, message: "\(name) returned \(reply)")
        }
        return value
    }

    static func bytes(_ reply: RESPValue, _ name: String) throws -> ByteBuffer {
        guard let value = reply.bytes else {
            throw RedisClientError(.unexpectedResponse, message: "\(name) returned \(reply)")
        }
        return value
    }

    static func entries(_ reply: RESPValue, _ name: String) throws -> [RedisStreamEntry] {
        guard let list = reply.array else {
            throw RedisClientError(.unexpectedResponse, message: "\(name) returned \(reply)")
        }
        return try list.map(RedisStreamEntry.init)
    }
}

/// The keys of a `SCAN`, fetched one step at a time; see ``RedisCommandExecutor/scanKeys(matching:count:)``.
public struct RedisScanSequence<Executor: RedisCommandExecutor>: AsyncSequence, Sendable {
    /// The element type: a key.
    public typealias Element = String

    let executor: Executor
    let pattern: String?
    let count: Int?

    /// Creates the iterator.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(sequence: self)
    }

    /// Iterates the keys, running the next `SCAN` step when the current batch is used up.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let sequence: RedisScanSequence
        var cursor: String? = "0"
        var batch: [String] = []
        var index = 0

        /// Returns the next key.
        ///
        /// - Returns: A key, or `nil` when the scan is complete.
        /// - Throws: ``RedisClientError``.
        public mutating func next() async throws -> String? {
            while index >= batch.count {
                guard let current = cursor else { return nil }
                let (next, keys) = try await sequence.executor.scan(cursor: current, matching: sequence.pattern, count: sequence.count)
                cursor = next == "0" ? nil : next
                batch = keys
                index = 0
            }
            defer { index += 1 }
            return batch[index]
        }
    }
}
