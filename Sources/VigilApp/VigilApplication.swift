//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Hummingbird
public import Logging
import Metrics
public import Prometheus
import ServiceLifecycle
import UnixSignals
import VigilAnnouncer
public import VigilCore
import VigilMQTT
import VigilMonitors
import VigilStorage
public import VigilWeb

/// The version of this build.
public let vigilVersion = "0.1.0"

/// One Vigil process: the configuration turned into stores, the hub, sources and the web server,
/// run as one `ServiceGroup`.
///
/// ```swift
/// let configuration = try VigilConfiguration.load(path: "vigil.toml")
/// let app = try VigilApplication(configuration: configuration, registry: registry, logger: logger)
/// try await app.run()
/// ```
public struct VigilApplication: Sendable {
    /// The configuration in force.
    public let configuration: VigilConfiguration
    /// The hub that holds current state.
    public let hub: Hub
    /// What the web routes read.
    public let web: WebDependencies
    private let services: [ServiceGroupConfiguration.ServiceConfiguration]
    private let logger: Logger

    /// Builds the application: opens the stores and creates every configured service.
    ///
    /// Nothing runs until ``run()``.
    ///
    /// - Parameters:
    ///   - configuration: The validated configuration.
    ///   - registry: The Prometheus registry behind `/metrics` (swift-metrics is bootstrapped onto
    ///     it by the executable).
    ///   - logger: The root logger.
    ///   - clock: The one clock of every service (tests pass a ``ManualClock``).
    ///   - onServerRunning: Called with the bound port once the HTTP server listens (tests use port 0).
    /// - Throws: When the store cannot be opened.
    public init(
        configuration: VigilConfiguration,
        registry: PrometheusCollectorRegistry,
        logger: Logger,
        clock: any VigilClock = SystemClock(),
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws {
        self.configuration = configuration
        self.logger = logger
        var backend = try StoreFactory.openBackend(
            configuration.store,
            logger: Self.logger(logger, "vigil.storage"),
            observer: RedisClusterMetrics.observer(client: "store")
        )
        // Instances sharing a Redis store split the work (see docs/ARCHITECTURE.md "Several
        // instances"); each needs a name that stays the same across its restarts.
        let cluster = backend.redis != nil
        if cluster { backend.instanceID = Self.instanceName(configuration) }
        let ownership = cluster ? WorkOwnership(instanceID: backend.instanceID) : nil
        // One session per instance: the same client id on two instances would take over each
        // other's session (MQTTClient stops after a takeover loop).
        let instanceName = backend.instanceID
        func perInstance(_ mqtt: MQTTClientConfiguration) -> MQTTClientConfiguration {
            var mqtt = mqtt
            if cluster, !mqtt.clientID.isEmpty { mqtt.clientID += "-" + instanceName }
            return mqtt
        }
        var configuration = configuration
        configuration.mqtt = configuration.mqtt.map(perInstance)
        let stores = backend.stores
        // The hub's per-target series live in a registry built for many series of one name.
        let series = SeriesRegistry()
        let seriesLimit = configuration.devices.watchdog.maxSeriesTargets
        let hub = Hub(
            stores: stores,
            configuration: HubConfiguration(seriesTargetLimits: [.device: seriesLimit, .agent: seriesLimit]),
            logger: Self.logger(logger, "vigil.hub"),
            clock: clock,
            metricsFactory: series
        )
        self.hub = hub
        let readiness = Readiness()
        let buildInfo = registry.makeGauge(
            descriptor: .init(metricName: "vigil_build_info", unitName: "", helpText: "Vigil build information; the value is always 1."),
            labels: [("version", vigilVersion)]
        )
        buildInfo.set(to: 1.0)
        let streams = StreamServices(configuration: configuration, hub: hub, ownership: ownership) { Self.logger(logger, $0) }
        // Instances share the outbox: each sends what it accepted; one takes over a gone instance's
        // jobs, one archives.
        let announcerSharing = ownership.map { ownership in
            Announcer.Sharing(
                instance: instanceName,
                adopts: { owner in
                    ownership.isSettled && !ownership.currentMembers.contains(owner) && ownership.owns(Self.announcerWorkKey(owner))
                },
                archives: { ownership.isSettled && ownership.owns(Self.announcerArchiveWorkKey) }
            )
        }
        let announcer = try configuration.announcer.map {
            try AnnouncerServices(configuration: $0, http: configuration.http, hub: hub, store: stores.state, sharing: announcerSharing) {
                Self.logger(logger, $0)
            }
        }
        var web = WebDependencies(
            hub: hub,
            exporters: [registry, series, ProcessMetrics(startTime: clock.wallClockSeconds)] + streams.exporters,
            readiness: readiness,
            version: vigilVersion,
            configuration: configuration.http
        )
        web.extraRoutes = announcer?.mainRoutes ?? []
        let membership = backend.membership(
            version: vigilVersion,
            logger: Self.logger(logger, "vigil.membership"),
            clock: clock,
            ownership: ownership
        )
        web.extraRoutes.append(
            Self.clusterRoute(
                membership,
                standaloneID: backend.instanceID,
                version: vigilVersion,
                clock: clock,
                work: Self.workKeys(configuration),
                leases: backend.leases
            )
        )
        // One MQTT client for every MQTT consumer, created when [mqtt] is present.
        let mqttClient = configuration.mqtt.map { MQTTClient(configuration: $0, logger: Self.logger(logger, "vigil.mqtt"), name: "mqtt") }
        // Several instances: one notifies; the others show the book it stores.
        var alertsLead: @Sendable () -> Bool = { true }
        if let ownership { alertsLead = { ownership.isSettled && ownership.owns(Self.alertsWorkKey) } }
        let alerting =
            configuration.alerting.enabled
            ? AlertingService(
                configuration: configuration.alerting,
                hub: hub,
                store: stores.state,
                receivers: try Self.alertReceivers(configuration, mqtt: mqttClient, announcer: announcer?.announcer),
                logger: Self.logger(logger, "vigil.alerting"),
                clock: clock,
                leads: alertsLead
            ) : nil
        web.alerts = alerting
        // Remote hosts of `vigil agent`, over [mqtt] and POST /api/v1/ingest/host.
        let hostIngest =
            configuration.hostIngest.enabled
            ? HostIngest(
                configuration: configuration.hostIngest,
                hub: hub,
                localHost: configuration.host.enabled ? configuration.host.name : nil,
                client: mqttClient,
                logger: Self.logger(logger, "vigil.host_ingest"),
                clock: clock
            ) : nil
        web.hostIngest = hostIngest.map { HostIngestIntake(ingest: $0) }
        web.hostIngestTokens = configuration.hostIngest.tokens
        self.web = web

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        // Order is dependency order: the group starts them first to last and stops them last to
        // first, so the hub flushes after every source has stopped (and before the store's client).
        if let redis = backend.redis { services.append(.init(service: redis)) }
        services.append(
            .init(
                service: StoreMaintenance(
                    history: stores.history,
                    configuration: configuration.store,
                    logger: Self.logger(logger, "vigil.storage"),
                    clock: clock
                )
            )
        )
        services.append(.init(service: hub))
        if let membership { services.append(.init(service: membership)) }
        if let fanout = backend.fanout(hub: hub, logger: Self.logger(logger, "vigil.fanout")) { services.append(.init(service: fanout)) }
        if configuration.host.enabled {
            services.append(.init(service: HostMonitor(configuration: configuration.host, hub: hub, logger: Self.logger(logger, "vigil.host"))))
        }
        // Before the client: the group stops services last to first, so the client stops first and
        // ends the ingest's subscription without unsubscribing (see HostIngest.run()).
        if let hostIngest { services.append(.init(service: hostIngest)) }
        if let mqttClient { services.append(.init(service: mqttClient)) }
        services += Self.deviceServices(
            configuration.devices,
            client: mqttClient,
            hub: hub,
            store: stores.state,
            logger: logger,
            ownership: ownership,
            leases: backend.leases
        )
        // The gateway monitor has an MQTT client of its own (its broker may differ from [mqtt]), run
        // here like every client; without a broker or admin URLs the monitor only says once that
        // gateway monitoring is off.
        var gatewayClient: MQTTClient?
        if configuration.janus.mode == .mqtt {
            let client = MQTTClient(
                configuration: perInstance(try GatewayMonitor.mqttConfiguration(configuration.janus)),
                logger: Self.logger(logger, "vigil.gateways"),
                name: "janus"
            )
            services.append(.init(service: client))
            gatewayClient = client
        }
        let janus = configuration.janus
        let makeGatewayMonitor: @Sendable (any StateStore) throws -> GatewayMonitor = { [gatewayClient] store in
            try GatewayMonitor(
                configuration: janus,
                hub: hub,
                stateStore: store,
                mqttClient: gatewayClient,
                logger: Self.logger(logger, "vigil.gateways"),
                clock: clock,
                inheritsFromHub: cluster
            )
        }
        // Made now in every mode, so that a bad topic template stops start-up rather than a takeover.
        let gatewayMonitor = try makeGatewayMonitor(stores.state)
        if let ownership {
            // Failover decisions must be taken once: one instance runs the monitor.
            services.append(
                .init(
                    service: OwnedService(
                        key: Self.gatewaysWorkKey,
                        ownership: ownership,
                        logger: Self.logger(logger, "vigil.gateways"),
                        store: stores.state,
                        leases: backend.leases,
                        clock: clock,
                        make: makeGatewayMonitor
                    )
                )
            )
        } else {
            services.append(.init(service: gatewayMonitor))
        }
        if let listen = configuration.janus.gxydbMetricsListen, let (host, port) = WebConfiguration.parseListen(listen) {
            // gxydb-api's metrics port, for scrapers and dashboards not yet moved to Vigil's /metrics.
            services.append(
                .init(
                    service: buildMetricsListener(
                        exporter: MetricFamilyFilter(series, keeping: ["galaxy_", "gxydb_"]),
                        host: host,
                        port: port,
                        token: WebConfiguration.isLoopback(host: host) ? nil : configuration.http.token,
                        idleTimeout: configuration.http.idleTimeout,
                        serverName: "vigil-gxydb-metrics",
                        logger: Self.logger(logger, "vigil.gateways.metrics")
                    )
                )
            )
        }
        services += streams.services
        // The Announcer's XMPP connections, then the Announcer (and its own listener, if any).
        services += (announcer?.services ?? []).map { .init(service: $0) }
        // Alerting after every source and the Announcer, so it stops before them.
        if let alerting { services.append(.init(service: alerting)) }
        // The web application brings its own live-feed service (WebSocket /api/v1/live).
        let application = buildWebApplication(web, logger: Self.logger(logger, "vigil.web")) { port in
            readiness.set(true)
            await onServerRunning(port)
        }
        services.append(.init(service: application))
        self.services = services
    }

    /// Restores the latest state and runs every service until SIGTERM/SIGINT or a failure.
    ///
    /// - Throws: The first service failure, after the others were shut down gracefully.
    public func run() async throws {
        for warning in configuration.warnings { logger.warning("\(warning)") }
        try await hub.restore()
        logger.info(
            "Vigil starting",
            metadata: ["version": "\(vigilVersion)", "config": "\(configuration.source)", "store": "\(configuration.store.backend.rawValue)"]
        )
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
        logger.info("Vigil stopped")
    }

    /// The work key of the gateway monitor (failover decisions, admin polling).
    /// The work that runs under a lease (``OwnedService``).
    static let leasedWorkKeys: Set<String> = [devicesWorkKey, gatewaysWorkKey]
    static let gatewaysWorkKey = "gateways"
    /// The work key of the device watchdog (expiries).
    static let devicesWorkKey = "devices"
    /// The work key of alert notifications.
    static let alertsWorkKey = "alerts"
    /// The work key of handing `persist: true` announcements to the archive (Kafka).
    static let announcerArchiveWorkKey = "announcer-archive"
    /// The work key of taking over the announcements of `instance` once it is gone.
    static func announcerWorkKey(_ instance: String) -> String { "announcer/" + instance }

    /// This instance's name on a shared store: `[store] instance`, else `<host name>-<http port>`
    /// (unique per process on a host, the same after a restart).
    static func instanceName(_ configuration: VigilConfiguration) -> String {
        if let name = configuration.store.instance { return name }
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "vigil"
        let safe = String(host.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") })
        return "\(safe.isEmpty ? "vigil" : safe)-\(configuration.http.port)"
    }

    /// Every work key a configuration splits between instances, for `GET /api/v1/cluster`.
    static func workKeys(_ configuration: VigilConfiguration) -> [String] {
        var keys: [String] = []
        if !configuration.devices.isEmpty, configuration.mqtt != nil { keys.append(devicesWorkKey) }
        if configuration.janus.mode != .disabled { keys.append(gatewaysWorkKey) }
        if configuration.alerting.enabled { keys.append(alertsWorkKey) }
        if configuration.announcer?.kafkaProducer != nil { keys.append(announcerArchiveWorkKey) }
        if configuration.mediamtx.enabled { keys += configuration.mediamtx.instances.map { MediaMTXPoller.workKey(instance: $0.name) } }
        if configuration.visionaire.enabled {
            keys += VisionaireConfiguration.sourceHosts(for: configuration.visionaire.apiBaseURLs).map { VisionairePoller.workKey(sourceHost: $0) }
        }
        return keys
    }

    /// `GET /api/v1/cluster`: the live instances on the shared Redis store and the work keys each
    /// owns; without one, this instance alone, owning everything (a standalone Vigil is a cluster
    /// of one, so the route never 404s).
    static func clusterRoute(
        _ membership: RedisMembership?,
        standaloneID: String,
        version: String,
        clock: any VigilClock,
        work: [String] = [],
        leases: (any WorkLeaseStore)? = nil
    ) -> RouteRegistration {
        let started = clock.wallClockSeconds
        return { group in
            group.get("api/v1/cluster") { _, _ -> Response in
                // A member's heartbeat fields and its work, in one object.
                struct Entry: Encodable {
                    enum Key: String, CodingKey { case owns }
                    var member: RedisMembership.Member
                    var owns: [String]
                    func encode(to encoder: any Encoder) throws {
                        try member.encode(to: encoder)
                        var container = encoder.container(keyedBy: Key.self)
                        try container.encode(owns, forKey: .owns)
                    }
                }
                struct Lease: Encodable {
                    var work: String
                    var holder: String
                    var token: Int64
                }
                struct Body: Encodable {
                    var instance: String
                    var members: [Entry]
                    var leases: [Lease]
                }
                let instance: String
                let members: [RedisMembership.Member]
                if let membership {
                    instance = membership.member.id
                    members = try await membership.members()
                } else {
                    let process = ProcessInfo.processInfo
                    instance = standaloneID
                    members = [
                        RedisMembership.Member(
                            id: standaloneID,
                            host: process.hostName,
                            pid: process.processIdentifier,
                            version: version,
                            started: started,
                            heartbeat: clock.wallClockSeconds
                        )
                    ]
                }
                let ids = members.map(\.id)
                var owned: [String: [String]] = [:]
                for key in work {
                    if let owner = WorkOwnership.owner(of: key, among: ids) { owned[owner, default: []].append(key) }
                }
                let entries = members.map { Entry(member: $0, owns: owned[$0.id] ?? []) }
                // Who runs the once-only work now: the lease holder (the owner, once it has the lease).
                var granted: [Lease] = []
                if let leases {
                    for key in work where Self.leasedWorkKeys.contains(key) {
                        if let lease = try await leases.holder(of: key) {
                            granted.append(Lease(work: key, holder: lease.holder, token: lease.token))
                        }
                    }
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                return Response(
                    status: .ok,
                    headers: [.contentType: "application/json; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(Body(instance: instance, members: entries, leases: granted))))
                )
            }
        }
    }

    private static func logger(_ parent: Logger, _ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = parent.logLevel
        return logger
    }
}

/// The host ingest behind `POST /api/v1/ingest/host`.
struct HostIngestIntake: HostReportIntake {
    let ingest: HostIngest

    func submitReport(_ body: [UInt8]) async -> HostReportIntakeResult {
        switch await ingest.submit(body, transport: .http) {
        case .accepted(let samples): .accepted(samples: samples)
        case .tooLarge: .tooLarge
        case .invalid(let reason): .invalid(reason)
        case .refused(let reason): .refused(reason)
        }
    }
}
