//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import VigilCore

/// Writes the JSON columns of `latest_state` straight into a reusable byte buffer.
///
/// A flush at 100,000 devices writes 100,000 states; Foundation's `JSONEncoder` allocated a
/// `Data`, a container tree and a string per number for each of their two dictionaries, which was
/// most of a flush's cost. The output is read back with `JSONDecoder`, so it only has to be valid
/// JSON with the same meaning: numbers are written as Swift prints them (integers without a
/// fraction), and a non-finite number, which JSON cannot carry, is written as `null` in attributes
/// and left out of values.
enum JSONText {
    static func append(_ attributes: [String: JSONValue], to bytes: inout [UInt8]) {
        appendObject(attributes, to: &bytes) { value, bytes in append(value, to: &bytes) }
    }

    static func append(_ values: [String: Double], to bytes: inout [UInt8]) {
        appendObject(values.lazy.filter { $0.value.isFinite }, to: &bytes) { value, bytes in appendNumber(value, to: &bytes) }
    }

    private static func appendObject<Members: Sequence, Value>(
        _ members: Members,
        to bytes: inout [UInt8],
        value appendValue: (Value, inout [UInt8]) -> Void
    ) where Members.Element == (key: String, value: Value) {
        bytes.append(UInt8(ascii: "{"))
        var first = true
        for (key, value) in members {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            appendString(key, to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            appendValue(value, &bytes)
        }
        bytes.append(UInt8(ascii: "}"))
    }

    static func append(_ value: JSONValue, to bytes: inout [UInt8]) {
        switch value {
        case .null: bytes.append(contentsOf: "null".utf8)
        case .bool(let flag): bytes.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let number):
            if number.isFinite { appendNumber(number, to: &bytes) } else { bytes.append(contentsOf: "null".utf8) }
        case .string(let string): appendString(string, to: &bytes)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                append(element, to: &bytes)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members): append(members, to: &bytes)
        }
    }

    static func appendNumber(_ number: Double, to bytes: inout [UInt8]) {
        // Whole numbers are most of what sources report (counts, Unix seconds, flags), and an
        // integer prints without going through the shortest-round-trip float formatter.
        if number == number.rounded(), abs(number) < 9_007_199_254_740_992 {
            appendInteger(Int64(number), to: &bytes)
        } else {
            bytes.append(contentsOf: number.description.utf8)
        }
    }

    private static func appendInteger(_ integer: Int64, to bytes: inout [UInt8]) {
        if integer < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = integer.magnitude
        if magnitude == 0 {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        let start = bytes.count
        while magnitude > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        }
        bytes[start...].reverse()
    }

    static func appendString(_ string: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
