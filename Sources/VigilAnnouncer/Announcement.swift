//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Foundation

/// One announcement: a stanza template and who receives it.
///
/// Built from the seed-001 request bodies of `POST /v1/announce/channel` and
/// `POST /v1/announce/users` (and the same JSON from the queue input):
///
/// ```json
/// {"channel_id": 22, "message": "BASE64_ENCODED_STANZA"}
/// {"usernames": ["alice", "bob"], "message": "BASE64_ENCODED_STANZA", "persist": true}
/// ```
public struct Announcement: Sendable, Hashable {
    /// Who receives an announcement.
    public enum Audience: Sendable, Hashable {
        /// The online members of a channel; a negative id means every online user.
        case channel(Int64)
        /// These users, online or not.
        case users([String])
    }

    /// The recipients.
    public var audience: Audience
    /// The stanza, rendered once per recipient.
    public var template: StanzaTemplate
    /// Whether the announcement is also stored (seed 001: sent to the Kafka producer topic).
    public var persist: Bool

    /// Creates an announcement.
    public init(audience: Audience, template: StanzaTemplate, persist: Bool = true) {
        self.audience = audience
        self.template = template
        self.persist = persist
    }

    /// Decodes a `/v1/announce/channel` body. `channel_id` may be a number or a numeric string
    /// (the original service declared it a string; the seed shows a number).
    public static func channel(json: Data) throws(AnnouncementError) -> Announcement {
        let body: ChannelBody = try decode(json)
        let template = try StanzaTemplate(base64: body.message)
        try template.validateStanza()
        return Announcement(audience: .channel(body.channelID), template: template, persist: body.persist ?? true)
    }

    /// Decodes a `/v1/announce/users` body. An empty list, or a name that is not a valid XMPP
    /// username or JID (see ``RecipientAddress``), is an error naming the entry.
    public static func users(json: Data) throws(AnnouncementError) -> Announcement {
        let body: UsersBody = try decode(json)
        guard !body.usernames.isEmpty else { throw AnnouncementError("usernames must not be empty") }
        for (index, name) in body.usernames.enumerated() {
            if name.trimmingCharacters(in: .whitespaces).isEmpty { throw AnnouncementError("usernames[\(index)] is empty") }
            if let problem = RecipientAddress.problem(in: name) {
                throw AnnouncementError("usernames[\(index)] is not a valid XMPP username or JID: \(problem)")
            }
        }
        let template = try StanzaTemplate(base64: body.message)
        try template.validateStanza()
        return Announcement(audience: .users(body.usernames), template: template, persist: body.persist ?? true)
    }

    /// Decodes an announcement from the queue (`[kafka-consumer]`): a `/v1/announce/channel` body
    /// when it has `channel_id`, otherwise a `/v1/announce/users` body.
    public static func queued(json: Data) throws(AnnouncementError) -> Announcement {
        struct Probe: Decodable {
            var channelID: AnyField?
            enum CodingKeys: String, CodingKey { case channelID = "channel_id" }
        }
        struct AnyField: Decodable {
            init(from decoder: any Decoder) throws {}
        }
        let probe: Probe = try decode(json)
        return probe.channelID != nil ? try channel(json: json) : try users(json: json)
    }

    private static func decode<Body: Decodable>(_ json: Data) throws(AnnouncementError) -> Body {
        do {
            return try JSONDecoder().decode(Body.self, from: json)
        } catch let error as DecodingError {
            throw AnnouncementError(Self.describe(error))
        } catch {
            throw AnnouncementError("the body is not valid JSON")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): return "'\(key.stringValue)' is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "the body must be a JSON object" : "'\(path)' has the wrong type"
        case .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "the body is not valid JSON" : "'\(path)': \(context.debugDescription)"
        @unknown default: return "the body could not be read"
        }
    }

    private struct ChannelBody: Decodable {
        var channelID: Int64
        var message: String
        var persist: Bool?

        enum CodingKeys: String, CodingKey {
            case channelID = "channel_id"
            case message, persist
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            guard container.contains(.channelID) else {
                throw DecodingError.keyNotFound(CodingKeys.channelID, .init(codingPath: [], debugDescription: ""))
            }
            // Exactly an Int64, or a string holding one: a fraction, an exponent beyond the range,
            // a boolean or null are refused by name (the decoder never rounds or traps).
            if let number = try? container.decode(Int64.self, forKey: .channelID) {
                channelID = number
            } else if let text = try? container.decode(String.self, forKey: .channelID),
                let number = Int64(text.trimmingCharacters(in: .whitespaces))
            {
                channelID = number
            } else {
                throw DecodingError.dataCorruptedError(
                    forKey: .channelID,
                    in: container,
                    debugDescription: "must be a whole number from \(Int64.min) to \(Int64.max) (a JSON number or a numeric string)"
                )
            }
            message = try container.decode(String.self, forKey: .message)
            persist = try container.decodeIfPresent(Bool.self, forKey: .persist)
        }
    }

    private struct UsersBody: Decodable {
        var usernames: [String]
        var message: String
        var persist: Bool?
    }
}

/// Why a request could not become an announcement (HTTP 400).
public struct AnnouncementError: Error, Hashable, CustomStringConvertible {
    /// What is wrong, for the client.
    public var description: String

    /// Creates an error.
    public init(_ description: String) {
        self.description = description
    }
}
