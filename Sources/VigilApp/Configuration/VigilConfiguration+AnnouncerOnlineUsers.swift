//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import VigilAnnouncer
import VigilCore

extension VigilConfiguration {
    /// Reads the online-user sources that need no Redis: `[user-activity-rest-api]` (seed 001, with
    /// Vigil's keys for the contract's shape) or `[user-activity-ejabberd]` (Vigil's own: ejabberd's
    /// HTTP API). With both, the REST API is used and a warning says so.
    mutating func parseOnlineUsersWithoutRedis(
        root: [String: ConfigValue],
        file: String,
        section: (String) throws -> ConfigSection
    ) throws -> AnnouncerConfiguration.UserActivitySource? {
        if root["user-activity-rest-api"] != nil {
            if root["user-activity-ejabberd"] != nil {
                warnings.append("\(file): both [user-activity-rest-api] and [user-activity-ejabberd] are given; using [user-activity-rest-api]")
            }
            return .rest(try Self.restSettings(section("user-activity-rest-api")))
        }
        if root["user-activity-ejabberd"] != nil {
            return .ejabberdAPI(try Self.ejabberdAPISettings(section("user-activity-ejabberd")))
        }
        return nil
    }

    static func restSettings(_ rest: ConfigSection) throws -> AnnouncerConfiguration.RESTSettings {
        var settings = AnnouncerConfiguration.RESTSettings()
        if let address = try rest.nonEmptyString("address") {
            settings.address = address
            _ = try httpURL(Self.restBaseURL(address), "address", rest)
        }
        if let timeout = try rest.duration("request_timeout", unit: .milliseconds(1), in: .milliseconds(1)...) {
            guard timeout <= .seconds(600) else { throw rest.error("request_timeout", "must be at most 600s") }
            settings.requestTimeout = timeout
        }
        if let timeout = try rest.duration("idle_conn_timeout", in: .milliseconds(1)...) {
            guard timeout <= .seconds(86_400) else { throw rest.error("idle_conn_timeout", "must be at most 1d") }
            settings.idleConnectionTimeout = timeout
        }
        if let count = try rest.integer("max_idle_conn", in: 0...10_000) { settings.maxIdleConnections = count }
        if let count = try rest.integer("max_retry", in: 0...100) { settings.maxRetry = count }
        if let path = try rest.nonEmptyString("path") {
            guard path.hasPrefix("/"), !path.contains(where: { $0.isWhitespace || $0 == "#" }) else {
                throw rest.error("path", "'\(path)' must start with / and hold no spaces or #")
            }
            settings.path = path
        }
        if let field = try rest.string("request_field") { settings.requestField = field }
        if let field = try rest.string("response_field") { settings.responseField = field }
        if let bytes = try rest.integer("max_response_bytes", in: 1_024...(256 << 20)) { settings.maxResponseBytes = bytes }
        return settings
    }

    static func ejabberdAPISettings(_ section: ConfigSection) throws -> AnnouncerConfiguration.EjabberdAPISettings {
        guard let url = try section.nonEmptyString("api_url") else {
            throw section.error("api_url", "is required (ejabberd's mod_http_api, for example \"http://127.0.0.1:5281/api\")")
        }
        _ = try httpURL(url, "api_url", section)
        var settings = AnnouncerConfiguration.EjabberdAPISettings(apiURL: url)
        settings.username = try section.nonEmptyString("username")
        settings.password = try section.string("password")
        if settings.password != nil, settings.username == nil { throw section.error("password", "needs a username") }
        if let timeout = try section.duration("request_timeout", unit: .milliseconds(1), in: .milliseconds(1)...) {
            guard timeout <= .seconds(600) else { throw section.error("request_timeout", "must be at most 600s") }
            settings.requestTimeout = timeout
        }
        if let count = try section.integer("max_retry", in: 0...100) { settings.maxRetry = count }
        if let duration = try section.duration("cache_duration") {
            guard duration <= .seconds(3_600) else { throw section.error("cache_duration", "must be at most 1h") }
            settings.cacheDuration = duration
        }
        if let bytes = try section.integer("max_response_bytes", in: 1_024...(1 << 30)) { settings.maxResponseBytes = bytes }
        return settings
    }

    /// The seed's `address` is `host:port`; a full URL (`https://…`) is taken as written.
    static func restBaseURL(_ address: String) -> String {
        address.contains("://") ? address : "http://\(address)"
    }

    /// Checks an `http` or `https` URL with a host and without credentials in it (they belong in
    /// their own keys, which are never logged).
    @discardableResult
    static func httpURL(_ text: String, _ key: String, _ section: ConfigSection) throws -> URL {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = url.host, !host.isEmpty
        else {
            throw section.error(key, "'\(Redaction.urls(in: text))' is not an http:// or https:// URL with a host")
        }
        guard url.user == nil, url.password == nil else {
            throw section.error(key, "must not hold credentials; use the username and password keys")
        }
        return url
    }

    /// `[client] tls` (`required`, `if_offered`, `off`) and `ca_file`, which must be a readable file.
    static func parseClientTLS(_ client: ConfigSection, into settings: inout AnnouncerConfiguration.ClientSettings) throws {
        if let mode = try client.choice("tls", as: AnnouncerConfiguration.ClientTLS.self) { settings.tls = mode }
        if let file = try client.nonEmptyString("ca_file") {
            guard FileManager.default.isReadableFile(atPath: file) else { throw client.error("ca_file", "'\(file)' is not a readable file") }
            guard settings.tls != .off else { throw client.error("ca_file", "is given but tls is off") }
            settings.caFile = file
        }
    }
}
