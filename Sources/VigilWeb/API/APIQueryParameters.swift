//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// A query or path parameter that is missing, malformed or out of range (HTTP 400).
public struct APIParameterError: Error, Hashable, CustomStringConvertible {
    /// The parameter's name as the client wrote it (`after`, `series`, `name`).
    public var parameter: String
    /// What is wrong with it, as the end of a sentence (`must be an integer …, got '1e19'`).
    public var reason: String

    /// Creates an error.
    public init(_ parameter: String, _ reason: String) {
        self.parameter = parameter
        self.reason = reason
    }

    public var description: String { "query parameter '\(parameter)' \(reason)" }
}

/// The query string of a request, split into percent-decoded name/value pairs, with exact parsers
/// for the values.
///
/// Everything here is pure and total: any input, however long or malformed, either parses or throws
/// ``APIParameterError`` naming the parameter, and no value reaches a conversion or arithmetic
/// before it is range-checked.
///
/// - Values and names are percent-decoded strictly: a `%` not followed by two hex digits, or bytes
///   that are not UTF-8, make the value invalid. `+` stays a plus (as in the router's own parsing).
/// - A parameter given twice is an error (which one was meant?).
/// - Numbers are written as in JSON (`-12`, `0.5`, `1.7e9`); integers are digits only. `NaN`,
///   `inf`, hex and anything longer than ``maxNumberLength`` are refused.
///
/// ```swift
/// let query = APIQueryParameters(rawQuery: "after=41&limit=10")
/// let after = try query.integer("after", in: 0...Int64.max)   // 41
/// ```
public struct APIQueryParameters: Sendable, Hashable {
    /// One decoded `name=value` pair; `value` is `nil` when percent-decoding failed.
    public struct Pair: Sendable, Hashable {
        /// The decoded name (or the raw name when it does not decode).
        public var name: String
        /// The decoded value, or `nil` when it is not valid percent-encoded UTF-8.
        public var value: String?
    }

    /// The longest number accepted, in characters.
    public static let maxNumberLength = 64
    /// The longest text value accepted (series keys, prefixes, target names), in UTF-8 bytes.
    public static let maxTextLength = 4096

    /// The pairs in the order given.
    public var pairs: [Pair]

    /// Splits and decodes a raw query string (the part after `?`, without it).
    ///
    /// - Parameter rawQuery: The query exactly as received; may be empty.
    public init(rawQuery: some StringProtocol) {
        pairs = []
        for item in rawQuery.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = item.firstIndex(of: UInt8(ascii: "="))
            let rawName = equals.map { item[..<$0] } ?? item[...]
            let rawValue = equals.map { item[item.index(after: $0)...] } ?? item[item.endIndex...]
            let name = Self.percentDecode(rawName) ?? String(decoding: rawName, as: UTF8.self)
            pairs.append(Pair(name: name, value: Self.percentDecode(rawValue)))
        }
    }

    /// Creates parameters from decoded pairs.
    public init(pairs: [Pair]) {
        self.pairs = pairs
    }

    // MARK: - Values

    /// The decoded text of a parameter, or `nil` when it is absent.
    ///
    /// - Throws: ``APIParameterError`` when it is given twice, is not valid percent-encoded UTF-8,
    ///   or is longer than ``maxTextLength`` bytes.
    public func text(_ name: String) throws(APIParameterError) -> String? {
        var found: Pair?
        for pair in pairs where pair.name == name {
            guard found == nil else { throw APIParameterError(name, "is given more than once") }
            found = pair
        }
        guard let found else { return nil }
        guard let value = found.value else { throw APIParameterError(name, "is not valid percent-encoded UTF-8") }
        guard value.utf8.count <= Self.maxTextLength else {
            throw APIParameterError(name, "is longer than \(Self.maxTextLength) bytes")
        }
        return value
    }

    /// A finite number written as in JSON, within `range`, or `nil` when absent.
    ///
    /// - Throws: ``APIParameterError`` when it is malformed, not finite or outside `range`.
    public func number(_ name: String, in range: ClosedRange<Double>) throws(APIParameterError) -> Double? {
        guard let text = try text(name) else { return nil }
        let expected = "must be a number from \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound))"
        guard text.utf8.count <= Self.maxNumberLength, Self.isJSONNumber(text), let value = Double(text), value.isFinite,
            range.contains(value)
        else {
            throw APIParameterError(name, "\(expected), got \(Self.quote(text))")
        }
        return value
    }

    /// An integer written in decimal digits (optionally after `-`), within `range`, or `nil` when absent.
    ///
    /// - Throws: ``APIParameterError`` when it is malformed, does not fit `Int64` or is outside `range`.
    public func integer(_ name: String, in range: ClosedRange<Int64>) throws(APIParameterError) -> Int64? {
        guard let text = try text(name) else { return nil }
        let digits = text.utf8.first == UInt8(ascii: "-") ? text.utf8.dropFirst() : text.utf8[...]
        guard text.utf8.count <= Self.maxNumberLength, !digits.isEmpty, digits.allSatisfy(Self.isDigit),
            let value = Int64(text), range.contains(value)
        else {
            throw APIParameterError(name, "must be an integer from \(range.lowerBound) to \(range.upperBound), got \(Self.quote(text))")
        }
        return value
    }

    // MARK: - Helpers

    /// Decodes `%XX` escapes; `nil` when an escape is malformed or the bytes are not UTF-8.
    public static func percentDecode(_ raw: some Collection<UInt8>) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var index = raw.startIndex
        while index != raw.endIndex {
            let byte = raw[index]
            index = raw.index(after: index)
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard index != raw.endIndex, let high = hexValue(raw[index]) else { return nil }
            index = raw.index(after: index)
            guard index != raw.endIndex, let low = hexValue(raw[index]) else { return nil }
            index = raw.index(after: index)
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    /// Whether `text` is `-?digits(.digits)?([eE][+-]?digits)?`: no `NaN`, `inf`, hex or spaces,
    /// which `Double.init(_:)` would otherwise accept.
    static func isJSONNumber(_ text: String) -> Bool {
        var bytes = text.utf8[...]
        func digits() -> Bool {
            let count = bytes.prefix(while: isDigit).count
            bytes = bytes.dropFirst(count)
            return count > 0
        }
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        guard digits() else { return false }
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            guard digits() else { return false }
        }
        if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if bytes.first == UInt8(ascii: "+") || bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
            guard digits() else { return false }
        }
        return bytes.isEmpty
    }

    /// A bound without a useless `.0`.
    private static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    /// The value as the client wrote it, cut short so that an error never echoes a huge input.
    static func quote(_ text: String) -> String {
        let limit = 40
        guard text.count > limit else { return "'\(text)'" }
        return "'\(text.prefix(limit))…' (\(text.utf8.count) bytes)"
    }
}
