//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import NIOSSL
import ServiceLifecycle
import VigilAnnouncer
import VigilClientSupport
import VigilCore
import VigilWeb
import VigilXMPP

/// An online-user source and the services it needs, started before the Announcer.
struct OnlineUserSource {
    var online: any OnlineUsers
    var services: [any Service]
}

extension AnnouncerServices {
    /// The source of the configuration's `[user-activity-*]` section, `nil` without one.
    static func onlineUserSource(_ configuration: AnnouncerConfiguration, clock: any VigilClock, logger: (String) -> Logger) -> OnlineUserSource? {
        switch configuration.userActivity {
        case nil:
            return nil
        case .redis(let settings):
            let redis = userActivityRedis(settings, logger: logger("vigil.redis"))
            return OnlineUserSource(online: RedisOnlineUsers(redis: redis, batch: configuration.userActivityAskBuffer), services: [redis])
        case .rest(let settings):
            let client = OnlineUsersHTTP.makeClient(
                timeout: settings.requestTimeout,
                idleTimeout: settings.idleConnectionTimeout,
                maxIdle: settings.maxIdleConnections
            )
            let http = OnlineUsersHTTP(
                client: client,
                source: "rest",
                timeout: settings.requestTimeout,
                retries: settings.maxRetry,
                maxResponseBytes: settings.maxResponseBytes
            )
            return OnlineUserSource(
                online: RESTOnlineUsers(settings: settings, http: http, batch: configuration.userActivityAskBuffer),
                services: [HTTPClientService(client: client)]
            )
        case .ejabberdAPI(let settings):
            let client = OnlineUsersHTTP.makeClient(timeout: settings.requestTimeout)
            let authorization = settings.username.map { OnlineUsersHTTP.basicAuthorization(user: $0, password: settings.password ?? "") }
            let http = OnlineUsersHTTP(
                client: client,
                source: "ejabberd",
                timeout: settings.requestTimeout,
                retries: settings.maxRetry,
                maxResponseBytes: settings.maxResponseBytes,
                authorization: authorization
            )
            return OnlineUserSource(
                online: EjabberdOnlineUsers(settings: settings, http: http, domain: configuration.domain, clock: clock),
                services: [HTTPClientService(client: client)]
            )
        }
    }

    /// The client settings of each connection: `[component] conn_req_check_interval` caps the
    /// pause between reconnection attempts (0.5 s, doubling up to it); a client login keeps the
    /// default cap (30 s).
    static func clientConfigurations(_ configuration: AnnouncerConfiguration, instance: String? = nil) throws -> [XMPPClientConfiguration] {
        var backoff = XMPPClientConfiguration.Backoff()
        if case .component(let component) = configuration.login {
            backoff.maximumDelay = component.connectionCheckInterval
            backoff.initialDelay = min(backoff.initialDelay, component.connectionCheckInterval)
        }
        let tls = try clientTLS(configuration)
        return connectionConfigurations(configuration, instance: instance).map { connection in
            var connection = connection
            if case .client = connection.role { connection.tls = tls }
            return XMPPClientConfiguration(connection: connection, backoff: backoff)
        }
    }

    /// The node (`host:port`) of each connection, by connection number.
    static func connectionNodes(_ configuration: AnnouncerConfiguration) -> [String] {
        configuration.xmpp.nodes.filter { WebConfiguration.parseListen($0) != nil }
            .flatMap { Array(repeating: $0, count: configuration.xmpp.connectionsPerNode) }
    }

    /// `[client] tls` and `ca_file` as the XMPP client's STARTTLS policy, with one NIOSSL context
    /// for every connection; the certificate must name the client's `domain`.
    static func clientTLS(_ configuration: AnnouncerConfiguration) throws -> XMPPConnectionConfiguration.TLS {
        guard case .client(let client) = configuration.login, client.tls != .off else { return .disabled }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile = client.caFile { tls.trustRoots = .file(caFile) }
        let context = try NIOSSLContext(configuration: tls)
        let factory: XMPPTLSHandlerFactory = { serverName in try NIOSSLClientHandler(context: context, serverHostname: serverName) }
        return client.tls == .required ? .required(factory) : .ifOffered(factory)
    }
}
