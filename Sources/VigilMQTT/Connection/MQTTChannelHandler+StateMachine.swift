//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore

extension MQTTChannelHandler {
    /// The request state of one connection, as a value: packet identifiers, requests awaiting an
    /// answer, the in-flight window of outgoing QoS 1/2 publications (with the publications held back
    /// beyond it) and the identifiers of incoming QoS 2 publications awaiting PUBREL.
    ///
    /// Its methods take events and return what the handler must do; it performs no I/O and completes
    /// no promise itself.
    struct StateMachine {
        enum Request {
            case publish(MQTTPublishPacket, EventLoopPromise<Void>?, awaitingPubComp: Bool)
            case subscribe(EventLoopPromise<MQTTSubAckPacket>)
            case unsubscribe(EventLoopPromise<MQTTSubAckPacket>)
        }

        /// What to do with a QoS 1/2 publication.
        enum PublishAction {
            /// Send this packet (its identifier is assigned).
            case send(MQTTPublishPacket)
            /// The window is full; the publication waits.
            case hold
        }

        /// What to do with a PUBACK, PUBREC or PUBCOMP.
        enum AckAction {
            /// PUBREC accepted: send PUBREL with this identifier.
            case sendPubRel(UInt16)
            /// The publication completed; the window has room for held-back ones.
            case succeed(EventLoopPromise<Void>?)
            /// The broker rejected the publication.
            case fail(EventLoopPromise<Void>?, topic: String, reasonCode: MQTTReasonCode, reasonString: String?)
            /// The acknowledgement matches nothing: a protocol error.
            case protocolError(String)
        }

        private(set) var requests: [UInt16: Request] = [:]
        private var nextPacketID: UInt16 = 1
        /// Outgoing QoS 1/2 publications awaiting acknowledgement.
        private(set) var inflight = 0
        /// The size of the in-flight window.
        var inflightLimit: Int
        private var heldBack = CircularBuffer<(MQTTPublishPacket, EventLoopPromise<Void>?)>()
        private var receivedQoS2: Set<UInt16> = []

        init(inflightLimit: Int) {
            self.inflightLimit = max(1, inflightLimit)
        }

        /// The number of publications waiting for room in the window.
        var heldBackCount: Int { heldBack.count }

        /// Returns a packet identifier that no outstanding request uses.
        mutating func allocatePacketID() -> UInt16 {
            while true {
                let id = nextPacketID
                nextPacketID = nextPacketID == UInt16.max ? 1 : nextPacketID + 1
                if requests[id] == nil { return id }
            }
        }

        /// Starts a QoS 1/2 publication.
        mutating func publish(_ packet: MQTTPublishPacket, promise: EventLoopPromise<Void>?) -> PublishAction {
            guard inflight < inflightLimit else {
                heldBack.append((packet, promise))
                return .hold
            }
            return .send(self.track(packet, promise: promise))
        }

        private mutating func track(_ packet: MQTTPublishPacket, promise: EventLoopPromise<Void>?) -> MQTTPublishPacket {
            var packet = packet
            packet.packetID = allocatePacketID()
            inflight += 1
            requests[packet.packetID] = .publish(packet, promise, awaitingPubComp: false)
            return packet
        }

        /// Forgets a publication that could not be sent (its promise is failed by the caller).
        mutating func abandonPublish(packetID: UInt16) {
            if case .publish = requests.removeValue(forKey: packetID) { inflight -= 1 }
        }

        /// Takes the next held-back publication if the window has room, with its identifier assigned.
        mutating func nextReleasedPublish() -> (MQTTPublishPacket, EventLoopPromise<Void>?)? {
            guard inflight < inflightLimit, let (packet, promise) = heldBack.popFirst() else { return nil }
            return (self.track(packet, promise: promise), promise)
        }

        /// Registers a SUBSCRIBE or UNSUBSCRIBE and returns its packet identifier.
        mutating func startRequest(_ request: Request) -> UInt16 {
            let id = allocatePacketID()
            requests[id] = request
            return id
        }

        /// Handles PUBACK, PUBREC or PUBCOMP for an outgoing publication.
        mutating func receivedAck(_ ack: MQTTAckPacket) -> AckAction {
            guard case .publish(let packet, let promise, let awaitingPubComp) = requests[ack.packetID] else {
                return .protocolError("unexpected \(ack.type) \(ack.packetID)")
            }
            let expected: MQTTPacketType = packet.qos == .atLeastOnce ? .puback : (awaitingPubComp ? .pubcomp : .pubrec)
            guard ack.type == expected else {
                return .protocolError("\(ack.type) where \(expected) was expected")
            }
            if ack.type == .pubrec && !ack.reasonCode.isMQTTFailure {
                requests[ack.packetID] = .publish(packet, promise, awaitingPubComp: true)
                return .sendPubRel(ack.packetID)
            }
            requests[ack.packetID] = nil
            inflight -= 1
            if ack.reasonCode.isMQTTFailure {
                return .fail(promise, topic: packet.topic, reasonCode: ack.reasonCode, reasonString: ack.properties.mqttReasonString)
            }
            return .succeed(promise)
        }

