//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import NIOCore

/// One RESP3 value, as sent by a Redis server.
///
/// Every type of the RESP3 specification has a case. Binary-safe payloads (bulk strings, verbatim
/// strings) keep their bytes as a `ByteBuffer` slice of the received data; line-based types (simple
/// strings, errors, big numbers) are decoded as UTF-8 text. RESP2's null bulk string (`$-1`) and null
/// array (`*-1`) decode as ``null``.
///
/// ```
/// +OK\r\n                    simpleString("OK")
/// -ERR unknown\r\n           simpleError("ERR unknown")
/// :42\r\n                    integer(42)
/// $5\r\nhello\r\n            bulkString("hello")
/// _\r\n                      null
/// ,3.14\r\n                  double(3.14)
/// #t\r\n                     boolean(true)
/// (3492890328409238509\r\n   bigNumber("3492890328409238509")
/// !9\r\nERR oops\r\n         bulkError("ERR oops")   (the length counts the text only)
/// =15\r\ntxt:Some string\r\n verbatimString(format: "txt", text: "Some string")
/// *2\r\n…                    array([…])
/// %1\r\n…                    map([key: value])
/// ~2\r\n…                    set([…])
/// |1\r\n… <value>            attribute([key: value], value)
/// >3\r\n…                    push([…])
/// ```
public enum RESPValue: Hashable, Sendable {
    /// A short, non-binary status reply such as `OK`.
    case simpleString(String)
    /// An error reply; by convention its first word is the error code (`ERR`, `WRONGTYPE`, `NOAUTH`).
    case simpleError(String)
    /// A signed 64-bit integer.
    case integer(Int64)
    /// A binary-safe string.
    case bulkString(ByteBuffer)
    /// The absence of a value.
    case null
    /// A floating-point number, including infinities and NaN.
    case double(Double)
    /// A boolean.
    case boolean(Bool)
    /// An integer outside the 64-bit range, in decimal.
    case bigNumber(String)
    /// A binary-safe error reply.
    case bulkError(String)
    /// A string with a three-letter format (`txt`, `mkd`).
    case verbatimString(format: String, text: ByteBuffer)
    /// An ordered list of values.
    case array([RESPValue])
    /// Key-value pairs in the order the server sent them.
    case map([RESPMapEntry])
    /// An unordered collection, in the order the server sent it.
    case set([RESPValue])
    /// Out-of-band attributes that describe the value that follows them.
    indirect case attribute([RESPMapEntry], RESPValue)
    /// Data the server sends on its own (Pub/Sub messages, invalidations): not a reply to a request.
    case push([RESPValue])
}

/// One key-value pair of a RESP3 map or attribute.
public struct RESPMapEntry: Hashable, Sendable {
    /// The key.
    public var key: RESPValue
    /// The value.
    public var value: RESPValue

    /// Creates a pair.
    ///
    /// - Parameters:
    ///   - key: The key.
    ///   - value: The value.
    public init(key: RESPValue, value: RESPValue) {
        self.key = key
        self.value = value
    }
}

extension RESPValue {
    /// Creates a bulk string from text.
    ///
    /// - Parameter text: The string, encoded as UTF-8.
    public static func bulkString(_ text: String) -> RESPValue {
        .bulkString(ByteBuffer(string: text))
    }

    /// The value as text: simple, bulk and verbatim strings, and big numbers; `nil` for other types.
    public var string: String? {
        switch self {
        case .simpleString(let text), .bigNumber(let text): text
        case .bulkString(let buffer), .verbatimString(_, let buffer): String(buffer: buffer)
        case .attribute(_, let value): value.string
        default: nil
        }
    }

    /// The value as bytes: bulk and verbatim strings and simple strings; `nil` for other types.
    public var bytes: ByteBuffer? {
        switch self {
        case .bulkString(let buffer), .verbatimString(_, let buffer): buffer
        case .simpleString(let text): ByteBuffer(string: text)
        case .attribute(_, let value): value.bytes
        default: nil
        }
    }

    /// The value as an integer: integers, and strings holding a decimal integer.
    public var int: Int? {
        switch self {
        case .integer(let value): Int(exactly: value)
        case .simpleString, .bulkString, .bigNumber: self.string.flatMap { Int($0) }
        case .attribute(_, let value): value.int
        default: nil
        }
    }

    /// The elements of an array, set or push; the keys and values, alternating, of a map; `nil`
    /// for other types.
    public var array: [RESPValue]? {
        switch self {
        case .array(let values), .set(let values), .push(let values): values
        case .map(let entries): entries.flatMap { [$0.key, $0.value] }
        case .attribute(_, let value): value.array
        default: nil
        }
    }

    /// The entries of a map, or of an array of alternating keys and values (the RESP2 form).
    public var mapEntries: [RESPMapEntry]? {
        switch self {
        case .map(let entries): return entries
        case .array(let values) where values.count % 2 == 0:
            return stride(from: 0, to: values.count, by: 2).map { RESPMapEntry(key: values[$0], value: values[$0 + 1]) }
        case .attribute(_, let value): return value.mapEntries
        default: return nil
        }
    }

    /// Whether the value is ``null``.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The message of an error reply, or `nil` when the value is not an error.
    public var errorMessage: String? {
        switch self {
        case .simpleError(let message), .bulkError(let message): message
        default: nil
        }
    }

    /// The value without attributes.
    var withoutAttributes: RESPValue {
        if case .attribute(_, let value) = self { return value.withoutAttributes }
        return self
    }
}

extension RESPValue: CustomStringConvertible {
    /// A readable rendering for logs and test failures.
    public var description: String {
        switch self {
        case .simpleString(let text): "+\(text)"
        case .simpleError(let text): "-\(text)"
        case .integer(let value): ":\(value)"
        case .bulkString(let buffer): "\"\(String(buffer: buffer))\""
        case .null: "null"
        case .double(let value): ",\(value)"
        case .boolean(let value): "#\(value)"
        case .bigNumber(let text): "(\(text)"
        case .bulkError(let text): "!\(text)"
        case .verbatimString(let format, let text): "=\(format):\(String(buffer: text))"
        case .array(let values): "[\(values.map(\.description).joined(separator: ", "))]"
        case .map(let entries): "{\(entries.map { "\($0.key): \($0.value)" }.joined(separator: ", "))}"
        case .set(let values): "~{\(values.map(\.description).joined(separator: ", "))}"
        case .attribute(let entries, let value): "|{\(entries.map { "\($0.key): \($0.value)" }.joined(separator: ", "))} \(value)"
        case .push(let values): ">[\(values.map(\.description).joined(separator: ", "))]"
        }
    }
}
