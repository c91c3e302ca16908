//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// A change of an ``MQTTClient``'s connection state, reported by ``MQTTClient/connectionEvents``.
public enum MQTTConnectionEvent: Sendable, CustomStringConvertible {
    /// The client is connected, its active subscriptions have been made again and the publications
    /// queued while disconnected have been sent; `sessionPresent` tells whether the broker resumed a
    /// stored session.
    case connected(sessionPresent: Bool)
    /// The connection was lost or could not be made; the error says why.
    case disconnected(MQTTClientError)
    /// The client waits `delay` before reconnection attempt number `attempt` (counting from 1).
    case reconnecting(attempt: Int, delay: Duration)

    /// A short description of the event.
    public var description: String {
        switch self {
        case .connected(let sessionPresent): "connected(sessionPresent: \(sessionPresent))"
        case .disconnected(let error): "disconnected(\(error))"
        case .reconnecting(let attempt, let delay): "reconnecting(attempt: \(attempt), delay: \(delay))"
        }
    }
}
