//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Sends rendered stanzas over the Announcer's XMPP connections (`cluster_nodes ×
/// each_node_conn_num` of them), numbered from 0.
///
/// The XMPP implementation lives with the application; tests use their own.
public protocol StanzaSender: Sendable {
    /// How many connections there are.
    var connectionCount: Int { get }
    /// Whether connection `index` is up and logged in.
    func isConnected(_ index: Int) -> Bool
    /// Sends one stanza on connection `index` and returns the stream it was written into; throws
    /// when it could not be written.
    func send(_ stanza: String, on index: Int) async throws -> StanzaStream
    /// Returns once the server has taken every stanza written into `stream` so far (XEP-0198
    /// acknowledgement, or a XEP-0199 ping round trip); throws when that cannot be known: the
    /// stream broke, was replaced by a reconnection, or did not answer in time.
    func confirm(_ stream: StanzaStream) async throws
}

/// One stream of one connection: stanzas are confirmed per stream, since a reconnection starts a
/// new one and leaves the fate of what was written into the old one unknown.
public struct StanzaStream: Sendable, Hashable {
    /// The connection's number.
    public var connection: Int
    /// Tells this stream from the connection's other streams (before and after reconnections).
    public var serial: UInt64

    /// Creates a stream identity.
    public init(connection: Int, serial: UInt64) {
        self.connection = connection
        self.serial = serial
    }
}

/// Finds the online members of a channel, page by page (seed 001: MySQL membership, filtered by
/// the user-activity source).
public protocol RecipientSource: Sendable {
    /// The next page of online members of `channel` after `cursor` (`nil` for the first page). A
    /// negative channel means every online user. The page's `next` is `nil` after the last page.
    func onlineMembers(ofChannel channel: Int64, after cursor: String?, limit: Int) async throws -> RecipientPage
}

/// One page of recipients.
public struct RecipientPage: Sendable, Hashable {
    /// Usernames (or JIDs) on this page.
    public var usernames: [String]
    /// Where the next page starts; `nil` when this was the last.
    public var next: String?

    /// Creates a page.
    public init(usernames: [String], next: String?) {
        self.usernames = usernames
        self.next = next
    }
}

/// Where `persist: true` announcements are kept (seed 001: the `[kafka-producer]` topics, from
/// which they reach the downstream databases).
///
/// The Announcer keeps an archive row next to each persisted announcement in its outbox and
/// removes it only after ``archive(_:)`` returned, so every announcement is archived at least
/// once, across failures and restarts.
public protocol AnnouncementArchive: Sendable {
    /// Stores these announcements durably (for Kafka: acknowledged by the brokers); throws when
    /// that cannot be known for every one of them (all are handed over again later).
    func archive(_ announcements: [ArchivedAnnouncement]) async throws
}

/// One announcement for the archive.
public struct ArchivedAnnouncement: Sendable, Hashable {
    /// The announcement's id (`a<millis>-<serial>`).
    public var id: String
    /// Its JSON: the REST body (`usernames` or `channel_id`, `message` in base64, `persist`) and `id`.
    public var body: [UInt8]

    /// Creates an entry.
    public init(id: String, body: [UInt8]) {
        self.id = id
        self.body = body
    }
}
