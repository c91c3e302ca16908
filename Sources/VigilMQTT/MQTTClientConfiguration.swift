//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import VigilClientSupport

/// Everything an ``MQTTClient`` needs to know about its broker and session.
///
/// | Field | Type | Default |
/// |---|---|---|
/// | ``address`` | ``MQTTAddress`` | (required) |
/// | ``clientID`` | `String` | (required; empty asks the broker to assign one) |
/// | ``username`` | `String?` | the URL's user name, else `nil` |
/// | ``password`` | `String?` | the URL's password, else `nil` (never logged) |
/// | ``version`` | ``MQTTProtocolVersion`` | `.v5` |
/// | ``keepAlive`` | `Duration` | 30 s |
/// | ``pingTimeout`` | `Duration` | 5 s: time allowed for PINGRESP |
/// | ``cleanSession`` | `Bool` | `true` (clean start under MQTT 5) |
/// | ``will`` | ``MQTTWill``? | `nil` |
/// | ``tls`` | ``MQTTTLSConfiguration``? | `nil` (system trust roots when the URL asks for TLS) |
/// | ``sessionExpiry`` | `Duration?` | `nil` (MQTT 5 only: session ends with the connection) |
/// | ``maxPacketSize`` | `Int` | 1 MiB: larger incoming packets are a protocol error |
/// | ``maxInflight`` | `Int` | 64 outgoing QoS 1/2 messages awaiting acknowledgement |
/// | ``receiveMaximum`` | `Int` | 64 incoming QoS 1/2 messages awaiting processing (1 to 65,535) |
/// | ``unroutedHold`` | `Duration` | 10 s: how long a persistent session holds messages no subscription wants yet |
/// | ``offlineQueueLimit`` | `Int` | 1,000 QoS 1/2 messages queued while disconnected |
/// | ``reconnect`` | ``MQTTReconnectPolicy`` | 0.5 s doubling to 30 s, up to 20 % shorter (jitter), no attempt limit |
/// | ``connectTimeout`` | `Duration` | 10 s for TCP, TLS and CONNACK together |
/// | ``takeoverLimit`` | `Int` | 3 session takeovers within ``takeoverWindow`` end ``MQTTClient/run()``; 0: never |
/// | ``takeoverWindow`` | `Duration` | 60 s |
///
/// ```swift
/// var configuration = try MQTTClientConfiguration(url: "mqtt://broker.local", clientID: "vigil-1")
/// configuration.keepAlive = .seconds(15)
/// let client = MQTTClient(configuration: configuration, logger: logger)
/// ```
public struct MQTTClientConfiguration: Sendable {
    /// The broker to connect to.
    public var address: MQTTAddress
    /// The client identifier sent in CONNECT.
    public var clientID: String
    /// The user name sent in CONNECT, if any.
    public var username: String?
    /// The password sent in CONNECT, if any. It never appears in logs.
    public var password: String?
    /// The protocol version to speak.
    public var version: MQTTProtocolVersion
    /// The keep-alive interval: the client sends PINGREQ at this interval (rounded to whole seconds).
    public var keepAlive: Duration
    /// How long to wait for PINGRESP before the connection is declared dead and re-established.
    public var pingTimeout: Duration
    /// Whether the broker discards any previous session (clean session / clean start).
    public var cleanSession: Bool
    /// The Last Will the broker publishes if the connection drops without DISCONNECT.
    public var will: MQTTWill?
    /// TLS settings, used when ``address`` asks for TLS.
    public var tls: MQTTTLSConfiguration?
    /// MQTT 5 session expiry interval; `nil` ends the session with the connection.
    public var sessionExpiry: Duration?
    /// The largest packet accepted from the broker (and announced to it under MQTT 5).
    public var maxPacketSize: Int
    /// The maximum number of outgoing QoS 1/2 messages awaiting acknowledgement; more are held back.
    public var maxInflight: Int
    /// The maximum number of QoS 1/2 publications held while disconnected.
    public var offlineQueueLimit: Int
    /// The maximum number of incoming QoS 1/2 messages received but not yet processed by their
    /// consumers (and so not yet acknowledged). It is announced to the broker as MQTT 5 Receive
    /// Maximum, which an MQTT 5 broker keeps to. Under MQTT 3.1.1, at this number, the client stops
    /// reading from the socket until consumers catch up (under MQTT 5 at twice it, for brokers that
    /// exceed it). Clamped to 1...65,535.
    public var receiveMaximum: Int
    /// With a persistent session (``cleanSession`` `false`), the broker may send QoS 1/2 messages
    /// as soon as the connection is up, before the application has registered the subscriptions
    /// they belong to. For this long after each connection, such messages are held unacknowledged
    /// and handed to a matching subscription when it is registered; later, and in clean
    /// sessions, a message no subscription wants is acknowledged at once
    /// (`vigil_mqtt_messages_unrouted_total`).
    public var unroutedHold: Duration
    /// How reconnection attempts are spaced, and after how many failures ``MQTTClient/run()`` gives up.
    public var reconnect: MQTTReconnectPolicy
    /// The time allowed for TCP connect, TLS handshake and CONNACK together.
    public var connectTimeout: Duration
    /// How many times within ``takeoverWindow`` the broker may end the session because another
    /// connection used the same client identifier (MQTT 5 DISCONNECT 0x8E, "session taken over")
    /// before ``MQTTClient/run()`` stops with ``MQTTClientError/Code/clientIdentifierInUse``
    /// instead of taking the session back; 0 never stops. Two processes with one identifier
    /// otherwise push each other off the broker for ever, each losing messages at every switch.
    public var takeoverLimit = 3
    /// The window of ``takeoverLimit``.
    public var takeoverWindow: Duration = .seconds(60)

