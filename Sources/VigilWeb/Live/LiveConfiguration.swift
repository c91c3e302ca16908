//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Settings of the WebSocket live feed `/api/v1/live`.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | ``sampleInterval`` | 1 s | least time between two updates of one target that change only samples or attributes (status changes go out at once) |
/// | ``heartbeatInterval`` | 10 s | how often every client gets a `heartbeat` message, so a page can tell a quiet feed from a dead one |
/// | ``pingInterval`` | 30 s | WebSocket ping period; a client that does not answer with a pong within the next period is disconnected |
/// | ``maxPendingEvents`` | 1,000 | queued events that make a client "too far behind": it is disconnected |
/// | ``writeTimeout`` | 10 s | a client whose socket accepts nothing for this long is disconnected |
/// | ``snapshotEvents`` | 50 | how many recent events the snapshot carries |
/// | ``maxClients`` | 1,000 | connected clients; one more is closed at once with code 1013 "try again later" |
/// | ``maxQueuedBytes`` | 1 MiB | bytes queued for one client before it counts as too slow and is disconnected |
/// | ``maxRequestsPerSecond`` | 10 | messages (subscribe, ping, …) one client may send per second, in bursts of as many; one more disconnects it |
public struct LiveConfiguration: Sendable, Hashable {
    /// The least time between two sample-only updates of one target.
    public var sampleInterval: Duration
    /// How often each client gets a heartbeat message.
    public var heartbeatInterval: Duration
    /// The WebSocket ping period (autoPing).
    public var pingInterval: Duration
    /// Queued events per client before the client counts as too far behind.
    public var maxPendingEvents: Int
    /// How long one write may wait for a client's socket before the client is disconnected.
    public var writeTimeout: Duration
    /// How many recent events the snapshot carries.
    public var snapshotEvents: Int
    /// How many clients may be connected at once.
    public var maxClients: Int
    /// Bytes queued for one client before it counts as too far behind.
    public var maxQueuedBytes: Int
    /// Messages one client may send per second (a token bucket that holds one second's worth).
    public var maxRequestsPerSecond: Int

    /// Creates settings with the defaults listed above.
    public init(
        sampleInterval: Duration = .seconds(1),
        heartbeatInterval: Duration = .seconds(10),
        pingInterval: Duration = .seconds(30),
        maxPendingEvents: Int = 1_000,
        writeTimeout: Duration = .seconds(10),
        snapshotEvents: Int = 50,
        maxClients: Int = 1_000,
        maxQueuedBytes: Int = 1 << 20,
        maxRequestsPerSecond: Int = 10
    ) {
        self.sampleInterval = sampleInterval
        self.heartbeatInterval = heartbeatInterval
        self.pingInterval = pingInterval
        self.maxPendingEvents = maxPendingEvents
        self.writeTimeout = writeTimeout
        self.snapshotEvents = snapshotEvents
        self.maxClients = maxClients
        self.maxQueuedBytes = maxQueuedBytes
        self.maxRequestsPerSecond = maxRequestsPerSecond
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
