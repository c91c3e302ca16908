//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import VigilCore

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
        /// A `list_sessions` success whose session list fails the range checks.
        case invalid(transaction: String?, reason: String)

        /// The transaction the reply answers.
        var transaction: String? {
            switch self {
            case .sessions(let transaction, _), .error(let transaction, _, _), .other(let transaction, _), .invalid(let transaction, _): transaction
            }
        }
    }

    /// The longest transaction that can be ours; longer ones are not looked up.
    static let maxTransactionLength = 64
    /// The most sessions one gateway may report; a longer list is invalid.
    static let maxSessions = 1_000_000
    /// Janus session ids are positive integers of at most 64 bits (53 in practice, for JavaScript).
    static let sessionIDRange: Range<Double> = 1..<0x1p64
    /// Janus error codes are small positive integers (403, 456, 457, ...).
    static let errorCodeRange: ClosedRange<Double> = 0...65_535
    /// The longest error reason kept (it reaches the API and events).
    static let maxReasonLength = 200

    private struct Request: Encodable {
        var janus = "list_sessions"
        var transaction: String
        var admin_secret: String?
    }

    private struct RawReply: Decodable {
        struct ErrorBody: Decodable {
            // Any JSON value: the range check happens after decoding, so that an odd code does
            // not hide the error itself.
            var code: JSONValue?
            var reason: String?
        }

        var janus: String
        var transaction: String?
        var sessions: [JSONValue]?
        var error: ErrorBody?
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
        case "success":
            guard let sessions = raw.sessions else { return .other(transaction: raw.transaction, janus: raw.janus) }
            guard sessions.count <= maxSessions else {
                return .invalid(transaction: raw.transaction, reason: "more than \(maxSessions) sessions")
            }
            for session in sessions {
                guard let id = session.number, sessionIDRange.contains(id), id == id.rounded(.towardZero) else {
                    return .invalid(transaction: raw.transaction, reason: "a session id is not an integer in 1...2^64-1")
                }
            }
            return .sessions(transaction: raw.transaction, count: sessions.count)
        case "error":
            // Only an integral number in range becomes the code; anything else is code 0.
            var code = 0
            if let number = raw.error?.code?.number, errorCodeRange.contains(number), number == number.rounded(.towardZero) {
                code = Int(number)
            }
            return .error(transaction: raw.transaction, code: code, reason: printable(raw.error?.reason ?? "unknown error", limit: maxReasonLength))
        default:
            return .other(transaction: raw.transaction, janus: raw.janus)
        }
    }

    /// Decodes a status message `{"online": bool}`, or returns `nil` when it is not one.
    static func status<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> Bool? {
        (try? JSONDecoder().decode(Status.self, from: Data(bytes)))?.online
    }
}

/// Text a peer chose, made safe to show: control characters dropped, at most `limit` characters
/// (an ellipsis marks a cut).
func printable(_ text: some StringProtocol, limit: Int = 64) -> String {
    var scalars = String.UnicodeScalarView()
    var count = 0
    for scalar in text.unicodeScalars where !(scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)) {
        guard count < limit else {
            scalars.append("…")
            break
        }
        scalars.append(scalar)
        count += 1
    }
    return String(scalars)
}
