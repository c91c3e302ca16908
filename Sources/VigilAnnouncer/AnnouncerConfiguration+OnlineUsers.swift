//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

extension AnnouncerConfiguration {
    /// `[client] tls`: whether a client connection upgrades to TLS with STARTTLS.
    public enum ClientTLS: String, Sendable, Hashable, CaseIterable {
        /// `required`: STARTTLS or no connection (a server that does not offer it is an error).
        case required
        /// `if_offered`: STARTTLS when the server offers it, plain text otherwise.
        case ifOffered = "if_offered"
        /// `off`: plain text (the seed's behaviour).
        case off
    }

    /// `[user-activity-ejabberd]` (Vigil's own): who is online, asked of the XMPP server itself
    /// through ejabberd's HTTP API (`mod_http_api`), command `connected_users`.
    public struct EjabberdAPISettings: Sendable, Hashable {
        /// `api_url`: the API's base URL (`http://127.0.0.1:5281/api`); the command name is
        /// appended.
        public var apiURL: String
        /// `username`: a JID (`admin@example.com`) for HTTP Basic authentication; `nil` sends none.
        public var username: String?
        /// `password`: its password.
        public var password: String?
        /// `request_timeout` (milliseconds): the longest one request may take.
        public var requestTimeout: Duration = .seconds(2)
        /// `max_retry`: requests sent again after a transport error, a timeout or a 5xx answer.
        public var maxRetry = 2
        /// `cache_duration`: how long one answer serves further lookups (the pages of one channel
        /// share it); zero asks every time.
        public var cacheDuration: Duration = .seconds(1)
        /// `max_response_bytes`: a longer response is refused.
        public var maxResponseBytes = 16 << 20

        /// Creates settings for the API at `apiURL`.
        public init(apiURL: String) {
            self.apiURL = apiURL
        }
    }
}
