//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Parses durations as operators write them in configuration files.
///
/// Accepted forms: Go's `time.ParseDuration` syntax (`5s`, `1m30s`, `500ms`, `1.5h`, units ns, us,
/// µs, ms, s, m, h), an added `d` for days (`7d`, retention periods), and a bare number meaning
/// seconds (`30`, the iotmonitor `watchTimeOut` style).
public enum DurationParser {
    /// Why a duration could not be parsed.
    public struct ParseError: Error, Hashable, CustomStringConvertible {
        /// The text that was rejected.
        public var text: String
        public var description: String {
            "'\(text)' is not a duration (use forms like 500ms, 5s, 1m30s, 2h, 7d or a number of seconds)"
        }
    }

    /// Parses a duration.
    ///
    /// - Parameter text: The text, e.g. `1m30s`.
    /// - Returns: The duration; never negative.
    /// - Throws: ``ParseError`` when the text is not a duration.
    public static func parse(_ text: String) throws(ParseError) -> Duration {
        let trimmed = text.trimmingWhitespace()
        if let seconds = Double(trimmed), seconds >= 0, seconds.isFinite {
            return .milliseconds(Int64((seconds * 1000).rounded()))
        }
        var rest = Substring(trimmed)
        guard !rest.isEmpty, rest != "-" else { throw ParseError(text: text) }
        var total = 0.0  // nanoseconds
        while !rest.isEmpty {
            let numberEnd = rest.firstIndex { !($0.isNumber || $0 == ".") } ?? rest.endIndex
            guard numberEnd != rest.startIndex, let number = Double(rest[..<numberEnd]) else {
                throw ParseError(text: text)
            }
            rest = rest[numberEnd...]
            let unitEnd = rest.firstIndex { $0.isNumber || $0 == "." } ?? rest.endIndex
            let unit = rest[..<unitEnd]
            rest = rest[unitEnd...]
            let scale: Double
            switch unit {
            case "ns": scale = 1
            case "us", "µs", "μs": scale = 1e3
            case "ms": scale = 1e6
            case "s": scale = 1e9
            case "m": scale = 60e9
            case "h": scale = 3600e9
            case "d": scale = 86400e9
            default: throw ParseError(text: text)
            }
            total += number * scale
        }
        guard total.isFinite, total < 9.2e18 else { throw ParseError(text: text) }
        return .nanoseconds(Int64(total))
    }
}

extension Duration {
    /// The duration in seconds as a floating-point number.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines.
    public func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let start = firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = lastIndex(where: { !isSpace($0) })!
        return String(self[start...end])
    }
}
