//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import VigilAnnouncer
import VigilKafka
import VigilWeb

extension VigilConfiguration {
    /// The sections of the seed-001 (Announcer) format.
    static let announcerSections: Set<String> = [
        "monitoring", "ejabberd", "component", "client", "mysql", "user-activity-redis", "user-activity-rest-api",
        "user-activity-ejabberd", "kafka-consumer", "kafka-producer",
    ]
    /// The top-level keys of the seed-001 format.
    static let announcerTopLevelKeys: Set<String> = [
        "rest_api_port", "debug_port", "input_buffer", "output_buffer", "logic_process_number", "user_activity_ask_buffer",
        "recipient_source_give_up",
    ]

    /// Reads the seed-001 keys and sections into ``announcer``. The Announcer is configured when
    /// `[component]` or `[client]` (how to log in to XMPP) is present; its other sections and keys
    /// without one of them are an error.
    mutating func parseAnnouncer(
        root: [String: ConfigValue],
        file: String,
        environment: [String: String],
        section: (String) throws -> ConfigSection
    ) throws {
        var scalars: [String: ConfigValue] = [:]
        for key in Self.announcerTopLevelKeys { scalars[key] = root[key] }
        let top = ConfigSection(file: file, name: "", table: scalars, environment: environment)
        let present = Self.announcerSections.filter { root[$0] != nil } + Self.announcerTopLevelKeys.filter { top.contains($0) }
        let hasComponent = root["component"] != nil || environment.keys.contains { $0.hasPrefix("VIGIL_COMPONENT_") }
        let hasClient = root["client"] != nil || environment.keys.contains { $0.hasPrefix("VIGIL_CLIENT_") }
        guard hasComponent || hasClient else {
            if let first = present.sorted().first {
                throw ConfigurationError(
                    file: file,
                    key: first,
                    message: "belongs to the Announcer, which also needs [component] or [client] to log in to XMPP"
                )
            }
            return
        }
        guard !(hasComponent && hasClient) else {
            throw ConfigurationError(file: file, key: "client", message: "give [component] or [client], not both")
        }
        let login: AnnouncerConfiguration.Login
        if hasComponent {
            let component = try section("component")
            func required(_ key: String) throws -> String {
                guard let value = try component.nonEmptyString(key) else { throw component.error(key, "is required") }
                return value
            }
            var settings = AnnouncerConfiguration.ComponentSettings(
                name: try required("name"),
                secret: try required("secret"),
                domain: try required("domain")
            )
            if let interval = try component.duration("ping_interval") {
                settings.pingInterval = try Self.atLeastOneSecond(interval, "ping_interval", component)
            }
            if let count = try component.integer("max_conn_check_retry", in: 0...10_000_000) { settings.maxConnectionCheckRetry = count }
            if let interval = try component.duration("conn_req_check_interval") {
                settings.connectionCheckInterval = try Self.atLeastOneSecond(interval, "conn_req_check_interval", component)
            }
            login = .component(settings)
        } else {
            let client = try section("client")
            func required(_ key: String) throws -> String {
                guard let value = try client.nonEmptyString(key) else { throw client.error(key, "is required") }
                return value
            }
            var settings = AnnouncerConfiguration.ClientSettings(
                username: try required("username"),
                password: try required("password"),
                domain: try required("domain")
            )
            if let resource = try client.nonEmptyString("resource") { settings.resource = resource }
            if let interval = try client.duration("ping_interval") {
                settings.pingInterval = try Self.atLeastOneSecond(interval, "ping_interval", client)
            }
            try Self.parseClientTLS(client, into: &settings)
            login = .client(settings)
        }

        var announcer = AnnouncerConfiguration(login: login)
        announcer.restAPIListen = try top.nonEmptyString("rest_api_port")
        if let listen = announcer.restAPIListen, WebConfiguration.parseListen(listen) == nil {
            throw top.error("rest_api_port", "'\(listen)' is not host:port or :port (for example \":8080\")")
        }
        announcer.debugListen = try top.nonEmptyString("debug_port")
        if let size = try top.integer("input_buffer", in: 1...1_000_000) { announcer.inputBuffer = size }
        if let size = try top.integer("output_buffer", in: 1...1_000_000) { announcer.outputBuffer = size }
        if let count = try top.integer("logic_process_number", in: 1...1_024) { announcer.logicProcessNumber = count }
        if let size = try top.integer("user_activity_ask_buffer", in: 1...1_000_000) { announcer.userActivityAskBuffer = size }
        if let giveUp = try top.duration("recipient_source_give_up") {
            guard giveUp >= .seconds(1), giveUp <= .seconds(7 * 86_400) else {
                throw top.error("recipient_source_give_up", "must be from 1s to 7d")
            }
            announcer.recipientSourceGiveUp = giveUp
        }
        if root["monitoring"] != nil {
            let monitoring = try section("monitoring")
            if let interval = try monitoring.duration("buffer_report_duration") {
                announcer.bufferReportInterval = try Self.atLeastOneSecond(interval, "buffer_report_duration", monitoring)
                announcer.bufferReportExplicit = true
            }
        }

        let ejabberd = try section("ejabberd")
        if let nodes = try ejabberd.stringList("cluster_nodes") {
            announcer.xmpp.nodes = try Self.hostPorts(nodes, "cluster_nodes", ejabberd)
        }
        if let rate = try ejabberd.double("rate_limit") {
            guard rate > 0 else { throw ejabberd.error("rate_limit", "must be greater than zero (messages per second)") }
            // A tiny rate would make the wait between two sends too long to express.
            guard (0.001...1_000_000).contains(rate) else {
                throw ejabberd.error("rate_limit", "\(rate) is out of range 0.001...1000000 (messages per second)")
            }
            announcer.xmpp.rateLimit = rate
        }
        if let retries = try ejabberd.integer("send_retry", in: 0...100) { announcer.xmpp.sendRetry = retries }
        if let count = try ejabberd.integer("each_node_conn_num", in: 1...64) { announcer.xmpp.connectionsPerNode = count }

        if root["mysql"] != nil {
            let mysql = try section("mysql")
            var settings = AnnouncerConfiguration.MySQLSettings()
            if let address = try mysql.nonEmptyString("address") { settings.address = try Self.hostPorts([address], "address", mysql)[0] }
            if let user = try mysql.string("username") { settings.username = user }
            if let password = try mysql.string("password") { settings.password = password }
            if let database = try mysql.string("db") { settings.database = database }
            if let length = try mysql.integer("pagination_length", in: 1...100_000) { settings.pageLength = length }
            if let count = try mysql.integer("max_ideal_conn", in: 0...1_000) { settings.maxIdleConnections = count }
            if let count = try mysql.integer("max_open_conn", in: 1...1_000) { settings.maxOpenConnections = count }
            announcer.mysql = settings
        }

        // The seed's own example has both user-activity sections; Redis wins, as documented.
        if root["user-activity-redis"] != nil {
            let redis = try section("user-activity-redis")
            var settings = AnnouncerConfiguration.RedisSettings()
            if let nodes = try redis.stringList("cluster_nodes") { settings.nodes = try Self.hostPorts(nodes, "cluster_nodes", redis) }
            if let password = try redis.string("password") { settings.password = password }
            if let database = try redis.integer("db", in: 0...15) { settings.database = database }
            if let timeout = try redis.duration("read_timeout", unit: .milliseconds(1), in: .milliseconds(1)...) { settings.readTimeout = timeout }
            if let retries = try redis.integer("max_retries", in: 0...100) { settings.maxRetries = retries }
            announcer.userActivity = .redis(settings)
            if root["user-activity-rest-api"] != nil {
                warnings.append("\(file): both [user-activity-redis] and [user-activity-rest-api] are given; using [user-activity-redis]")
            }
        } else if let source = try parseOnlineUsersWithoutRedis(root: root, file: file, section: section) {
            announcer.userActivity = source
        }

        if root["kafka-consumer"] != nil {
            let consumer = try section("kafka-consumer")
            var settings = AnnouncerConfiguration.KafkaConsumerSettings()
            if let zookeeper = try consumer.string("zookeeper") { settings.zookeeper = zookeeper }
            if let brokers = try consumer.stringList("brokers") {
                settings.brokers = try Self.hostPorts(brokers, "brokers", consumer)
            } else {
                // The seed finds the brokers through ZooKeeper, which Kafka clients stopped doing
                // long ago (and Kafka 4 has no ZooKeeper at all): name them instead.
                let found =
                    settings.zookeeper.isEmpty
                    ? "" : " (the seed's zookeeper = \"\(settings.zookeeper)\" is not used: Vigil talks to the brokers directly)"
                throw consumer.error("brokers", "is required: set brokers = \"host:port,host:port\" to the Kafka brokers\(found)")
            }
            if let topics = try consumer.stringList("topics") { settings.topics = topics }
            guard !settings.topics.isEmpty else { throw consumer.error("topics", "must name at least one topic") }
            if let group = try consumer.nonEmptyString("group_name") { settings.groupName = group }
            if let size = try consumer.integer("buffer", in: 1...1_000_000) { settings.buffer = size }
            settings.security = try Self.kafkaSecurity(consumer)
            announcer.kafkaConsumer = settings
        }
        if root["kafka-producer"] != nil {
            let producer = try section("kafka-producer")
            var settings = AnnouncerConfiguration.KafkaProducerSettings()
            if let brokers = try producer.stringList("brokers") { settings.brokers = try Self.hostPorts(brokers, "brokers", producer) }
            if let topics = try producer.stringList("topics") { settings.topics = topics }
            if let interval = try producer.duration("flush_frequency") {
                guard interval <= .seconds(3600) else { throw producer.error("flush_frequency", "must be at most 3600 seconds") }
                settings.flushInterval = interval
            }
            if let retries = try producer.integer("MaxRetry", in: 0...100) { settings.maxRetry = retries }
            if let codec = try producer.string("compression") {
                guard let compression = KafkaCompression.byName[codec] else {
                    throw producer.error("compression", "must be none, gzip, lz4 or zstd")
                }
                guard compression.isAvailable else {
                    throw producer.error(
                        "compression",
                        "\(codec) needs lib\(codec).so.1, which could not be loaded (Debian: lib\(codec == "lz4" ? "lz4-1" : "zstd1"))"
                    )
                }
                settings.compression = codec
            }
            settings.security = try Self.kafkaSecurity(producer)
            guard !settings.topics.isEmpty else { throw producer.error("topics", "must name at least one topic") }
            if let consumer = announcer.kafkaConsumer, let loop = settings.topics.first(where: consumer.topics.contains) {
                // Every announcement read from the topic would be written back to it, and read again.
                throw producer.error("topics", "'\(loop)' is also a [kafka-consumer] topic: persisted announcements would be read again")
            }
            announcer.kafkaProducer = settings
        }
        if let key = top.unusedKeys.first { throw top.error(key, "unknown key") }
        self.announcer = announcer
        var notWired: [String] = []
        if announcer.mysql != nil, announcer.userActivity == nil { notWired.append("channel announcements without a user-activity source") }
        if announcer.mysql == nil, announcer.userActivity != nil { notWired.append("channel announcements without [mysql]") }
        if !notWired.isEmpty {
            warnings.append(
                "\(file): not wired in this version: \(notWired.joined(separator: "; ")); /v1/announce/channel answers 503 "
                    + "unless [mysql] and a user-activity source are both given"
            )
        }
    }

