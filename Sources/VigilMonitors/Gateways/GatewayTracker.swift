//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import VigilCore

/// The gateway monitor's state and rules, without I/O: inputs are status messages, admin replies,
/// HTTP results and the passing of time; outputs are ``Effect`` values that ``GatewayMonitor``
/// carries out (publish, observe, record, persist). Logs and the monitor's bound counters are
/// written here; every per-gateway value, the seed's `galaxy_*` series included, leaves as an
/// observation sample.
/// The rules for unconfigured servers, failover and observations are in the `GatewayTracker+…`
/// files beside this one.
///
/// One task owns a tracker; it is a plain value, so tests drive it with hand-made times.
struct GatewayTracker {
    /// The role of a gateway.
    enum Role: String, Sendable, Hashable {
        /// Listed in `AVAILABLE_JANUS_SERVERS`.
        case primary
        /// Listed in `FAILOVER_JANUS_SERVERS`.
        case failover
        /// Seen on the status topic but not configured: shown (capped, expired after silence),
        /// never sent a request (which carries the admin secret), never given metric series or
        /// events, never used for failover.
        case discovered
    }

    /// What one gateway is known to be.
    struct Gateway: Sendable, Hashable {
        var name: String
        var role: Role
        /// The last explicit status (status message, or the first reply to a probe); `nil`: unknown.
        var online: Bool?
        /// When anything was last heard from it, in monotonic seconds (``ClockReading/seconds``).
        var lastSeen: Double?
        var sessions: Int?
        var lastError: String?
        var stale = false
        /// The status last reported to the hub.
        var reported: TargetStatus?
    }

    /// Why a request was sent.
    enum Purpose: String, Sendable, Hashable {
        /// The regular round to an online gateway.
        case poll
        /// A gateway whose state is unknown or missed (late start, reconnect).
        case probe
        /// The first request after a gateway came online; retried once.
        case online
    }

    struct PendingRequest: Sendable, Hashable {
        var server: String
        var purpose: Purpose
        var deadline: Double
        /// When to send one more request if this one is still unanswered.
        var retryAt: Double?
    }

    /// Something the monitor must do.
    enum Effect: Sendable, Hashable {
        /// Publish a `list_sessions` request to a server's admin topic.
        case sendAdmin(server: String, payload: [UInt8])
        /// Apply an observation to the hub.
        case observe(Observation)
        /// Record an event in the hub.
        case record(Event)
        /// Publish (retained) the mapping of a failed server, or clear it with `nil`.
        case publishMapping(failedServer: String, payload: [UInt8]?)
        /// Save the failover state.
        case persist(FailoverStateMachine.Snapshot)
        /// Forget a target: its state, row and series (an expired discovered server).
        case forget(TargetID)
    }

    let configuration: GatewayMonitorConfiguration
    let metrics: GatewayMetrics
    let logger: Logger
    /// Limits the log lines a peer can cause (unknown names, malformed payloads).
    let limiter: LogRateLimiter
    var gateways: [String: Gateway] = [:]
    /// How many gateways have role ``Role/discovered``.
    var discoveredCount = 0
    var machine: FailoverStateMachine
    var pending: [String: PendingRequest] = [:]
    var connected = false
    var nextPoll: Double = .infinity
    /// The latest reading handed in: turns the monotonic times kept here (last seen, deadlines,
    /// failover starts) into the wall-clock stamps shown, published and stored.
    var reading = ClockReading(seconds: 0)
    var transactionPrefix: String
    var transactionCounter: UInt64 = 0
    /// The seed's failover series of each failed primary, reported with its observation.
    var failoverSeries: [String: FailoverSeries] = [:]

    /// `galaxy_failover_active` per spare and `galaxy_failover_events_total` per event and failover
    /// server, of one failed primary. Kept after a failover ends (active 0) because Prometheus
    /// series of gxydb-api did the same; bounded by the configured servers and the event kinds.
    struct FailoverSeries: Sendable, Hashable {
        var active: [String: Bool] = [:]
        var events: [EventSeries: Int] = [:]
    }

    struct EventSeries: Sendable, Hashable, Comparable {
        var event: String
        var failoverServer: String

        static func < (lhs: Self, rhs: Self) -> Bool {
            (lhs.event, lhs.failoverServer) < (rhs.event, rhs.failoverServer)
        }
    }

    var requestTimeout: Double { configuration.requestTimeout.seconds }
    var staleThreshold: Double { configuration.staleThreshold.seconds }

