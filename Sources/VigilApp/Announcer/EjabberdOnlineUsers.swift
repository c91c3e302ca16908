//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
import Synchronization
import VigilAnnouncer
import VigilCore

/// Online status from the XMPP server itself: ejabberd's HTTP API (`mod_http_api`), command
/// `connected_users` (`POST {api_url}/connected_users` with `{}`; the answer is a JSON array of
/// full JIDs, one per connected resource).
///
/// A user is online when one of its resources is connected. Usernames without `@` get the
/// Announcer's domain; the comparison is on the bare JID, case-insensitively (as servers
/// normalise JIDs). One answer serves every lookup for `cache_duration`, so the pages of one
/// channel cost one request. Every online user (a negative channel) is listed in bare-JID order,
/// a page at a time; the cursor is the last JID of a page, so users connecting or leaving between
/// pages neither shift nor repeat the others.
final class EjabberdOnlineUsers: OnlineUsers {
    let http: OnlineUsersHTTP
    let url: String
    let domain: String
    let cacheDuration: Duration
    let clock: any VigilClock
    private let cache = Mutex<(time: Double, users: [String])?>(nil)

    init(settings: AnnouncerConfiguration.EjabberdAPISettings, http: OnlineUsersHTTP, domain: String, clock: any VigilClock) {
        self.http = http
        self.url = settings.apiURL.trimmingSuffix("/") + "/connected_users"
        self.domain = domain
        self.cacheDuration = settings.cacheDuration
        self.clock = clock
    }

    func online(_ usernames: [String]) async throws -> [String] {
        let connected = Set(try await connectedUsers())
        return usernames.filter { connected.contains(bareJID(of: $0)) }
    }

    func all(after cursor: String?, limit: Int) async throws -> RecipientPage {
        let users = try await connectedUsers()
        let start = cursor.map { last in users.firstIndex { $0 > last } ?? users.endIndex } ?? users.startIndex
        let end = min(users.endIndex, start + max(1, limit))
        let page = Array(users[start..<end])
        return RecipientPage(usernames: page, next: end < users.endIndex ? page.last : nil)
    }

    /// The bare JID a recipient stands for, lowercased.
    func bareJID(of username: String) -> String {
        let jid = username.contains("@") ? username : "\(username)@\(domain)"
        return String(jid.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)[0]).lowercased()
    }

    /// The bare JIDs of every connected user, sorted and unique; from the cache when fresh.
    func connectedUsers() async throws -> [String] {
        let now = clock.now.seconds
        if let cached = cache.withLock({ $0 }), now - cached.time < cacheDuration.secondsDouble, now >= cached.time {
            return cached.users
        }
        let body = try await http.post(url, body: Array("{}".utf8))
        let users = try Self.decode(body.readableBytesView, url: url)
        cache.withLock { $0 = (now, users) }
        return users
    }

    /// `["alice@example.com/phone", …]` → the sorted, unique, lowercased bare JIDs. Entries that
    /// are not a JID with a local part are refused with the whole answer.
    static func decode(_ bytes: some Collection<UInt8>, url: String) throws -> [String] {
        guard let entries = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [Any], let jids = entries as? [String] else {
            throw OnlineUsersLookupError(description: "POST \(url): the response is not a JSON array of JIDs", retryable: false)
        }
        var bare: Set<String> = []
        for jid in jids {
            let withoutResource = jid.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)[0]
            guard let at = withoutResource.firstIndex(of: "@"), at != withoutResource.startIndex,
                withoutResource.index(after: at) != withoutResource.endIndex
            else {
                throw OnlineUsersLookupError(description: "POST \(url): '\(jid.prefix(100))' is not a user's JID", retryable: false)
            }
            bare.insert(withoutResource.lowercased())
        }
        return bare.sorted()
    }
}
