//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The shape every protocol client's error has: a code to react to, a message for people and the
/// error that caused it.
///
/// `MQTTClientError`, `RedisClientError`, `XMPPClientError` and `MySQLClientError` conform, so code
/// that handles any of them (logging, retry decisions) reads the same three fields, and all four
/// describe themselves in one format:
///
/// ```
/// MQTT error connectionRefused (reason code 0x87): not authorized [underlying error]
/// ```
///
/// A conforming type keeps its own extensible `Code` (a struct wrapping a private enum, so cases can
/// be added without breaking a `switch`) and may add protocol-specific fields, which it shows
/// through ``detail``.
public protocol ProtocolClientError: Error, CustomStringConvertible {
    /// The kind of failure: a struct with one static property per case.
    associatedtype Code: Hashable, Sendable, CustomStringConvertible

    /// The protocol's name as it starts the description, for example `MQTT`.
    static var protocolName: String { get }
    /// The kind of failure.
    var errorCode: Code { get }
    /// Human-readable detail, if any.
    var message: String? { get }
    /// The error that caused this one, if any.
    var underlyingError: (any Error)? { get }
    /// Protocol-specific detail shown after the code, such as a reason code; `nil` by default.
    var detail: String? { get }
}

extension ProtocolClientError {
    /// No protocol-specific detail.
    public var detail: String? { nil }

    /// One line: `<protocol> error <code>[ <detail>][: <message>][ [<underlying error>]]`.
    public var description: String {
        var text = "\(Self.protocolName) error \(errorCode)"
        if let detail { text += " \(detail)" }
        if let message { text += ": \(message)" }
        if let underlyingError { text += " [\(underlyingError)]" }
        return text
    }
}
