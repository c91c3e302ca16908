//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import AsyncHTTPClient
import Foundation
public import Logging
import NIOCore
import NIOHTTP1
public import ServiceLifecycle
public import VigilCore
public import VigilMQTT

/// Watches Janus gateways (seed 000): their status over MQTT, their session counts through the
/// Janus admin API, staleness, and failover of primaries to spares.
///
/// Over MQTT (``GatewayMonitorConfiguration/Mode/mqtt``) it subscribes to `janus/+/status` and
/// `janus/+/from-janus-admin`, sends `list_sessions` with a unique transaction to every online
/// configured gateway each poll interval (never to another name: the request carries the admin
/// secret), probes configured gateways whose state is unknown (Janus does not retain its
/// status, so a monitor that starts late would otherwise never learn that a gateway is up), and
/// runs the ``FailoverStateMachine``. The current mapping of each failed primary is published
/// retained on the failover topic and kept in the ``StateStore``, so a restart does not strand it.
///
/// Without a broker but with admin URLs (``GatewayMonitorConfiguration/Mode/http``) it polls
/// `POST {url}/admin` on every gateway concurrently, with one deadline per round (the seed's old
/// approach); failover needs the status topic and is off in this mode.
///
/// Results reach the hub as observations of `gateway/<name>` (attributes `name`, `role`, `online`,
/// `sessions`, `last_seen`, `last_error`, `stale`, `since_last_seen`, `failover`) and events; their
/// samples carry the seed's `galaxy_*` series as well as Vigil's own (see ``SeedMetric``).
///
/// Messages wait in a bounded ``GatewayInbox`` that coalesces statuses per server; unconfigured
/// servers are shown as `discovered` (capped, expired after silence, no series, no events).
///
/// The monitor runs its MQTT client itself: do not add the client to a `ServiceGroup` as well.
///
/// ```swift
/// let monitor = try GatewayMonitor(configuration: configuration, hub: hub, stateStore: stores.state)
/// let group = ServiceGroup(services: [hub, monitor], logger: logger)
/// ```
public final class GatewayMonitor: Service {
    /// The configuration in force.
    public let configuration: GatewayMonitorConfiguration
    private let hub: Hub
    private let stateStore: any StateStore
    private let mqttClient: MQTTClient?
    /// Whether ``run()`` runs ``mqttClient`` too: only for the client it made itself. A client
    /// passed in is run by its owner (in Vigil, the application's service group).
    private let runsClient: Bool
    private let httpClient: HTTPClient
    private let metrics: GatewayMetrics
    private let logger: Logger
    private let clock: any VigilClock
    /// Whether the failover machine starts from the gateways the hub shows online (a cluster's
    /// takeover: another instance's monitor saw them).
    private let inheritsFromHub: Bool
    private let statusTopic: GatewayTopicTemplate
    private let requestTopic: GatewayTopicTemplate
    private let responseTopic: GatewayTopicTemplate
    private let failoverTopic: GatewayTopicTemplate?
    private let tickInterval: Duration

    /// The ``StateStore`` key under which the failover state is kept.
    public static let stateKey = "gateways/failover"

    /// Creates the monitor. Nothing runs until ``run()``.
    ///
    /// - Parameters:
    ///   - configuration: What to watch and how.
    ///   - hub: Where observations and events go.
    ///   - stateStore: Where the failover state is kept across restarts.
    ///   - mqttClient: The client to use, run by the caller (Vigil runs it in its service group);
    ///     by default one is made from the configuration's broker URL and run by the monitor.
    ///   - httpClient: The client of the HTTP admin fallback.
    ///   - metrics: The monitor's own bound counters (discovered servers, inbox).
    ///   - logger: Logger, label `vigil.gateways`.
    ///   - tickInterval: How often timers (failover wait, request timeouts, staleness) are checked.
    ///   - clock: The clock (``SystemClock``; tests pass a ``ManualClock``).
    ///   - inheritsFromHub: Take the gateways the hub shows online as seen online (another
    ///     instance's monitor saw them; see `FailoverStateMachine.assumeOnline(_:)`).
    /// - Throws: `GatewayTopicTemplate.InvalidTemplate` for a bad topic template, or
    ///   `MQTTClientError` for a bad broker URL.
    public init(
        configuration: GatewayMonitorConfiguration,
        hub: Hub,
        stateStore: any StateStore,
        mqttClient: MQTTClient? = nil,
        httpClient: HTTPClient = .shared,
        metrics: GatewayMetrics = GatewayMetrics(),
        logger: Logger = Logger(label: "vigil.gateways"),
        tickInterval: Duration = .milliseconds(100),
        clock: any VigilClock = SystemClock(),
        inheritsFromHub: Bool = false
    ) throws {
        self.inheritsFromHub = inheritsFromHub
        self.configuration = configuration
        self.hub = hub
        self.stateStore = stateStore
        self.httpClient = httpClient
        self.metrics = metrics
        self.logger = logger
        self.tickInterval = tickInterval
        self.clock = clock
        self.statusTopic = try GatewayTopicTemplate(configuration.statusTopic)
        self.requestTopic = try GatewayTopicTemplate(configuration.adminRequestTopic)
        self.responseTopic = try GatewayTopicTemplate(configuration.adminResponseTopic)
        self.failoverTopic =
            configuration.failoverTopic.isEmpty ? nil : try GatewayTopicTemplate(configuration.failoverTopic, placeholder: "{failed}")
        if let mqttClient {
            self.mqttClient = mqttClient
            self.runsClient = false
        } else if configuration.mode == .mqtt {
            self.mqttClient = MQTTClient(configuration: try Self.mqttConfiguration(configuration), logger: logger, name: "janus")
            self.runsClient = true
        } else {
            self.mqttClient = nil
            self.runsClient = false
        }
    }

