//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import VigilClientSupport

/// An error reported by the Redis client or connection.
///
/// Inspect ``errorCode`` to react to a kind of failure; codes may be added later, so a `switch`
/// over them is not possible by design.
///
/// ```swift
/// do { _ = try await client.execute(["INCR", "name"]) }
/// catch let error as RedisClientError where error.errorCode == .serverError {
///     print(error.message ?? "")   // "WRONGTYPE Operation against a key holding the wrong kind of value"
/// }
/// ```
public struct RedisClientError: ProtocolClientError {
    /// The kind of a ``RedisClientError``.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum _Internal: Hashable, Sendable {
            case connectionClosed
            case connectFailed
            case serverError
            case decodeError
            case timeout
            case unexpectedResponse
            case notConnected
            case invalidURL
            case tlsConfiguration
            case alreadyRunning
            case shutdown
        }

        fileprivate let value: _Internal
        fileprivate init(_ value: _Internal) { self.value = value }

        /// The connection closed before the reply arrived; the command may or may not have run.
        public static var connectionClosed: Code { .init(.connectionClosed) }
        /// TCP, TLS, or the HELLO/AUTH/SELECT handshake failed.
        public static var connectFailed: Code { .init(.connectFailed) }
        /// The server answered with an error reply; ``RedisClientError/message`` holds its text.
        public static var serverError: Code { .init(.serverError) }
        /// The server sent bytes that are not RESP3; the connection was closed.
        public static var decodeError: Code { .init(.decodeError) }
        /// No reply within the command timeout, or no connection within it; a connection that timed
        /// out is closed because later replies could not be matched any more.
        public static var timeout: Code { .init(.timeout) }
        /// The reply has a type the typed command method cannot convert.
        public static var unexpectedResponse: Code { .init(.unexpectedResponse) }
        /// No connection to the server is up.
        public static var notConnected: Code { .init(.notConnected) }
        /// A connection URL could not be parsed.
        public static var invalidURL: Code { .init(.invalidURL) }
        /// The TLS configuration could not be loaded.
        public static var tlsConfiguration: Code { .init(.tlsConfiguration) }
        /// `run()` was called on a client that is already running.
        public static var alreadyRunning: Code { .init(.alreadyRunning) }
        /// The client stopped while the operation was waiting.
        public static var shutdown: Code { .init(.shutdown) }

        /// The name of the code.
        public var description: String { "\(value)" }
    }

    /// The kind of failure.
    public var errorCode: Code
    /// Human-readable detail; for ``Code/serverError`` the server's error text.
    public var message: String?
    /// The error that caused this one, if any.
    public var underlyingError: (any Error)?

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - errorCode: The kind of failure.
    ///   - message: Human-readable detail.
    ///   - underlyingError: The error that caused this one.
    public init(_ errorCode: Code, message: String? = nil, underlyingError: (any Error)? = nil) {
        self.errorCode = errorCode
        self.message = message
        self.underlyingError = underlyingError
    }

    /// The first word of a server error (`ERR`, `WRONGTYPE`, `NOAUTH`, `WRONGPASS`), if any.
    public var serverErrorPrefix: Substring? {
        guard errorCode == .serverError, let message else { return nil }
        return message.split(separator: " ", maxSplits: 1).first
    }

    /// `Redis`, the start of the description.
    public static var protocolName: String { "Redis" }
}
