//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilApp
import VigilMonitors

@Suite("Configuration: [janus]")
struct GatewayConfigurationTests {
    @Test("Defaults: gateway monitoring off, the seed's topics and intervals")
    func defaults() throws {
        let janus = try VigilConfiguration.defaults(environment: [:]).janus
        #expect(janus.mode == .disabled)
        #expect(janus.statusTopic == "janus/{server}/status")
        #expect(janus.adminResponseTopic == "janus/{server}/from-janus-admin")
        #expect(janus.failoverTopic == "vigil/failover/{failed}")
        #expect(janus.pollInterval == .seconds(10))
        #expect(janus.staleThreshold == .seconds(30))
        #expect(janus.failoverWaitTime == .seconds(5))
        #expect(janus.httpDeadline == .milliseconds(900))
        #expect(janus.maxDiscovered == 64)
        #expect(janus.discoveredExpiry == .seconds(600))
        #expect(janus.inboxCapacity == 1024)
    }

    @Test("gxydb-api migration aids: the metric alias and its metrics port, off by default; a port beyond loopback needs a token")
    func gxydbMigration() throws {
        let defaults = try VigilConfiguration.defaults(environment: [:]).janus
        #expect(defaults.gxydbMetricsAlias == false)
        #expect(defaults.gxydbMetricsListen == nil)
        let file = try VigilConfiguration.parse(
            """
            [janus]
            gxydb_metrics_alias = true
            gxydb_metrics_listen = "127.0.0.1:8081"
            """,
            file: "vigil.toml"
        )
        #expect(file.janus.gxydbMetricsAlias)
        #expect(file.janus.gxydbMetricsListen == "127.0.0.1:8081")
        #expect(throws: ConfigurationError.self) {
            try VigilConfiguration.parse("[janus]\ngxydb_metrics_listen = \"8081\"", file: "vigil.toml")
        }
        #expect(throws: ConfigurationError.self) {
            try VigilConfiguration.parse("[janus]\ngxydb_metrics_listen = \":8081\"", file: "vigil.toml")
        }
        let tokened = try VigilConfiguration.parse(
            "[http]\ntoken = \"t0ken-t0ken-t0ken\"\n[janus]\ngxydb_metrics_listen = \":8081\"",
            file: "vigil.toml"
        )
        #expect(tokened.janus.gxydbMetricsListen == ":8081")
    }

    @Test("Bounds of discovered servers and the inbox, from the file or VIGIL_JANUS_*")
    func bounds() throws {
        let text = """
            [janus]
            max_discovered = 10
            discovered_expiry = "2m"
            inbox_capacity = 256
            """
        let file = try VigilConfiguration.parse(text, file: "vigil.toml")
        #expect(file.warnings.isEmpty)
        #expect(file.janus.maxDiscovered == 10)
        #expect(file.janus.discoveredExpiry == .seconds(120))
        #expect(file.janus.inboxCapacity == 256)
        let environment = try VigilConfiguration.parse(
            text,
            file: "vigil.toml",
            environment: ["VIGIL_JANUS_MAX_DISCOVERED": "0", "VIGIL_JANUS_DISCOVERED_EXPIRY": "30s", "VIGIL_JANUS_INBOX_CAPACITY": "64"]
        ).janus
        #expect(environment.maxDiscovered == 0)
        #expect(environment.discoveredExpiry == .seconds(30))
        #expect(environment.inboxCapacity == 64)
    }

    @Test("The file's [janus] section")
    func file() throws {
        let configuration = try VigilConfiguration.parse(
            """
            [janus]
            broker_url = "mqtt://broker.local:1883"
            client_id = "vigil-a"
            admin_key = "secret"
            available_servers = ["gxy1", "gxy2"]
            failover_servers = "gxy12, gxy13"
            failover_wait_time = "1m30s"
            poll_interval = "2s"
            stale_threshold = "10s"
            mqtt_version = "3.1.1"
            status_topic = "site/{server}/status"
            admin_urls = ["gxy3=http://10.0.0.3:7088"]
            """,
            file: "vigil.toml"
        )
        let janus = configuration.janus
        #expect(configuration.warnings.isEmpty)
        #expect(janus.mode == .mqtt)
        #expect(janus.brokerURL == "mqtt://broker.local:1883")
        #expect(janus.clientID == "vigil-a")
        #expect(janus.adminKey == "secret")
        #expect(janus.availableServers == ["gxy1", "gxy2"])
        #expect(janus.failoverServers == ["gxy12", "gxy13"])
        #expect(janus.failoverWaitTime == .seconds(90))
        #expect(janus.pollInterval == .seconds(2))
        #expect(!janus.useMQTT5)
        #expect(janus.statusTopic == "site/{server}/status")
        #expect(janus.adminURLs == ["gxy3": "http://10.0.0.3:7088"])
    }

    @Test("The seed's environment variables win over the file")
    func seedEnvironment() throws {
        let janus = try VigilConfiguration.parse(
            """
            [janus]
            broker_url = "mqtt://file:1883"
            available_servers = ["a"]
            """,
            file: "vigil.toml",
            environment: [
                "MQTT_BROKER_URL": "tcp://127.0.0.1:1883", "MQTT_CLIENT_ID": "gxydb-api", "GATEWAY_PLUGIN_ADMIN_KEY": "k",
                "AVAILABLE_JANUS_SERVERS": "gxy1,gxy2,gxy3", "FAILOVER_JANUS_SERVERS": "gxy12, gxy13", "FAILOVER_WAIT_TIME": "1m30s",
            ]
        ).janus
        #expect(janus.brokerURL == "tcp://127.0.0.1:1883")
        #expect(janus.clientID == "gxydb-api")
        #expect(janus.adminKey == "k")
        #expect(janus.availableServers == ["gxy1", "gxy2", "gxy3"])
        #expect(janus.failoverServers == ["gxy12", "gxy13"])
        #expect(janus.failoverWaitTime == .seconds(90))
    }

    @Test("HTTP mode needs admin URLs and no broker")
    func httpMode() throws {
        let janus = try VigilConfiguration.parse(#"janus.admin_urls = "gxy1=http://127.0.0.1:7088""#, file: "vigil.toml").janus
        #expect(janus.mode == .http)
    }

    @Test(
        "Precise errors",
        arguments: [
            ("[janus]\nbroker_url = \"ftp://x\"", "janus.broker_url"),
            ("[janus]\nstatus_topic = \"janus/status\"", "janus.status_topic"),
            ("[janus]\nfailover_topic = \"vigil/{server}\"", "janus.failover_topic"),
            ("[janus]\npoll_interval = \"10s\"\nstale_threshold = \"5s\"", "janus.stale_threshold"),
            ("[janus]\nadmin_urls = [\"gxy1\"]", "janus.admin_urls"),
            ("[janus]\nmqtt_version = \"4.0\"", "janus.mqtt_version"),
            ("[janus]\nmax_discovered = -1", "janus.max_discovered"),
            ("[janus]\nmax_discovered = 9223372036854775807", "janus.max_discovered"),
            ("[janus]\ninbox_capacity = 0", "janus.inbox_capacity"),
            ("[janus]\ndiscovered_expiry = \"0s\"", "janus.discovered_expiry"),
            ("[janus]\ndiscovered_expiry = \"400d\"", "janus.discovered_expiry"),
            ("[janus]\nhttp_deadline = \"100000000h\"", "janus.http_deadline"),
            ("[janus]\nfailover_wait_time = \"1000d\"", "janus.failover_wait_time"),
        ]
    )
    func errors(text: String, key: String) {
        #expect {
            _ = try VigilConfiguration.parse(text, file: "vigil.toml")
        } throws: { error in
            (error as? ConfigurationError)?.key == key
        }
    }

    @Test("A bad FAILOVER_WAIT_TIME names the variable")
    func badWaitTime() {
        #expect {
            _ = try VigilConfiguration.parse("", file: "vigil.toml", environment: ["FAILOVER_WAIT_TIME": "soon"])
        } throws: { error in
            (error as? ConfigurationError)?.key == "FAILOVER_WAIT_TIME"
        }
    }
}
