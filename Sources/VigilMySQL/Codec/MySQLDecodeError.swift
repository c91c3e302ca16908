//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Bytes from the server that break the MySQL client/server protocol.
///
/// The decoder and the packet parsers throw this instead of trapping, so a misbehaving or hostile
/// peer only closes its own connection.
public struct MySQLDecodeError: Error, Hashable, CustomStringConvertible {
    /// What kind of violation was found.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// A length-encoded integer started with 0xFB or 0xFF where a number was required.
        public static let invalidLengthEncodedInteger = Kind("invalidLengthEncodedInteger")
        /// A logical packet would be larger than the configured limit.
        public static let packetTooLarge = Kind("packetTooLarge")
        /// A packet ended before one of its fields.
        public static let truncatedPacket = Kind("truncatedPacket")
        /// A packet's content does not fit where it arrived.
        public static let unexpectedPacket = Kind("unexpectedPacket")
        /// The server speaks a protocol version other than 10.
        public static let unsupportedProtocolVersion = Kind("unsupportedProtocolVersion")
        /// A packet's sequence id is not the one that was expected.
        public static let outOfOrderPacket = Kind("outOfOrderPacket")

        public var description: String { name }
    }

    /// What kind of violation was found.
    public var kind: Kind
    /// Details for logs.
    public var message: String

    /// Creates an error of `kind` with details.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "MySQL protocol violation (\(kind)): \(message)" }
}
