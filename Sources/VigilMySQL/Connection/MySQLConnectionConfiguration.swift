//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Where and as whom to connect.
///
/// ```swift
/// let configuration = MySQLConnectionConfiguration(
///     host: "127.0.0.1", port: 3306, username: "vigil", password: "secret", database: "announcer"
/// )
/// ```
public struct MySQLConnectionConfiguration: Sendable {
    /// The server's host name or IP address.
    public var host: String
    /// The server's TCP port (3306 by default).
    public var port: Int
    /// The account name.
    public var username: String
    /// The account's password, sent only as a `mysql_native_password` scramble.
    public var password: String
    /// The default database, or `nil` for none.
    public var database: String?
    /// How long opening TCP and authenticating may take.
    public var connectTimeout: Duration
    /// The largest packet accepted from the server.
    public var maxPacketSize: Int
    /// How long the server may take to answer one command, or `nil` to wait forever. When it is
    /// exceeded the connection is closed (the protocol cannot skip a late answer), so this also
    /// detects a server that vanished without closing the socket.
    public var commandTimeout: Duration?

    /// Creates a configuration.
    public init(
        host: String,
        port: Int = 3306,
        username: String,
        password: String,
        database: String? = nil,
        connectTimeout: Duration = .seconds(10),
        maxPacketSize: Int = 64 << 20,
        commandTimeout: Duration? = .seconds(60)
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.maxPacketSize = maxPacketSize
        self.commandTimeout = commandTimeout
    }

    /// Creates a configuration from an `address` of the form `host:port` or `[ipv6]:port` (the
    /// seed's `[mysql]` section); the port defaults to 3306.
    public init(address: String, username: String, password: String, database: String?) {
        var host = Substring(address)
        var port = 3306
        if let colon = host.lastIndex(of: ":"), !host[..<colon].contains(":") || host[..<colon].hasSuffix("]"),
            let parsed = Int(host[host.index(after: colon)...])
        {
            port = parsed
            host = host[..<colon]
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        self.init(host: String(host), port: port, username: username, password: password, database: database)
    }
}