    /// The MQTT client settings for a gateway monitor configuration.
    ///
    /// - Throws: `MQTTClientError` when the broker URL is invalid or missing.
    public static func mqttConfiguration(_ configuration: GatewayMonitorConfiguration) throws -> MQTTClientConfiguration {
        var client = try MQTTClientConfiguration(url: configuration.brokerURL ?? "", clientID: configuration.clientID)
        if let username = configuration.username { client.username = username }
        if let password = configuration.password { client.password = password }
        client.version = configuration.useMQTT5 ? .v5 : .v3_1_1
        return client
    }

    /// Watches the gateways until graceful shutdown or cancellation.
    public func run() async throws {
        if let mqttClient {
            await runMQTT(mqttClient)
        } else if configuration.mode == .http {
            await runHTTP()
        } else {
            logger.notice("Gateway monitoring is off: set [janus] broker_url (MQTT_BROKER_URL) or admin_urls to enable it")
            try? await gracefulShutdown()
        }
    }

    // MARK: - MQTT

    private struct Publication: Sendable {
        var topic: String
        var payload: [UInt8]
    }

    private func runMQTT(_ client: MQTTClient) async {
        var tracker = GatewayTracker(configuration: configuration, metrics: metrics, logger: logger)
        let snapshot = await loadSnapshot()
        // Bounded and coalesced per server: a flood of statuses costs one slot per server, and
        // what does not fit is refused and counted (see GatewayInbox).
        let inbox = GatewayInboxQueue(capacity: configuration.inboxCapacity, configured: Set(configuration.configuredServers), metrics: metrics)
        // Mapping publications go through one queue so that a clear cannot overtake the
        // publication it clears.
        let (publications, publication) = AsyncStream.makeStream(of: Publication.self, bufferingPolicy: .unbounded)
        let connectionEvents = client.connectionEvents
        logger.info(
            "Gateway monitoring over MQTT",
            metadata: [
                "mqtt.broker": "\(client.configuration.address)", "primaries": "\(configuration.availableServers.joined(separator: ","))",
                "failover_servers": "\(configuration.failoverServers.joined(separator: ","))",
                "wait_time": "\(formatSeconds(configuration.failoverWaitTime.seconds))",
            ]
        )
        await withDiscardingTaskGroup { group in
            if runsClient {
                group.addTask {
                    do { try await client.run() } catch { self.logger.error("Gateway MQTT client stopped", metadata: ["error": "\(error)"]) }
                }
            }
            group.addTask {
                for await event in connectionEvents {
                    switch event {
                    case .connected: inbox.push(.connected)
                    case .disconnected: inbox.push(.disconnected)
                    case .reconnecting: break
                    }
                }
            }
            group.addTask { await self.receive(client, into: inbox) }
            group.addTask {
                while !Task.isCancelled {
                    do { try await self.clock.sleep(for: self.tickInterval) } catch { break }
                    inbox.push(.tick)
                }
            }
            group.addTask {
                for await item in publications {
                    do {
                        try await client.publish(to: item.topic, payload: ByteBuffer(bytes: item.payload), qos: .atLeastOnce, retain: true)
                    } catch {
                        self.logger.warning("Could not publish failover mapping", metadata: ["mqtt.topic": "\(item.topic)", "error": "\(error)"])
                    }
                }
            }
            if client.isConnected { tracker.connectionUp(now: clock.reading) }
            await forgetUntracked(tracker)
            // Taking over from another instance: a gateway it last saw online fails over when this
            // monitor's first status for it says offline.
            let onlineBefore =
                inheritsFromHub
                ? await hub.states(kind: .gateway).filter { $0.attributes["online"] == .bool(true) }.map(\.target.name) : []
            await perform(
                tracker.start(restoring: snapshot, onlineBefore: onlineBefore, now: clock.reading),
                client: client,
                group: &group,
                publication: publication
            )
            for await _ in inbox.doorbell.cancelOnGracefulShutdown() {
                for item in inbox.drain() {
                    let time = clock.reading
                    let effects: [GatewayTracker.Effect]
                    switch item {
                    case .status(let server, let payload):
                        effects = tracker.statusMessage(server: server, payload: payload.readableBytesView, now: time)
                    case .reply(let server, let payload):
                        effects = tracker.adminReply(server: server, payload: payload.readableBytesView, now: time)
                    case .connected:
                        tracker.connectionUp(now: time)
                        effects = []
                    case .disconnected:
                        tracker.connectionDown()
                        effects = []
                    case .tick:
                        effects = tracker.tick(now: time)
                    }
                    await perform(effects, client: client, group: &group, publication: publication)
                }
            }
            inbox.finish()
            publication.finish()
            group.cancelAll()
        }
        await hub.flush()
    }

