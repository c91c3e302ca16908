//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
import VigilAnnouncer

/// Online status from an HTTP service (seed 001's `[user-activity-rest-api]`), by the contract of
/// docs/API.md ("Online users over HTTP"):
///
/// ```
/// POST {address}{path}                 Content-Type: application/json
/// {"usernames": ["alice", "bob"]}      (request_field; "" sends the bare array)
///
/// 200 OK
/// {"online": ["alice"]}                (response_field; "" expects the bare array)
/// ```
///
/// At most `user_activity_ask_buffer` usernames go in one request. The answer counts only for the
/// names that were asked: names the service adds are ignored, and the result keeps the order of
/// the question. A negative channel (every online user) cannot be answered by this contract.
struct RESTOnlineUsers: OnlineUsers {
    let http: OnlineUsersHTTP
    let url: String
    let requestField: String
    let responseField: String
    let batch: Int

    init(settings: AnnouncerConfiguration.RESTSettings, http: OnlineUsersHTTP, batch: Int) {
        self.http = http
        self.url = VigilConfiguration.restBaseURL(settings.address).trimmingSuffix("/") + settings.path
        self.requestField = settings.requestField
        self.responseField = settings.responseField
        self.batch = max(1, batch)
    }

    func online(_ usernames: [String]) async throws -> [String] {
        var result: [String] = []
        var start = 0
        while start < usernames.count {
            let chunk = Array(usernames[start..<min(usernames.count, start + batch)])
            let body = try await http.post(url, body: try requestBody(chunk))
            let online = try Self.decode(body.readableBytesView, field: responseField, url: url)
            result += chunk.filter { online.contains($0) }
            start += chunk.count
        }
        return result
    }

    func all(after cursor: String?, limit: Int) async throws -> RecipientPage {
        throw OnlineUsersLookupError(
            description: "[user-activity-rest-api] cannot list every online user (a negative channel_id); "
                + "use [user-activity-redis] or [user-activity-ejabberd] for that",
            retryable: false
        )
    }

    func requestBody(_ usernames: [String]) throws -> [UInt8] {
        let value: Any = requestField.isEmpty ? usernames : [requestField: usernames]
        return Array(try JSONSerialization.data(withJSONObject: value))
    }

    /// The set of names in the response: a JSON array of strings, bare or under `field`.
    static func decode(_ bytes: some Collection<UInt8>, field: String, url: String) throws -> Set<String> {
        let json = try? JSONSerialization.jsonObject(with: Data(bytes))
        let list = field.isEmpty ? json : (json as? [String: Any])?[field]
        guard let names = list as? [Any], let strings = names as? [String] else {
            let shape = field.isEmpty ? "a JSON array of usernames" : "a JSON object whose \"\(field)\" is an array of usernames"
            throw OnlineUsersLookupError(description: "POST \(url): the response is not \(shape)", retryable: false)
        }
        return Set(strings)
    }
}

extension String {
    /// The string without one trailing `suffix`.
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
