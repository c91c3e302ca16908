//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Recent session takeovers of one client, to tell a takeover loop (two processes with one client
/// identifier pushing each other off the broker) from a single one (a restart of the same process
/// before the broker noticed the old connection was gone).
///
/// MQTT 5 brokers may say why they end a session (DISCONNECT 0x8E); Mosquitto 2.0 closes the old
/// connection without a word, so a close within seconds of being accepted, followed by an
/// accepted reconnect, counts too.
struct MQTTTakeoverWindow {
    /// MQTT 5 DISCONNECT reason code 0x8E, "Session taken over".
    static let sessionTakenOver: UInt8 = 0x8E

    let limit: Int
    let window: Duration
    /// Takeovers within the window, oldest first; never more than `limit`.
    private(set) var times: [ContinuousClock.Instant] = []

    init(limit: Int, window: Duration) {
        self.limit = max(limit, 0)
        self.window = max(window, .zero)
    }

    var count: Int { times.count }

    /// What a connection's end says about a takeover.
    enum Ending: Equatable {
        /// The broker said so: DISCONNECT with reason code 0x8E.
        case takenOver
        /// The broker closed the connection, without a word, within ``suspectWithin`` of
        /// accepting it: a takeover if the next connection is accepted at once.
        case suspected
        /// Anything else.
        case other
    }

    /// A takeover loop switches every reconnect delay (about a second); a broker restart or an
    /// idle timeout ends connections that lived much longer.
    static let suspectWithin: Duration = .seconds(5)

    func classify(_ reason: MQTTClientError, connectedFor: Duration) -> Ending {
        if reason.errorCode == .serverDisconnected && reason.reasonCode == Self.sessionTakenOver { return .takenOver }
        if reason.errorCode == .connectionClosed && connectedFor < Self.suspectWithin { return .suspected }
        return .other
    }

    /// Whether one more takeover at `now` reaches the limit.
    func reachesLimit(at now: ContinuousClock.Instant) -> Bool {
        limit > 0 && times.filter { now - $0 <= window }.count + 1 >= limit
    }

    /// Records a takeover; returns whether the limit is reached within the window.
    mutating func record(at now: ContinuousClock.Instant) -> Bool {
        guard limit > 0 else { return false }
        times.removeAll { now - $0 > window }
        times.append(now)
        if times.count > limit { times.removeFirst(times.count - limit) }
        return times.count >= limit
    }
}
