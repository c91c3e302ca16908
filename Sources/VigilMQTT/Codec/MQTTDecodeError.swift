//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// A reason why bytes received from the network are not a valid MQTT packet.
///
/// Decoding errors are values so that tests can compare them. Every one of them is a protocol error:
/// the connection that produced it is closed.
package struct MQTTDecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    enum Kind: Hashable, Sendable {
        /// The remaining-length field uses more than four bytes.
        case remainingLengthOverflow
        /// The packet is larger than the configured maximum packet size.
        case packetTooLarge
        /// The packet type is reserved or not valid for the protocol version.
        case unknownPacketType
        /// Fixed-header flag bits that the specification reserves are set.
        case reservedFlags
        /// A length field inside the packet does not match the bytes present.
        case badLength
        /// A string is not well-formed UTF-8 or contains U+0000.
        case invalidUTF8
        /// A field has a value that the specification forbids.
        case malformed
        /// The stream ended in the middle of a packet.
        case truncated
        /// A property identifier is unknown or not allowed in this packet.
        case invalidProperty
        /// The protocol name or level in CONNECT is not supported.
        case unsupportedProtocol
    }

    /// What went wrong.
    var kind: Kind
    /// Human-readable detail.
    var detail: String

    init(_ kind: Kind, _ detail: String = "") {
        self.kind = kind
        self.detail = detail
    }

    package static func == (lhs: Self, rhs: Self) -> Bool { lhs.kind == rhs.kind }
    package func hash(into hasher: inout Hasher) { hasher.combine(kind) }

    package var description: String { detail.isEmpty ? "\(kind)" : "\(kind): \(detail)" }

    /// The MQTT 5 reason code to send in DISCONNECT for this error.
    var reasonCode: UInt8 {
        switch kind {
        case .packetTooLarge: 0x95
        case .unknownPacketType, .unsupportedProtocol: 0x82
        default: 0x81
        }
    }
}
