//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import TOMLKit

/// A TOML value copied out of TOMLKit's tree into a Sendable value, once, at start-up.
public indirect enum ConfigValue: Sendable, Hashable {
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)
    case array([ConfigValue])
    case table([String: ConfigValue])
    /// A date, time or date-time: kept as text; no Vigil key takes one.
    case other(String)

    /// The TOML type name used in error messages.
    public var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .boolean: "boolean"
        case .array: "array"
        case .table: "table"
        case .other: "date/time"
        }
    }

    init(_ value: any TOMLValueConvertible) {
        switch value.type {
        case .string: self = .string(value.string ?? "")
        case .int: self = .integer(value.int ?? 0)
        case .double: self = .float(value.double ?? 0)
        case .bool: self = .boolean(value.bool ?? false)
        case .array: self = .array(value.array.map { $0.map(ConfigValue.init) } ?? [])
        case .table: self = .table(value.table.map(ConfigValue.table(from:)) ?? [:])
        default: self = .other(value.debugDescription)
        }
    }

    static func table(from table: TOMLTable) -> [String: ConfigValue] {
        var result: [String: ConfigValue] = [:]
        for key in table.keys {
            if let value = table[key] { result[key] = ConfigValue(value) }
        }
        return result
    }
}
