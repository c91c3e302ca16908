//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import NIOEmbedded
import Testing

@testable import VigilMQTT

@Suite("MQTT channel handler state machine")
struct MQTTChannelHandlerStateMachineTests {
    let loop = EmbeddedEventLoop()

    func publication(_ qos: MQTTQoS) -> MQTTPublishPacket {
        MQTTPublishPacket(topic: "t", payload: ByteBuffer(string: "x"), qos: qos, retain: false)
    }

    @Test("Packet identifiers wrap after 65535, skip 0 and skip identifiers in use")
    func packetIDs() {
        var machine = MQTTChannelHandler.StateMachine(inflightLimit: 10)
        guard case .send(let first) = machine.publish(publication(.atLeastOnce), promise: nil) else {
            Issue.record("held")
            return
        }
        #expect(first.packetID == 1)
        for _ in 2...65535 { _ = machine.allocatePacketID() }
        // Wrapped: 1 is still in use, so the next identifier is 2.
        let next = machine.allocatePacketID()
        #expect(next == 2)
    }

    @Test("The window holds publications back and releases them in order on acknowledgement")
    func window() {
        var machine = MQTTChannelHandler.StateMachine(inflightLimit: 1)
        guard case .send(let first) = machine.publish(publication(.atLeastOnce), promise: nil) else {
            Issue.record("held")
            return
        }
        guard case .hold = machine.publish(publication(.exactlyOnce), promise: nil) else {
            Issue.record("not held")
            return
        }
        #expect(machine.heldBackCount == 1)
        let released = machine.nextReleasedPublish()
        #expect(released == nil)
        guard case .succeed = machine.receivedAck(MQTTAckPacket(type: .puback, packetID: first.packetID)) else {
            Issue.record("no success")
            return
        }
        guard let (second, _) = machine.nextReleasedPublish() else {
            Issue.record("not released")
            return
        }
        #expect(second.qos == .exactlyOnce)
        #expect(machine.inflight == 1)
        // QoS 2: PUBREC leads to PUBREL, a PUBACK is a protocol error, PUBCOMP completes.
        guard case .protocolError = machine.receivedAck(MQTTAckPacket(type: .puback, packetID: second.packetID)) else {
            Issue.record("accepted PUBACK for QoS 2")
            return
        }
        guard case .sendPubRel(second.packetID) = machine.receivedAck(MQTTAckPacket(type: .pubrec, packetID: second.packetID)) else {
            Issue.record("no PUBREL")
            return
        }
        guard case .succeed = machine.receivedAck(MQTTAckPacket(type: .pubcomp, packetID: second.packetID)) else {
            Issue.record("no completion")
            return
        }
        #expect(machine.inflight == 0)
    }

    @Test("A failing PUBREC ends the QoS 2 exchange with a rejection")
    func rejectedPubRec() {
        var machine = MQTTChannelHandler.StateMachine(inflightLimit: 1)
        guard case .send(let packet) = machine.publish(publication(.exactlyOnce), promise: nil) else { return }
        guard
            case .fail(_, _, let code, let reason) = machine.receivedAck(
                MQTTAckPacket(type: .pubrec, packetID: packet.packetID, reasonCode: 0x97, properties: [.reasonString("quota")])
            )
        else {
            Issue.record("not rejected")
            return
        }
        #expect(code == 0x97)
        #expect(reason == "quota")
        #expect(machine.inflight == 0)
    }

    @Test("Incoming QoS 2 identifiers are remembered from PUBREC until PUBREL")
    func incomingQoS2() {
        var machine = MQTTChannelHandler.StateMachine(inflightLimit: 1)
        let before = machine.isAwaitingPubRel(packetID: 5)
        machine.sentPubRec(packetID: 5)
        let retransmission = machine.isAwaitingPubRel(packetID: 5)
        machine.receivedPubRel(packetID: 5)
        let afterRelease = machine.isAwaitingPubRel(packetID: 5)
        #expect(!before)
        #expect(retransmission)
        #expect(!afterRelease)
    }

    @Test("SUBACK and UNSUBACK match only their own request kind; close returns every waiting promise")
    func requestsAndClose() {
        var machine = MQTTChannelHandler.StateMachine(inflightLimit: 1)
        let subscribe = loop.makePromise(of: MQTTSubAckPacket.self)
        let id = machine.startRequest(.subscribe(subscribe))
        let wrongKind = machine.receivedSubAck(packetID: id, unsubscribe: true)
        let rightKind = machine.receivedSubAck(packetID: id, unsubscribe: false)
        #expect(wrongKind == nil)
        #expect(rightKind != nil)
        let unsubscribe = loop.makePromise(of: MQTTSubAckPacket.self)
        _ = machine.startRequest(.unsubscribe(unsubscribe))
        let published = loop.makePromise(of: Void.self)
        let held = loop.makePromise(of: Void.self)
        _ = machine.publish(publication(.atLeastOnce), promise: published)
        _ = machine.publish(publication(.atLeastOnce), promise: held)
        let (publications, requests) = machine.close()
        #expect(publications.count == 2)
        #expect(requests.count == 1)
        for promise in publications { promise.fail(MQTTClientError(.connectionClosed)) }
        for promise in requests { promise.fail(MQTTClientError(.connectionClosed)) }
        subscribe.fail(MQTTClientError(.connectionClosed))
        #expect(machine.inflight == 0)
    }
}
