//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
public import VigilCore
public import VigilRedis

/// Leases on once-only work in Redis, with fencing tokens, and the fenced writes into the state
/// hash (``RedisStateStore``).
///
/// A grant is the string `<holder>/<token>` under ``RedisStoreKeys/lease(_:)`` with a TTL; the
/// token comes from an `INCR` of ``RedisStoreKeys/leaseFence(_:)`` in the same script, so tokens
/// only grow. Renewal, release and every fenced write are scripts that first compare the lease
/// key with the caller's grant: the check and the effect are one atomic step on the server. The
/// lease keys carry the state hash's name as their hash tag, so on a cluster each script's keys
/// are in one slot.
public struct RedisWorkLeases: WorkLeaseStore {
    private let redis: any RedisCommandExecutor
    private let keys: RedisStoreKeys

    /// Creates the lease store over the shared Redis.
    public init(redis: any RedisCommandExecutor, keys: RedisStoreKeys) {
        self.redis = redis
        self.keys = keys
    }

    // KEYS: lease, fence. ARGV: holder, ttl (ms). Returns the new token, or -1 while a grant lasts.
    static let acquireScript = """
        if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
        local token = redis.call('INCR', KEYS[2])
        redis.call('SET', KEYS[1], ARGV[1] .. '/' .. token, 'PX', ARGV[2])
        return token
        """

    // KEYS: lease. ARGV: grant, ttl (ms). Returns 1 when extended.
    static let renewScript = """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        return redis.call('PEXPIRE', KEYS[1], ARGV[2])
        """

    // KEYS: lease. ARGV: grant. Returns 1 when deleted.
    static let releaseScript = """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        return redis.call('DEL', KEYS[1])
        """

    // KEYS: lease, state hash. ARGV: grant, field, value. Returns 1 when written, 0 when fenced off.
    static let setScript = """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
        return 1
        """

    // KEYS: lease, state hash. ARGV: grant, field. Returns 1 when the check passed.
    static let removeScript = """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        redis.call('HDEL', KEYS[2], ARGV[2])
        return 1
        """

    public func acquire(work: String, holder: String, ttl: Duration) async throws -> WorkLease? {
        let reply = try await redis.execute(
            RedisCommand("EVAL", Self.acquireScript, 2, keys.lease(work), keys.leaseFence(work), holder, Self.milliseconds(ttl))
        )
        guard let token = reply.int else {
            throw RedisClientError(.unexpectedResponse, message: "lease acquire returned \(reply)")
        }
        return token < 0 ? nil : WorkLease(work: work, holder: holder, token: Int64(token))
    }

    public func renew(_ lease: WorkLease, ttl: Duration) async throws -> Bool {
        let reply = try await redis.execute(
            RedisCommand("EVAL", Self.renewScript, 1, keys.lease(lease.work), lease.value, Self.milliseconds(ttl))
        )
        return reply.int == 1
    }

    public func release(_ lease: WorkLease) async throws {
        _ = try await redis.execute(RedisCommand("EVAL", Self.releaseScript, 1, keys.lease(lease.work), lease.value))
    }

    public func holder(of work: String) async throws -> WorkLease? {
        guard let value = try await redis.get(keys.lease(work)).map({ String(buffer: $0) }),
            let slash = value.lastIndex(of: "/"), let token = Int64(value[value.index(after: slash)...])
        else { return nil }
        return WorkLease(work: work, holder: String(value[..<slash]), token: token)
    }

    public func setValue(_ value: [UInt8], forKey key: String, fencedBy lease: WorkLease) async throws {
        let reply = try await redis.execute(
            RedisCommand("EVAL", Self.setScript, 2, keys.lease(lease.work), keys.state, lease.value, key, ByteBuffer(bytes: value))
        )
        guard reply.int == 1 else { throw WorkLeaseLostError(lease: lease) }
    }

    public func removeValue(forKey key: String, fencedBy lease: WorkLease) async throws {
        let reply = try await redis.execute(RedisCommand("EVAL", Self.removeScript, 2, keys.lease(lease.work), keys.state, lease.value, key))
        guard reply.int == 1 else { throw WorkLeaseLostError(lease: lease) }
    }

    /// A TTL in whole milliseconds, at least 1 (PX refuses 0).
    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        guard seconds < 1_000_000_000 else { return 1_000_000_000_000 }
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }
}
