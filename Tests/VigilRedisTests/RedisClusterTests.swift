//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import Testing

@testable import VigilRedis

@Suite("Redis Cluster slots, redirects and topology")
struct RedisClusterTests {
    // MARK: - Slots

    /// Values from `CLUSTER KEYSLOT` of Redis 7.0.15.
    @Test(
        "Key slots match CLUSTER KEYSLOT, hash tags included",
        arguments: [
            ("123456789", 12739), ("foo", 12182), ("bar", 5061), ("hello", 866), ("", 0), ("user1000", 3443),
            ("{user1000}.following", 3443), ("foo{}{bar}", 8363), ("foo{{bar}}zap", 4015), ("{bar", 4015),
            ("foo{bar}{zap}", 5061), ("a{b}c", 3300), ("b", 3300),
        ]
    )
    func keySlot(key: String, slot: Int) {
        #expect(RedisClusterSlot.slot(for: key) == slot)
        #expect(RedisClusterSlot.slot(for: ByteBuffer(string: key)) == slot)
    }

    @Test("CRC16 (XMODEM) of the standard check string is 0x31C3")
    func crcCheckValue() {
        // The whole CRC is below 16384 here, so the slot is the CRC itself.
        #expect(RedisClusterSlot.slot(for: "123456789") == 0x31C3)
    }

    @Test("A command is routed by its key: the first argument, the first stream of XREAD, the first key of EVAL; none for PING")
    func commandSlot() {
        #expect(RedisClusterClient.slot(of: ["GET", "foo"]) == 12182)
        #expect(RedisClusterClient.slot(of: ["XREAD", "COUNT", "10", "STREAMS", "bar", "foo", "0", "0"]) == 5061)
        #expect(RedisClusterClient.slot(of: ["EVAL", "return 1", "1", "hello"]) == 866)
        #expect(RedisClusterClient.slot(of: ["EVAL", "return 1", "0"]) == nil)
        #expect(RedisClusterClient.slot(of: ["PING"]) == nil)
        #expect(RedisClusterClient.slot(of: ["INFO", "server"]) == nil)
    }

    @Test("A command's arguments are read back as given, binary ones included")
    func argumentBuffers() {
        var command = RedisCommand("MGET", "a", "", "{tag}b")
        command.append(ByteBuffer(bytes: [0, 13, 10, 36]))
        let arguments = command.argumentBuffers
        #expect(arguments.map { Array($0.readableBytesView) } == [Array("MGET".utf8), Array("a".utf8), [], Array("{tag}b".utf8), [0, 13, 10, 36]])
    }

    // MARK: - Redirects

    @Test("MOVED and ASK replies are parsed; an empty host means the node that answered")
    func redirects() throws {
        let moved = try #require(RedisClusterRedirect("MOVED 3999 127.0.0.1:6381"))
        #expect(moved.kind == .moved && moved.slot == 3999 && moved.node == RedisClusterNode(host: "127.0.0.1", port: 6381))
        let ask = try #require(RedisClusterRedirect("ASK 16383 :7000"))
        #expect(ask.kind == .ask && ask.slot == 16383)
        #expect(ask.target(answeredBy: RedisClusterNode(host: "10.0.0.9", port: 6379)) == RedisClusterNode(host: "10.0.0.9", port: 7000))
        let ipv6 = try #require(RedisClusterRedirect("MOVED 0 ::1:7001"))
        #expect(ipv6.node == RedisClusterNode(host: "::1", port: 7001))
        #expect(ipv6.node.description == "[::1]:7001")
    }

    @Test(
        "Malformed redirects and other errors are not redirects",
        arguments: [
            "MOVED 16384 h:1", "MOVED -1 h:1", "MOVED x h:1", "MOVED 1 h:0", "MOVED 1 h:65536", "MOVED 1 host", "MOVED 1 h:1 extra",
            "ERR unknown command", "CLUSTERDOWN The cluster is down", "moved 1 h:1", "",
        ]
    )
    func notRedirects(message: String) {
        #expect(RedisClusterRedirect(message) == nil)
    }

