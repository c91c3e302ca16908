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

@Suite("Redis channel handler state machine")
struct RedisChannelHandlerStateMachineTests {
    typealias StateMachine = RedisChannelHandler.StateMachine

    let loop = EmbeddedEventLoop()

    @Test("Pipelined replies complete the requests in the order they were sent")
    func pipelinedInOrder() throws {
        var machine = StateMachine()
        let promises = (0..<3).map { _ in loop.makePromise(of: RESPValue.self) }
        for promise in promises { machine.sent(.reply, promise: promise, deadline: nil) }
        for (index, promise) in promises.enumerated() {
            guard case .succeed(let target, let value) = machine.received(.integer(Int64(index))) else {
                Issue.record("expected succeed")
                return
            }
            #expect(target.promise == promise)
            #expect(value == .integer(Int64(index)))
        }
        #expect(machine.count == 0)
        for promise in promises { promise.fail(CancellationError()) }
    }

    @Test("An error reply fails only its own request")
    func errorReply() throws {
        var machine = StateMachine()
        let first = loop.makePromise(of: RESPValue.self)
        let second = loop.makePromise(of: RESPValue.self)
        machine.sent(.reply, promise: first, deadline: nil)
        machine.sent(.reply, promise: second, deadline: nil)
        guard case .fail(let target, let error) = machine.received(.simpleError("WRONGTYPE bad")) else {
            Issue.record("expected fail")
            return
        }
        #expect(target.promise == first)
        #expect(error.errorCode == .serverError)
        #expect(error.serverErrorPrefix == "WRONGTYPE")
        guard case .succeed(let next, _) = machine.received(.bulkError("ERR x")) else {
            // Bulk errors are errors too.
            #expect(machine.count == 0)
            first.fail(CancellationError())
            second.fail(CancellationError())
            return
        }
        Issue.record("bulk error succeeded \(String(describing: next))")
    }

    @Test("Push messages are delivered and do not consume a pending request")
    func pushRouted() {
        var machine = StateMachine()
        let promise = loop.makePromise(of: RESPValue.self)
        machine.sent(.reply, promise: promise, deadline: nil)
        let push = RESPValue.push([.bulkString("message"), .bulkString("news"), .bulkString("hello")])
        guard case .deliver(let message) = machine.received(push) else {
            Issue.record("expected deliver")
            return
        }
        #expect(message == RedisPubSubMessage(channel: "news", payload: ByteBuffer(string: "hello")))
        let pattern = RESPValue.push([.bulkString("pmessage"), .bulkString("n*"), .bulkString("news"), .bulkString("x")])
        guard case .deliver(let patterned) = machine.received(pattern) else {
            Issue.record("expected deliver")
            return
        }
        #expect(patterned.pattern == "n*")
        #expect(machine.count == 1)
        guard case .otherPush = machine.received(.push([.bulkString("invalidate"), .array([])])) else {
            Issue.record("expected other push")
            return
        }
        guard case .succeed(let target, _) = machine.received(.simpleString("OK")) else {
            Issue.record("expected succeed")
            return
        }
        #expect(target.promise == promise)
        promise.fail(CancellationError())
    }

    @Test("A subscription completes after one confirmation per name")
    func subscriptionConfirmations() {
        var machine = StateMachine()
        let subscribe = loop.makePromise(of: RESPValue.self)
        let after = loop.makePromise(of: RESPValue.self)
        machine.sent(.subscription(remaining: 2), promise: subscribe, deadline: nil)
        machine.sent(.reply, promise: after, deadline: nil)
        let first = RESPValue.push([.bulkString("subscribe"), .bulkString("a"), .integer(1)])
        guard case .none = machine.received(first) else {
            Issue.record("expected none")
            return
        }
        let second = RESPValue.push([.bulkString("subscribe"), .bulkString("b"), .integer(2)])
        guard case .succeed(let target, _) = machine.received(second) else {
            Issue.record("expected succeed")
            return
        }
        #expect(target.promise == subscribe)
        #expect(machine.count == 1)
        // A confirmation nobody waits for is not mistaken for a reply.
        guard case .otherPush = machine.received(second) else {
            Issue.record("expected other push")
            return
        }
        #expect(machine.count == 1)
        subscribe.fail(CancellationError())
        after.fail(CancellationError())
    }

