//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// A set of topic filters, each with values, that finds the filters matching a topic by walking a
/// tree of levels instead of testing every filter.
///
/// The cost of a lookup grows with the number of levels of the topic and of the matching wildcard
/// branches, not with the number of filters. Lookups allocate nothing: levels are compared as
/// substrings of the topic.
///
/// A `$share/GROUP/` prefix is removed on insertion, so a shared subscription matches the topics of
/// its filter. Wildcards at the first level do not match topics that start with `$`.
///
/// ```swift
/// var trie = MQTTTopicTrie<String>()
/// trie.insert(filter: "gateways/+/status", value: "gateway status")
/// trie.forEachMatch(topic: "gateways/gw1/status") { print($0) }
/// ```
///
/// The trie is a value type with copy-on-write storage.
public struct MQTTTopicTrie<Value> {
    /// One level of the tree.
    ///
    /// `@unchecked Sendable` (see the conditional conformance below) is sound because nodes are only
    /// mutated after `ensureUnique()` has made the root, and therefore every node below it, uniquely
    /// owned by one trie value; shared nodes are never mutated.
    final class Node {
        var children: [Substring: Node] = [:]
        var plus: Node?
        /// Values of filters that end at this node.
        var values: [Value] = []
        /// Values of filters that end with `#` below this node.
        var hashValues: [Value] = []

        init() {}

        func copy() -> Node {
            let node = Node()
            node.children = children.mapValues { $0.copy() }
            node.plus = plus?.copy()
            node.values = values
            node.hashValues = hashValues
            return node
        }

        var isEmpty: Bool { children.isEmpty && plus == nil && values.isEmpty && hashValues.isEmpty }
    }

    private var root = Node()
    private var _count = 0

    /// Creates an empty trie.
    public init() {}

    /// The number of (filter, value) entries.
    public var count: Int { _count }

    /// Whether the trie holds no entries.
    public var isEmpty: Bool { _count == 0 }

    private mutating func ensureUnique() {
        if !isKnownUniquelyReferenced(&root) { root = root.copy() }
    }

    /// Strips a `$share/GROUP/` prefix.
    private static func matchPart(of filter: String) -> Substring {
        guard filter.hasPrefix("$share/") else { return filter[...] }
        let rest = filter.utf8.dropFirst(7)
        guard let slash = rest.firstIndex(of: UInt8(ascii: "/")) else { return filter[...] }
        return filter[filter.index(after: slash)...]
    }

    /// Adds a value for a filter. A filter may hold several values.
    ///
    /// - Parameters:
    ///   - filter: A valid topic filter (see ``MQTTTopicFilter``).
    ///   - value: The value to return for topics matching `filter`.
    public mutating func insert(filter: String, value: Value) {
        ensureUnique()
        var node = root
        let levels = Self.matchPart(of: filter).split(separator: "/", omittingEmptySubsequences: false)
        for level in levels {
            if level == "#" {
                node.hashValues.append(value)
                _count += 1
                return
            }
            if level == "+" {
                if node.plus == nil { node.plus = Node() }
                node = node.plus!
            } else if let child = node.children[level] {
                node = child
            } else {
                let child = Node()
                node.children[level] = child
                node = child
            }
        }
        node.values.append(value)
        _count += 1
    }

    /// Removes the values of a filter for which `shouldRemove` returns `true`.
    ///
    /// - Parameters:
    ///   - filter: The filter the values were inserted with.
    ///   - shouldRemove: Decides for each value of the filter whether it goes.
    /// - Returns: The number of values removed.
    @discardableResult
    public mutating func remove(filter: String, where shouldRemove: (Value) throws -> Bool) rethrows -> Int {
        ensureUnique()
        let levels = Self.matchPart(of: filter).split(separator: "/", omittingEmptySubsequences: false)
        let removed = try Self.remove(levels: levels[...], from: root, where: shouldRemove)
        _count -= removed
        return removed
    }

    private static func remove(
        levels: ArraySlice<Substring>,
        from node: Node,
        where shouldRemove: (Value) throws -> Bool
    ) rethrows -> Int {
        guard let level = levels.first else {
            let before = node.values.count
            try node.values.removeAll(where: shouldRemove)
            return before - node.values.count
        }
        if level == "#" {
            let before = node.hashValues.count
            try node.hashValues.removeAll(where: shouldRemove)
            return before - node.hashValues.count
        }
        let rest = levels.dropFirst()
        if level == "+" {
            guard let plus = node.plus else { return 0 }
            let removed = try remove(levels: rest, from: plus, where: shouldRemove)
            if plus.isEmpty { node.plus = nil }
            return removed
        }
        guard let child = node.children[level] else { return 0 }
        let removed = try remove(levels: rest, from: child, where: shouldRemove)
        if child.isEmpty { node.children[level] = nil }
        return removed
    }

    /// Calls `body` with every value whose filter matches `topic`.
    ///
    /// A value inserted under several matching filters is reported once per filter.
    ///
    /// - Parameters:
    ///   - topic: A topic name.
    ///   - body: Called for each matching value.
    public func forEachMatch(topic: String, _ body: (Value) throws -> Void) rethrows {
        try Self.visit(root, remaining: topic[...], first: true, body)
    }

    /// Returns the values whose filters match `topic`.
    ///
    /// - Parameter topic: A topic name.
    /// - Returns: The matching values (allocates an array; prefer ``forEachMatch(topic:_:)`` on hot paths).
    public func matches(topic: String) -> [Value] {
        var result: [Value] = []
        forEachMatch(topic: topic) { result.append($0) }
        return result
    }

    private static func visit(_ node: Node, remaining: Substring?, first: Bool, _ body: (Value) throws -> Void) rethrows {
        guard let remaining else {
            for value in node.values { try body(value) }
            for value in node.hashValues { try body(value) }
            return
        }
        let skipWildcards = first && remaining.utf8.first == UInt8(ascii: "$")
        if !skipWildcards {
            for value in node.hashValues { try body(value) }
        }
        let level: Substring
        let next: Substring?
        if let slash = remaining.utf8.firstIndex(of: UInt8(ascii: "/")) {
            level = remaining[..<slash]
            next = remaining[remaining.index(after: slash)...]
        } else {
            level = remaining
            next = nil
        }
        if !node.children.isEmpty, let child = node.children[level] {
            try visit(child, remaining: next, first: false, body)
        }
        if !skipWildcards, let plus = node.plus {
            try visit(plus, remaining: next, first: false, body)
        }
    }
}

extension MQTTTopicTrie.Node: @unchecked Sendable where Value: Sendable {}
extension MQTTTopicTrie: Sendable where Value: Sendable {}

extension MQTTTopicTrie where Value: Equatable {
    /// Removes every occurrence of `value` under `filter`.
    ///
    /// - Parameters:
    ///   - filter: The filter the value was inserted with.
    ///   - value: The value to remove.
    /// - Returns: The number of values removed.
    @discardableResult
    public mutating func remove(filter: String, value: Value) -> Int {
        remove(filter: filter) { $0 == value }
    }
}
