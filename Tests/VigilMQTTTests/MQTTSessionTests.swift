//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import VigilMQTT

@Suite("MQTT session across connections")
struct MQTTSessionTests {
    /// Records how a publication's promise ended.
    final class Outcome: Sendable {
        let result = Mutex<Result<Void, any Error>?>(nil)
        init(_ future: EventLoopFuture<Void>) {
            future.whenComplete { result in self.result.withLock { $0 = result } }
        }
        var pending: Bool { result.withLock { $0 == nil } }
        var succeeded: Bool { result.withLock { if case .success = $0 { true } else { false } } }
        var errorCode: MQTTClientError.Code? {
            result.withLock { if case .failure(let error) = $0 { (error as? MQTTClientError)?.errorCode } else { nil } }
        }
    }

    func publish(_ harness: HandlerHarness, _ text: String, qos: MQTTQoS) -> Outcome {
        let promise = harness.channel.eventLoop.makePromise(of: Void.self)
        harness.handler.publish(.init(topic: "t", payload: ByteBuffer(string: text), qos: qos, retain: false), promise: promise)
        harness.channel.embeddedEventLoop.run()
        return Outcome(promise.futureResult)
    }

    @Test("A resumed session resends unfinished PUBLISHes with DUP and their identifiers, and PUBREL after PUBREC, in order")
    func resume() throws {
        let session = MQTTSession()
        let first = try HandlerHarness(session: session)
        _ = try first.connect()
        let a = publish(first, "a", qos: .atLeastOnce)
        let b = publish(first, "b", qos: .exactlyOnce)
        let c = publish(first, "c", qos: .atLeastOnce)
        let sent = try first.readAllPackets()
        guard sent.count == 3, case .publish(let pa) = sent[0], case .publish(let pb) = sent[1], case .publish(let pc) = sent[2] else {
            throw TestFailure("expected three PUBLISH packets, got \(sent)")
        }
        try first.send(.ack(.init(type: .pubrec, packetID: pb.packetID)))
        try first.send(.ack(.init(type: .puback, packetID: pc.packetID)))
        first.channel.pipeline.fireChannelReadComplete()
        #expect(try first.readAllPackets() == [.ack(.init(type: .pubrel, packetID: pb.packetID))])
        #expect(c.succeeded)
        try first.channel.close().wait()
        // Parked, not failed.
        #expect(a.pending && b.pending)

        let second = try HandlerHarness(session: session)
        _ = try second.connect(connack: .init(sessionPresent: true, reasonCode: 0))
        var resentA = pa
        resentA.dup = true
        #expect(try second.readAllPackets() == [.publish(resentA), .ack(.init(type: .pubrel, packetID: pb.packetID))])
        try second.send(.ack(.init(type: .puback, packetID: pa.packetID)))
        try second.send(.ack(.init(type: .pubcomp, packetID: pb.packetID)))
        #expect(a.succeeded && b.succeeded)
        // New publications do not reuse an identifier still in flight.
        let d = publish(second, "d", qos: .atLeastOnce)
        guard case .publish(let pd) = try second.readAllPackets().first else { throw TestFailure("no PUBLISH for d") }
        #expect(!pd.dup)
        try second.send(.ack(.init(type: .puback, packetID: pd.packetID)))
        #expect(d.succeeded)
    }

    @Test("When the broker did not keep the session, parked publications fail with a retryable error and nothing is resent")
    func sessionLost() throws {
        let session = MQTTSession()
        let first = try HandlerHarness(session: session)
        _ = try first.connect()
        let a = publish(first, "a", qos: .atLeastOnce)
        _ = try first.readAllPackets()
        try first.channel.close().wait()
        #expect(a.pending)

        let second = try HandlerHarness(session: session)
        _ = try second.connect(connack: .init(sessionPresent: false, reasonCode: 0))
        #expect(try second.readAllPackets().isEmpty)
        #expect(a.errorCode == .connectionClosed)
        #expect(MQTTClient.isRetryable(MQTTClientError(.connectionClosed)))
    }

    @Test("An incoming QoS 2 message repeated by the broker after a reconnect is delivered once")
    func incomingQoS2() throws {
        let session = MQTTSession()
        let first = try HandlerHarness(session: session)
        _ = try first.connect()
        let message = MQTTPublishPacket(topic: "in", payload: ByteBuffer(string: "once"), qos: .exactlyOnce, retain: false, packetID: 7)
        try first.send(.publish(message))
        first.channel.pipeline.fireChannelReadComplete()
        first.process(first.delivered.messages)
        #expect(try first.readAllPackets() == [.ack(.init(type: .pubrec, packetID: 7))])
        try first.channel.close().wait()

        let second = try HandlerHarness(session: session)
        _ = try second.connect(connack: .init(sessionPresent: true, reasonCode: 0))
        var repeated = message
        repeated.dup = true
        try second.send(.publish(repeated))
        try second.send(.ack(.init(type: .pubrel, packetID: 7)))
        second.channel.pipeline.fireChannelReadComplete()
        #expect(try second.readAllPackets() == [.ack(.init(type: .pubrec, packetID: 7)), .ack(.init(type: .pubcomp, packetID: 7))])
        #expect(first.delivered.messages.count + second.delivered.messages.count == 1)
    }

    @Test("Parked publications are ordered as sent even when identifiers wrapped around")
    func orderAcrossWrap() {
        var machine = MQTTChannelHandler.StateMachine(inflightLimit: 10)
        // Move the identifier counter close to the end of its range.
        for _ in 0..<65_533 { _ = machine.allocatePacketID() }
        var ids: [UInt16] = []
        for index in 0..<4 {
            guard
                case .send(let packet) = machine.publish(
                    .init(topic: "t", payload: ByteBuffer(string: "\(index)"), qos: .atLeastOnce, retain: false),
                    promise: nil
                )
            else {
                Issue.record("held back")
                return
            }
            ids.append(packet.packetID)
        }
        #expect(ids == [65_534, 65_535, 1, 2])
        let (parked, _) = machine.park()
        #expect(parked.publications.map(\.packet.packetID) == ids)
    }
}
