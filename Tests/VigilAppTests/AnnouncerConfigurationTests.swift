//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import Testing
import VigilAnnouncer
import VigilWeb

@testable import VigilApp

@Suite("Configuration: the Announcer (seed 001)")
struct AnnouncerConfigurationTests {
    /// The example of seed 001's README, unchanged.
    static var seedExampleText: String {
        get throws {
            let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Fixtures/announcer-config.toml").path
            return try String(contentsOfFile: path, encoding: .utf8)
        }
    }

    /// The one key the seed's example lacks: `[kafka-consumer] brokers` (the seed names ZooKeeper).
    static let brokersEnvironment = ["VIGIL_KAFKA_CONSUMER_BROKERS": "127.0.0.1:9092"]

    @Test("The seed's example with only [kafka-consumer] zookeeper exits 2 and says to set brokers")
    func seedZookeeperOnly() throws {
        let error = #expect(throws: ConfigurationError.self) {
            try VigilConfiguration.parse(try Self.seedExampleText, file: "announcer.toml", environment: ["VIGIL_HTTP_TOKEN": "t0ken"])
        }
        #expect(error?.key == "kafka-consumer.brokers")
        #expect(error?.description.contains("set brokers") == true, "\(String(describing: error))")
        #expect(error?.description.contains("zookeeper = \"127.0.0.1:2181/\"") == true, "\(String(describing: error))")
    }

    @Test("Kafka sections: topics are required, a producer topic that is also a consumer topic is refused, compression is one of four")
    func kafkaSections() throws {
        let base = "[component]\nname = \"a\"\nsecret = \"s\"\ndomain = \"d\"\n"
        let good = try VigilConfiguration.parse(
            base + "[kafka-consumer]\nbrokers = \"k1:9092, k2:9093\"\ntopics = \"in\"\n[kafka-producer]\ntopics = [\"out\"]\nflush_frequency = 0\n",
            file: "a.toml"
        )
        #expect(good.announcer?.kafkaConsumer?.brokers == ["k1:9092", "k2:9093"])
        #expect(good.announcer?.kafkaConsumer?.groupName == "announcer")
        #expect(good.announcer?.kafkaProducer?.brokers == ["127.0.0.1:9092"])
        #expect(good.announcer?.kafkaProducer?.flushInterval == .zero)
        #expect(good.announcer?.kafkaProducer?.compression == "none")
        #expect(!good.warnings.contains { $0.contains("Kafka") })
        let zstd = try VigilConfiguration.parse(base + "[kafka-producer]\ntopics = \"out\"\ncompression = \"zstd\"\n", file: "a.toml")
        #expect(zstd.announcer?.kafkaProducer?.compression == "zstd")
        for (text, key) in [
            ("[kafka-producer]\ntopics = \"out\"\ncompression = \"snappy\"\n", "kafka-producer.compression"),
            ("[kafka-consumer]\nbrokers = \"k:9092\"\n", "kafka-consumer.topics"),
            ("[kafka-producer]\nbrokers = \"k:9092\"\n", "kafka-producer.topics"),
            ("[kafka-consumer]\nbrokers = \"k\"\ntopics = \"in\"\n", "kafka-consumer.brokers"),
            ("[kafka-consumer]\nbrokers = \"k:1\"\ntopics = \"in,x\"\n[kafka-producer]\ntopics = \"x\"\n", "kafka-producer.topics"),
        ] {
            let error = #expect(throws: ConfigurationError.self) { try VigilConfiguration.parse(base + text, file: "a.toml") }
            #expect(error?.key == key, "\(text): \(String(describing: error))")
        }
    }

    @Test(
        "Kafka SASL and TLS keys: a mechanism needs a user, unknown mechanisms and a CA file without TLS are refused; the password may come from the environment"
    )
    func kafkaSecurity() throws {
        let base = "[component]\nname = \"a\"\nsecret = \"s\"\ndomain = \"d\"\n[kafka-producer]\nbrokers = \"k:9092\"\ntopics = \"out\"\n"
        let good = try VigilConfiguration.parse(
            base + "sasl_mechanism = \"scram-sha-512\"\nsasl_username = \"vigil\"\ntls = true\n",
            file: "a.toml",
            environment: ["VIGIL_KAFKA_PRODUCER_SASL_PASSWORD": "from-env"]
        )
        let security = try #require(good.announcer?.kafkaProducer?.security)
        #expect(security.saslMechanism == "SCRAM-SHA-512" && security.saslUsername == "vigil" && security.saslPassword == "from-env")
        #expect(security.tls && security.tlsCAFile == nil)
        #expect(try VigilConfiguration.parse(base, file: "a.toml").announcer?.kafkaProducer?.security == .init())
        for (text, key) in [
            ("sasl_mechanism = \"GSSAPI\"\nsasl_username = \"u\"\n", "kafka-producer.sasl_mechanism"),
            ("sasl_mechanism = \"PLAIN\"\n", "kafka-producer.sasl_username"),
            ("sasl_username = \"u\"\n", "kafka-producer.sasl_username"),
            ("tls_ca_file = \"/etc/hostname\"\n", "kafka-producer.tls_ca_file"),
            ("tls = true\ntls_ca_file = \"/nonexistent/ca.pem\"\n", "kafka-producer.tls_ca_file"),
        ] {
            let error = #expect(throws: ConfigurationError.self) { try VigilConfiguration.parse(base + text, file: "a.toml") }
            #expect(error?.key == key, "\(text): \(String(describing: error))")
        }
    }

    @Test("The seed's example config parses unchanged (with a token and the Kafka brokers from the environment), in the seed's units")
    func seedExample() throws {
        let configuration = try VigilConfiguration.parse(
            try Self.seedExampleText,
            file: "announcer.toml",
            environment: Self.brokersEnvironment.merging(["VIGIL_HTTP_TOKEN": "t0ken"]) { $1 }
        )
        let announcer = try #require(configuration.announcer)
        #expect(announcer.restAPIListen == ":8080")
        // ":8080" shares [http]'s port 8080: one listener, on the wider address.
        #expect(configuration.http.host == "0.0.0.0" && configuration.http.port == 8080)
        #expect(VigilConfiguration.announcerOwnListener(announcer, http: configuration.http) == nil)
        #expect(configuration.warnings.contains { $0.contains("share port 8080") && $0.contains("0.0.0.0:8080") })
        #expect(announcer.debugListen == ":6060")
        #expect(announcer.inputBuffer == 100 && announcer.outputBuffer == 100)
        #expect(announcer.logicProcessNumber == 2)
        #expect(announcer.userActivityAskBuffer == 1_000)
        #expect(announcer.bufferReportInterval == .seconds(1))
        #expect(announcer.xmpp.nodes == ["127.0.0.1:8889"])
        #expect(announcer.xmpp.rateLimit == 10)
        #expect(announcer.xmpp.sendRetry == 6)
        #expect(announcer.xmpp.connectionsPerNode == 1)
        guard case .component(let component) = announcer.login else {
            Issue.record("expected a component login")
            return
        }
        #expect(component.name == "announcer" && component.secret == "announcer" && component.domain == "soroush.ir")
        #expect(component.componentDomain == "announcer.soroush.ir")
        #expect(component.pingInterval == .seconds(110))
        #expect(component.connectionCheckInterval == .seconds(10))
        let mysql = try #require(announcer.mysql)
        #expect(mysql.address == "127.0.0.1:3306" && mysql.username == "test" && mysql.database == "testDB")
        #expect(mysql.pageLength == 100 && mysql.maxIdleConnections == 50 && mysql.maxOpenConnections == 50)
        guard case .redis(let redis) = announcer.userActivity else {
            Issue.record("expected Redis user activity")
            return
        }
        #expect(redis.nodes == ["127.0.0.1:6379"])
        #expect(redis.readTimeout == .milliseconds(1_000))
        #expect(redis.maxRetries == 2)
        #expect(announcer.kafkaConsumer?.topics == ["test-topic"])
        #expect(announcer.kafkaConsumer?.brokers == ["127.0.0.1:9092"])
        #expect(announcer.kafkaConsumer?.zookeeper == "127.0.0.1:2181/")
        #expect(announcer.kafkaProducer?.brokers.count == 3)
        #expect(announcer.kafkaProducer?.flushInterval == .seconds(3))
        #expect(announcer.kafkaProducer?.maxRetry == 3)
        #expect(configuration.log.level == .debug)
        // Nothing unknown; two notes: both user-activity sections given, and delivery not built yet.
        #expect(!configuration.warnings.contains { $0.contains("unknown") })
        #expect(configuration.warnings.contains { $0.contains("using [user-activity-redis]") })
    }

    @Test("A client login and the REST user-activity source")
    func clientLogin() throws {
        let configuration = try VigilConfiguration.parse(
            """
            [ejabberd]
            cluster_nodes = "10.0.0.1:5222, 10.0.0.2:5222"
            each_node_conn_num = 3

            [client]
            username = "admin"
            password = "pw"
            domain = "example.de"
            ping_interval = 2

            [user-activity-rest-api]
            address = "127.0.0.1:8888"
            request_timeout = 12
            """,
            file: "a.toml"
        )
        let announcer = try #require(configuration.announcer)
        #expect(announcer.xmpp.nodes == ["10.0.0.1:5222", "10.0.0.2:5222"])
        #expect(announcer.xmpp.connectionsPerNode == 3)
        #expect(announcer.login == .client(.init(username: "admin", password: "pw", domain: "example.de")))
        #expect(
            announcer.userActivity
                == .rest(
                    {
                        var rest = AnnouncerConfiguration.RESTSettings()
                        rest.requestTimeout = .milliseconds(12)
                        return rest
                    }()
                )
        )
    }

    @Test("Environment variables override the seed's keys")
    func environment() throws {
        let configuration = try VigilConfiguration.parse(
            try Self.seedExampleText,
            file: "announcer.toml",
            environment: [
                "VIGIL_COMPONENT_SECRET": "from-env", "VIGIL_REST_API_PORT": "127.0.0.1:9090", "VIGIL_EJABBERD_RATE_LIMIT": "50",
                "VIGIL_RECIPIENT_SOURCE_GIVE_UP": "90s", "VIGIL_KAFKA_CONSUMER_BROKERS": "127.0.0.1:9092",
            ]
        )
        let announcer = try #require(configuration.announcer)
        #expect(announcer.recipientSourceGiveUp == .seconds(90))
        guard case .component(let component) = announcer.login else { throw AnnouncementError("no component") }
        #expect(component.secret == "from-env")
        #expect(announcer.restAPIListen == "127.0.0.1:9090")
        #expect(announcer.xmpp.rateLimit == 50)
    }

    @Test(
        "No Announcer without its sections; errors name the key",
        arguments: [
            ("[mysql]\naddress = \"h:1\"", "a.toml: mysql: belongs to the Announcer, which also needs [component] or [client]"),
            ("rest_api_port = \":8080\"", "a.toml: rest_api_port: belongs to the Announcer"),
            (
                "[component]\nname = \"a\"\nsecret = \"s\"\ndomain = \"d\"\n[client]\nusername = \"u\"",
                "a.toml: client: give [component] or [client], not both"
            ),
            ("[component]\nname = \"a\"\nsecret = \"s\"", "a.toml: component.domain: is required"),
            (
                "[component]\nname = \"a\"\nsecret = \"s\"\ndomain = \"d\"\n[ejabberd]\nrate_limit = 0",
                "a.toml: ejabberd.rate_limit: must be greater than zero"
            ),
            (
                "[component]\nname = \"a\"\nsecret = \"s\"\ndomain = \"d\"\n[ejabberd]\ncluster_nodes = \"nohost\"",
                "a.toml: ejabberd.cluster_nodes: 'nohost' is not host:port"
            ),
            ("rest_api_port = \"x\"\n[component]\nname = \"a\"\nsecret = \"s\"\ndomain = \"d\"", "a.toml: rest_api_port: 'x' is not host:port"),
            (
                "recipient_source_give_up = \"0s\"\n[component]\nname = \"a\"\nsecret = \"s\"\ndomain = \"d\"",
                "a.toml: recipient_source_give_up: must be from 1s to 7d"
            ),
        ]
    )
    func errors(text: String, message: String) {
        let error = #expect(throws: ConfigurationError.self) { try VigilConfiguration.parse(text, file: "a.toml") }
        #expect(error?.description.hasPrefix(message) == true, "\(String(describing: error))")
    }

    @Test("Without any Announcer keys there is no Announcer and no warning about it")
    func absent() throws {
        let configuration = try VigilConfiguration.parse("[http]\nlisten = \"127.0.0.1:1\"\n", file: "a.toml")
        #expect(configuration.announcer == nil)
        #expect(configuration.warnings.isEmpty)
    }
}