    @Test("A reply with no request waiting is a protocol error")
    func unexpectedReply() {
        var machine = StateMachine()
        guard case .protocolError = machine.received(.simpleString("OK")) else {
            Issue.record("expected protocol error")
            return
        }
    }

    @Test("Attributes are stripped before matching")
    func attributes() {
        var machine = StateMachine()
        let promise = loop.makePromise(of: RESPValue.self)
        machine.sent(.reply, promise: promise, deadline: nil)
        guard case .succeed(_, let value) = machine.received(.attribute([], .integer(7))) else {
            Issue.record("expected succeed")
            return
        }
        #expect(value == .integer(7))
        promise.fail(CancellationError())
    }

    @Test("Closing returns every waiting promise and empties the queue")
    func closeReturnsPending() {
        var machine = StateMachine()
        let promises = (0..<4).map { _ in loop.makePromise(of: RESPValue.self) }
        for promise in promises { machine.sent(.reply, promise: promise, deadline: nil) }
        machine.sent(.reply, promise: nil, deadline: nil)
        let returned = machine.close()
        #expect(returned.count == 5)
        #expect(returned.compactMap(\.promise) == promises)
        #expect(machine.count == 0)
        for promise in promises { promise.fail(CancellationError()) }
    }

    @Test("Only the oldest request's deadline decides whether the connection is overdue")
    func headDeadline() {
        var machine = StateMachine()
        let now = NIODeadline.uptimeNanoseconds(1_000_000_000)
        machine.sent(.reply, promise: nil, deadline: nil)
        machine.sent(.reply, promise: nil, deadline: now - .seconds(1))
        #expect(!machine.isHeadOverdue(now: now))
        _ = machine.received(.simpleString("OK"))
        #expect(machine.isHeadOverdue(now: now))
    }
}

extension RedisChannelHandlerStateMachineTests {
    @Test("Cancelling detaches only the matching waiter and keeps the request queued for its reply")
    func cancelDetaches() {
        var machine = StateMachine()
        let promise = loop.makePromise(of: RESPValue.self)
        machine.sent(.reply, promise: promise, deadline: nil)
        #expect(machine.cancel(id: 1) == nil)
        #expect(machine.count == 1)
        guard case .succeed(let target, _) = machine.received(.simpleString("OK")) else {
            Issue.record("expected succeed")
            return
        }
        #expect(target.promise == promise)
        promise.fail(CancellationError())
    }
}

extension RedisChannelHandlerStateMachineTests {
    @Test("A pipeline is one queue entry that takes one reply per command, then leaves the queue")
    func pipelineEntry() async {
        let after = loop.makePromise(of: RESPValue.self)
        let results = await withCheckedContinuation { continuation in
            var machine = StateMachine()
            let collector = RedisPipelineCollector(expected: 3, continuation: continuation)
            machine.sent(.pipeline(count: 3), waiter: .pipeline(collector), deadline: nil)
            machine.sent(.reply, promise: after, deadline: nil)
            #expect(machine.count == 2)
            // A plain reply takes the fast path.
            #expect(machine.pipelineReply() === collector)
            collector.add(.success(.integer(1)))
            // A push between replies leaves the pipeline where it is.
            if case .otherPush = machine.received(.push([.bulkString("invalidate"), .array([])])) {
            } else {
                Issue.record("expected other push")
            }
            // Replies through `received` reach the same pipeline.
            for reply in [RESPValue.simpleError("ERR x"), .integer(3)] {
                switch machine.received(reply) {
                case .succeed(let waiter, let value): waiter.complete(.success(value))
                case .fail(let waiter, let error): waiter.complete(.failure(error))
                default: Issue.record("expected the pipeline's waiter")
                }
            }
            #expect(machine.count == 1)
            #expect(machine.pipelineReply() == nil)
            if case .succeed(let target, _) = machine.received(.simpleString("OK")) {
                #expect(target.promise == after)
            } else {
                Issue.record("expected succeed")
            }
            #expect(machine.count == 0)
            // Resumes the test if a reply above went astray (a no-op otherwise).
            collector.finish(failing: RedisClientError(.connectionClosed))
        }
        #expect(results.count == 3)
        #expect((try? results[0].get()) == .integer(1))
        #expect((try? results[1].get()) == nil)
        #expect((try? results[2].get()) == .integer(3))
        after.fail(CancellationError())
    }
}
