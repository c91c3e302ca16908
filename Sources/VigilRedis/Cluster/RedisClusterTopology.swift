//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Which master serves which hash slots, from `CLUSTER SHARDS` (Redis 7) or `CLUSTER SLOTS`.
///
/// Every value in the reply is range-checked: slots in `0..<16384`, ports in `1...65535`, at most
/// ``maximumShards`` shards; a malformed reply throws ``RedisClientError/Code/unexpectedResponse``
/// naming what was wrong.
public struct RedisClusterTopology: Sendable, Hashable {
    /// One master and the slots it serves.
    public struct Shard: Sendable, Hashable {
        /// The master.
        public var master: RedisClusterNode
        /// Its replicas.
        public var replicas: [RedisClusterNode]
        /// The slot ranges it serves, in ascending order.
        public var slots: [ClosedRange<Int>]
    }

    /// The most shards (and so masters) a reply may describe; one per slot at the very most.
    public static let maximumShards = RedisClusterSlot.count
    /// No shard serves this slot.
    static let unowned = UInt16.max

    /// The shards, ordered by their lowest slot.
    public private(set) var shards: [Shard]
    /// For each slot, the index of its shard in ``shards`` or ``unowned``.
    private var owners: [UInt16]

    /// Builds a topology from shards; later shards win a slot claimed twice.
    init(shards: [Shard]) {
        let ordered = shards.filter { !$0.slots.isEmpty }.sorted { $0.slots[0].lowerBound < $1.slots[0].lowerBound }
        self.shards = ordered
        self.owners = [UInt16](repeating: Self.unowned, count: RedisClusterSlot.count)
        for (index, shard) in ordered.enumerated() {
            for range in shard.slots {
                for slot in range { owners[slot] = UInt16(index) }
            }
        }
    }

    /// A standalone server: one "shard" with every slot.
    static func standalone(_ node: RedisClusterNode) -> RedisClusterTopology {
        RedisClusterTopology(shards: [Shard(master: node, replicas: [], slots: [0...(RedisClusterSlot.count - 1)])])
    }

    /// The master serving a slot, if any.
    ///
    /// - Parameter slot: A slot in `0..<16384`.
    /// - Returns: The master, or `nil` when no shard serves the slot.
    public func master(forSlot slot: Int) -> RedisClusterNode? {
        shardIndex(forSlot: slot).map { shards[$0].master }
    }

    func shardIndex(forSlot slot: Int) -> Int? {
        guard (0..<RedisClusterSlot.count).contains(slot) else { return nil }
        let owner = owners[slot]
        return owner == Self.unowned ? nil : Int(owner)
    }

