//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import NIOCore
public import VigilClientSupport

/// How one connection to an XMPP server is made and kept alive.
///
/// ```swift
/// let component = XMPPConnectionConfiguration(
///     host: "127.0.0.1", port: 5347,
///     role: .component(domain: "announcer.example.test", secret: "s3cret"))
/// let client = XMPPConnectionConfiguration(
///     host: "127.0.0.1", port: 5222,
///     role: .client(domain: "example.test", username: "alice", password: "alicepw", resource: "vigil"))
/// ```
///
/// Client connections can be secured with STARTTLS (see ``tls``); component connections are plain
/// TCP, as XEP-0114 defines no TLS negotiation.
public struct XMPPConnectionConfiguration: Sendable {
    /// Whether a client connection upgrades to TLS with STARTTLS (RFC 6120 §5).
    ///
    /// The TLS handler comes from the caller, so this module needs no TLS library; with NIOSSL:
    ///
    /// ```swift
    /// let context = try NIOSSLContext(configuration: .makeClientConfiguration())
    /// configuration.tls = .required { serverName in try NIOSSLClientHandler(context: context, serverHostname: serverName) }
    /// ```
    public enum TLS: Sendable {
        /// Never use TLS; a server that requires it is refused with
        /// ``XMPPClientError/Code/tlsRequired``.
        case disabled
        /// Use STARTTLS when the server offers it; otherwise continue in plain text.
        case ifOffered(XMPPTLSHandlerFactory)
        /// Use STARTTLS, and fail with ``XMPPClientError/Code/tlsRequired`` when the server does not
        /// offer it.
        case required(XMPPTLSHandlerFactory)
    }

    /// What the connection authenticates as.
    public enum Role: Sendable {
        /// An external component (XEP-0114): the stream goes to `domain` and authenticates with the
        /// shared `secret`.
        case component(domain: String, secret: String)
        /// A client (RFC 6120 c2s) logging in as `username@domain/resource` with SASL SCRAM-SHA-1 or
        /// PLAIN; `resource` nil lets the server choose one.
        case client(domain: String, username: String, password: String, resource: String?)
    }

    /// The server host name or address.
    public var host: String
    /// The TCP port (5347 is common for components, 5222 for clients).
    public var port: Int
    /// Component or client credentials.
    public var role: Role
    /// STARTTLS for client connections (default ``TLS/disabled``); the factory receives the
    /// client's domain as the name to verify the certificate against.
    public var tls: TLS
    /// The longest time for TCP connect plus stream negotiation.
    public var connectTimeout: Duration
    /// How often an XEP-0199 ping is sent; `nil` disables keep-alive pings.
    public var pingInterval: Duration?
    /// How long to wait for a ping reply before the connection is considered dead.
    public var pingTimeout: Duration
    /// Where keep-alive pings go; `nil` means the server domain for a client and, for a component,
    /// its domain without the first label (`announcer.example.test` pings `example.test`).
    public var pingTarget: String?
    /// How many incoming stanzas ``XMPPConnection/stanzas`` buffers for a slow consumer; older
    /// stanzas are dropped beyond this.
    public var incomingBufferSize: Int
    /// The default time to wait for an IQ response.
    public var iqTimeout: Duration
    /// Whether a client connection sends an initial `<presence/>` after binding, which makes the
    /// server route messages for the bare JID to it. Ignored for components.
    public var sendInitialPresence: Bool
    /// Whether to enable XEP-0198 stream management when a client stream's server offers it
    /// (default true): ``XMPPConnection/confirmDelivery()`` then waits for the server's
    /// acknowledgement instead of a ping round trip.
    public var streamManagement = true
    /// Parser limits for stanzas from the server.
    public var limits: XMPPStreamParser.Limits

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - host: Server host.
    ///   - port: Server port.
    ///   - role: Component or client credentials.
    ///   - tls: STARTTLS policy for client connections (default disabled).
    ///   - connectTimeout: Connect and negotiation timeout (default 10 s).
    ///   - pingInterval: Keep-alive ping interval (default 60 s; `nil` disables pings).
    ///   - pingTimeout: Ping reply timeout (default 10 s).
    ///   - pingTarget: Ping destination (default: derived from the domain, see ``pingTarget``).
    ///   - iqTimeout: Default IQ response timeout (default 10 s).
    ///   - sendInitialPresence: Send `<presence/>` after binding (client only, default true).
    ///   - limits: Parser limits.
    ///   - incomingBufferSize: Incoming stanza buffer size (default 10,000).
    public init(
        host: String,
        port: Int,
        role: Role,
        tls: TLS = .disabled,
        connectTimeout: Duration = .seconds(10),
        pingInterval: Duration? = .seconds(60),
        pingTimeout: Duration = .seconds(10),
        pingTarget: String? = nil,
        iqTimeout: Duration = .seconds(10),
        sendInitialPresence: Bool = true,
        limits: XMPPStreamParser.Limits = .init(),
        incomingBufferSize: Int = 10_000
    ) {
        self.host = host
        self.port = port
        self.role = role
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.pingInterval = pingInterval
        self.pingTimeout = pingTimeout
        self.pingTarget = pingTarget
        self.incomingBufferSize = max(1, incomingBufferSize)
        self.iqTimeout = iqTimeout
        self.sendInitialPresence = sendInitialPresence
        self.limits = limits
    }

    /// The content namespace of the stream (`jabber:component:accept` or `jabber:client`).
    public var contentNamespace: String {
        switch role {
        case .component: XMPPNamespace.componentAccept
        case .client: XMPPNamespace.client
        }
    }
}

/// Makes the channel handler that encrypts a connection after STARTTLS (for example NIOSSL's
/// `NIOSSLClientHandler`), given the server name its certificate must match. The handler must buffer
/// writes until its handshake completes, as NIOSSL's does.
public typealias XMPPTLSHandlerFactory = @Sendable (_ serverHostname: String) throws -> any ChannelHandler

/// Settings of an ``XMPPClient``: one connection plus reconnect behaviour.
public struct XMPPClientConfiguration: Sendable {
    /// How reconnection attempts are spaced and when ``XMPPClient/run()`` gives up: the reconnect
    /// policy all Vigil protocol clients share (see `ReconnectPolicy`), kept under its XMPP name for
    /// existing code. The default waits 0.5 s doubling up to 30 s, up to 20 % shorter, with no limit.
    public typealias Backoff = ReconnectPolicy

    /// The connection settings.
    public var connection: XMPPConnectionConfiguration
    /// The reconnect policy.
    public var backoff: Backoff
    /// How many incoming stanzas are buffered for a slow consumer of ``XMPPClient/stanzas``; older
    /// stanzas are dropped beyond this.
    public var incomingBufferSize: Int

    /// Creates a client configuration.
    public init(connection: XMPPConnectionConfiguration, backoff: Backoff = .init(), incomingBufferSize: Int = 10_000) {
        self.connection = connection
        self.backoff = backoff
        self.incomingBufferSize = incomingBufferSize
    }
}
