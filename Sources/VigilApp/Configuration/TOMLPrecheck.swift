//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Finds the TOML errors that crash TOMLKit's parser instead of being reported.
///
/// toml++ (the C++ parser inside TOMLKit 0.6) asserts where it should report an error, and is
/// built without NDEBUG, so these abort the process (with NDEBUG they would be undefined
/// behaviour): a table header whose `[` or `[[` is not followed by a key or `]` (`[#`, `[=`, `[` at
/// the end of its line), and a `}` where an array expects a value (`[1, }`). Both are invalid TOML,
/// so they are refused before the text reaches the parser. Found by the `config` fuzz target
/// (docs/FUZZING.md).
enum TOMLPrecheck {
    /// A crashing construct: its line (from 1) and what is wrong.
    struct Problem: Equatable {
        var line: Int
        var message: String
    }

    /// The first crashing construct in `text`, or `nil`.
    ///
    /// Only a `[` first on its line and outside strings, comments, arrays and inline tables is a
    /// header, as for toml++, which stops at its first error; the scan may be wrong only after text
    /// that is already invalid TOML.
    static func firstProblem(in text: String) -> Problem? {
        let bytes = Array(text.utf8)
        var index = 0
        var line = 1
        // The open `[` (true) and `{` (false) of values: a `[` inside them begins an array, not a header.
        var open: [Bool] = []
        // Just after an array's `[` or `,`: a `}` there is what toml++ asserts on.
        var expectingValue = false
        var atLineStart = true
        func at(_ offset: Int) -> UInt8? { index + offset < bytes.count ? bytes[index + offset] : nil }
        func skipBlanks() {
            while let byte = at(0), byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { index += 1 }
        }
        while let byte = at(0) {
            switch byte {
            case UInt8(ascii: "\n"):
                line += 1
                atLineStart = true
                index += 1
                continue
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                index += 1
                continue
            case UInt8(ascii: "#"):
                while let next = at(0), next != UInt8(ascii: "\n") { index += 1 }
                continue
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                skipString(bytes, from: &index, line: &line)
                atLineStart = false
                expectingValue = false
                continue
            case UInt8(ascii: "[") where open.isEmpty && atLineStart:
                index += 1
                skipBlanks()
                if at(0) == UInt8(ascii: "[") {
                    index += 1
                    skipBlanks()
                }
                if let next = at(0), !isKeyStart(next) {
                    return Problem(line: line, message: "a table header must start with a key")
                }
                atLineStart = false
                continue
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                open.append(byte == UInt8(ascii: "["))
                expectingValue = byte == UInt8(ascii: "[")
                atLineStart = false
                index += 1
                continue
            case UInt8(ascii: "}") where expectingValue && open.last == true:
                return Problem(line: line, message: "expected a value or ']' in an array, saw '}'")
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                _ = open.popLast()
            case UInt8(ascii: ","):
                expectingValue = open.last == true
                atLineStart = false
                index += 1
                continue
            default:
                break
            }
            atLineStart = false
            expectingValue = false
            index += 1
        }
        return nil
    }

    /// Moves `index` past the string that starts there: basic or literal, one-line or multi-line
    /// (`"""`, `'''`), counting the lines it spans. A one-line string ends at the end of its line.
    private static func skipString(_ bytes: [UInt8], from index: inout Int, line: inout Int) {
        let quote = bytes[index]
        let escapes = quote == UInt8(ascii: "\"")
        let multiline = index + 2 < bytes.count && bytes[index + 1] == quote && bytes[index + 2] == quote
        index += multiline ? 3 : 1
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\n") {
                guard multiline else { return }
                line += 1
            } else if escapes && byte == UInt8(ascii: "\\") {
                // The escaped byte cannot end the string; a line break after `\` still counts.
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "\n") { line += 1 }
            } else if byte == quote {
                if !multiline {
                    index += 1
                    return
                }
                if index + 2 < bytes.count, bytes[index + 1] == quote, bytes[index + 2] == quote {
                    index += 3
                    return
                }
            }
            index += 1
        }
    }

    /// What toml++ accepts after a header's brackets: a bare key, a quoted key, or `]` (which it
    /// reports as an empty key).
    private static func isKeyStart(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "]"):
            true
        default:
            false
        }
    }
}