    init(configuration: GatewayMonitorConfiguration, metrics: GatewayMetrics, logger: Logger) {
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        self.limiter = LogRateLimiter(label: logger.label, metricsFactory: metrics.factory)
        self.machine = FailoverStateMachine(
            primaries: configuration.availableServers,
            spares: configuration.failoverServers,
            waitTime: configuration.failoverWaitTime.seconds,
            skipOfflineSpares: configuration.skipOfflineSpares
        )
        self.transactionPrefix = "vigil-" + String(UInt32.random(in: .min ... .max), radix: 16)
        for name in configuration.availableServers {
            gateways[name] = Gateway(name: name, role: .primary)
        }
        for name in configuration.failoverServers where gateways[name] == nil {
            gateways[name] = Gateway(name: name, role: .failover)
        }
    }

    // MARK: - Start and connection

    /// Adds a server watched over HTTP that is in neither server list (as a primary: it is
    /// configured, but takes no part in failover in HTTP mode).
    mutating func add(_ name: String) {
        if gateways[name] == nil { gateways[name] = Gateway(name: name, role: .primary) }
    }

    /// Publishes every configured gateway to the hub and restores a saved failover state;
    /// `onlineBefore` names the gateways a previous owner last saw online (a cluster's takeover).
    mutating func start(restoring snapshot: FailoverStateMachine.Snapshot?, onlineBefore: [String] = [], now: ClockReading) -> [Effect] {
        reading = now
        var effects: [Effect] = []
        if let snapshot {
            // Stored with wall-clock stamps; the machine keeps monotonic time.
            machine.restore(Self.rebased(snapshot, by: now.seconds - now.wallClockSeconds))
            for (failed, mapping) in machine.mappings.sorted(by: { $0.key < $1.key }) {
                gateways[failed]?.online = false
                if case .spare(let spare) = mapping {
                    failoverSeries[failed, default: .init()].active[spare] = true
                }
                effects.append(.publishMapping(failedServer: failed, payload: mappingPayload(failed, mapping)))
                logger.info("Restored failover mapping", metadata: ["failed_server": "\(failed)", "failover_server": "\(mapping.label)"])
            }
            for server in machine.pending.keys { gateways[server]?.online = false }
        }
        machine.assumeOnline(onlineBefore)
        for name in gateways.keys.sorted() { effects.append(.observe(observation(name, now: now))) }
        return effects
    }

    /// The broker connection is up: probe every configured gateway soon (status messages are not
    /// retained, and any may have been missed while disconnected), then poll regularly.
    mutating func connectionUp(now: ClockReading) {
        reading = now
        connected = true
        // A short delay lets the client's subscriptions reach the broker before the first request.
        nextPoll = now.seconds + 0.3
        probeAll = true
    }

    var probeAll = false

    /// The broker connection is down: nothing can be sent, and replies in flight are lost.
    mutating func connectionDown() {
        connected = false
        pending.removeAll()
    }

    // MARK: - Status messages

    /// Handles a message on a status topic.
    mutating func statusMessage(server: String, payload: some Sequence<UInt8>, now: ClockReading) -> [Effect] {
        reading = now
        let bytes = Array(payload)
        // A zero-length message is a cleared retained status, not a status.
        guard !bytes.isEmpty else { return [] }
        guard let online = JanusAdminMessage.status(bytes) else {
            limiter.log(
                logger,
                .warning,
                key: "malformed_status",
                "Ignoring malformed gateway status",
                metadata: [
                    "server": "\(printable(server))", "payload": "\(printable(String(decoding: bytes.prefix(200), as: UTF8.self), limit: 100))",
                ],
                now: now.seconds
            )
            return []
        }
        guard let known = gateways[server], known.role != .discovered else {
            return discoveredStatus(server: server, online: online, now: now)
        }
        var effects: [Effect] = []
        let wasOnline = known.online
        if wasOnline != online {
            logger.info("Gateway status updated", metadata: ["server": "\(server)", "online": "\(online)"])
        } else {
            logger.debug("Gateway status updated", metadata: ["server": "\(server)", "online": "\(online)"])
        }
        gateways[server]?.online = online
        gateways[server]?.lastSeen = now.seconds
        if online {
            if wasOnline != true, connected {
                // Janus announces itself before it subscribes to its admin topic: the first
                // request may be lost, so it is sent at once and once more after a short delay.
                effects += send(to: server, purpose: .online, now: now)
            }
        } else {
            pending = pending.filter { $0.value.server != server }
            gateways[server]?.stale = false
            if wasOnline != false {
                logger.warning("Gateway is offline", metadata: ["gateway": "\(server)"])
            }
        }
        effects += failoverOutputs(machine.statusChanged(server: server, online: online, now: now.seconds), now: now)
        effects += report(server, now: now)
        return effects
    }

