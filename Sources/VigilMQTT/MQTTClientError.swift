//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import VigilClientSupport

/// An error reported by the MQTT client or connection.
///
/// Inspect ``errorCode`` to react to a kind of failure; new codes may be added in later versions,
/// so a `switch` over codes is not possible by design.
///
/// ```swift
/// do { try await client.publish(to: "a/b", payload: buffer) }
/// catch let error as MQTTClientError where error.errorCode == .notConnected { ... }
/// ```
public struct MQTTClientError: ProtocolClientError {
    /// The kind of an ``MQTTClientError``.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum _Internal: Hashable, Sendable {
            case notConnected
            case connectionClosed
            case connectionRefused
            case connectTimeout
            case keepAliveTimeout
            case protocolError
            case packetTooLarge
            case serverDisconnected
            case subscriptionRejected
            case unsubscribeFailed
            case publishRejected
            case offlineQueueFull
            case invalidTopicName
            case invalidTopicFilter
            case invalidURL
            case tlsConfiguration
            case alreadyRunning
            case shutdown
            case clientIdentifierInUse
        }

        fileprivate let value: _Internal
        fileprivate init(_ value: _Internal) { self.value = value }

        /// A QoS 0 message was published, or a request made, while no connection was up.
        public static var notConnected: Code { .init(.notConnected) }
        /// The network connection closed before the operation completed.
        public static var connectionClosed: Code { .init(.connectionClosed) }
        /// The broker refused the connection (CONNACK with a failure code, see ``MQTTClientError/reasonCode``).
        public static var connectionRefused: Code { .init(.connectionRefused) }
        /// TCP, TLS or the CONNECT/CONNACK exchange took longer than the connect timeout.
        public static var connectTimeout: Code { .init(.connectTimeout) }
        /// The broker did not answer a PINGREQ in time; the connection is considered dead.
        public static var keepAliveTimeout: Code { .init(.keepAliveTimeout) }
        /// The broker sent bytes that break the protocol; the connection was closed.
        public static var protocolError: Code { .init(.protocolError) }
        /// A packet exceeded the maximum packet size.
        public static var packetTooLarge: Code { .init(.packetTooLarge) }
        /// The broker closed the session with an MQTT 5 DISCONNECT.
        public static var serverDisconnected: Code { .init(.serverDisconnected) }
        /// The broker rejected at least one filter of a SUBSCRIBE.
        public static var subscriptionRejected: Code { .init(.subscriptionRejected) }
        /// The broker reported a failure for an UNSUBSCRIBE.
        public static var unsubscribeFailed: Code { .init(.unsubscribeFailed) }
        /// The broker acknowledged a QoS 1 or 2 publication with a failure reason code.
        public static var publishRejected: Code { .init(.publishRejected) }
        /// A QoS 1 or 2 message could not be queued while disconnected: the offline queue is full.
        public static var offlineQueueFull: Code { .init(.offlineQueueFull) }
        /// A topic name is empty, too long, or contains wildcards or U+0000.
        public static var invalidTopicName: Code { .init(.invalidTopicName) }
        /// A topic filter breaks the wildcard rules or is empty.
        public static var invalidTopicFilter: Code { .init(.invalidTopicFilter) }
        /// A connection URL could not be parsed or uses an unsupported scheme.
        public static var invalidURL: Code { .init(.invalidURL) }
        /// The TLS configuration (CA, certificate or key file) could not be loaded.
        public static var tlsConfiguration: Code { .init(.tlsConfiguration) }
        /// `run()` was called on a client that is already running.
        public static var alreadyRunning: Code { .init(.alreadyRunning) }
        /// The client stopped while the operation was waiting.
        public static var shutdown: Code { .init(.shutdown) }
        /// Another connection keeps taking over this client's session: its client identifier is
        /// in use elsewhere (see ``MQTTClientConfiguration/takeoverLimit``).
        public static var clientIdentifierInUse: Code { .init(.clientIdentifierInUse) }

        /// The name of the code.
        public var description: String { "\(value)" }
    }

    /// The kind of failure.
    public var errorCode: Code
    /// Human-readable detail, if any.
    public var message: String?
    /// The error that caused this one, if any.
    public var underlyingError: (any Error)?
    /// The MQTT reason code (or 3.1.1 return code) reported by the broker, if any.
    public var reasonCode: UInt8?

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - errorCode: The kind of failure.
    ///   - message: Human-readable detail.
    ///   - underlyingError: The error that caused this one.
    ///   - reasonCode: The broker's reason code.
    public init(_ errorCode: Code, message: String? = nil, underlyingError: (any Error)? = nil, reasonCode: UInt8? = nil) {
        self.errorCode = errorCode
        self.message = message
        self.underlyingError = underlyingError
        self.reasonCode = reasonCode
    }

    /// `MQTT`, the start of the description.
    public static var protocolName: String { "MQTT" }

    /// The broker's reason code, shown in the description.
    public var detail: String? { reasonCode.map { "(reason code 0x\(String($0, radix: 16)))" } }
}
