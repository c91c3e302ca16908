//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The MySQL column types (`MYSQL_TYPE_*`) that this client tells apart.
public struct MySQLColumnType: RawRepresentable, Hashable, Sendable {
    /// The byte on the wire.
    public var rawValue: UInt8
    /// Creates a type from its wire byte.
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `DECIMAL` (old form).
    public static let decimal = MySQLColumnType(rawValue: 0x00)
    /// `TINYINT`.
    public static let tiny = MySQLColumnType(rawValue: 0x01)
    /// `SMALLINT`.
    public static let short = MySQLColumnType(rawValue: 0x02)
    /// `INT`.
    public static let long = MySQLColumnType(rawValue: 0x03)
    /// `FLOAT`.
    public static let float = MySQLColumnType(rawValue: 0x04)
    /// `DOUBLE`.
    public static let double = MySQLColumnType(rawValue: 0x05)
    /// The type of a NULL literal.
    public static let null = MySQLColumnType(rawValue: 0x06)
    /// `TIMESTAMP`.
    public static let timestamp = MySQLColumnType(rawValue: 0x07)
    /// `BIGINT`.
    public static let longlong = MySQLColumnType(rawValue: 0x08)
    /// `MEDIUMINT`.
    public static let int24 = MySQLColumnType(rawValue: 0x09)
    /// `DATE`.
    public static let date = MySQLColumnType(rawValue: 0x0A)
    /// `TIME`.
    public static let time = MySQLColumnType(rawValue: 0x0B)
    /// `DATETIME`.
    public static let datetime = MySQLColumnType(rawValue: 0x0C)
    /// `YEAR`.
    public static let year = MySQLColumnType(rawValue: 0x0D)
    /// `VARCHAR` (internal form).
    public static let varchar = MySQLColumnType(rawValue: 0x0F)
    /// `BIT`.
    public static let bit = MySQLColumnType(rawValue: 0x10)
    /// `JSON` (MySQL).
    public static let json = MySQLColumnType(rawValue: 0xF5)
    /// `DECIMAL`.
    public static let newDecimal = MySQLColumnType(rawValue: 0xF6)
    /// `TINYBLOB`/`TINYTEXT`.
    public static let tinyBlob = MySQLColumnType(rawValue: 0xF9)
    /// `MEDIUMBLOB`/`MEDIUMTEXT`.
    public static let mediumBlob = MySQLColumnType(rawValue: 0xFA)
    /// `LONGBLOB`/`LONGTEXT`.
    public static let longBlob = MySQLColumnType(rawValue: 0xFB)
    /// `BLOB`/`TEXT`.
    public static let blob = MySQLColumnType(rawValue: 0xFC)
    /// `VARCHAR`/`VARBINARY`.
    public static let varString = MySQLColumnType(rawValue: 0xFD)
    /// `CHAR`/`BINARY`, `ENUM` and `SET`.
    public static let string = MySQLColumnType(rawValue: 0xFE)

    var isInteger: Bool { [.tiny, .short, .long, .longlong, .int24, .year].contains(self) }
    var isFloatingPoint: Bool { self == .float || self == .double }
    var isStringLike: Bool {
        [.varchar, .varString, .string, .tinyBlob, .mediumBlob, .longBlob, .blob, .bit, .json].contains(self)
    }
}

/// The description of one result column.
public struct MySQLColumn: Hashable, Sendable {
    /// The column's name or alias.
    public var name: String
    /// The table's name or alias, empty for computed columns.
    public var table: String
    /// The schema (database).
    public var schema: String
    /// The wire type.
    public var type: MySQLColumnType
    /// Column flags (`NOT_NULL` = 1, `UNSIGNED` = 32, `BINARY` = 128, ...).
    public var flags: UInt16
    /// The character set number; 63 means binary.
    public var characterSet: UInt16
    /// The maximum display length.
    public var length: UInt32
    /// The number of decimals.
    public var decimals: UInt8

