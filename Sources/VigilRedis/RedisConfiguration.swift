//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
public import VigilClientSupport

/// Where a Redis server is and how to log in: used by ``RedisConnection`` and ``RedisClient``.
///
/// | Setting | Type | Default |
/// |---|---|---|
/// | `host` | String | `127.0.0.1` |
/// | `port` | Int | 6379 |
/// | `username` | String? | none (`default` when only a password is set) |
/// | `password` | String? | none |
/// | `database` | Int | 0 |
/// | `clientName` | String? | none (sent with `HELLO … SETNAME`) |
/// | `connectTimeout` | Duration | 5 s (TCP, TLS and handshake) |
/// | `commandTimeout` | Duration | 10 s (per reply; also the wait for a connection) |
/// | `tls` | ``RedisTLSConfiguration``? | none |
/// | `reconnect` | ``RedisReconnectPolicy`` | 100 ms doubling to 10 s, up to 50 % shorter (jitter), no attempt limit |
/// | `subscriptionBufferSize` | Int | 1,024 messages per subscription |
/// | `fallbackNodes` | [``RedisClusterNode``] | none |
///
/// ```swift
/// var configuration = try RedisConfiguration(url: "redis://vigil:secret@127.0.0.1:6379/2")
/// configuration.clientName = "vigil-1"
/// ```
public struct RedisConfiguration: Sendable {
    /// The server's host name or IP address.
    public var host: String
    /// The server's TCP port.
    public var port: Int
    /// The ACL user; `nil` logs in as `default` when a password is set.
    public var username: String?
    /// The password; `nil` means no authentication. Never logged.
    public var password: String?
    /// The database selected after the handshake.
    public var database: Int
    /// The connection name shown by `CLIENT LIST`.
    public var clientName: String?
    /// The limit for TCP connect, TLS and the handshake.
    public var connectTimeout: Duration
    /// The limit for each reply; blocking commands add their own block time to it.
    public var commandTimeout: Duration
    /// TLS settings; `nil` for plain TCP.
    public var tls: RedisTLSConfiguration?
    /// How ``RedisClient`` waits between reconnection attempts, and after how many failures it gives
    /// up.
    public var reconnect: RedisReconnectPolicy
    /// How many undelivered messages one subscription buffers before dropping the oldest.
    public var subscriptionBufferSize: Int
    /// Other servers that serve the same data (the other nodes of a Redis Cluster, for Pub/Sub,
    /// which a cluster delivers on every node): after a failed connection attempt ``RedisClient``
    /// tries the next address, `host:port` first, then these in turn.
    public var fallbackNodes: [RedisClusterNode] = []

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - host: The server's host.
    ///   - port: The server's port.
    ///   - username: The ACL user.
    ///   - password: The password.
    ///   - database: The database to select.
    ///   - clientName: The connection name.
    ///   - tls: TLS settings, or `nil`.
    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        clientName: String? = nil,
        tls: RedisTLSConfiguration? = nil
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.clientName = clientName
        self.connectTimeout = .seconds(5)
        self.commandTimeout = .seconds(10)
        self.tls = tls
        self.reconnect = RedisReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(10), jitter: 0.5)
        self.subscriptionBufferSize = 1024
    }

    /// Creates a configuration from a URL: `redis://[[user]:password@]host[:port][/database]`, or
    /// `rediss://` for TLS.
    ///
    /// User and password are percent-decoded. `redis://:secret@host` sets only a password.
    ///
    /// - Parameter url: The URL.
    /// - Throws: ``RedisClientError`` with ``RedisClientError/Code/invalidURL``.
    public init(url: String) throws {
        // Errors quote the URL with its user information masked: it holds the password.
        let shown = URLRedaction.url(url)
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "redis" || scheme == "rediss"
        else {
            throw RedisClientError(.invalidURL, message: "'\(shown)' is not a redis:// or rediss:// URL")
        }
        guard let host = components.host, !host.isEmpty else {
            throw RedisClientError(.invalidURL, message: "'\(shown)' has no host")
        }
        self.init(host: host, port: components.port ?? 6379, tls: scheme == "rediss" ? RedisTLSConfiguration() : nil)
        if let user = components.percentEncodedUser, !user.isEmpty {
            self.username = user.removingPercentEncoding ?? user
        }
        if let password = components.percentEncodedPassword {
            self.password = password.removingPercentEncoding ?? password
        }
        let path = components.path.split(separator: "/")
        if let first = path.first {
            guard path.count == 1, let database = Int(first), database >= 0 else {
                throw RedisClientError(.invalidURL, message: "'\(components.path)' is not a database number")
            }
            self.database = database
        }
        guard (1...65535).contains(self.port) else {
            throw RedisClientError(.invalidURL, message: "port \(self.port) out of range")
        }
    }
}

/// TLS settings for a Redis connection.
public struct RedisTLSConfiguration: Sendable, Hashable {
    /// A PEM file with the CA certificates to trust; `nil` uses the system's roots.
    public var caFile: String?
    /// Whether to verify the server's certificate and name.
    public var verifyCertificate: Bool
    /// The name to verify and send with SNI; `nil` uses the host.
    public var serverName: String?

    /// Creates TLS settings.
    ///
    /// - Parameters:
    ///   - caFile: CA certificates in PEM.
    ///   - verifyCertificate: Whether to verify the server.
    ///   - serverName: The expected server name.
    public init(caFile: String? = nil, verifyCertificate: Bool = true, serverName: String? = nil) {
        self.caFile = caFile
        self.verifyCertificate = verifyCertificate
        self.serverName = serverName
    }
}

/// How a ``RedisClient`` spaces its reconnection attempts: the reconnect policy all Vigil protocol
/// clients share (see `ReconnectPolicy`), kept under its Redis name for existing code.
public typealias RedisReconnectPolicy = ReconnectPolicy
