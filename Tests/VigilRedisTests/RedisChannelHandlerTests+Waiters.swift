//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import NIOEmbedded
import Testing

@testable import VigilRedis

extension RedisChannelHandlerTests {
    @Test("A pipeline resumes its task once, with every result in order, errors included")
    func pipelineContinuation() async throws {
        let (channel, handler) = try makeChannel(Received())
        let commands = (0..<3).map { RedisCommand("INCR", "n\($0)") }
        let results = await withCheckedContinuation { continuation in
            handler.send(batch: commands, continuation: continuation, timeout: .seconds(1))
            // All three commands went out in one flushed write.
            #expect((try? readAllOutbound(channel))?.split(separator: "\r\n").filter { $0 == "INCR" }.count == 3)
            _ = try? channel.writeInbound(ByteBuffer(string: ":1\r\n-WRONGTYPE no\r\n:3\r\n"))
        }
        #expect(results.count == 3)
        #expect((try? results[0].get()) == .integer(1))
        #expect(throws: RedisClientError.self) { try results[1].get() }
        #expect((try? results[2].get()) == .integer(3))
        #expect(handler.stateMachine.count == 0)
        #expect(channel.isActive)
        _ = try? channel.finish()
    }

    @Test("A pipeline waiting when the connection closes gets a failure for each command")
    func pipelineClosed() async throws {
        let (channel, handler) = try makeChannel(Received())
        let results = await withCheckedContinuation { continuation in
            handler.send(batch: [RedisCommand("PING"), RedisCommand("PING")], continuation: continuation, timeout: nil)
            _ = try? channel.writeInbound(ByteBuffer(string: "+PONG\r\n"))
            channel.pipeline.fireChannelInactive()
        }
        #expect(results.count == 2)
        #expect((try? results[0].get()) == .simpleString("PONG"))
        #expect {
            try results[1].get()
        } throws: { ($0 as? RedisClientError)?.errorCode == .connectionClosed }
        _ = try? channel.finish()
    }

    @Test("A pipeline sent on a closed connection fails at once")
    func pipelineAfterClose() async throws {
        let (channel, handler) = try makeChannel(Received())
        handler.close(reason: RedisClientError(.connectionClosed, message: "test"))
        let results = await withCheckedContinuation { continuation in
            handler.send(batch: [RedisCommand("PING")], continuation: continuation, timeout: nil)
        }
        #expect(results.count == 1)
        #expect(throws: RedisClientError.self) { try results[0].get() }
        _ = try? channel.finish()
    }

    @Test("A cancelled request resumes with CancellationError; its reply is discarded, later replies still match")
    func cancelledContinuation() async throws {
        let (channel, handler) = try makeChannel(Received())
        await #expect(throws: CancellationError.self) {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RESPValue, any Error>) in
                handler.send(RedisCommand("GET", "a"), kind: .reply, waiter: .continuation(continuation, id: 7), timeout: nil)
                handler.cancel(id: 7)
            }
        }
        // Cancelling an unknown or answered request changes nothing.
        handler.cancel(id: 7)
        let reply = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RESPValue, any Error>) in
            handler.send(RedisCommand("GET", "b"), kind: .reply, waiter: .continuation(continuation, id: 8), timeout: nil)
            _ = try? channel.writeInbound(ByteBuffer(string: "$1\r\na\r\n$1\r\nb\r\n"))
        }
        #expect(reply == .bulkString(ByteBuffer(string: "b")))
        #expect(handler.stateMachine.count == 0)
        _ = try? channel.finish()
    }

    @Test("The timer armed for the first request still enforces the deadline of requests sent after the queue drained")
    func singleDeadlineAfterDrain() throws {
        let (channel, handler) = try makeChannel(Received())
        let first = channel.eventLoop.makePromise(of: RESPValue.self)
        handler.send(RedisCommand("PING"), kind: .reply, promise: first, timeout: .seconds(1))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(500))
        try channel.writeInbound(ByteBuffer(string: "+PONG\r\n"))
        #expect(try outcome(first.futureResult) == .simpleString("PONG"))

        let second = channel.eventLoop.makePromise(of: RESPValue.self)
        handler.send(RedisCommand("PING"), kind: .reply, promise: second, timeout: .seconds(1))
        // The first request's timer fires at 1 s, finds the second not yet due (1.5 s) and waits on.
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(700))
        #expect(channel.isActive)
        #expect(throws: IncompleteFuture.self) { try outcome(second.futureResult) }
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(400))
        #expect {
            try outcome(second.futureResult)
        } throws: { ($0 as? RedisClientError)?.errorCode == .timeout }
        #expect(!channel.isActive)
        _ = try? channel.finish()
    }

    @Test("An idle connection's lapsed timer closes nothing")
    func idleTimerLapses() throws {
        let (channel, handler) = try makeChannel(Received())
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        handler.send(RedisCommand("PING"), kind: .reply, promise: promise, timeout: .seconds(1))
        try channel.writeInbound(ByteBuffer(string: "+PONG\r\n"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(channel.isActive)
        #expect(handler.closeReason == nil)
        _ = try? channel.finish()
    }

    @Test("After a blocking command is answered, the next request's shorter deadline is enforced")
    func deadlineAfterBlockingHead() throws {
        let (channel, handler) = try makeChannel(Received())
        let blocking = channel.eventLoop.makePromise(of: RESPValue.self)
        let short = channel.eventLoop.makePromise(of: RESPValue.self)
        handler.send(RedisCommand("BLPOP", "q", 60), kind: .reply, promise: blocking, timeout: .seconds(60))
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        handler.send(RedisCommand("PING"), kind: .reply, promise: short, timeout: .seconds(1))
        // At 2 s the timer finds the blocking command at the head, not yet due, and waits for it.
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(channel.isActive)
        try channel.writeInbound(ByteBuffer(string: "_\r\n"))
        #expect(try outcome(blocking.futureResult) == .null)
        // The PING, now at the head, has been due since 2 s.
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect {
            try outcome(short.futureResult)
        } throws: { ($0 as? RedisClientError)?.errorCode == .timeout }
        _ = try? channel.finish()
    }
}