    /// Creates a column description.
    public init(
        name: String,
        table: String = "",
        schema: String = "",
        type: MySQLColumnType,
        flags: UInt16 = 0,
        characterSet: UInt16 = 45,
        length: UInt32 = 0,
        decimals: UInt8 = 0
    ) {
        self.name = name
        self.table = table
        self.schema = schema
        self.type = type
        self.flags = flags
        self.characterSet = characterSet
        self.length = length
        self.decimals = decimals
    }

    /// Whether the column holds unsigned integers.
    public var isUnsigned: Bool { flags & 32 != 0 }
    /// Whether the column holds bytes rather than text.
    public var isBinary: Bool { characterSet == 63 }
}

/// One result row with typed access by column index or name.
///
/// ```swift
/// for row in try await connection.query("SELECT id, name FROM channels WHERE id > ?", [100]) {
///     let id = row["id"]?.int
///     let name = row[1].string
/// }
/// ```
public struct MySQLRow: Hashable, Sendable {
    /// The columns of the result set, shared by all its rows.
    public let columns: [MySQLColumn]
    /// The values, in column order.
    public let values: [MySQLValue]

    /// Creates a row.
    public init(columns: [MySQLColumn], values: [MySQLValue]) {
        self.columns = columns
        self.values = values
    }

    /// The value at `index`.
    public subscript(index: Int) -> MySQLValue { values[index] }

    /// The value of the first column called `name`, or `nil` when there is no such column.
    public subscript(name: String) -> MySQLValue? {
        columns.firstIndex { $0.name == name }.map { values[$0] }
    }

    /// Decodes the column `name` as `T`.
    ///
    /// - Throws: ``MySQLClientError`` when the column is missing, NULL, or not convertible.
    public func decode<T: MySQLValueConvertible>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let value = self[name] else {
            throw MySQLClientError(.protocolViolation, message: "no column named '\(name)'")
        }
        guard let decoded = T(mySQLValue: value) else {
            throw MySQLClientError(.protocolViolation, message: "column '\(name)' value \(value) is not a \(T.self)")
        }
        return decoded
    }
}

/// A Swift type that can be read from a ``MySQLValue``.
public protocol MySQLValueConvertible {
    /// Creates a value, or returns `nil` when `mySQLValue` cannot be represented.
    init?(mySQLValue: MySQLValue)
}

extension Int: MySQLValueConvertible {
    /// Reads an integer.
    public init?(mySQLValue: MySQLValue) {
        guard let value = mySQLValue.int else { return nil }
        self = value
    }
}

extension Int64: MySQLValueConvertible {
    /// Reads a signed 64-bit integer.
    public init?(mySQLValue: MySQLValue) {
        guard let value = mySQLValue.int.map(Int64.init) else { return nil }
        self = value
    }
}

extension UInt64: MySQLValueConvertible {
    /// Reads an unsigned 64-bit integer, such as a `BIGINT UNSIGNED` id.
    public init?(mySQLValue: MySQLValue) {
        guard let value = mySQLValue.uint64 else { return nil }
        self = value
    }
}

extension Bool: MySQLValueConvertible {
    /// Reads `BOOL` (`TINYINT(1)`): 0 is false, any other integer is true.
    public init?(mySQLValue: MySQLValue) {
        guard let value = mySQLValue.int else { return nil }
        self = value != 0
    }
}

extension String: MySQLValueConvertible {
    /// Reads text.
    public init?(mySQLValue: MySQLValue) {
        guard let value = mySQLValue.string else { return nil }
        self = value
    }
}

extension Double: MySQLValueConvertible {
    /// Reads a number.
    public init?(mySQLValue: MySQLValue) {
        guard let value = mySQLValue.double else { return nil }
        self = value
    }
}

extension Optional: MySQLValueConvertible where Wrapped: MySQLValueConvertible {
    /// Reads NULL as `nil` and anything else as `Wrapped`.
    public init?(mySQLValue: MySQLValue) {
        if mySQLValue.isNull {
            self = .none
        } else if let value = Wrapped(mySQLValue: mySQLValue) {
            self = .some(value)
        } else {
            return nil
        }
    }
}