    /// Subscribes to the status and admin reply topics and queues every message in the inbox;
    /// subscribes again after a failure.
    private func receive(_ client: MQTTClient, into inbox: GatewayInboxQueue) async {
        let filters = [
            MQTTSubscribeInfo(filter: statusTopic.filter, qos: .atLeastOnce),
            MQTTSubscribeInfo(filter: responseTopic.filter, qos: .atLeastOnce),
        ]
        while !Task.isCancelled {
            do {
                try await client.subscribe(to: filters) { subscription in
                    logger.info("Subscribed to gateway status", metadata: ["topic": "\(statusTopic.filter)"])
                    logger.info("Subscribed to gateway admin responses", metadata: ["topic": "\(responseTopic.filter)"])
                    for try await message in subscription {
                        if let server = statusTopic.server(in: message.topic) {
                            inbox.push(.status(server: server, payload: message.payload))
                        } else if let server = responseTopic.server(in: message.topic) {
                            inbox.push(.reply(server: server, payload: message.payload))
                        }
                    }
                }
            } catch {
                if Task.isCancelled { break }
                logger.warning("Gateway subscription failed; retrying", metadata: ["error": "\(error)"])
            }
            do { try await clock.sleep(for: .seconds(1)) } catch { break }
        }
    }

    private func perform(
        _ effects: [GatewayTracker.Effect],
        client: MQTTClient?,
        group: inout DiscardingTaskGroup,
        publication: AsyncStream<Publication>.Continuation?
    ) async {
        // Set when the store refuses the failover state because this instance's lease is gone:
        // the decisions of this batch are another instance's to make and publish now.
        var fenced = false
        for effect in effects {
            switch effect {
            case .sendAdmin(let server, let payload):
                guard let client else { continue }
                let topic = requestTopic.topic(for: server)
                group.addTask {
                    do {
                        try await client.publish(to: topic, payload: ByteBuffer(bytes: payload), qos: .atLeastOnce)
                    } catch {
                        self.logger.debug("Could not send gateway admin request", metadata: ["mqtt.topic": "\(topic)", "error": "\(error)"])
                    }
                }
            case .observe(let observation):
                await hub.apply(observation)
            case .record(let event):
                await hub.record(event)
            case .publishMapping(let failed, let payload):
                guard !fenced, let failoverTopic, let publication else { continue }
                publication.yield(Publication(topic: failoverTopic.topic(for: failed), payload: payload ?? []))
            case .persist(let snapshot):
                if await !saveSnapshot(snapshot) { fenced = true }
            case .forget(let target):
                await hub.remove(target)
            }
        }
    }

    /// Removes gateway states restored from the store that this run does not track: servers
    /// discovered by an earlier run (they would otherwise never expire) or no longer configured.
    private func forgetUntracked(_ tracker: GatewayTracker) async {
        for state in await hub.states(kind: .gateway) where tracker.gateways[state.target.name] == nil {
            await hub.remove(state.target)
        }
    }

    // MARK: - Failover state

