//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import VigilRedis

@Suite("Redis channel handler")
struct RedisChannelHandlerTests {
    final class Received: Sendable {
        let messages = Mutex<[RedisPubSubMessage]>([])
        let pushes = Mutex<[RESPValue]>([])
    }

    func makeChannel(_ received: Received) throws -> (EmbeddedChannel, RedisChannelHandler) {
        let channel = EmbeddedChannel()
        let handler = RedisChannelHandler(
            eventLoop: channel.eventLoop,
            logger: Logger(label: "test"),
            onMessage: { message in received.messages.withLock { $0.append(message) } },
            onPush: { value in received.pushes.withLock { $0.append(value) } }
        )
        try channel.pipeline.syncOperations.addHandler(handler)
        channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 6379), promise: nil)
        return (channel, handler)
    }

    /// The outcome of a future that must already be complete (never blocks: an EmbeddedChannel
    /// runs everything synchronously).
    func outcome(_ future: EventLoopFuture<RESPValue>) throws -> RESPValue {
        let box = Mutex<Result<RESPValue, any Error>?>(nil)
        future.whenComplete { result in box.withLock { $0 = result } }
        guard let result = box.withLock({ $0 }) else {
            throw IncompleteFuture()
        }
        return try result.get()
    }

    func outcome(_ future: EventLoopFuture<RedisClientError>) throws -> RedisClientError {
        let box = Mutex<Result<RedisClientError, any Error>?>(nil)
        future.whenComplete { result in box.withLock { $0 = result } }
        guard let result = box.withLock({ $0 }) else {
            throw IncompleteFuture()
        }
        return try result.get()
    }

    struct IncompleteFuture: Error {}

    func readAllOutbound(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    @Test("Each request is flushed at once, and replies complete them in order")
    func pipelining() throws {
        let received = Received()
        let (channel, handler) = try makeChannel(received)
        let promises = (0..<3).map { _ in channel.eventLoop.makePromise(of: RESPValue.self) }
        for (index, promise) in promises.enumerated() {
            handler.send(RedisCommand("GET", "k\(index)"), kind: .reply, promise: promise, timeout: nil)
        }
        // Flushed without waiting for the event loop to run.
        #expect(try readAllOutbound(channel) == (0..<3).map { "*2\r\n$3\r\nGET\r\n$2\r\nk\($0)\r\n" }.joined())
        // Replies arrive in one read, split across value boundaries.
        try channel.writeInbound(ByteBuffer(string: "$1\r\na\r\n_\r\n-ERR"))
        try channel.writeInbound(ByteBuffer(string: " no\r\n"))
        #expect(try outcome(promises[0].futureResult) == .bulkString("a"))
        #expect(try outcome(promises[1].futureResult) == .null)
        #expect(throws: RedisClientError.self) { try outcome(promises[2].futureResult) }
        #expect(try channel.finish().isClean)
    }

    @Test("A batch is written as one buffer and its replies complete it in order")
    func batch() throws {
        let (channel, handler) = try makeChannel(Received())
        let promises = (0..<3).map { _ in channel.eventLoop.makePromise(of: RESPValue.self) }
        handler.send(batch: (0..<3).map { RedisCommand("INCR", "n\($0)") }, promises: promises, timeout: nil)
        channel.embeddedEventLoop.run()
        let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: written) == (0..<3).map { "*2\r\n$4\r\nINCR\r\n$2\r\nn\($0)\r\n" }.joined())
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        try channel.writeInbound(ByteBuffer(string: ":1\r\n:2\r\n:3\r\n"))
        #expect(try promises.map { try outcome($0.futureResult) } == [.integer(1), .integer(2), .integer(3)])
        #expect(try channel.finish().isClean)
    }

    @Test("Push frames reach the subscription callback between replies")
    func pushRouting() throws {
        let received = Received()
        let (channel, handler) = try makeChannel(received)
        let subscribe = channel.eventLoop.makePromise(of: RESPValue.self)
        handler.send(RedisCommand("SUBSCRIBE", "a"), kind: .subscription(remaining: 1), promise: subscribe, timeout: nil)
        let get = channel.eventLoop.makePromise(of: RESPValue.self)
        handler.send(RedisCommand("GET", "x"), kind: .reply, promise: get, timeout: nil)
        try channel.writeInbound(ByteBuffer(string: ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n:5\r\n"))
        try channel.writeInbound(ByteBuffer(string: ">2\r\n$10\r\ninvalidate\r\n*0\r\n"))
        #expect(try outcome(subscribe.futureResult).array?.first?.string == "subscribe")
        #expect(try outcome(get.futureResult) == .integer(5))
        #expect(received.messages.withLock { $0 } == [RedisPubSubMessage(channel: "a", payload: ByteBuffer(string: "hi"))])
        #expect(received.pushes.withLock { $0.count } == 1)
        _ = try channel.finish()
    }

    @Test("Closing the connection fails every pending request with connectionClosed")
    func closeFailsPending() throws {
        let (channel, handler) = try makeChannel(Received())
        let promises = (0..<5).map { _ in channel.eventLoop.makePromise(of: RESPValue.self) }
        for promise in promises { handler.send(RedisCommand("PING"), kind: .reply, promise: promise, timeout: nil) }
        try channel.writeInbound(ByteBuffer(string: "+PONG\r\n"))
        channel.pipeline.fireChannelInactive()
        #expect(try outcome(promises[0].futureResult) == .simpleString("PONG"))
        for promise in promises.dropFirst() {
            #expect {
                try outcome(promise.futureResult)
            } throws: { ($0 as? RedisClientError)?.errorCode == .connectionClosed }
        }
        #expect(try outcome(handler.closed.futureResult).errorCode == .connectionClosed)
        // A request after the close fails at once.
        let late = channel.eventLoop.makePromise(of: RESPValue.self)
        handler.send(RedisCommand("PING"), kind: .reply, promise: late, timeout: nil)
        #expect(throws: RedisClientError.self) { try outcome(late.futureResult) }
        _ = try? channel.finish()
    }

    @Test("Malformed bytes close the connection with a decode error")
    func malformedCloses() throws {
        let (channel, handler) = try makeChannel(Received())
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        handler.send(RedisCommand("PING"), kind: .reply, promise: promise, timeout: nil)
        try channel.writeInbound(ByteBuffer(string: "?garbage\r\n"))
        #expect {
            try outcome(promise.futureResult)
        } throws: { ($0 as? RedisClientError)?.errorCode == .decodeError }
        #expect(!channel.isActive)
        _ = try? channel.finish()
    }

    @Test("A reply later than the command timeout fails the requests and closes the connection")
    func timeout() throws {
        let (channel, handler) = try makeChannel(Received())
        let first = channel.eventLoop.makePromise(of: RESPValue.self)
        let second = channel.eventLoop.makePromise(of: RESPValue.self)
        handler.send(RedisCommand("PING"), kind: .reply, promise: first, timeout: .seconds(1))
        handler.send(RedisCommand("PING"), kind: .reply, promise: second, timeout: .seconds(1))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(500))
        try channel.writeInbound(ByteBuffer(string: "+PONG\r\n"))
        #expect(try outcome(first.futureResult) == .simpleString("PONG"))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(600))
        #expect {
            try outcome(second.futureResult)
        } throws: { ($0 as? RedisClientError)?.errorCode == .timeout }
        #expect(!channel.isActive)
        _ = try? channel.finish()
    }
}
