//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

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
public struct MySQLClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The connection closed or could not be opened.
        public static let connectionClosed = Code("connectionClosed")
        /// The server sent bytes that break the protocol.
        public static let protocolViolation = Code("protocolViolation")
        /// The server requires a feature or authentication plugin this client lacks.
        public static let unsupported = Code("unsupported")
        /// A statement had a different number of parameters than binds were given.
        public static let bindCountMismatch = Code("bindCountMismatch")
        /// The pool is shutting down or not running.
        public static let poolClosed = Code("poolClosed")
        /// Waiting for a connection from the pool took longer than allowed.
        public static let timeout = Code("timeout")

        public var description: String { name }
    }

    /// What went wrong.
    public var code: Code
    /// Details for logs.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "MySQL client error (\(code)): \(message)" }
}
