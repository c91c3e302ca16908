//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// A validated MQTT topic filter.
///
/// A filter is one or more levels separated by `/`. The single-level wildcard `+` must occupy a
/// whole level; the multi-level wildcard `#` must occupy the last level. A shared subscription
/// `$share/GROUP/FILTER` is accepted: ``shareGroup`` names the group and ``matchFilter`` is the
/// filter that messages are matched against. Wildcards in the first level never match topics that
/// start with `$` (MQTT 3.1.1 section 4.7.2, MQTT 5 section 4.7.2).
///
/// ```swift
/// let filter = try MQTTTopicFilter("gateways/+/status")
/// filter.matches(topic: "gateways/gw1/status")   // true
/// ```
public struct MQTTTopicFilter: Sendable, Hashable, CustomStringConvertible {
    /// The filter as given, including any `$share/GROUP/` prefix.
    public let rawValue: String
    /// The share group name of a `$share/GROUP/FILTER` subscription, or `nil`.
    public let shareGroup: String?
    /// The filter that topics are matched against (without a `$share/GROUP/` prefix).
    public let matchFilter: String

    /// Creates a filter after validating it.
    ///
    /// - Parameter rawValue: The filter text.
    /// - Throws: ``MQTTClientError`` with code ``MQTTClientError/Code/invalidTopicFilter`` when the
    ///   filter breaks the rules of the specification.
    public init(_ rawValue: String) throws {
        if let problem = Self.validate(rawValue) {
            throw MQTTClientError(.invalidTopicFilter, message: "topic filter '\(rawValue)': \(problem)")
        }
        self.rawValue = rawValue
        if rawValue.hasPrefix("$share/") {
            let rest = rawValue.utf8.dropFirst(7)
            let slash = rest.firstIndex(of: UInt8(ascii: "/"))!
            self.shareGroup = String(rawValue[rest.startIndex..<slash])
            self.matchFilter = String(rawValue[rawValue.index(after: slash)...])
        } else {
            self.shareGroup = nil
            self.matchFilter = rawValue
        }
    }

    /// The filter text.
    public var description: String { rawValue }

    /// Whether a topic name matches this filter.
    ///
    /// - Parameter topic: A topic name.
    /// - Returns: `true` when a message published to `topic` is delivered to this filter.
    public func matches(topic: String) -> Bool {
        mqttTopicMatches(filter: matchFilter, topic: topic)
    }

    /// Returns why a filter is invalid, or `nil` when it is valid.
    static func validate(_ filter: String) -> String? {
        let utf8 = filter.utf8
        if utf8.isEmpty { return "empty" }
        if utf8.count > 65_535 { return "longer than 65535 bytes" }
        if utf8.contains(0) { return "contains U+0000" }
        var body = Substring(filter)
        if filter.hasPrefix("$share/") {
            let rest = filter.utf8.dropFirst(7)
            guard let slash = rest.firstIndex(of: UInt8(ascii: "/")) else { return "shared subscription without a filter" }
            let group = rest[rest.startIndex..<slash]
            if group.isEmpty { return "empty share name" }
            if group.contains(UInt8(ascii: "+")) || group.contains(UInt8(ascii: "#")) { return "wildcard in share name" }
            body = filter[filter.index(after: slash)...]
            if body.isEmpty { return "shared subscription without a filter" }
        }
        let levels = body.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in levels.enumerated() {
            if level.contains("#") {
                if level != "#" { return "'#' must occupy a whole level" }
                if index != levels.count - 1 { return "'#' must be the last level" }
            }
            if level.contains("+") && level != "+" { return "'+' must occupy a whole level" }
        }
        return nil
    }
}

/// Validates a topic name for publishing.
///
/// - Parameter topic: The topic name.
/// - Returns: Why the name is invalid, or `nil` when it is valid.
func mqttTopicNameProblem(_ topic: String) -> String? {
    let utf8 = topic.utf8
    if utf8.isEmpty { return "empty" }
    if utf8.count > 65_535 { return "longer than 65535 bytes" }
    for byte in utf8 {
        switch byte {
        case 0: return "contains U+0000"
        case UInt8(ascii: "+"), UInt8(ascii: "#"): return "contains a wildcard"
        default: continue
        }
    }
    return nil
}

/// Whether a topic name matches a topic filter.
///
/// The filter is not validated; pass a filter checked by ``MQTTTopicFilter``. A `$share/GROUP/`
/// prefix is not stripped: use ``MQTTTopicFilter/matches(topic:)`` for shared subscriptions.
///
/// - Parameters:
///   - filter: A topic filter, possibly with `+` and `#` wildcards.
///   - topic: A topic name.
/// - Returns: `true` when `topic` matches `filter`.
public func mqttTopicMatches(filter: String, topic: String) -> Bool {
    var f = filter.utf8[...]
    var t = topic.utf8[...]
    // Wildcards at the first level do not match topics starting with '$'.
    if t.first == UInt8(ascii: "$"), let first = f.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "#") {
        return false
    }
    while true {
        let fEnd = f.firstIndex(of: UInt8(ascii: "/")) ?? f.endIndex
        let fLevel = f[f.startIndex..<fEnd]
        if fLevel.elementsEqual("#".utf8) { return true }
        let tEnd = t.firstIndex(of: UInt8(ascii: "/")) ?? t.endIndex
        if !fLevel.elementsEqual("+".utf8) && !fLevel.elementsEqual(t[t.startIndex..<tEnd]) { return false }
        let fDone = fEnd == f.endIndex
        let tDone = tEnd == t.endIndex
        if fDone || tDone {
            if fDone && tDone { return true }
            // "a/#" also matches "a".
            if tDone, !fDone {
                let rest = f[f.index(after: fEnd)...]
                return rest.elementsEqual("#".utf8)
            }
            return false
        }
        f = f[f.index(after: fEnd)...]
        t = t[t.index(after: tEnd)...]
    }
}
