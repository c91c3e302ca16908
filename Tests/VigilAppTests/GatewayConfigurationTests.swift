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

    @Test("Precise errors", arguments: [
        ("[janus]\nbroker_url = \"ftp://x\"", "janus.broker_url"),
        ("[janus]\nstatus_topic = \"janus/status\"", "janus.status_topic"),
        ("[janus]\nfailover_topic = \"vigil/{server}\"", "janus.failover_topic"),
        ("[janus]\npoll_interval = \"10s\"\nstale_threshold = \"5s\"", "janus.stale_threshold"),
        ("[janus]\nadmin_urls = [\"gxy1\"]", "janus.admin_urls"),
        ("[janus]\nmqtt_version = \"4.0\"", "janus.mqtt_version"),
    ])
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
