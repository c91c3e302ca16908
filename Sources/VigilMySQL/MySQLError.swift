//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import VigilClientSupport

/// An error the server reported in an ERR packet.
///
/// The connection stays usable after a statement fails this way (for example with a syntax error,
/// code 1064); only errors during the handshake, such as access denied (1045), end it.
public struct MySQLError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The server's error number, for example 1045 (access denied) or 1064 (syntax error).
    public var code: UInt16
    /// The five-character SQLSTATE, for example `28000` or `42000`.
    public var sqlState: String
    /// The server's human-readable message.
    public var message: String

    /// Creates an error with the fields of an ERR packet.
    public init(code: UInt16, sqlState: String, message: String) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
    }

    public var description: String { "MySQL error \(code) (\(sqlState)): \(message)" }
}

/// A failure on the client side: the connection closed, the server broke the protocol, or it asked
/// for something this client does not support.
///
/// It has the shape of every Vigil protocol client's error (`ProtocolClientError`): an extensible
/// ``errorCode``, a ``message`` and the ``underlyingError`` that caused it. Errors the server
/// reports for a statement are ``MySQLError`` instead.
///
/// ```swift
/// catch let error as MySQLClientError where error.errorCode == .timeout { ... }
/// ```
public struct MySQLClientError: ProtocolClientError {
    /// The kind of a ``MySQLClientError``.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum _Internal: Hashable, Sendable {
            case connectionClosed, protocolViolation, unsupported, bindCountMismatch, poolClosed, timeout
        }

        fileprivate let value: _Internal
        fileprivate init(_ value: _Internal) { self.value = value }

        /// The connection closed or could not be opened.
        public static var connectionClosed: Code { .init(.connectionClosed) }
        /// The server sent bytes that break the protocol.
        public static var protocolViolation: Code { .init(.protocolViolation) }
        /// The server requires a feature or authentication plugin this client lacks.
        public static var unsupported: Code { .init(.unsupported) }
        /// A statement had a different number of parameters than binds were given.
        public static var bindCountMismatch: Code { .init(.bindCountMismatch) }
        /// The pool is shutting down or not running.
        public static var poolClosed: Code { .init(.poolClosed) }
        /// Waiting for a connection from the pool, or for the server's answer, took longer than allowed.
        public static var timeout: Code { .init(.timeout) }

        /// The name of the code.
        public var description: String { "\(value)" }
    }

    /// The kind of failure.
    public var errorCode: Code
    /// Human-readable detail, if any.
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

    /// `MySQL`, the start of the description.
    public static var protocolName: String { "MySQL" }
}
