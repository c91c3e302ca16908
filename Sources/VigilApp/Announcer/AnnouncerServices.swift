//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import Metrics
import ServiceLifecycle
import VigilAnnouncer
import VigilCore
import VigilKafka
import VigilMySQL
import VigilRedis
import VigilWeb
import VigilXMPP

/// The Announcer's running parts: its XMPP connections, the bounce watcher, the Announcer itself
/// and, when `rest_api_port` names another port than `[http] listen`, its own HTTP listener.
struct AnnouncerServices {
    /// Services in start order.
    var services: [any Service] = []
    /// Routes for the main listener (empty when the Announcer has its own port).
    var mainRoutes: [RouteRegistration] = []
    /// The Announcer (alerting sends its XMPP messages through it).
    var announcer: Announcer?

    init(
        configuration: AnnouncerConfiguration,
        http: WebConfiguration,
        hub: Hub,
        store: any StateStore,
        sharing: Announcer.Sharing? = nil,
        logger: (String) -> Logger
    ) throws {
        let connectionMetrics = XMPPConnectionMetrics(
            nodes: Self.connectionNodes(configuration),
            giveUpWarning: { if case .component(let component) = configuration.login { component.maxConnectionCheckRetry } else { nil } }(),
            logger: logger("vigil.xmpp")
        )
        let clients = try Self.clientConfigurations(configuration, instance: sharing?.instance).enumerated().map { index, client in
            XMPPClient(configuration: client, logger: logger("vigil.xmpp"), observer: connectionMetrics.observer(for: index))
        }
        let sender = XMPPStanzaSender(clients: clients)
        var settings = Announcer.Settings(domain: configuration.domain)
        settings.inputBuffer = configuration.inputBuffer
        settings.workers = configuration.logicProcessNumber
        settings.rateLimit = configuration.xmpp.rateLimit
        settings.retry = RetrySchedule(retries: configuration.xmpp.sendRetry)
        if case .component(let component) = configuration.login { settings.componentDomain = component.componentDomain }
        settings.pageLength = configuration.mysql?.pageLength ?? settings.pageLength
        settings.recipientSourceGiveUp = configuration.recipientSourceGiveUp
        var helpers: [any Service] = []
        var recipients: (any RecipientSource)?
        if let mysql = configuration.mysql, let source = Self.onlineUserSource(configuration, clock: hub.clock, logger: logger) {
            let mysqlClient = MySQLClient(
                configuration: MySQLClientConfiguration(
                    connection: MySQLConnectionConfiguration(
                        address: mysql.address,
                        username: mysql.username,
                        password: mysql.password,
                        database: mysql.database.isEmpty ? nil : mysql.database
                    ),
                    maxOpenConnections: mysql.maxOpenConnections,
                    maxIdleConnections: mysql.maxIdleConnections
                ),
                logger: logger("vigil.mysql")
            )
            helpers = [mysqlClient] + source.services
            recipients = ChannelRecipients(mysql: mysqlClient, online: source.online)
        }
        // `persist: true` announcements go to [kafka-producer] from the outbox; the producer
        // starts before the Announcer and stops after it, so the archive can finish a batch.
        var archive: KafkaAnnouncementArchive?
        if let producerSettings = configuration.kafkaProducer {
            let producer = KafkaProducer(
                cluster: try AnnouncerConfiguration.kafkaCluster(
                    producerSettings.brokers,
                    security: producerSettings.security,
                    logger: logger("vigil.kafka")
                ),
                configuration: KafkaProducerConfiguration(
                    flushInterval: producerSettings.flushInterval,
                    maximumRetries: producerSettings.maxRetry,
                    compression: KafkaCompression.byName[producerSettings.compression] ?? .none
                ),
                logger: logger("vigil.kafka")
            )
            helpers.append(KafkaProducerService(producer: producer))
            archive = KafkaAnnouncementArchive(producer: producer, topics: producerSettings.topics)
        }
        let announcer = Announcer(
            settings: settings,
            sender: sender,
            recipients: recipients,
            store: store,
            record: { event in await hub.record(event) },
            logger: logger("vigil.announcer"),
            clock: hub.clock,
            archive: archive,
            sharing: sharing
        )
        self.announcer = announcer
        services = helpers + clients.map { $0 as any Service }
        services.append(BounceWatcher(clients: clients, logger: logger("vigil.announcer")))
        services.append(announcer)
        services.append(
            AnnouncerBufferReport(
                announcer: announcer,
                connections: connectionMetrics,
                interval: configuration.bufferReportInterval,
                inputBuffer: configuration.inputBuffer,
                workers: configuration.logicProcessNumber,
                level: configuration.bufferReportExplicit ? .info : .debug,
                logger: logger("vigil.announcer")
            )
        )
        // The queue input stops before the Announcer, so every record it took is stored.
        if let consumerSettings = configuration.kafkaConsumer {
            let group = KafkaConsumerGroup(
                cluster: try AnnouncerConfiguration.kafkaCluster(
                    consumerSettings.brokers,
                    security: consumerSettings.security,
                    logger: logger("vigil.kafka")
                ),
                configuration: KafkaConsumerConfiguration(
                    groupID: consumerSettings.groupName,
                    topics: consumerSettings.topics,
                    bufferSize: consumerSettings.buffer
                ),
                logger: logger("vigil.kafka")
            )
            services.append(KafkaAnnouncementInput(group: group, announcer: announcer, logger: logger("vigil.announcer")))
        }
        // Without a token the listener is loopback-only (the configuration refuses anything else), so
        // a Host that is not loopback can only come from a re-pointed name in a browser.
        let loopbackHostOnly = http.token == nil
        let intake = AnnouncerIntake(announcer: announcer)
        let routes: RouteRegistration = { group in AnnounceRoutes.register(on: group, intake: intake, loopbackHostOnly: loopbackHostOnly) }
        if let (host, port) = VigilConfiguration.announcerOwnListener(configuration, http: http) {
            services.append(
                buildSideApplication(
                    host: host,
                    port: port,
                    token: http.token,
                    routes: [routes],
                    idleTimeout: http.idleTimeout,
                    logger: logger("vigil.announcer")
                )
            )
        } else {
            mainRoutes = [routes]
        }
    }

