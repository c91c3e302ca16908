//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// A node of a Redis Cluster: where to connect.
public struct RedisClusterNode: Hashable, Sendable, CustomStringConvertible {
    /// The host name or IP address.
    public var host: String
    /// The TCP port.
    public var port: Int

    /// Creates a node address.
    ///
    /// - Parameters:
    ///   - host: The host.
    ///   - port: The port.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (the last colon separates the port, so `::1:6379` is IPv6 `::1`;
    /// `[::1]:6379` works too).
    ///
    /// - Parameter text: The address.
    /// - Returns: The node, or `nil` when there is no valid port; an empty host gives `""`.
    public init?(_ text: some StringProtocol) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            return nil
        }
        var host = text[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard host.utf8.count <= 255 else { return nil }
        self.init(host: String(host), port: port)
    }

    /// `host:port`.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A `MOVED` or `ASK` error reply: the slot is served by another node.
///
/// `MOVED` means the slot has moved for good (the client updates its map); `ASK` means it is being
/// migrated and only this one command should try the other node, after `ASKING`.
public struct RedisClusterRedirect: Hashable, Sendable {
    /// Which redirect.
    public enum Kind: String, Hashable, Sendable {
        /// `MOVED`: the slot's owner changed.
        case moved
        /// `ASK`: the key may be on the importing node during a migration.
        case ask
    }

    /// Which redirect.
    public var kind: Kind
    /// The slot.
    public var slot: Int
    /// The node to ask; an empty host means the host of the node that answered.
    public var node: RedisClusterNode

    /// Parses an error message such as `MOVED 3999 127.0.0.1:6381` or `ASK 3999 :6381`.
    ///
    /// - Parameter message: The text of an error reply.
    /// - Returns: The redirect, or `nil` when the message is not a well-formed redirect.
    public init?(_ message: String) {
        let parts = message.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        switch parts[0] {
        case "MOVED": kind = .moved
        case "ASK": kind = .ask
        default: return nil
        }
        guard let slot = Int(parts[1]), (0..<RedisClusterSlot.count).contains(slot), let node = RedisClusterNode(parts[2]) else {
            return nil
        }
        self.slot = slot
        self.node = node
    }

    /// The node with an empty host replaced by the host of the node that answered.
    func target(answeredBy node: RedisClusterNode) -> RedisClusterNode {
        self.node.host.isEmpty ? RedisClusterNode(host: node.host, port: self.node.port) : self.node
    }
}
