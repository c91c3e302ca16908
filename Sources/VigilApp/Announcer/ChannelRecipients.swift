//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import VigilAnnouncer
import VigilMySQL
import VigilRedis

/// Who of a list of users is online (seed 001's user-activity source).
protocol OnlineUsers: Sendable {
    /// The online ones of `usernames`, in their order.
    func online(_ usernames: [String]) async throws -> [String]
    /// Every online user, a page at a time (a negative channel id); `next` is `nil` after the last.
    func all(after cursor: String?, limit: Int) async throws -> RecipientPage
}

/// Channel members from the Announcer's MySQL schema, keyset-paged, filtered to online users.
///
/// The schema of seed 001: `ws_channel_data(channel_id, channel_channelid, channel_state)` maps the
/// public channel id to the internal one of an `ACCEPTED` channel, and
/// `ws_channel_members(member_id, member_username, member_channelid)` lists its members. Pages
/// follow `member_id` (keyset, so a page costs the same at any depth), with bound parameters (the
/// original formatted the SQL: an injection hole). A page holds at most `limit` members before
/// the online filter, so a page may come back shorter, even empty, with a `next`.
struct ChannelRecipients: RecipientSource {
    private let mysql: MySQLClient
    private let online: any OnlineUsers

    /// Creates the source.
    init(mysql: MySQLClient, online: any OnlineUsers) {
        self.mysql = mysql
        self.online = online
    }

    func onlineMembers(ofChannel channel: Int64, after cursor: String?, limit: Int) async throws -> RecipientPage {
        if channel < 0 { return try await online.all(after: cursor, limit: limit) }
        let channels = try await mysql.query(
            "SELECT channel_channelid FROM ws_channel_data WHERE channel_id = ? AND channel_state = 'ACCEPTED'",
            [.int(channel)]
        )
        guard let channelKey = channels.first?[0], !channelKey.isNull else { return RecipientPage(usernames: [], next: nil) }
        let after = cursor.flatMap { Int64($0) } ?? 0
        let rows = try await mysql.query(
            "SELECT member_id, member_username FROM ws_channel_members WHERE member_channelid = ? AND member_id > ? ORDER BY member_id LIMIT ?",
            [channelKey, .int(after), .int(Int64(limit))]
        )
        let usernames = rows.compactMap { $0[1].string }
        let next = rows.count < limit ? nil : rows.last.flatMap { $0[0].int }.map(String.init)
        return RecipientPage(usernames: usernames.isEmpty ? [] : try await online.online(usernames), next: next)
    }
}

/// Online status from Redis (seed 001's data model): `<username>` holds the IP of the server the
/// user is connected to (absent when offline), and each server's IP is a set of its online users.
struct RedisOnlineUsers: OnlineUsers {
    private let redis: any RedisCommandExecutor
    private let batch: Int

    /// Creates the filter.
    ///
    /// - Parameters:
    ///   - redis: The user-activity Redis: a ``RedisClusterClient``, which splits each `MGET` per
    ///     slot and runs `SCAN` over every master, or any other executor.
    ///   - batch: Usernames per `MGET` (seed 001: `user_activity_ask_buffer`).
    init(redis: any RedisCommandExecutor, batch: Int = 1_000) {
        self.redis = redis
        self.batch = max(1, batch)
    }

    func online(_ usernames: [String]) async throws -> [String] {
        var result: [String] = []
        var start = 0
        while start < usernames.count {
            let chunk = Array(usernames[start..<min(usernames.count, start + batch)])
            let reply = try await redis.execute(["MGET"] + chunk)
            for (username, value) in zip(chunk, reply.array ?? []) {
                if let server = value.string, !server.isEmpty { result.append(username) }
            }
            start += chunk.count
        }
        return result
    }

    func all(after cursor: String?, limit: Int) async throws -> RecipientPage {
        // One SCAN step over the per-server sets; a server's members all go in the same page.
        let reply = try await redis.execute(["SCAN", cursor ?? "0", "TYPE", "set", "COUNT", String(max(10, limit / 10))])
        guard let parts = reply.array, parts.count == 2, let next = parts[0].string else {
            return RecipientPage(usernames: [], next: nil)
        }
        var usernames: [String] = []
        for key in parts[1].array?.compactMap(\.string) ?? [] where Self.looksLikeServer(key) {
            let members = try await redis.execute(["SMEMBERS", key])
            usernames += (members.array ?? []).compactMap(\.string).sorted()
        }
        return RecipientPage(usernames: usernames, next: next == "0" ? nil : next)
    }

    /// Server sets are named by the server's address (`10.0.0.7`, `[::1]`, `host:port`); other
    /// sets in the same database are not users.
    static func looksLikeServer(_ key: String) -> Bool {
        let parts = key.split(separator: ".")
        if parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) { return true }
        return key.contains(":") && key.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." || $0 == "[" || $0 == "]" }
    }
}
