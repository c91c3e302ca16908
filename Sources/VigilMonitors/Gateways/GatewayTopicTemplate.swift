//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// A topic with one placeholder level, such as `janus/{server}/status`.
///
/// The placeholder stands for exactly one whole topic level. The template gives the topic of one
/// server, the subscription filter (`janus/+/status`) and, for a received topic, the server name.
public struct GatewayTopicTemplate: Sendable, Hashable {
    /// The template text.
    public let template: String
    /// The text before the placeholder.
    let prefix: String
    /// The text after the placeholder.
    let suffix: String

    /// A template that cannot be used.
    public struct InvalidTemplate: Error, Hashable, CustomStringConvertible {
        /// The template.
        public var template: String
        /// Why it cannot be used.
        public var reason: String
        public var description: String { "topic template '\(template)': \(reason)" }
    }

    /// Parses a template.
    ///
    /// - Parameters:
    ///   - template: The text, with `placeholder` exactly once, as a whole topic level.
    ///   - placeholder: The placeholder, `{server}` by default.
    /// - Throws: ``InvalidTemplate`` when the placeholder is missing, repeated or not a whole level,
    ///   or the template contains MQTT wildcards.
    public init(_ template: String, placeholder: String = "{server}") throws(InvalidTemplate) {
        let parts = template.split(separator: placeholder, omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw InvalidTemplate(template: template, reason: "must contain \(placeholder) exactly once")
        }
        let prefix = String(parts[0])
        let suffix = String(parts[1])
        guard prefix.isEmpty || prefix.hasSuffix("/"), suffix.isEmpty || suffix.hasPrefix("/") else {
            throw InvalidTemplate(template: template, reason: "\(placeholder) must be a whole topic level")
        }
        guard !template.contains("+"), !template.contains("#") else {
            throw InvalidTemplate(template: template, reason: "must not contain MQTT wildcards")
        }
        self.template = template
        self.prefix = prefix
        self.suffix = suffix
    }

    /// The subscription filter matching every server (`janus/+/status`).
    public var filter: String { prefix + "+" + suffix }

    /// The topic of one server.
    public func topic(for server: String) -> String { prefix + server + suffix }

    /// The server name in a topic that matches the template, or `nil`.
    public func server(in topic: String) -> String? {
        guard topic.count > prefix.count + suffix.count, topic.hasPrefix(prefix), topic.hasSuffix(suffix) else { return nil }
        let name = topic.dropFirst(prefix.count).dropLast(suffix.count)
        guard !name.isEmpty, !name.contains("/") else { return nil }
        return String(name)
    }
}
