//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation

/// The few Janus messages the gateway monitor speaks, as JSON.
///
/// ```
/// request  {"janus":"list_sessions","transaction":"<id>","admin_secret":"<key>"}
/// success  {"janus":"success","transaction":"<id>","sessions":[5521699535140651, ...]}
/// error    {"janus":"error","transaction":"<id>","error":{"code":403,"reason":"Unauthorized request ..."}}
/// status   {"online": true}      (note the space; parsed as JSON, never compared as text)
/// ```
enum JanusAdminMessage {
    /// A decoded admin reply.
    enum Reply: Sendable, Hashable {
        /// `list_sessions` succeeded with this many sessions.
        case sessions(transaction: String?, count: Int)
        /// Janus answered with an error (for example 403 for a wrong admin secret).
        case error(transaction: String?, code: Int, reason: String)
        /// Some other reply (a `pong`, or a success without a session list).
        case other(transaction: String?, janus: String)

        /// The transaction the reply answers.
        var transaction: String? {
            switch self {
            case .sessions(let transaction, _), .error(let transaction, _, _), .other(let transaction, _): transaction
            }
        }
    }

    private struct Request: Encodable {
        var janus = "list_sessions"
        var transaction: String
        var admin_secret: String?
    }

    private struct RawReply: Decodable {
        struct ErrorBody: Decodable {
            var code: Int?
            var reason: String?
        }

        var janus: String
        var transaction: String?
        var sessions: [JSONNumberOrAny]?
        var error: ErrorBody?
    }

    /// Accepts any JSON value in the `sessions` array; only the count matters.
    private struct JSONNumberOrAny: Decodable {
        init(from decoder: any Decoder) throws {}
    }

    private struct Status: Decodable {
        var online: Bool
    }

    /// The JSON of a `list_sessions` request.
    static func listSessions(transaction: String, adminKey: String?) -> [UInt8] {
        let request = Request(transaction: transaction, admin_secret: adminKey)
        // Encoding three strings cannot fail.
        return Array((try? JSONEncoder().encode(request)) ?? Data())
    }

    /// Decodes an admin reply, or returns `nil` when the bytes are not a Janus reply.
    static func reply<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Reply? {
        guard let raw = try? JSONDecoder().decode(RawReply.self, from: Data(bytes)) else { return nil }
        switch raw.janus {
        case "success" where raw.sessions != nil:
            return .sessions(transaction: raw.transaction, count: raw.sessions?.count ?? 0)
        case "error":
            return .error(transaction: raw.transaction, code: raw.error?.code ?? 0, reason: raw.error?.reason ?? "unknown error")
        default:
            return .other(transaction: raw.transaction, janus: raw.janus)
        }
    }

    /// Decodes a status message `{"online": bool}`, or returns `nil` when it is not one.
    static func status<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Bool? {
        (try? JSONDecoder().decode(Status.self, from: Data(bytes)))?.online
    }
}