    @Test("Errors after which a retry may succeed are told apart from those that will fail again")
    func retryable() {
        #expect(RedisClusterClient.isRetryable(RedisClientError(.connectFailed)))
        #expect(RedisClusterClient.isRetryable(RedisClientError(.connectionClosed)))
        #expect(RedisClusterClient.isRetryable(RedisClientError(.timeout)))
        #expect(RedisClusterClient.isRetryable(RedisClientError(.serverError, message: "TRYAGAIN Multiple keys request during rehashing of slot")))
        #expect(RedisClusterClient.isRetryable(RedisClientError(.serverError, message: "CLUSTERDOWN Hash slot not served")))
        #expect(!RedisClusterClient.isRetryable(RedisClientError(.serverError, message: "WRONGTYPE Operation against a key")))
        #expect(!RedisClusterClient.isRetryable(RedisClientError(.unexpectedResponse)))
    }

    // MARK: - Topology

    static let asked = RedisClusterNode(host: "10.0.0.1", port: 7000)

    static func node(_ fields: [(String, RESPValue)]) -> RESPValue {
        .map(fields.map { RESPMapEntry(key: .bulkString($0.0), value: $0.1) })
    }

    static func shard(_ bounds: [Int64], _ nodes: [RESPValue]) -> RESPValue {
        node([("slots", .array(bounds.map(RESPValue.integer))), ("nodes", .array(nodes))])
    }

    static func shardNode(ip: String, endpoint: String?, port: Int64, role: String) -> RESPValue {
        var fields: [(String, RESPValue)] = [("id", .bulkString("x")), ("port", .integer(port)), ("ip", .bulkString(ip))]
        if let endpoint { fields.append(("endpoint", .bulkString(endpoint))) }
        fields += [("role", .bulkString(role)), ("health", .bulkString("online"))]
        return node(fields)
    }

    @Test("CLUSTER SHARDS: masters, replicas and slot ranges; endpoint before ip; '?' and empty hosts mean the node asked")
    func parseShards() throws {
        let reply = RESPValue.array([
            Self.shard(
                [10923, 16383],
                [
                    Self.shardNode(ip: "10.0.0.3", endpoint: "redis-3", port: 7002, role: "master"),
                    Self.shardNode(ip: "10.0.0.6", endpoint: nil, port: 7005, role: "replica"),
                ]
            ),
            Self.shard([0, 100, 200, 5460], [Self.shardNode(ip: "10.0.0.1", endpoint: "?", port: 7000, role: "master")]),
            Self.shard([101, 199, 5461, 10922], [Self.shardNode(ip: "", endpoint: "", port: 7001, role: "master")]),
            // A shard without slots (a new, empty master) serves nothing.
            Self.shard([], [Self.shardNode(ip: "10.0.0.9", endpoint: nil, port: 7009, role: "master")]),
        ])
        let topology = try RedisClusterTopology.parseShards(reply, from: Self.asked)
        #expect(topology.shards.map(\.master.description) == ["10.0.0.1:7000", "10.0.0.1:7001", "redis-3:7002"])
        #expect(topology.shards[2].replicas == [RedisClusterNode(host: "10.0.0.6", port: 7005)])
        #expect(topology.master(forSlot: 0)?.port == 7000)
        #expect(topology.master(forSlot: 150)?.port == 7001)
        #expect(topology.master(forSlot: 5460)?.port == 7000)
        #expect(topology.master(forSlot: 10922)?.port == 7001)
        #expect(topology.master(forSlot: 16383)?.port == 7002)
        #expect(topology.master(forSlot: 16384) == nil)
    }

    @Test("CLUSTER SLOTS: one entry per range, grouped by master; an empty host means the node asked")
    func parseSlots() throws {
        func entry(_ start: Int64, _ end: Int64, _ nodes: [(String, Int64)]) -> RESPValue {
            .array([.integer(start), .integer(end)] + nodes.map { .array([.bulkString($0.0), .integer($0.1), .bulkString("id")]) })
        }
        let reply = RESPValue.array([
            entry(0, 5460, [("10.0.0.1", 7000), ("10.0.0.4", 7003)]),
            entry(10923, 15999, [("", 7002)]),
            entry(5461, 10922, [("10.0.0.2", 7001)]),
            entry(16000, 16383, [("10.0.0.1", 7000)]),
        ])
        let topology = try RedisClusterTopology.parseSlots(reply, from: Self.asked)
        #expect(topology.shards.count == 3)
        #expect(topology.shards[0].slots == [0...5460, 16000...16383])
        #expect(topology.shards[0].replicas == [RedisClusterNode(host: "10.0.0.4", port: 7003)])
        #expect(topology.master(forSlot: 16000)?.port == 7000)
        #expect(topology.master(forSlot: 15999) == RedisClusterNode(host: "10.0.0.1", port: 7002))
    }

