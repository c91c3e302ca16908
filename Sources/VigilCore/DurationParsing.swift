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
///
/// Every result lies between zero and ``maximum``: the arithmetic is done in `Double` and range-checked
/// before any conversion, so no text (`1e20`, `nan`, `-5s`, 400 digits) can trap.
public enum DurationParser {
    /// The longest duration accepted anywhere: 100 years (36500d). Far beyond any sensible
    /// setting, and far below where nanosecond `Int64` arithmetic (clocks, timers, NIO) overflows.
    public static let maximum: Duration = .seconds(maximumSeconds)
    /// ``maximum`` in seconds.
    public static let maximumSeconds: Int64 = 36_500 * 86_400

    /// Why a duration could not be parsed.
    public struct ParseError: Error, Hashable, CustomStringConvertible {
        /// The text that was rejected.
        public var text: String
        /// Whether the text is a duration, but longer than ``DurationParser/maximum``.
        public var tooLong = false

        /// Creates an error.
        public init(text: String, tooLong: Bool = false) {
            self.text = text
            self.tooLong = tooLong
        }

        public var description: String {
            tooLong
                ? "'\(text)' is longer than the maximum of 36500d"
                : "'\(text)' is not a duration (use forms like 500ms, 5s, 1m30s, 2h, 7d or a number of seconds)"
        }
    }

    /// Converts a number of seconds after range-checking it.
    ///
    /// - Parameters:
    ///   - seconds: The number of seconds.
    ///   - text: The text it came from, for the error.
    /// - Returns: The duration, rounded to the millisecond.
    /// - Throws: ``ParseError`` when `seconds` is negative, not finite or above ``maximum``.
    public static func duration(seconds: Double, text: String) throws(ParseError) -> Duration {
        guard seconds.isFinite, seconds >= 0 else { throw ParseError(text: text) }
        guard seconds <= Double(maximumSeconds) else { throw ParseError(text: text, tooLong: true) }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// Parses a duration.
    ///
    /// - Parameter text: The text, e.g. `1m30s`.
    /// - Returns: The duration; never negative.
    /// - Throws: ``ParseError`` when the text is not a duration.
    public static func parse(_ text: String) throws(ParseError) -> Duration {
        let trimmed = text.trimmingWhitespace()
        if let seconds = Double(trimmed) {
            return try duration(seconds: seconds, text: text)
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
        guard total.isFinite else { throw ParseError(text: text) }
        guard total <= Double(maximumSeconds) * 1e9 else { throw ParseError(text: text, tooLong: true) }
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