    private func loadSnapshot() async -> FailoverStateMachine.Snapshot? {
        do {
            guard let bytes = try await stateStore.value(forKey: Self.stateKey) else { return nil }
            return try JSONDecoder().decode(FailoverStateMachine.Snapshot.self, from: Data(bytes))
        } catch {
            logger.error("Could not load the saved failover state; starting without it", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// Stores the failover state.
    ///
    /// - Returns: `false` when the store refused it because this instance no longer holds the
    ///   work's lease (``WorkLeaseLostError``); other errors are logged and the decisions still
    ///   go out (the lease's renewal stops the monitor if the store stays unreachable).
    private func saveSnapshot(_ snapshot: FailoverStateMachine.Snapshot) async -> Bool {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            try await stateStore.setValue(Array(try encoder.encode(snapshot)), forKey: Self.stateKey)
        } catch let error as WorkLeaseLostError {
            logger.error("Another instance has taken failover over; not publishing this decision", metadata: ["error": "\(error)"])
            return false
        } catch {
            logger.error("Could not save the failover state", metadata: ["error": "\(error)"])
        }
        return true
    }

    // MARK: - HTTP admin fallback

    private func runHTTP() async {
        logger.info(
            "Gateway monitoring over the HTTP admin API (no MQTT broker configured); failover needs MQTT and is off",
            metadata: ["servers": "\(configuration.adminURLs.keys.sorted().joined(separator: ","))"]
        )
        var tracker = GatewayTracker(configuration: configuration, metrics: metrics, logger: logger)
        for name in configuration.adminURLs.keys.sorted() { tracker.add(name) }
        await forgetUntracked(tracker)
        await withDiscardingTaskGroup { group in
            await perform(tracker.start(restoring: nil, now: clock.reading), client: nil, group: &group, publication: nil)
            while !Task.isCancelled && !isShuttingDown {
                let started = clock.now
                let results = await httpRound()
                let time = clock.reading
                var effects: [GatewayTracker.Effect] = []
                for (server, outcome) in results.sorted(by: { $0.key < $1.key }) {
                    effects += tracker.httpResult(server: server, outcome: outcome, now: time)
                }
                effects += tracker.evaluateStaleness(now: time)
                await perform(effects, client: nil, group: &group, publication: nil)
                do {
                    try await clock.sleep(until: started.advanced(by: configuration.httpPollInterval), tolerance: nil)
                } catch {
                    break
                }
            }
        }
        await hub.flush()
    }

    private var isShuttingDown: Bool { Task.isShuttingDownGracefully }

    /// One round: every gateway at once, one deadline for all.
    private func httpRound() async -> [String: Result<[UInt8], GatewayTracker.HTTPFailure>] {
        let urls = configuration.adminURLs
        let deadlineDuration = configuration.httpDeadline
        // The configuration caps http_deadline far below overflow; clamp anyway (no trap).
        let deadline = NIODeadline.now() + .nanoseconds(Int64(min(max(deadlineDuration.seconds, 0), 86_400 * 366) * 1e9))
        return await withTaskGroup(of: (String, Result<[UInt8], GatewayTracker.HTTPFailure>)?.self) { group in
            for (server, url) in urls {
                group.addTask { (server, await self.listSessions(url: url, deadline: deadline)) }
            }
            group.addTask {
                try? await Task.sleep(for: deadlineDuration)
                return nil
            }
            var results: [String: Result<[UInt8], GatewayTracker.HTTPFailure>] = [:]
            while let next = await group.next() {
                guard let (server, outcome) = next else { break }
                results[server] = outcome
                if results.count == urls.count { break }
            }
            group.cancelAll()
            for (server, url) in urls where results[server] == nil {
                results[server] = .failure(
                    .init(message: "no answer from \(Self.adminURL(url)) within the round deadline of \(formatSeconds(deadlineDuration.seconds))")
                )
            }
            return results
        }
    }

    private func listSessions(url: String, deadline: NIODeadline) async -> Result<[UInt8], GatewayTracker.HTTPFailure> {
        let endpoint = Self.adminURL(url)
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let transaction = "vigil-http-" + UUID().uuidString.prefix(8).lowercased()
        request.body = .bytes(ByteBuffer(bytes: JanusAdminMessage.listSessions(transaction: transaction, adminKey: configuration.adminKey)))
        do {
            let response = try await httpClient.execute(request, deadline: deadline)
            let body = try await response.body.collect(upTo: 4 << 20)
            // Janus answers errors with HTTP 200 and a JSON error body; other statuses are transport trouble.
            guard response.status == .ok else { return .failure(.init(message: "HTTP \(response.status.code) from \(endpoint)")) }
            return .success(Array(body.readableBytesView))
        } catch {
            return .failure(.init(message: "\(endpoint): \(error)"))
        }
    }

    /// `{url}/admin`, the Janus admin endpoint of a base URL.
    static func adminURL(_ base: String) -> String {
        (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/admin"
    }
}