    // MARK: - Admin replies

    /// Handles a message on an admin reply topic.
    mutating func adminReply(server: String, payload: some Sequence<UInt8>, now: ClockReading) -> [Effect] {
        reading = now
        // Only configured servers are ever asked; anything else on a reply topic is noise.
        guard let role = gateways[server]?.role, role != .discovered, !pending.isEmpty else { return [] }
        guard let reply = JanusAdminMessage.reply(payload) else { return [] }
        guard let transaction = reply.transaction, transaction.utf8.count <= JanusAdminMessage.maxTransactionLength,
            let request = pending[transaction], request.server == server
        else {
            // Someone else's request, or one that already timed out.
            return []
        }
        // An answer supersedes every request still open to that server (the unanswered first
        // request after coming online, whose retry was answered, must not time out later).
        pending = pending.filter { $0.value.server != server }
        return handle(reply, server: server, purpose: request.purpose, now: now)
    }

    /// Handles the outcome of one HTTP admin request.
    mutating func httpResult(server: String, outcome: Result<[UInt8], HTTPFailure>, now: ClockReading) -> [Effect] {
        reading = now
        switch outcome {
        case .success(let body):
            guard let reply = JanusAdminMessage.reply(body) else {
                return httpFailure(server, HTTPFailure(message: "reply is not a Janus message"), now: now)
            }
            return handle(reply, server: server, purpose: .poll, now: now, http: true)
        case .failure(let failure):
            return httpFailure(server, failure, now: now)
        }
    }

    /// Why an HTTP admin request failed.
    struct HTTPFailure: Error, Sendable, Hashable {
        var message: String
    }

    mutating func httpFailure(_ server: String, _ failure: HTTPFailure, now: ClockReading) -> [Effect] {
        let wasOnline = gateways[server]?.online
        gateways[server]?.online = false
        gateways[server]?.lastError = failure.message
        if wasOnline != false {
            logger.warning("Gateway is offline", metadata: ["gateway": "\(server)", "error": "\(failure.message)"])
        }
        return report(server, now: now)
    }

    mutating func handle(_ reply: JanusAdminMessage.Reply, server: String, purpose: Purpose, now: ClockReading, http: Bool = false) -> [Effect] {
        var effects: [Effect] = []
        let wasOnline = gateways[server]?.online
        gateways[server]?.lastSeen = now.seconds
        // Any answer proves the gateway runs. Over MQTT, an answer marks a gateway online only
        // when its state was unknown or it was probed after going offline (a late start or a
        // missed status); over HTTP, answers are the only status there is.
        if http || wasOnline == nil || (wasOnline == false && purpose == .probe) {
            gateways[server]?.online = true
            if wasOnline != true {
                logger.info(
                    "Gateway status updated",
                    metadata: ["server": "\(server)", "online": "true", "source": "\(http ? "http" : "admin reply")"]
                )
            }
            if !http {
                effects += failoverOutputs(machine.statusChanged(server: server, online: true, now: now.seconds), now: now)
            }
        }
        switch reply {
        case .sessions(_, let count):
            if gateways[server]?.sessions != count || gateways[server]?.lastError != nil {
                logger.info("Gateway sessions updated", metadata: ["server": "\(server)", "sessions": "\(count)"])
            } else {
                logger.debug("Gateway sessions updated", metadata: ["server": "\(server)", "sessions": "\(count)"])
            }
            gateways[server]?.sessions = count
            gateways[server]?.lastError = nil
        case .error(_, let code, let reason):
            let message = "\(code) \(reason)"
            if gateways[server]?.lastError != message {
                logger.error("Gateway admin request rejected", metadata: ["gateway": "\(server)", "code": "\(code)", "reason": "\(reason)"])
            }
            gateways[server]?.lastError = message
        case .other(_, let janus):
            logger.debug("Unexpected gateway admin reply", metadata: ["gateway": "\(server)", "janus": "\(printable(janus))"])
        case .invalid(_, let reason):
            let message = "invalid list_sessions reply: \(reason)"
            if gateways[server]?.lastError != message {
                limiter.log(
                    logger,
                    .warning,
                    key: "invalid_reply",
                    "Ignoring an invalid gateway admin reply",
                    metadata: ["server": "\(server)", "reason": "\(reason)"],
                    now: now.seconds
                )
            }
            gateways[server]?.lastError = message
        }
        effects += report(server, now: now)
        return effects
    }

