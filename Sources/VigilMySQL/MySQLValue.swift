//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// One value sent to or received from the server.
///
/// Rows from the text protocol (plain queries) and the binary protocol (queries with binds) decode
/// to the same cases: integer columns to ``int(_:)`` or ``uint(_:)`` (unsigned), FLOAT and DOUBLE to
/// ``double(_:)``, binary strings and BLOBs to ``bytes(_:)``, and everything else, including
/// DECIMAL, dates and times (as `YYYY-MM-DD hh:mm:ss[.ffffff]`), to ``string(_:)``.
///
/// As a bind, a string may carry a date, which the server converts:
/// `try await connection.query("SELECT * FROM t WHERE day = ?", ["2026-11-23"])`.
public enum MySQLValue: Hashable, Sendable {
    /// SQL NULL.
    case null
    /// A signed integer.
    case int(Int64)
    /// An unsigned integer (a column with the UNSIGNED flag).
    case uint(UInt64)
    /// A floating-point number.
    case double(Double)
    /// Text.
    case string(String)
    /// Binary data.
    case bytes([UInt8])

    /// Whether the value is SQL NULL.
    public var isNull: Bool { self == .null }

    /// The value as a signed integer, converting unsigned values and decimal text when they fit.
    public var int: Int? {
        switch self {
        case .int(let value): Int(exactly: value)
        case .uint(let value): Int(exactly: value)
        case .string(let text): Int(text)
        case .double(let value): Int(exactly: value)
        case .null, .bytes: nil
        }
    }

    /// The value as an unsigned 64-bit integer.
    public var uint64: UInt64? {
        switch self {
        case .int(let value): UInt64(exactly: value)
        case .uint(let value): value
        case .string(let text): UInt64(text)
        case .double(let value): UInt64(exactly: value)
        case .null, .bytes: nil
        }
    }

    /// The value as a floating-point number.
    public var double: Double? {
        switch self {
        case .int(let value): Double(value)
        case .uint(let value): Double(value)
        case .double(let value): value
        case .string(let text): Double(text)
        case .null, .bytes: nil
        }
    }

    /// The value as text; numbers are formatted, bytes are decoded as UTF-8.
    public var string: String? {
        switch self {
        case .string(let text): text
        case .int(let value): String(value)
        case .uint(let value): String(value)
        case .double(let value): String(value)
        case .bytes(let bytes): String(decoding: bytes, as: UTF8.self)
        case .null: nil
        }
    }

    /// The value as raw bytes; text is encoded as UTF-8.
    public var bytes: [UInt8]? {
        switch self {
        case .bytes(let bytes): bytes
        case .string(let text): Array(text.utf8)
        default: nil
        }
    }
}

extension MySQLValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByNilLiteral {
    /// Creates a ``string(_:)`` value.
    public init(stringLiteral value: String) { self = .string(value) }
    /// Creates an ``int(_:)`` value.
    public init(integerLiteral value: Int64) { self = .int(value) }
    /// Creates a ``double(_:)`` value.
    public init(floatLiteral value: Double) { self = .double(value) }
    /// Creates ``null``.
    public init(nilLiteral: ()) { self = .null }
}

extension MySQLValue {
    /// Creates an ``int(_:)`` value from any integer that fits in 64 bits, or ``uint(_:)`` for
    /// larger unsigned values.
    public init(_ value: some BinaryInteger) {
        if let signed = Int64(exactly: value) {
            self = .int(signed)
        } else {
            self = .uint(UInt64(truncatingIfNeeded: value))
        }
    }

    /// Creates a ``string(_:)`` value, or ``null`` when `value` is `nil`.
    public init(_ value: String?) {
        self = value.map { .string($0) } ?? .null
    }
}