    @Test(
        "Malformed topology replies fail with unexpectedResponse and say what is wrong",
        arguments: [
            (RESPValue.integer(1), "not a list"),
            (.array([]), "no shard serves any slot"),
            (.array([.integer(3)]), "a shard is not a map"),
            (.array([shard([0, 16384], [shardNode(ip: "h", endpoint: nil, port: 1, role: "master")])]), "not within 0-16383"),
            (.array([shard([5, 4], [shardNode(ip: "h", endpoint: nil, port: 1, role: "master")])]), "not within 0-16383"),
            (.array([shard([0], [shardNode(ip: "h", endpoint: nil, port: 1, role: "master")])]), "a slot list of 1 bounds"),
            (.array([shard([0, 1], [shardNode(ip: "h", endpoint: nil, port: 0, role: "master")])]), "without a valid port"),
            (.array([shard([0, 1], [shardNode(ip: "h", endpoint: nil, port: 70000, role: "master")])]), "without a valid port"),
            (.array([shard([0, 1], [shardNode(ip: "h", endpoint: nil, port: 1, role: "replica")])]), "has no master"),
            (.array([node([("slots", .array([.integer(0), .integer(1)]))])]), "a shard without nodes"),
        ]
    )
    func malformedShards(reply: RESPValue, detail: String) {
        let error = #expect(throws: RedisClientError.self) { try RedisClusterTopology.parseShards(reply, from: Self.asked) }
        #expect(error?.errorCode == .unexpectedResponse)
        #expect(error?.message?.contains("malformed CLUSTER SHARDS reply") == true, "\(error?.message ?? "")")
        #expect(error?.message?.contains(detail) == true, "\(error?.message ?? "")")
    }

    @Test(
        "Malformed CLUSTER SLOTS replies fail with unexpectedResponse",
        arguments: [
            RESPValue.null,
            .array([]),
            .array([.array([.integer(0), .integer(1)])]),
            .array([.array([.integer(0), .integer(99999), .array([.bulkString("h"), .integer(1)])])]),
            .array([.array([.integer(0), .integer(1), .array([.bulkString("h")])])]),
            .array([.array([.integer(0), .integer(1), .array([.bulkString("h"), .integer(-1)])])]),
        ]
    )
    func malformedSlots(reply: RESPValue) {
        let error = #expect(throws: RedisClientError.self) { try RedisClusterTopology.parseSlots(reply, from: Self.asked) }
        #expect(error?.errorCode == .unexpectedResponse)
        #expect(error?.message?.hasPrefix("malformed CLUSTER SLOTS reply") == true, "\(error?.message ?? "")")
    }

    @Test("A MOVED patches the map at once: a known master takes the slot, an unknown node becomes a shard of its own")
    func movedPatch() throws {
        var topology = RedisClusterTopology(
            shards: [
                .init(master: RedisClusterNode(host: "a", port: 1), replicas: [], slots: [0...8191]),
                .init(master: RedisClusterNode(host: "b", port: 2), replicas: [], slots: [8192...16383]),
            ]
        )
        topology.move(slot: 5, to: RedisClusterNode(host: "b", port: 2))
        #expect(topology.master(forSlot: 5)?.host == "b")
        #expect(topology.master(forSlot: 6)?.host == "a")
        topology.move(slot: 7, to: RedisClusterNode(host: "c", port: 3))
        #expect(topology.master(forSlot: 7)?.host == "c")
        #expect(RedisClusterTopology.standalone(RedisClusterNode(host: "s", port: 9)).master(forSlot: 16383)?.host == "s")
    }

    @Test("Node addresses: host:port, [IPv6]:port, bad ports refused")
    func nodeAddresses() {
        #expect(RedisClusterNode("127.0.0.1:6379") == RedisClusterNode(host: "127.0.0.1", port: 6379))
        #expect(RedisClusterNode("[::1]:6379") == RedisClusterNode(host: "::1", port: 6379))
        #expect(RedisClusterNode("h") == nil)
        #expect(RedisClusterNode("h:0") == nil)
        #expect(RedisClusterNode("h:x") == nil)
    }
}
