//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
public import Logging
import NIOCore
public import ServiceLifecycle
public import VigilCore
public import VigilRedis

/// Membership of the instances that share one Redis: each keeps a heartbeat key
/// `<prefix>members:<instance id>` (JSON, with a TTL of three heartbeats) and deletes it when it
/// stops gracefully; a killed instance drops out when its key expires.
public struct RedisMembership: Service {
    /// One live instance.
    public struct Member: Sendable, Hashable, Codable {
        /// The instance id (as in the fan-out's messages).
        public var id: String
        /// The host name.
        public var host: String
        /// The process id.
        public var pid: Int32
        /// The Vigil version.
        public var version: String
        /// When the instance started (seconds since the epoch).
        public var started: Double
        /// When it last wrote its heartbeat (seconds since the epoch).
        public var heartbeat: Double

        /// Creates an entry.
        public init(id: String, host: String, pid: Int32, version: String, started: Double, heartbeat: Double) {
            self.id = id
            self.host = host
            self.pid = pid
            self.version = version
            self.started = started
            self.heartbeat = heartbeat
        }
    }

    /// How often an instance writes its heartbeat and reads the members: a dead instance's key
    /// expires after three intervals (6 s), and the others take over its work at their next read,
    /// within 8 s.
    public static let defaultInterval = Duration.seconds(2)

    /// The most members listed; more keys than this under the prefix are an error.
    public static let maxMembers = 10_000

    private let redis: any RedisCommandExecutor
    private let keys: RedisStoreKeys
    /// This instance's entry (its heartbeat time is refreshed on every write).
    public let member: Member
    /// How often the heartbeat is written; the key lives three times as long.
    public let interval: Duration
    private let logger: Logger
    private let clock: any VigilClock
    /// Given the live members after every heartbeat.
    public let ownership: WorkOwnership

    /// Creates the membership of one instance.
    public init(
        redis: any RedisCommandExecutor,
        keys: RedisStoreKeys,
        instanceID: String,
        version: String,
        interval: Duration = RedisMembership.defaultInterval,
        logger: Logger,
        clock: any VigilClock = SystemClock(),
        ownership: WorkOwnership? = nil
    ) {
        self.ownership = ownership ?? WorkOwnership(instanceID: instanceID)
        self.redis = redis
        self.keys = keys
        self.interval = interval
        self.logger = logger
        self.clock = clock
        let now = clock.wallClockSeconds
        self.member = Member(
            id: instanceID,
            host: ProcessInfo.processInfo.hostName,
            pid: ProcessInfo.processInfo.processIdentifier,
            version: version,
            started: now,
            heartbeat: now
        )
    }

    /// Writes the heartbeat once.
    public func beat() async throws {
        var current = member
        current.heartbeat = clock.wallClockSeconds
        let body = try JSONEncoder().encode(current)
        let ttl = max(1, Int((interval * 3).components.seconds))
        try await redis.set(keys.member(member.id), to: ByteBuffer(bytes: body), expiration: .seconds(ttl))
    }

    /// The live members, ordered by id.
    public func members() async throws -> [Member] {
        var names: [String] = []
        var cursor = "0"
        repeat {
            // On a cluster, SCAN walks every master in turn.
            let (next, found) = try await redis.scan(cursor: cursor, matching: keys.member("*"), count: 500)
            names += found
            guard names.count <= Self.maxMembers else {
                throw RedisClientError(.unexpectedResponse, message: "more than \(Self.maxMembers) member keys")
            }
            cursor = next
        } while cursor != "0"
        var result: [Member] = []
        let decoder = JSONDecoder()
        for name in names {
            // A key that expired between SCAN and GET is simply gone.
            guard let body = try await redis.get(name), let member = try? decoder.decode(Member.self, from: Data(body.readableBytesView)) else {
                continue
            }
            result.append(member)
        }
        return result.sorted { $0.id < $1.id }
    }

    /// Reads the live members into ``ownership``; on an error the last list stays.
    ///
    /// Settles ``ownership`` once a read comes 1.25 intervals after the first heartbeat: by then
    /// every other member has read the list with this instance in it, so the owner of once-only
    /// work is the same on all of them before this one may run any (about 4 s after start).
    func refreshOwnership(since firstBeat: MonotonicInstant) async {
        defer {
            if !ownership.isSettled, firstBeat.duration(to: clock.now) >= interval * 1.25 { ownership.settle() }
        }
        do {
            let ids = try await members().map(\.id)
            let before = ownership.currentMembers
            if ownership.update(members: ids) {
                logger.info(
                    "Cluster members changed",
                    metadata: ["members": "\(ownership.currentMembers.joined(separator: ","))", "before": "\(before.joined(separator: ","))"]
                )
            }
        } catch {
            logger.warning("Could not read the cluster members; keeping the last list", metadata: ["error": "\(error)"])
        }
    }

    /// Beats every ``interval`` (and reads the members) until shutdown, then deletes the key.
    public func run() async throws {
        let firstBeat = clock.now
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.beat()
                } catch {
                    self.logger.warning("Could not write the membership heartbeat; will retry", metadata: ["error": "\(error)"])
                }
                await self.refreshOwnership(since: firstBeat)
                try await self.clock.sleep(for: self.interval)
            }
        }
        let redis = self.redis
        let key = keys.member(member.id)
        _ = try? await withCancellationShield { try await redis.del([key]) }
    }
}
