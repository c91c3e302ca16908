//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import Synchronization

/// The client's side of an MQTT session that outlives one connection.
///
/// When a connection closes, its unfinished QoS 1/2 publications and the identifiers of incoming
/// QoS 2 publications still awaiting PUBREL are parked here instead of failing. When the next
/// connection's CONNACK says the broker kept the session, they are taken back: every parked
/// PUBLISH is sent again with DUP set and its original packet identifier, every publication that
/// had its PUBREC gets its PUBREL again, in the original order, as MQTT requires
/// ([MQTT-4.4.0-1] in 3.1.1, §4.4 in 5.0), and a QoS 2 message the broker repeats is not delivered
/// twice. When the broker did not keep the session, the publications fail with a retryable
/// error and ``MQTTClient`` publishes them again as new messages.
///
/// Used only when the client does not ask for clean sessions; one connection at a time takes from
/// and gives back to it.
final class MQTTSession: Sendable {
    /// An outgoing publication that was sent but not completed.
    struct Publication: Sendable {
        var packet: MQTTPublishPacket
        var promise: EventLoopPromise<Void>?
        /// PUBREC arrived: only PUBREL/PUBCOMP remain.
        var awaitingPubComp: Bool
    }

    /// What a closed connection left unfinished.
    struct Parked: Sendable {
        /// Sent publications, oldest first.
        var publications: [Publication] = []
        /// Publications not yet sent (beyond the in-flight window), oldest first.
        var heldBack: [Publication] = []
        /// Incoming QoS 2 packet identifiers awaiting PUBREL.
        var incomingQoS2: Set<UInt16> = []

        var isEmpty: Bool { publications.isEmpty && heldBack.isEmpty && incomingQoS2.isEmpty }

        /// Every promise still waiting.
        var promises: [EventLoopPromise<Void>] { (publications + heldBack).compactMap(\.promise) }
    }

    private let parked = Mutex(Parked())

    /// Keeps what a closing connection left unfinished, after anything parked earlier.
    func park(_ more: Parked) {
        guard !more.isEmpty else { return }
        parked.withLock { parked in
            parked.publications += more.publications
            parked.heldBack += more.heldBack
            parked.incomingQoS2.formUnion(more.incomingQoS2)
        }
    }

    /// Takes everything parked.
    func take() -> Parked {
        parked.withLock { parked in
            defer { parked = Parked() }
            return parked
        }
    }

    /// Fails every parked publication (the client is shutting down) and forgets the session.
    func fail(with error: any Error) {
        for promise in take().promises { promise.fail(error) }
    }
}
