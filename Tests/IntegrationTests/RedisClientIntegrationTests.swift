//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
import Testing
import VigilRedis

@Suite("Redis client against the real redis-server", .enabled(if: IntegrationEnvironment.enabled))
struct RedisClientIntegrationTests {
    @Test("HELLO 3 negotiates RESP3, names the connection and selects the database")
    func helloHandshake() async throws {
        var configuration = try RedisTest.configuration()
        configuration.clientName = "vigil-hello-test"
        configuration.database = 2
        try await RedisConnection.withConnection(configuration: configuration, logger: RedisTest.logger) { connection in
            #expect(connection.serverInfo["proto"] == .integer(3))
            #expect(connection.serverInfo["server"]?.string == "redis")
            #expect(try await connection.execute(["CLIENT", "GETNAME"]).string == "vigil-hello-test")
            let info = try #require(try await connection.execute(["CLIENT", "INFO"]).string)
            #expect(info.contains(" db=2 "))
            #expect(info.contains(" resp=3"))
            // A RESP3-only type: a map reply.
            guard case .map = try await connection.execute(["CONFIG", "GET", "port"]) else {
                Issue.record("CONFIG GET did not answer with a RESP3 map")
                return
            }
            try await connection.ping()
        }
    }

    @Test("10,000 pipelined commands are answered in order")
    func pipelining() async throws {
        let prefix = RedisTest.uniqueKey("pipe")
        try await withRedisClient(try RedisTest.configuration()) { client in
            let sets = (0..<10_000).map { RedisCommand("SET", "\(prefix):\($0)", "value-\($0)") }
            let results = try await client.pipeline(sets)
            #expect(results.count == 10_000)
            #expect(results.allSatisfy { (try? $0.get()) == .simpleString("OK") })

            // Concurrent callers share the connection: their commands are pipelined too.
            let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
                for worker in 0..<50 {
                    group.addTask {
                        var bad = 0
                        for index in stride(from: worker, to: 10_000, by: 50) {
                            let value = try await client.get("\(prefix):\(index)")
                            if value.map({ String(buffer: $0) }) != "value-\(index)" { bad += 1 }
                        }
                        return bad
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(mismatches == 0)

            var keys: [String] = []
            for try await key in client.scanKeys(matching: "\(prefix):*", count: 1000) { keys.append(key) }
            #expect(Set(keys).count == 10_000)
            #expect(try await client.del(Array(Set(keys))) == 10_000)
        }
    }

    @Test("Strings and hashes: SET with expiry, GET, HSET, HGETALL, HMGET, HDEL, EXPIRE, DEL")
    func stringsAndHashes() async throws {
        let key = RedisTest.uniqueKey("kv")
        let hash = RedisTest.uniqueKey("hash")
        try await withRedisClient(try RedisTest.configuration()) { client in
            try await client.set(key, to: ByteBuffer(bytes: [0, 1, 255]), expiration: .seconds(100))
            #expect(try await client.get(key) == ByteBuffer(bytes: [0, 1, 255]))
            let ttl = try #require(try await client.execute(["TTL", key]).int)
            #expect((1...100).contains(ttl))
            try await client.set(key, to: "v2", expiration: .milliseconds(50_000))
            let pttl = try #require(try await client.execute(["PTTL", key]).int)
            #expect((1...50_000).contains(pttl))
            #expect(try await client.get(RedisTest.uniqueKey("missing")) == nil)

            #expect(try await client.hset(hash, fields: ["status": "up", "rtt": "12"]) == 2)
            #expect(try await client.hset(hash, fields: ["status": "down"]) == 0)
            let all = try await client.hgetall(hash)
            #expect(all.mapValues { String(buffer: $0) } == ["status": "down", "rtt": "12"])
            let some = try await client.hmget(hash, fields: ["rtt", "nope", "status"])
            #expect(some.map { $0.map { String(buffer: $0) } } == ["12", nil, "down"])
            #expect(try await client.hdel(hash, fields: ["rtt", "nope"]) == 1)
            #expect(try await client.expire(hash, seconds: 60))
            #expect(try await client.hgetall(RedisTest.uniqueKey("none")).isEmpty)

            // A server error carries the server's message and leaves the connection usable.
            await #expect {
                try await client.execute(["HGET", key, "f"])
            } throws: { error in
                (error as? RedisClientError)?.serverErrorPrefix == "WRONGTYPE"
            }
            #expect(try await client.del([key, hash]) == 2)
        }
    }

    @Test("Streams: XADD with MAXLEN and MINID trimming, XRANGE, XREVRANGE, XREAD and XREAD BLOCK")
    func streams() async throws {
        let stream = RedisTest.uniqueKey("stream")
        try await withRedisClient(try RedisTest.configuration()) { client in
            var ids: [String] = []
            for index in 1...50 {
                ids.append(
                    try await client.xadd(
                        stream,
                        id: "\(index)-0",
                        fields: [("n", index), ("who", "gw-\(index)")],
                        trim: .maxLength(20, approximate: false)
                    )
                )
            }
            #expect(ids.last == "50-0")
            #expect(try await client.xlen(stream) == 20)
            let first = try await client.xrange(stream, count: 3)
            #expect(first.map(\.id) == ["31-0", "32-0", "33-0"])
            #expect(first[0]["who"].map { String(buffer: $0) } == "gw-31")
            #expect(first[0].fields.map(\.name) == ["n", "who"])
            let last = try await client.xrevrange(stream, count: 2)
            #expect(last.map(\.id) == ["50-0", "49-0"])

            try await client.xadd(stream, id: "51-0", fields: [("n", 51)], trim: .minID("45-0", approximate: false))
            #expect(try await client.xrange(stream).map(\.id) == ["45-0", "46-0", "47-0", "48-0", "49-0", "50-0", "51-0"])
            // The approximate form is accepted; whether it trims depends on the node size.
            try await client.xadd(stream, id: "52-0", fields: [("n", 52)], trim: .maxLength(1))

            let read = try await client.xread(streams: [(stream, "50-0")], count: 10)
            #expect(read.map(\.key) == [stream])
            #expect(read.first?.entries.map(\.id) == ["51-0", "52-0"])

            // A blocking read that times out returns no entries.
            #expect(try await client.xread(streams: [(stream, "$")], block: .milliseconds(50)).isEmpty)

            // A blocking read runs on its own connection: other commands are not held up, and a
            // later XADD wakes it.
            async let blocked = client.xread(streams: [(stream, "52-0")], count: 5, block: .seconds(10))
            for _ in 0..<200 {
                let clients = try await client.execute(["CLIENT", "LIST"]).string ?? ""
                if clients.contains("cmd=xread") { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            try await client.ping()
            try await client.xadd(stream, id: "53-0", fields: [("n", 53)])
            let woken = try await blocked
            #expect(woken.first?.entries.map(\.id) == ["53-0"])
            #expect(try await client.del([stream]) == 1)
        }
    }

    @Test("Pub/Sub across two clients, by channel and by pattern, sharing the connection with commands")
    func pubSub() async throws {
        let channel = RedisTest.uniqueKey("chan")
        let configuration = try RedisTest.configuration()
        try await withRedisClient(configuration) { subscriber in
            try await withRedisClient(configuration) { publisher in
                let subscription = try await subscriber.subscribe(to: [channel])
                let patterned = try await subscriber.psubscribe(patterns: ["\(channel).*"])
                // RESP3: ordinary commands still work on the subscribed connection.
                try await subscriber.set(channel, to: "x")
                #expect(try await subscriber.get(channel).map { String(buffer: $0) } == "x")

                #expect(try await publisher.publish("one", to: channel) == 1)
                #expect(try await publisher.publish(ByteBuffer(bytes: [0, 255]), to: channel) == 1)
                #expect(try await publisher.publish("three", to: "\(channel).sub") == 1)
                let messages = try await collect(2, from: subscription)
                #expect(messages.map(\.payload) == [ByteBuffer(string: "one"), ByteBuffer(bytes: [0, 255])])
                #expect(messages.allSatisfy { $0.channel == channel && $0.pattern == nil })
                let matched = try await collect(1, from: patterned)
                #expect(matched.first?.channel == "\(channel).sub")
                #expect(matched.first?.pattern == "\(channel).*")
                _ = try await subscriber.del([channel])
            }
        }
    }

    @Test("A client whose first address refuses connections goes on to a fallback node and subscribes there")
    func fallbackNode() async throws {
        let channel = RedisTest.uniqueKey("fallback")
        let live = try RedisTest.configuration()
        // A port nothing listens on (bound, then released), then the real server.
        var configuration = live
        configuration.port = try await RedisTest.closedPort()
        configuration.fallbackNodes = [RedisClusterNode(host: live.host, port: live.port)]
        try await withRedisClient(configuration) { subscriber in
            try await withRedisClient(live) { publisher in
                let subscription = try await subscriber.subscribe(to: [channel])
                var receivers = 0
                for _ in 0..<500 where receivers == 0 {
                    try await Task.sleep(for: .milliseconds(10))
                    receivers = try await publisher.execute(["PUBSUB", "NUMSUB", channel]).array?.last?.int ?? 0
                }
                #expect(receivers == 1)
                #expect(try await publisher.publish("here", to: channel) == 1)
                #expect(try await collect(1, from: subscription).map(\.payload) == [ByteBuffer(string: "here")])
            }
        }
    }

    @Test("Ending a subscription unsubscribes from the server")
    func unsubscribeOnEnd() async throws {
        let channel = RedisTest.uniqueKey("gone")
        try await withRedisClient(try RedisTest.configuration()) { client in
            do {
                let subscription = try await client.subscribe(to: [channel])
                #expect(try await client.publish("hi", to: channel) == 1)
                _ = try await collect(1, from: subscription)
            }
            // The subscription and its iterator are released: the client unsubscribes.
            var receivers = 1
            for _ in 0..<200 where receivers != 0 {
                try await Task.sleep(for: .milliseconds(10))
                receivers = try await client.execute(["PUBSUB", "NUMSUB", channel]).array?.last?.int ?? -1
            }
            #expect(receivers == 0)
        }
    }

    @Test("A connection driven from its own event loop: execute, pipeline, and a cancelled blocking command")
    func eventLoopExecutor() async throws {
        let key = RedisTest.uniqueKey("loop")
        let queue = RedisTest.uniqueKey("queue")
        let configuration = try RedisTest.configuration()
        try await RedisConnection.withConnection(configuration: configuration, logger: RedisTest.logger) { connection in
            try await withTaskExecutorPreference(connection.taskExecutor) { () async throws -> Void in
                for index in 0..<100 {
                    #expect(try await connection.execute(["SET", key, "\(index)"]) == .simpleString("OK"))
                    #expect(try await connection.execute(["GET", key]).string == "\(index)")
                }
                let results = await connection.pipeline((0..<64).map { _ in RedisCommand("INCR", key) } + [RedisCommand("HGET", key, "f")])
                #expect(results.prefix(64).compactMap { try? $0.get().int } == Array(100..<164))
                #expect {
                    try results[64].get()
                } throws: { ($0 as? RedisClientError)?.serverErrorPrefix == "WRONGTYPE" }
                #expect(await connection.pipeline([]).isEmpty)
            }

            // A cancelled BLPOP resumes at once; its late reply is discarded and the next
            // command still gets its own reply.
            let blocked = Task { try await connection.executeBlocking(["BLPOP", queue, "5"], block: .seconds(5)) }
            try await Task.sleep(for: .milliseconds(100))
            blocked.cancel()
            await #expect(throws: CancellationError.self) { try await blocked.value }
            try await RedisConnection.withConnection(configuration: configuration, logger: RedisTest.logger) { other in
                _ = try await other.execute(["RPUSH", queue, "item"])
            }
            #expect(try await connection.execute(["GET", key]).string == "163")
            _ = try await connection.execute(["DEL", key, queue])
        }
    }
}
