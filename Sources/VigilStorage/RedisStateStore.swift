//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
public import VigilCore
public import VigilRedis

/// The key-value rows (device states, failover state, outbox) in one Redis hash: the first part of
/// `[store] backend = "redis"` (issue 15).
///
/// Every row is a field of the hash ``hashKey`` (default `vigil:state`), so all rows share one
/// slot of a cluster and a prefix read is one `HSCAN` walk. "Durably" means what the server's
/// persistence gives (`appendonly yes` with `appendfsync always` for the SQLite guarantee).
public struct RedisStateStore: StateStore {
    /// The most rows a prefix read returns; a larger match is an error rather than an unbounded
    /// reply held in memory.
    public static let maximumRows = 100_000

    private let redis: any RedisCommandExecutor
    /// The hash holding the rows.
    public let hashKey: String

    /// Creates the store.
    ///
    /// - Parameters:
    ///   - redis: A ``RedisClient`` or ``RedisClusterClient``.
    ///   - hashKey: The hash holding the rows.
    public init(redis: any RedisCommandExecutor, hashKey: String = "vigil:state") {
        self.redis = redis
        self.hashKey = hashKey
    }

    /// Returns the value stored under a key.
    public func value(forKey key: String) async throws -> [UInt8]? {
        try await redis.hmget(hashKey, fields: [key]).first.flatMap { $0 }.map { Array($0.readableBytesView) }
    }

    /// Stores a value.
    public func setValue(_ value: [UInt8], forKey key: String) async throws {
        try await redis.hset(hashKey, fields: [key: ByteBuffer(bytes: value)])
    }

    /// Removes a key.
    public func removeValue(forKey key: String) async throws {
        try await redis.hdel(hashKey, fields: [key])
    }

    /// Returns every key with a prefix and its value, ordered by key.
    public func values(prefix: String) async throws -> [(key: String, value: [UInt8])] {
        var rows: [String: [UInt8]] = [:]
        var cursor = "0"
        repeat {
            let reply = try await redis.execute(["HSCAN", hashKey, cursor, "MATCH", Self.globEscaped(prefix) + "*", "COUNT", "500"])
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let entries = parts[1].array, entries.count % 2 == 0 else {
                throw RedisClientError(.unexpectedResponse, message: "HSCAN returned \(reply)")
            }
            for index in stride(from: 0, to: entries.count, by: 2) {
                guard let field = entries[index].string, let value = entries[index + 1].bytes else { continue }
                rows[field] = Array(value.readableBytesView)
            }
            guard rows.count <= Self.maximumRows else {
                throw RedisClientError(.unexpectedResponse, message: "more than \(Self.maximumRows) rows start with '\(prefix.prefix(64))'")
            }
            cursor = next
        } while cursor != "0"
        return rows.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }
    }

    /// `prefix` with the glob characters of `MATCH` escaped, so that it matches literally.
    static func globEscaped(_ text: String) -> String {
        var result = ""
        for character in text {
            if "*?[]\\".contains(character) { result.append("\\") }
            result.append(character)
        }
        return result
    }
}