    /// Creates a configuration; every field but the address and client identifier has a default.
    ///
    /// - Parameters:
    ///   - address: The broker address.
    ///   - clientID: The client identifier.
    ///   - username: The user name; defaults to the one in the address.
    ///   - password: The password; defaults to the one in the address.
    ///   - version: The protocol version.
    ///   - keepAlive: The keep-alive interval.
    ///   - pingTimeout: How long to wait for PINGRESP.
    ///   - cleanSession: Whether to start a clean session.
    ///   - will: The Last Will.
    ///   - tls: TLS settings.
    ///   - sessionExpiry: MQTT 5 session expiry interval.
    ///   - maxPacketSize: The largest packet accepted.
    ///   - maxInflight: The in-flight limit for QoS 1/2 publications.
    ///   - offlineQueueLimit: The offline queue limit.
    ///   - receiveMaximum: The limit of incoming QoS 1/2 messages awaiting processing.
    ///   - unroutedHold: How long a persistent session holds messages no subscription wants yet.
    ///   - reconnect: The reconnect policy.
    ///   - connectTimeout: The connect timeout.
    public init(
        address: MQTTAddress,
        clientID: String,
        username: String? = nil,
        password: String? = nil,
        version: MQTTProtocolVersion = .v5,
        keepAlive: Duration = .seconds(30),
        pingTimeout: Duration = .seconds(5),
        cleanSession: Bool = true,
        will: MQTTWill? = nil,
        tls: MQTTTLSConfiguration? = nil,
        sessionExpiry: Duration? = nil,
        maxPacketSize: Int = 1 << 20,
        maxInflight: Int = 64,
        offlineQueueLimit: Int = 1000,
        receiveMaximum: Int = 64,
        unroutedHold: Duration = .seconds(10),
        reconnect: MQTTReconnectPolicy = .init(),
        connectTimeout: Duration = .seconds(10)
    ) {
        self.address = address
        self.clientID = clientID
        self.username = username ?? address.username
        self.password = password ?? address.password
        self.version = version
        self.keepAlive = keepAlive
        self.pingTimeout = pingTimeout
        self.cleanSession = cleanSession
        self.will = will
        self.tls = tls
        self.sessionExpiry = sessionExpiry
        self.maxPacketSize = maxPacketSize
        self.maxInflight = maxInflight
        self.offlineQueueLimit = offlineQueueLimit
        self.receiveMaximum = receiveMaximum
        self.unroutedHold = unroutedHold
        self.reconnect = reconnect
        self.connectTimeout = connectTimeout
    }

    /// Creates a configuration from a connection URL (see ``MQTTAddress/init(url:)``).
    ///
    /// - Parameters:
    ///   - url: The broker URL.
    ///   - clientID: The client identifier.
    /// - Throws: ``MQTTClientError`` with code ``MQTTClientError/Code/invalidURL``.
    public init(url: String, clientID: String) throws {
        self.init(address: try MQTTAddress(url: url), clientID: clientID)
    }
}

extension MQTTClientConfiguration {
    /// ``receiveMaximum`` within MQTT 5's range, 1...65,535.
    var clampedReceiveMaximum: Int { min(max(receiveMaximum, 1), Int(UInt16.max)) }
}

/// TLS settings for `mqtts://` and `ssl://` connections.
///
/// Without a CA file, the system's trust roots verify the broker. With ``certificateFile`` and
/// ``privateKeyFile`` the client authenticates with a certificate.
public struct MQTTTLSConfiguration: Sendable, Hashable {
    /// PEM file of the certificate authorities trusted to sign the broker's certificate.
    public var caFile: String?
    /// PEM file of the client certificate (chain), for mutual TLS.
    public var certificateFile: String?
    /// PEM file of the client's private key, for mutual TLS.
    public var privateKeyFile: String?
    /// The name to verify in the broker's certificate and to send as SNI; defaults to the host.
    public var serverName: String?
    /// Whether to verify the broker's certificate at all. Turn off only in tests.
    public var verifyCertificate: Bool

    /// Creates TLS settings.
    ///
    /// - Parameters:
    ///   - caFile: PEM file of trusted certificate authorities.
    ///   - certificateFile: PEM client certificate.
    ///   - privateKeyFile: PEM client private key.
    ///   - serverName: The expected server name.
    ///   - verifyCertificate: Whether to verify the broker's certificate.
    public init(
        caFile: String? = nil,
        certificateFile: String? = nil,
        privateKeyFile: String? = nil,
        serverName: String? = nil,
        verifyCertificate: Bool = true
    ) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.serverName = serverName
        self.verifyCertificate = verifyCertificate
    }
}

/// How an ``MQTTClient`` spaces its reconnection attempts: the reconnect policy all Vigil protocol
/// clients share (see `ReconnectPolicy`), kept under its MQTT name for existing code.
public typealias MQTTReconnectPolicy = ReconnectPolicy
