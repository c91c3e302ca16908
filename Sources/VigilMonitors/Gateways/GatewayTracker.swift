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
/// carries out (publish, observe, record, persist). Logs and the seed's metrics are written here.
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
    private(set) var gateways: [String: Gateway] = [:]
    /// How many gateways have role ``Role/discovered``.
    private(set) var discoveredCount = 0
    private(set) var machine: FailoverStateMachine
    private(set) var pending: [String: PendingRequest] = [:]
    private(set) var connected = false
    private var nextPoll: Double = .infinity
    /// The latest reading handed in: turns the monotonic times kept here (last seen, deadlines,
    /// failover starts) into the wall-clock stamps shown, published and stored.
    private var reading = ClockReading(seconds: 0)
    private var transactionPrefix: String
    private var transactionCounter: UInt64 = 0

    private var requestTimeout: Double { configuration.requestTimeout.seconds }
    private var staleThreshold: Double { configuration.staleThreshold.seconds }

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

    /// Publishes every configured gateway to the hub and restores a saved failover state.
    mutating func start(restoring snapshot: FailoverStateMachine.Snapshot?, now: ClockReading) -> [Effect] {
        reading = now
        var effects: [Effect] = []
        if let snapshot {
            // Stored with wall-clock stamps; the machine keeps monotonic time.
            machine.restore(Self.rebased(snapshot, by: now.seconds - now.wallClockSeconds))
            for (failed, mapping) in machine.mappings.sorted(by: { $0.key < $1.key }) {
                gateways[failed]?.online = false
                if case .spare(let spare) = mapping {
                    metrics.setFailoverActive(true, failedServer: failed, failoverServer: spare)
                }
                effects.append(.publishMapping(failedServer: failed, payload: mappingPayload(failed, mapping)))
                logger.info("Restored failover mapping", metadata: ["failed_server": "\(failed)", "failover_server": "\(mapping.label)"])
            }
            for server in machine.pending.keys { gateways[server]?.online = false }
        }
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

    private var probeAll = false

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
                logger, .warning, key: "malformed_status", "Ignoring malformed gateway status",
                metadata: ["server": "\(printable(server))", "payload": "\(printable(String(decoding: bytes.prefix(200), as: UTF8.self), limit: 100))"],
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

    /// The status of a server that is not configured: shown as discovered while there is room,
    /// never sent anything, never given series or events.
    private mutating func discoveredStatus(server: String, online: Bool, now: ClockReading) -> [Effect] {
        if gateways[server] == nil {
            // A name is shown in the API and the dashboard: no control characters, no novels.
            guard server.utf8.count <= Self.maxDiscoveredNameLength, !server.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
                metrics.countDiscoveredRefused()
                limiter.log(logger, .warning, key: "discovered_bad_name", "Ignoring the status of an unconfigured gateway with an unusable name", metadata: ["server": "\(printable(server))"], now: now.seconds)
                return []
            }
            guard discoveredCount < configuration.maxDiscovered else {
                metrics.countDiscoveredRefused()
                limiter.log(
                    logger, .warning, key: "discovered_refused", "Ignoring the status of an unconfigured gateway: max_discovered reached",
                    metadata: ["server": "\(printable(server))", "max_discovered": "\(configuration.maxDiscovered)"], now: now.seconds
                )
                return []
            }
            gateways[server] = Gateway(name: server, role: .discovered)
            discoveredCount += 1
            metrics.setDiscovered(discoveredCount)
            limiter.log(
                logger, .notice, key: "discovered",
                "Discovered gateway that is not configured; shown, never sent the admin key, not used for failover",
                metadata: ["server": "\(printable(server))"], now: now.seconds
            )
        }
        let wasOnline = gateways[server]?.online
        gateways[server]?.online = online
        gateways[server]?.lastSeen = now.seconds
        if wasOnline != online {
            limiter.log(
                logger, .info, key: "discovered_status", "Gateway status updated",
                metadata: ["server": "\(printable(server))", "online": "\(online)", "role": "discovered"], now: now.seconds
            )
        }
        return report(server, now: now)
    }

    /// The longest name (in UTF-8 bytes) a discovered server may have.
    static let maxDiscoveredNameLength = 64

    /// Forgets discovered servers silent for longer than `discovered_expiry`.
    private mutating func expireDiscovered(now: ClockReading) -> [Effect] {
        guard discoveredCount > 0 else { return [] }
        let expiry = configuration.discoveredExpiry.seconds
        var effects: [Effect] = []
        for (name, gateway) in gateways where gateway.role == .discovered && !(now.seconds - (gateway.lastSeen ?? now.seconds) < expiry) {
            gateways[name] = nil
            discoveredCount -= 1
            metrics.countDiscoveredExpired()
            logger.debug("Forgot a discovered gateway after its silence", metadata: ["server": "\(printable(name))"])
            effects.append(.forget(TargetID(.gateway, name)))
        }
        if !effects.isEmpty { metrics.setDiscovered(discoveredCount) }
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

    private mutating func httpFailure(_ server: String, _ failure: HTTPFailure, now: ClockReading) -> [Effect] {
        let wasOnline = gateways[server]?.online
        gateways[server]?.online = false
        gateways[server]?.lastError = failure.message
        if wasOnline != false {
            logger.warning("Gateway is offline", metadata: ["gateway": "\(server)", "error": "\(failure.message)"])
        }
        return report(server, now: now)
    }

    private mutating func handle(_ reply: JanusAdminMessage.Reply, server: String, purpose: Purpose, now: ClockReading, http: Bool = false) -> [Effect] {
        var effects: [Effect] = []
        let wasOnline = gateways[server]?.online
        gateways[server]?.lastSeen = now.seconds
        // Any answer proves the gateway runs. Over MQTT, an answer marks a gateway online only
        // when its state was unknown or it was probed after going offline (a late start or a
        // missed status); over HTTP, answers are the only status there is.
        if http || wasOnline == nil || (wasOnline == false && purpose == .probe) {
            gateways[server]?.online = true
            if wasOnline != true {
                logger.info("Gateway status updated", metadata: ["server": "\(server)", "online": "true", "source": "\(http ? "http" : "admin reply")"])
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
            metrics.setSessions(count, server: server)
        case .error(_, let code, let reason):
            let message = "\(code) \(reason)"
            if gateways[server]?.lastError != message {
                logger.error("Gateway admin request rejected", metadata: ["server": "\(server)", "code": "\(code)", "reason": "\(reason)"])
            }
            gateways[server]?.lastError = message
        case .other(_, let janus):
            logger.debug("Unexpected gateway admin reply", metadata: ["server": "\(server)", "janus": "\(printable(janus))"])
        case .invalid(_, let reason):
            let message = "invalid list_sessions reply: \(reason)"
            if gateways[server]?.lastError != message {
                limiter.log(logger, .warning, key: "invalid_reply", "Ignoring an invalid gateway admin reply", metadata: ["server": "\(server)", "reason": "\(reason)"], now: now.seconds)
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
                    logger.debug("Gateway probe unanswered", metadata: ["server": "\(request.server)"])
                } else if gateways[request.server]?.online == true {
                    let message = "list_sessions timed out after \(formatSeconds(requestTimeout))"
                    logger.warning("Gateway admin request timed out", metadata: ["server": "\(request.server)", "transaction": "\(transaction)"])
                    if gateways[request.server]?.lastError == nil {
                        gateways[request.server]?.lastError = message
                        effects += report(request.server, now: now)
                    }
                }
            } else if let retryAt = request.retryAt, retryAt <= now.seconds {
                pending[transaction]?.retryAt = nil
                logger.debug("Retrying first admin request", metadata: ["server": "\(request.server)"])
                effects += send(to: request.server, purpose: .poll, now: now)
            }
        }
        if connected, now.seconds >= nextPoll {
            nextPoll = now.seconds + configuration.pollInterval.seconds
            let probeEverything = probeAll
            probeAll = false
            for name in gateways.keys.sorted() {
                // Requests carry the admin secret: only configured servers are ever asked.
                guard let gateway = gateways[name], gateway.role != .discovered, !pending.values.contains(where: { $0.server == name }) else { continue }
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

    private mutating func send(to server: String, purpose: Purpose, now: ClockReading) -> [Effect] {
        // The request carries the admin secret: never to a server that is not configured.
        guard connected, let role = gateways[server]?.role, role != .discovered else { return [] }
        transactionCounter &+= 1
        let transaction = "\(transactionPrefix)-\(transactionCounter)"
        let retryAt = purpose == .online ? now.seconds + configuration.onlineRetryDelay.seconds : nil
        pending[transaction] = PendingRequest(server: server, purpose: purpose, deadline: now.seconds + requestTimeout, retryAt: retryAt)
        return [.sendAdmin(server: server, payload: JanusAdminMessage.listSessions(transaction: transaction, adminKey: configuration.adminKey))]
    }

    // MARK: - Failover

    private mutating func failoverOutputs(_ outputs: [FailoverStateMachine.Output], now: ClockReading) -> [Effect] {
        guard !outputs.isEmpty else { return [] }
        var effects: [Effect] = []
        var touched: [String] = []
        for output in outputs {
            switch output {
            case .timerStarted(let server, let deadline):
                logger.warning(
                    "Primary server offline - failover timer started",
                    metadata: ["server": "\(server)", "wait_time": "\(formatSeconds(machine.waitTime))"]
                )
                effects.append(.record(Event(
                    time: now.wallClockSeconds(atMonotonic: deadline - machine.waitTime), target: TargetID(.gateway, server),
                    type: "failover_pending", severity: .warning,
                    message: "Primary gateway \(server) is offline; failover in \(formatSeconds(machine.waitTime)) unless it returns",
                    fields: ["failed_server": server, "wait_time": formatSeconds(machine.waitTime)]
                )))
                touched.append(server)
            case .timerCancelled(let server):
                logger.info("Primary server back online - failover timer cancelled", metadata: ["server": "\(server)"])
                touched.append(server)
            case .event(let event):
                effects.append(.record(failoverEvent(event)))
                touched += [event.failedServer] + event.failoverServer.split(separator: ",").map(String.init)
            case .mappingChanged(let failed, let mapping):
                if let mapping {
                    if case .spare(let spare) = mapping {
                        metrics.setFailoverActive(true, failedServer: failed, failoverServer: spare)
                    }
                    effects.append(.publishMapping(failedServer: failed, payload: mappingPayload(failed, mapping)))
                } else {
                    effects.append(.publishMapping(failedServer: failed, payload: nil))
                }
                // The pool changed: every spare's position or duty may have moved.
                touched += [failed] + machine.spares
            }
        }
        effects.append(.persist(Self.rebased(machine.snapshot, by: now.wallClockSeconds - now.seconds)))
        var seen: Set<String> = []
        for name in touched where seen.insert(name).inserted && gateways[name] != nil {
            effects.append(.observe(observation(name, now: now)))
        }
        return effects
    }

    /// Counts, logs and describes one failover event.
    private func failoverEvent(_ event: FailoverStateMachine.Event) -> Event {
        metrics.countFailoverEvent(event.kind.rawValue, failedServer: event.failedServer, failoverServer: event.failoverServer)
        let failed = event.failedServer
        let to = event.failoverServer
        let message: String
        let severity: Event.Severity
        switch event.kind {
        case .triggered:
            logger.warning("Server offline - failover triggered", metadata: ["server": "\(failed)"])
            message = "Failover triggered for \(failed)"
            severity = .warning
        case .completed:
            logger.info("Migrated room assignments", metadata: ["from": "\(failed)", "to": "\(to)"])
            logger.info("Failover completed successfully", metadata: ["failed_server": "\(failed)", "failover_server": "\(to)"])
            message = "Failover of \(failed) to \(to) completed"
            severity = .warning
        case .noFailover:
            logger.error("No failover servers available - will distribute to alive primary servers", metadata: ["server": "\(failed)"])
            message = "No failover server available for \(failed)"
            severity = .critical
        case .distributed:
            logger.warning("Distributed assignments to alive servers (emergency mode)", metadata: ["failed_server": "\(failed)", "servers": "\(to)"])
            message = "Assignments of \(failed) distributed to \(to) (emergency mode)"
            severity = .critical
        case .failed:
            logger.error("No alive primary servers available - cannot failover", metadata: ["server": "\(failed)"])
            message = "Failover of \(failed) failed: no spare and no online primary"
            severity = .critical
        case .recovered:
            logger.info("Failed server recovered - new assignments will go to recovered server", metadata: ["server": "\(failed)", "failover_server": "\(to)"])
            message = "\(failed) recovered; new assignments go to it again"
            severity = .info
            if !to.isEmpty, !to.contains(",") {
                metrics.setFailoverActive(false, failedServer: failed, failoverServer: to)
            }
        }
        return Event(
            time: reading.wallClockSeconds(atMonotonic: event.time), target: TargetID(.gateway, failed), type: "failover_\(event.kind.rawValue)", severity: severity,
            message: message, fields: ["event": event.kind.rawValue, "failed_server": failed, "failover_server": to]
        )
    }

    /// The retained JSON that describes where a failed server's load went.
    func mappingPayload(_ failed: String, _ mapping: FailoverStateMachine.Mapping) -> [UInt8] {
        var object: [String: JSONValue] = [
            "failed_server": .string(failed),
            "failover_servers": .array(mapping.servers.map { .string($0) }),
            "since": machine.mappedAt[failed].map { .number(stamp($0)) } ?? .null,
        ]
        switch mapping {
        case .spare(let spare):
            object["mode"] = "failover"
            object["failover_server"] = .string(spare)
        case .distributed:
            object["mode"] = "distributed"
            object["failover_server"] = .string(mapping.label)
        }
        return jsonBytes(.object(object))
    }

    // MARK: - Observations

    /// Reports a gateway to the hub, with an event when its status changed.
    private mutating func report(_ name: String, now: ClockReading) -> [Effect] {
        guard var gateway = gateways[name] else { return [] }
        if gateway.stale, !GatewayStaleness.evaluate(online: gateway.online, lastSeen: gateway.lastSeen, now: now.seconds, threshold: staleThreshold).isStale {
            gateway.stale = false
            gateways[name]?.stale = false
            logger.info("Gateway heard from again", metadata: ["gateway": "\(name)"])
        }
        var effects: [Effect] = [.observe(observation(name, now: now))]
        let status = Self.status(of: gateway)
        if status != gateway.reported {
            gateways[name]?.reported = status
            // A peer can create and flip discovered servers at will: they make no events.
            if gateway.role != .discovered, gateway.reported != nil || status != .unknown {
                effects.append(.record(statusEvent(gateway, status: status, now: now)))
            }
        }
        return effects
    }

    static func status(of gateway: Gateway) -> TargetStatus {
        switch gateway.online {
        case nil: .unknown
        case false?: .down
        case true?: gateway.stale ? .stale : gateway.lastError != nil ? .error : .up
        }
    }

    private func statusEvent(_ gateway: Gateway, status: TargetStatus, now: ClockReading) -> Event {
        let name = gateway.name
        let (message, severity): (String, Event.Severity) =
            switch status {
            case .up: ("Gateway \(name) is online", .info)
            case .down: ("Gateway \(name) is offline", gateway.role == .discovered ? .info : .warning)
            case .stale: ("Gateway \(name) has not been heard from for more than \(formatSeconds(staleThreshold))", .warning)
            case .error: ("Gateway \(name) reports an error: \(gateway.lastError ?? "")", .warning)
            case .unknown: ("Gateway \(name) state is unknown", .info)
            }
        var fields = ["role": gateway.role.rawValue]
        if let error = gateway.lastError { fields["last_error"] = error }
        return Event(time: now.wallClockSeconds, target: TargetID(.gateway, name), type: "gateway_\(status.rawValue)", severity: severity, message: message, fields: fields)
    }

    /// The hub observation of a gateway: status, every attribute the API shows, and sessions.
    func observation(_ name: String, now: ClockReading) -> Observation {
        let gateway = gateways[name] ?? Gateway(name: name, role: .discovered)
        var attributes: [String: JSONValue?] = [
            "name": .string(name),
            AttributeName.role.rawValue: .string(gateway.role.rawValue),
            AttributeName.online.rawValue: gateway.online.map { .bool($0) } ?? .null,
            AttributeName.sessions.rawValue: gateway.sessions.map { .number(Double($0)) } ?? .null,
            AttributeName.lastSeen.rawValue: gateway.lastSeen.map { .number(now.wallClockSeconds(atMonotonic: $0)) } ?? .null,
            "last_error": gateway.lastError.map { .string($0) } ?? .null,
            "stale": .bool(gateway.stale),
            AttributeName.failover.rawValue: failoverAttribute(name) ?? .null,
        ]
        if gateway.stale, let lastSeen = gateway.lastSeen {
            attributes["since_last_seen"] = .number((now.seconds - lastSeen).rounded())
        } else {
            attributes["since_last_seen"] = .null
        }
        var samples: [Sample] = []
        if let sessions = gateway.sessions, gateway.lastError == nil || gateway.online == true {
            samples.append(Sample(.sessions, Double(sessions)))
        }
        // Through the hub, like every monitor's values: vigil_gateway_online{gateway} and
        // vigil_gateway_last_seen_seconds{gateway}. Discovered servers get no series: a peer could
        // otherwise create them at will.
        if gateway.role != .discovered {
            if let online = gateway.online { samples.append(Sample(.online, online ? 1 : 0, recordHistory: false)) }
            if let lastSeen = gateway.lastSeen {
                samples.append(Sample(.lastSeenSeconds, now.wallClockSeconds(atMonotonic: lastSeen), recordHistory: false))
            }
        }
        return Observation(target: TargetID(.gateway, name), time: now.wallClockSeconds, status: Self.status(of: gateway), attributes: attributes, samples: samples)
    }

    /// The `failover` attribute: the failover state of a primary, or the duty of a spare.
    func failoverAttribute(_ name: String) -> JSONValue? {
        if let mapping = machine.mappings[name] {
            var object: [String: JSONValue] = [
                AttributeName.failoverServers.rawValue: .array(mapping.servers.map { .string($0) }),
                AttributeName.failoverServer.rawValue: .string(mapping.label),
                AttributeName.since.rawValue: machine.mappedAt[name].map { .number(stamp($0)) } ?? .null,
            ]
            switch mapping {
            case .spare: object[AttributeName.state.rawValue] = "failed_over"
            case .distributed: object[AttributeName.state.rawValue] = "distributed"
            }
            return .object(object)
        }
        if let deadline = machine.pending[name] {
            return .object([AttributeName.state.rawValue: "pending", AttributeName.deadline.rawValue: .number(stamp(deadline))])
        }
        if machine.unplaced.contains(name) {
            return .object([AttributeName.state.rawValue: "failed"])
        }
        if let failed = machine.failedServer(servedBy: name) {
            return .object([AttributeName.state.rawValue: "serving", AttributeName.failedServer.rawValue: .string(failed)])
        }
        if let position = machine.pool.firstIndex(of: name) {
            return .object([AttributeName.state.rawValue: "standby", AttributeName.poolPosition.rawValue: .number(Double(position + 1))])
        }
        return nil
    }
}

extension GatewayTracker {
    /// The wall-clock stamp of a monotonic time kept here, as of the latest reading.
    func stamp(_ monotonicSeconds: Double) -> Double {
        reading.wallClockSeconds(atMonotonic: monotonicSeconds)
    }

    /// `snapshot` with every time moved by `offset` seconds: from the machine's monotonic axis to
    /// wall-clock stamps for the store (offset wall − monotonic), and back when restoring.
    static func rebased(_ snapshot: FailoverStateMachine.Snapshot, by offset: Double) -> FailoverStateMachine.Snapshot {
        var rebased = snapshot
        rebased.mappedAt = snapshot.mappedAt.mapValues { $0 + offset }
        rebased.pending = snapshot.pending.mapValues { $0 + offset }
        return rebased
    }
}

/// Seconds as a short Go-style duration: `45s`, `1.5s`, `250ms`, `2m5s`.
func formatSeconds(_ seconds: Double) -> String {
    // Outside this range the conversions below could trap; such values are not durations we make.
    guard seconds.isFinite, seconds >= 0, seconds < 1e12 else { return "\(seconds)s" }
    if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
    if seconds < 60 {
        let tenths = (seconds * 10).rounded() / 10
        return tenths == tenths.rounded() ? "\(Int(tenths))s" : "\(tenths)s"
    }
    let whole = Int(seconds.rounded())
    return whole % 60 == 0 ? "\(whole / 60)m" : "\(whole / 60)m\(whole % 60)s"
}

/// Compact JSON with sorted keys.
func jsonBytes(_ value: JSONValue) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // A JSONValue built from finite numbers and strings always encodes.
    return Array((try? encoder.encode(value)) ?? Data("null".utf8))
}