    /// The user-activity Redis of `[user-activity-redis]`: a cluster client seeded with every
    /// `cluster_nodes` entry (a standalone server is recognised and used as one node), with
    /// `read_timeout` as each command's timeout and `max_retries` as its retries.
    static func userActivityRedis(_ settings: AnnouncerConfiguration.RedisSettings, logger: Logger) -> RedisClusterClient {
        var node = RedisConfiguration(
            password: settings.password.isEmpty ? nil : settings.password,
            database: settings.database,
            clientName: "vigil-announcer"
        )
        node.commandTimeout = settings.readTimeout
        // A node that does not answer at all must not hold a lookup much longer than a slow reply.
        node.connectTimeout = max(settings.readTimeout, .seconds(1))
        let seeds = settings.nodes.compactMap { WebConfiguration.parseListen($0).map { RedisClusterNode(host: $0.0, port: $0.1) } }
        var configuration = RedisClusterConfiguration(seeds: seeds.isEmpty ? [RedisClusterNode(host: "127.0.0.1", port: 6379)] : seeds, node: node)
        configuration.maxRetries = settings.maxRetries
        return RedisClusterClient(configuration: configuration, logger: logger, observer: RedisClusterMetrics.observer(client: "announcer"))
    }

    /// One connection configuration per node and connection number.
    ///
    /// A client login binds one full JID per connection: `resource` alone when there is one
    /// connection, else `resource-N` (N the connection number) and, on several instances,
    /// `resource-<instance>[-N]`. With one resource for all, each new connection made the server
    /// close the last one (a resource conflict) and they took over from each other in turn.
    static func connectionConfigurations(_ configuration: AnnouncerConfiguration, instance: String? = nil) -> [XMPPConnectionConfiguration] {
        var result: [XMPPConnectionConfiguration] = []
        let count = connectionNodes(configuration).count
        for node in configuration.xmpp.nodes {
            guard let (host, port) = WebConfiguration.parseListen(node) else { continue }
            for _ in 0..<configuration.xmpp.connectionsPerNode {
                let number = result.count
                switch configuration.login {
                case .component(let component):
                    result.append(
                        XMPPConnectionConfiguration(
                            host: host,
                            port: port,
                            role: .component(domain: component.componentDomain, secret: component.secret),
                            pingInterval: component.pingInterval
                        )
                    )
                case .client(let client):
                    result.append(
                        XMPPConnectionConfiguration(
                            host: host,
                            port: port,
                            role: .client(
                                domain: client.domain,
                                username: client.username,
                                password: client.password,
                                resource: client.resource + (instance.map { "-" + $0 } ?? "") + (count > 1 ? "-\(number)" : "")
                            ),
                            pingInterval: client.pingInterval,
                            sendInitialPresence: false
                        )
                    )
                }
            }
        }
        return result
    }
}

/// The Announcer's connections as a ``StanzaSender``.
struct XMPPStanzaSender: StanzaSender {
    let clients: [XMPPClient]

    var connectionCount: Int { clients.count }

    func isConnected(_ index: Int) -> Bool { clients[index].connection != nil }

    func send(_ stanza: String, on index: Int) async throws -> StanzaStream {
        let connection = try await clients[index].send(rawStanza: stanza)
        return StanzaStream(connection: index, serial: connection.serial)
    }

    func confirm(_ stream: StanzaStream) async throws {
        guard let connection = clients[stream.connection].connection, connection.serial == stream.serial else {
            throw XMPPClientError(.connectionClosed, message: "the stream broke before it confirmed what was written into it")
        }
        try await connection.confirmDelivery()
    }
}

/// Counts and logs messages the servers bounced (`type='error'`): the recipient does not exist,
/// or the server refused the stanza.
struct BounceWatcher: Service {
    let clients: [XMPPClient]
    let logger: Logger

    func run() async throws {
        let bounced = Counter(label: "vigil_announcer_messages_total", dimensions: [("result", "bounced")])
        // The stanza streams end only when the clients stop, which is after this service.
        await cancelWhenGracefulShutdown {
            await self.watch(counter: bounced)
        }
    }

    private func watch(counter bounced: Counter) async {
        await withDiscardingTaskGroup { group in
            for client in clients {
                group.addTask {
                    for await stanza in client.stanzas where stanza.name == "message" && stanza[attribute: "type"] == "error" {
                        bounced.increment()
                        let condition = stanza.firstChild(named: "error")?.elements.first?.name ?? "unknown"
                        logger.warning(
                            "XMPP server bounced an announcement",
                            metadata: ["xmpp.to": "\(stanza[attribute: "from"] ?? "")", "error": "\(condition)"]
                        )
                    }
                }
            }
        }
    }
}