        /// Handles SUBACK or UNSUBACK and returns the waiting promise, or `nil` if none matches.
        mutating func receivedSubAck(packetID: UInt16, unsubscribe: Bool) -> EventLoopPromise<MQTTSubAckPacket>? {
            switch requests[packetID] {
            case .subscribe(let promise) where !unsubscribe, .unsubscribe(let promise) where unsubscribe:
                requests[packetID] = nil
                return promise
            default:
                return nil
            }
        }

        /// Whether PUBREC was sent for an incoming QoS 2 identifier that awaits PUBREL (method B):
        /// a PUBLISH with that identifier is a retransmission and is not delivered again.
        func isAwaitingPubRel(packetID: UInt16) -> Bool {
            receivedQoS2.contains(packetID)
        }

        /// Records that PUBREC was sent for an incoming QoS 2 publication.
        mutating func sentPubRec(packetID: UInt16) {
            receivedQoS2.insert(packetID)
        }

        /// Records PUBREL for an incoming QoS 2 publication.
        mutating func receivedPubRel(packetID: UInt16) {
            receivedQoS2.remove(packetID)
        }

        /// Empties the state when the connection closes and returns every promise still waiting.
        mutating func close() -> (publications: [EventLoopPromise<Void>], requests: [EventLoopPromise<MQTTSubAckPacket>]) {
            let (parked, requests) = self.park()
            return (parked.promises, requests)
        }

        /// Empties the state when the connection closes, keeping the session's part: the
        /// unfinished publications in the order they were sent and the incoming QoS 2 identifiers.
        /// Returns the subscription requests' promises, which do not survive a connection.
        mutating func park() -> (MQTTSession.Parked, requests: [EventLoopPromise<MQTTSubAckPacket>]) {
            var parked = MQTTSession.Parked()
            var others: [EventLoopPromise<MQTTSubAckPacket>] = []
            for (_, request) in requests {
                switch request {
                case .publish(let packet, let promise, let awaitingPubComp):
                    parked.publications.append(.init(packet: packet, promise: promise, awaitingPubComp: awaitingPubComp))
                case .subscribe(let promise), .unsubscribe(let promise):
                    others.append(promise)
                }
            }
            // Identifiers are handed out in cyclic order from `nextPacketID`, so the distance
            // back from it orders the publications as they were sent.
            let next = Int(nextPacketID)
            parked.publications.sort { (next - Int($0.packet.packetID) + 65_535) % 65_535 > (next - Int($1.packet.packetID) + 65_535) % 65_535 }
            while let (packet, promise) = heldBack.popFirst() {
                parked.heldBack.append(.init(packet: packet, promise: promise, awaitingPubComp: false))
            }
            parked.incomingQoS2 = receivedQoS2
            requests = [:]
            inflight = 0
            receivedQoS2 = []
            return (parked, others)
        }

        /// What to send again when a session resumes.
        enum Resend: Equatable {
            /// The PUBLISH again, with DUP set and its original identifier.
            case publish(MQTTPublishPacket)
            /// PUBREL for a QoS 2 publication whose PUBREC had arrived.
            case pubRel(UInt16)
        }

        /// Takes back a parked session after CONNACK with "session present"; returns what to send,
        /// in the original order. Held-back publications queue before any new ones.
        mutating func resume(_ parked: MQTTSession.Parked) -> [Resend] {
            var resend: [Resend] = []
            for publication in parked.publications {
                var packet = publication.packet
                requests[packet.packetID] = .publish(packet, publication.promise, awaitingPubComp: publication.awaitingPubComp)
                inflight += 1
                if publication.awaitingPubComp {
                    resend.append(.pubRel(packet.packetID))
                } else {
                    packet.dup = true
                    resend.append(.publish(packet))
                }
                nextPacketID = packet.packetID == UInt16.max ? 1 : packet.packetID + 1
            }
            for publication in parked.heldBack.reversed() {
                heldBack.prepend((publication.packet, publication.promise))
            }
            receivedQoS2.formUnion(parked.incomingQoS2)
            return resend
        }
    }
}
