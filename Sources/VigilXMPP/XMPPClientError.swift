//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import VigilClientSupport

/// An error reported by an XMPP connection or client.
///
/// Inspect ``errorCode`` to react to a kind of failure; new codes may be added later, so a `switch`
/// over codes is not possible by design. Server-reported conditions (such as `not-authorized`) are in
/// ``condition``.
///
/// ```swift
/// catch let error as XMPPClientError where error.errorCode == .authenticationFailed { ... }
/// ```
public struct XMPPClientError: ProtocolClientError {
    /// The kind of an ``XMPPClientError``.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum _Internal: Hashable, Sendable {
            case notConnected, connectionClosed, connectTimeout, keepAliveTimeout, protocolError, malformedXML
            case streamError, authenticationFailed, noSupportedMechanism, tlsRequired, bindFailed
            case iqTimeout, iqError, alreadyRunning, shutdown
        }

        fileprivate let value: _Internal
        fileprivate init(_ value: _Internal) { self.value = value }

        /// A stanza was sent while no connection was established.
        public static var notConnected: Code { .init(.notConnected) }
        /// The network connection closed before the operation completed.
        public static var connectionClosed: Code { .init(.connectionClosed) }
        /// TCP connect or stream negotiation took longer than the connect timeout.
        public static var connectTimeout: Code { .init(.connectTimeout) }
        /// The server did not answer a keep-alive ping in time; the connection is considered dead.
        public static var keepAliveTimeout: Code { .init(.keepAliveTimeout) }
        /// The server broke the protocol (for example no stream id, or an unexpected element).
        public static var protocolError: Code { .init(.protocolError) }
        /// The server sent malformed or forbidden XML (see ``XMPPClientError/underlyingError``).
        public static var malformedXML: Code { .init(.malformedXML) }
        /// The server closed the stream with `<stream:error>`; see ``XMPPClientError/condition``.
        public static var streamError: Code { .init(.streamError) }
        /// The component handshake or SASL authentication was rejected (wrong secret or password).
        public static var authenticationFailed: Code { .init(.authenticationFailed) }
        /// The server offers no SASL mechanism this client supports (PLAIN, SCRAM-SHA-1).
        public static var noSupportedMechanism: Code { .init(.noSupportedMechanism) }
        /// TLS is required (by the server, or by ``XMPPConnectionConfiguration/tls``) but cannot be
        /// used: disabled in the configuration, not offered, or refused by the server.
        public static var tlsRequired: Code { .init(.tlsRequired) }
        /// Resource binding failed.
        public static var bindFailed: Code { .init(.bindFailed) }
        /// No response to an IQ request arrived in time.
        public static var iqTimeout: Code { .init(.iqTimeout) }
        /// An IQ request was answered with `type='error'`; see ``XMPPClientError/stanza``.
        public static var iqError: Code { .init(.iqError) }
        /// `run()` was called on a client that is already running.
        public static var alreadyRunning: Code { .init(.alreadyRunning) }
        /// The client stopped while the operation was waiting.
        public static var shutdown: Code { .init(.shutdown) }

        /// The name of the code.
        public var description: String { "\(value)" }
    }

    /// The kind of failure.
    public var errorCode: Code
    /// Human-readable detail, if any.
    public var message: String?
    /// The stream error, SASL failure or stanza error condition the server reported (such as
    /// `not-authorized`), if any.
    public var condition: String?
    /// The stanza that reported the error (an IQ of type `error`), if any.
    public var stanza: XMLElement?
    /// The error that caused this one, if any.
    public var underlyingError: (any Error)?

    /// Creates an error.
    public init(
        _ errorCode: Code,
        message: String? = nil,
        condition: String? = nil,
        stanza: XMLElement? = nil,
        underlyingError: (any Error)? = nil
    ) {
        self.errorCode = errorCode
        self.message = message
        self.condition = condition
        self.stanza = stanza
        self.underlyingError = underlyingError
    }

    /// `XMPP`, the start of the description.
    public static var protocolName: String { "XMPP" }

    /// The server's condition, shown in the description as `<condition/>`.
    public var detail: String? { condition.map { "<\($0)/>" } }
}