    static func atLeastOneSecond(_ duration: Duration, _ key: String, _ section: ConfigSection) throws -> Duration {
        guard duration >= .seconds(1) else { throw section.error(key, "must be at least 1s") }
        return duration
    }

    /// Checks `host:port` entries (IPv6 in brackets).
    private static func hostPorts(_ entries: [String], _ key: String, _ section: ConfigSection) throws -> [String] {
        guard !entries.isEmpty else { throw section.error(key, "must name at least one host:port") }
        for entry in entries {
            guard let (host, _) = WebConfiguration.parseListen(entry), !host.isEmpty, !entry.hasPrefix(":") else {
                throw section.error(key, "'\(entry)' is not host:port")
            }
        }
        return entries
    }
}

extension VigilConfiguration {
    /// `sasl_mechanism`, `sasl_username`, `sasl_password`, `tls`, `tls_ca_file` of a Kafka section.
    static func kafkaSecurity(_ section: ConfigSection) throws -> AnnouncerConfiguration.KafkaSecurity {
        var security = AnnouncerConfiguration.KafkaSecurity()
        if let mechanism = try section.nonEmptyString("sasl_mechanism") {
            let known = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
            guard known.contains(mechanism.uppercased()) else {
                throw section.error("sasl_mechanism", "must be one of \(known.joined(separator: ", "))")
            }
            security.saslMechanism = mechanism.uppercased()
            guard let username = try section.nonEmptyString("sasl_username") else {
                throw section.error("sasl_username", "is required with sasl_mechanism")
            }
            security.saslUsername = username
            security.saslPassword = try section.string("sasl_password") ?? ""
        } else if try section.string("sasl_username") != nil {
            throw section.error("sasl_username", "needs sasl_mechanism")
        }
        security.tls = try section.bool("tls") ?? false
        if let file = try section.nonEmptyString("tls_ca_file") {
            guard FileManager.default.isReadableFile(atPath: file) else { throw section.error("tls_ca_file", "'\(file)' is not a readable file") }
            guard security.tls else { throw section.error("tls_ca_file", "is given but tls is false") }
            security.tlsCAFile = file
        }
        return security
    }
}
