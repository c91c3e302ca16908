//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import VigilClientSupport

/// An error reported by the Kafka client, producer or consumer.
///
/// Inspect ``errorCode`` to react to a kind of failure; codes may be added later, so a `switch`
/// over them is not possible by design. A broker's own error code, when there is one, is in
/// ``brokerErrorCode``.
public struct KafkaClientError: ProtocolClientError {
    /// The kind of a ``KafkaClientError``.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum _Internal: Hashable, Sendable {
            case connectFailed
            case connectionClosed
            case decodeError
            case timeout
            case unsupportedVersion
            case brokerError
            case noBrokerAvailable
            case unknownTopic
            case invalidConfiguration
            case deliveryFailed
            case shutdown
            case alreadyRunning
            case authenticationFailed
        }

        fileprivate let value: _Internal
        fileprivate init(_ value: _Internal) { self.value = value }

        /// TCP, TLS, SASL or the ApiVersions exchange failed.
        public static var connectFailed: Code { .init(.connectFailed) }
        /// The connection closed before the response arrived; the request may or may not have run.
        public static var connectionClosed: Code { .init(.connectionClosed) }
        /// The broker sent bytes that are not a valid response; the connection was closed.
        public static var decodeError: Code { .init(.decodeError) }
        /// No response within the request timeout; the connection was closed.
        public static var timeout: Code { .init(.timeout) }
        /// The broker supports no version of a request this client implements.
        public static var unsupportedVersion: Code { .init(.unsupportedVersion) }
        /// The broker answered with an error code (``KafkaClientError/brokerErrorCode``).
        public static var brokerError: Code { .init(.brokerError) }
        /// No bootstrap or known broker accepted a connection.
        public static var noBrokerAvailable: Code { .init(.noBrokerAvailable) }
        /// The topic or partition does not exist.
        public static var unknownTopic: Code { .init(.unknownTopic) }
        /// A configuration value is out of range.
        public static var invalidConfiguration: Code { .init(.invalidConfiguration) }
        /// A record could not be delivered within the retry limit.
        public static var deliveryFailed: Code { .init(.deliveryFailed) }
        /// The producer or consumer stopped while the operation was waiting.
        public static var shutdown: Code { .init(.shutdown) }
        /// `run()` was called on a client that is already running.
        public static var alreadyRunning: Code { .init(.alreadyRunning) }
        /// SASL authentication was rejected.
        public static var authenticationFailed: Code { .init(.authenticationFailed) }

        /// The name of the code.
        public var description: String { "\(value)" }
    }

    /// The kind of failure.
    public var errorCode: Code
    /// Human-readable detail.
    public var message: String?
    /// The error that caused this one, if any.
    public var underlyingError: (any Error)?
    /// The broker's error code for ``Code/brokerError``.
    public var brokerErrorCode: KafkaErrorCode?

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - errorCode: The kind of failure.
    ///   - message: Human-readable detail.
    ///   - underlyingError: The error that caused this one.
    ///   - brokerErrorCode: The broker's error code, if any.
    public init(_ errorCode: Code, message: String? = nil, underlyingError: (any Error)? = nil, brokerErrorCode: KafkaErrorCode? = nil) {
        self.errorCode = errorCode
        self.message = message
        self.underlyingError = underlyingError
        self.brokerErrorCode = brokerErrorCode
    }

    /// An error for a broker's error code.
    static func broker(_ code: KafkaErrorCode, _ context: String) -> KafkaClientError {
        KafkaClientError(.brokerError, message: context, brokerErrorCode: code)
    }

    /// The broker's error code, when there is one.
    public var detail: String? { brokerErrorCode.map { "(broker error \($0.rawValue))" } }

    /// `Kafka`, the start of the description.
    public static var protocolName: String { "Kafka" }
}