    /// Each master with its slot ranges, for logs: `10.0.0.1:6379 0-5460, …`.
    var summary: String {
        shards.map { shard in "\(shard.master) " + shard.slots.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ",") }
            .joined(separator: "; ")
    }

    /// Every node: masters first, then replicas.
    var nodes: [RedisClusterNode] { shards.map(\.master) + shards.flatMap(\.replicas) }

    /// Records a `MOVED`: the slot now belongs to `node`, which becomes a shard of its own when
    /// it is not a known master (a full discovery replaces this guess soon after).
    mutating func move(slot: Int, to node: RedisClusterNode) {
        guard (0..<RedisClusterSlot.count).contains(slot), shards.count < Self.maximumShards else { return }
        if let index = shards.firstIndex(where: { $0.master == node }) {
            owners[slot] = UInt16(index)
        } else {
            shards.append(Shard(master: node, replicas: [], slots: [slot...slot]))
            owners[slot] = UInt16(shards.count - 1)
        }
    }

    // MARK: - Parsing

    /// Parses a `CLUSTER SHARDS` reply.
    ///
    /// Each shard is a map with `slots` (a flat list of range bounds) and `nodes` (maps with `ip`,
    /// `endpoint`, `port`, `tls-port`, `role` and `health`). A node's address is its `endpoint`,
    /// or `ip` when the endpoint is missing or `?`; an empty one means the host of the node asked.
    ///
    /// - Parameters:
    ///   - reply: The reply.
    ///   - node: The node that answered.
    ///   - tls: Whether to use the nodes' `tls-port`.
    /// - Returns: The topology.
    /// - Throws: ``RedisClientError`` with ``RedisClientError/Code/unexpectedResponse``.
    public static func parseShards(_ reply: RESPValue, from node: RedisClusterNode, tls: Bool = false) throws -> RedisClusterTopology {
        guard let list = reply.array else { throw malformed("CLUSTER SHARDS", "the reply is not a list: \(reply)") }
        guard list.count <= maximumShards else { throw malformed("CLUSTER SHARDS", "\(list.count) shards, more than \(maximumShards)") }
        var shards: [Shard] = []
        for entry in list {
            guard let fields = entry.mapEntries else { throw malformed("CLUSTER SHARDS", "a shard is not a map: \(entry)") }
            let slotBounds = try value(fields, "slots", "CLUSTER SHARDS")?.array ?? []
            guard slotBounds.count % 2 == 0, slotBounds.count <= 2 * RedisClusterSlot.count else {
                throw malformed("CLUSTER SHARDS", "a slot list of \(slotBounds.count) bounds")
            }
            var slots: [ClosedRange<Int>] = []
            for index in stride(from: 0, to: slotBounds.count, by: 2) {
                slots.append(try range(slotBounds[index].int, slotBounds[index + 1].int, "CLUSTER SHARDS"))
            }
            guard let nodes = try value(fields, "nodes", "CLUSTER SHARDS")?.array else {
                throw malformed("CLUSTER SHARDS", "a shard without nodes")
            }
            var master: RedisClusterNode?
            var replicas: [RedisClusterNode] = []
            for nodeValue in nodes.prefix(maximumShards) {
                guard let nodeFields = nodeValue.mapEntries else { throw malformed("CLUSTER SHARDS", "a node is not a map: \(nodeValue)") }
                let address = try shardNodeAddress(nodeFields, from: node, tls: tls)
                let role = try value(nodeFields, "role", "CLUSTER SHARDS")?.string
                if role == "master", master == nil { master = address } else { replicas.append(address) }
            }
            guard !slots.isEmpty else { continue }
            guard let master else { throw malformed("CLUSTER SHARDS", "the shard of slots \(slots[0]) has no master") }
            shards.append(Shard(master: master, replicas: replicas, slots: slots.sorted { $0.lowerBound < $1.lowerBound }))
        }
        guard !shards.isEmpty else { throw malformed("CLUSTER SHARDS", "no shard serves any slot") }
        return RedisClusterTopology(shards: shards)
    }

    /// Parses a `CLUSTER SLOTS` reply: one entry per slot range, `[start, end, master, replica…]`,
    /// each node `[host, port, id, …]`.
    ///
    /// - Parameters:
    ///   - reply: The reply.
    ///   - node: The node that answered (its host replaces an empty one).
    /// - Returns: The topology.
    /// - Throws: ``RedisClientError`` with ``RedisClientError/Code/unexpectedResponse``.
    public static func parseSlots(_ reply: RESPValue, from node: RedisClusterNode) throws -> RedisClusterTopology {
        guard let list = reply.array else { throw malformed("CLUSTER SLOTS", "the reply is not a list: \(reply)") }
        guard list.count <= RedisClusterSlot.count else { throw malformed("CLUSTER SLOTS", "\(list.count) slot ranges") }
        var shards: [RedisClusterNode: Shard] = [:]
        var order: [RedisClusterNode] = []
        for entry in list {
            guard let parts = entry.array, parts.count >= 3 else { throw malformed("CLUSTER SLOTS", "a slot range entry \(entry)") }
            let slots = try range(parts[0].int, parts[1].int, "CLUSTER SLOTS")
            let nodes = try parts[2...].prefix(maximumShards).map { try slotsNodeAddress($0, from: node) }
            if shards[nodes[0]] == nil {
                guard order.count < maximumShards else { throw malformed("CLUSTER SLOTS", "more than \(maximumShards) masters") }
                order.append(nodes[0])
                shards[nodes[0]] = Shard(master: nodes[0], replicas: Array(nodes.dropFirst()), slots: [])
            }
            shards[nodes[0]]?.slots.append(slots)
        }
        guard !order.isEmpty else { throw malformed("CLUSTER SLOTS", "no slot range") }
        return RedisClusterTopology(
            shards: order.compactMap { shards[$0] }.map { shard in
                var shard = shard
                shard.slots.sort { $0.lowerBound < $1.lowerBound }
                return shard
            }
        )
    }

    private static func range(_ start: Int?, _ end: Int?, _ command: String) throws -> ClosedRange<Int> {
        guard let start, let end, 0 <= start, start <= end, end < RedisClusterSlot.count else {
            throw malformed(command, "slot range \(start.map(String.init) ?? "?")-\(end.map(String.init) ?? "?") is not within 0-16383")
        }
        return start...end
    }

    private static func value(_ fields: [RESPMapEntry], _ name: String, _ command: String) throws -> RESPValue? {
        fields.first { $0.key.string == name }?.value
    }

    private static func shardNodeAddress(_ fields: [RESPMapEntry], from asked: RedisClusterNode, tls: Bool) throws -> RedisClusterNode {
        func field(_ name: String) -> RESPValue? { fields.first { $0.key.string == name }?.value }
        var host = field("endpoint")?.string
        if host == nil || host == "?" { host = field("ip")?.string }
        guard let port = (tls ? field("tls-port") : field("port"))?.int, (1...65535).contains(port) else {
            throw malformed("CLUSTER SHARDS", "a node without a valid \(tls ? "tls-port" : "port"): \(fields.map(\.key))")
        }
        return try address(host, port, asked, "CLUSTER SHARDS")
    }

    private static func slotsNodeAddress(_ value: RESPValue, from asked: RedisClusterNode) throws -> RedisClusterNode {
        guard let parts = value.array, parts.count >= 2, let port = parts[1].int, (1...65535).contains(port) else {
            throw malformed("CLUSTER SLOTS", "a node entry \(value)")
        }
        return try address(parts[0].isNull ? nil : parts[0].string, port, asked, "CLUSTER SLOTS")
    }

    /// An unknown (`?`, null) or empty host means "the host you asked", as the specification says.
    private static func address(_ host: String?, _ port: Int, _ asked: RedisClusterNode, _ command: String) throws -> RedisClusterNode {
        let host = host ?? ""
        guard host.utf8.count <= 255 else { throw malformed(command, "a host name of \(host.utf8.count) bytes") }
        return RedisClusterNode(host: host.isEmpty || host == "?" ? asked.host : host, port: port)
    }

    private static func malformed(_ command: String, _ detail: String) -> RedisClientError {
        RedisClientError(.unexpectedResponse, message: "malformed \(command) reply: \(detail)")
    }
}