    // MARK: - Time

    /// Advances time: fires failovers, times out and retries requests, starts poll rounds and
    /// evaluates staleness.
    mutating func tick(now: ClockReading) -> [Effect] {
        reading = now
        limiter.flush(logger, now: now.seconds)
        var effects = failoverOutputs(machine.advance(to: now.seconds), now: now)
        effects += expireDiscovered(now: now)
        for (transaction, request) in pending.sorted(by: { $0.key < $1.key }) {
            if request.deadline <= now.seconds {
                pending[transaction] = nil
                if request.purpose == .probe {
                    logger.debug("Gateway probe unanswered", metadata: ["gateway": "\(request.server)"])
                } else if gateways[request.server]?.online == true {
                    let message = "list_sessions timed out after \(formatSeconds(requestTimeout))"
                    logger.warning("Gateway admin request timed out", metadata: ["gateway": "\(request.server)", "transaction": "\(transaction)"])
                    if gateways[request.server]?.lastError == nil {
                        gateways[request.server]?.lastError = message
                        effects += report(request.server, now: now)
                    }
                }
            } else if let retryAt = request.retryAt, retryAt <= now.seconds {
                pending[transaction]?.retryAt = nil
                logger.debug("Retrying first admin request", metadata: ["gateway": "\(request.server)"])
                effects += send(to: request.server, purpose: .poll, now: now)
            }
        }
        if connected, now.seconds >= nextPoll {
            nextPoll = now.seconds + configuration.pollInterval.seconds
            let probeEverything = probeAll
            probeAll = false
            for name in gateways.keys.sorted() {
                // Requests carry the admin secret: only configured servers are ever asked.
                guard let gateway = gateways[name], gateway.role != .discovered, !pending.values.contains(where: { $0.server == name }) else {
                    continue
                }
                switch (gateway.online, gateway.role) {
                case (true?, _): effects += send(to: name, purpose: .poll, now: now)
                case (nil, .primary), (nil, .failover): effects += send(to: name, purpose: .probe, now: now)
                case (false?, .primary) where probeEverything, (false?, .failover) where probeEverything:
                    effects += send(to: name, purpose: .probe, now: now)
                default: break
                }
            }
        }
        effects += evaluateStaleness(now: now)
        return effects
    }

    /// Warns about online gateways not heard from within the threshold, and reports the change.
    mutating func evaluateStaleness(now: ClockReading) -> [Effect] {
        reading = now
        var effects: [Effect] = []
        for name in gateways.keys.sorted() {
            // Discovered servers are never asked, so their silence says nothing.
            guard let gateway = gateways[name], gateway.role != .discovered else { continue }
            let verdict = GatewayStaleness.evaluate(online: gateway.online, lastSeen: gateway.lastSeen, now: now.seconds, threshold: staleThreshold)
            if case .stale(let silence) = verdict, !gateway.stale {
                gateways[name]?.stale = true
                logger.warning("Gateway status is stale", metadata: ["gateway": "\(name)", "since_last_seen": "\(formatSeconds(silence))"])
                effects += report(name, now: now)
            } else if !verdict.isStale, gateway.stale {
                gateways[name]?.stale = false
                logger.info("Gateway heard from again", metadata: ["gateway": "\(name)"])
                effects += report(name, now: now)
            }
        }
        return effects
    }

    /// The earliest time (monotonic seconds) at which ``tick(now:)`` has something to do, for
    /// callers that sleep.
    var nextWake: Double {
        var wake = connected ? nextPoll : .infinity
        if let deadline = machine.nextDeadline { wake = min(wake, deadline) }
        for request in pending.values {
            wake = min(wake, request.retryAt ?? request.deadline, request.deadline)
        }
        return wake
    }

    // MARK: - Requests

    mutating func send(to server: String, purpose: Purpose, now: ClockReading) -> [Effect] {
        // The request carries the admin secret: never to a server that is not configured.
        guard connected, let role = gateways[server]?.role, role != .discovered else { return [] }
        transactionCounter &+= 1
        let transaction = "\(transactionPrefix)-\(transactionCounter)"
        let retryAt = purpose == .online ? now.seconds + configuration.onlineRetryDelay.seconds : nil
        pending[transaction] = PendingRequest(server: server, purpose: purpose, deadline: now.seconds + requestTimeout, retryAt: retryAt)
        return [.sendAdmin(server: server, payload: JanusAdminMessage.listSessions(transaction: transaction, adminKey: configuration.adminKey))]
    }
}
