//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing
import VigilApp
import VigilCore
import VigilMQTT
import VigilMonitors
import VigilWeb

@Suite("Configuration: iotmonitor devices and agents")
struct DevicesConfigurationTests {
    /// The example of seed 002's manual page, unchanged, plus iotmonitor's `[http]` section.
    static var seedExampleText: String {
        get throws {
            let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("Fixtures/iotmonitor-config.toml").path
            return try String(contentsOfFile: path, encoding: .utf8) + "\n[http]\naddress=\"127.0.0.1\"\nport=8079\n"
        }
    }

    @Test("The seed's example config parses with iotmonitor's defaults and no warnings")
    func seedExample() throws {
        let configuration = try VigilConfiguration.parse(try Self.seedExampleText, file: "config.toml")
        #expect(configuration.warnings.isEmpty)
        let mqtt = try #require(configuration.mqtt)
        #expect(mqtt.address.host == "localhost")
        #expect(mqtt.address.port == 1883)
        #expect(mqtt.address.useTLS == false)
        #expect(mqtt.clientID == "iotmonitor")
        #expect(mqtt.username == nil)
        #expect(mqtt.password == nil)
        let watchdog = configuration.devices.watchdog
        #expect(watchdog.baseTopic == "home/monitoring")
        #expect(watchdog.expireSubtopic == "expire")
        #expect(
            watchdog.definitions == [
                DeviceDefinition(
                    name: "esp04",
                    kind: .device,
                    watchTimeout: 60,
                    helloTopic: "home/esp04",
                    watchTopics: ["home/esp04/sensors/#"],
                    stateTopics: ["home/esp04/actuators/#"]
                ),
                DeviceDefinition(name: "ledboxdaemon", kind: .agent, watchTimeout: 30, watchTopics: ["home/agents/ledbox/#"]),
            ]
        )
        let agent = try #require(configuration.devices.agents.agents.first)
        #expect(agent.name == "ledboxdaemon")
        #expect(agent.exec.hasPrefix("source ~/mqttagents/p3/bin/activate;"))
        #expect(agent.shell == "/bin/bash")
        #expect(agent.logFile == "./vigil-data/agents/ledboxdaemon.log")
        #expect(agent.restartPolicy == AgentRestartPolicy())
        #expect(!agent.restartOnSilence)
        #expect(configuration.devices.agents.baseTopic == "home/monitoring")
        #expect(configuration.devices.agents.checkInterval == .seconds(1))
        #expect(configuration.http.port == 8079)
    }

    @Test("Comma-separated topic lists, Vigil's additions and a non-iotmonitor client id")
    func additions() throws {
        let configuration = try VigilConfiguration.parse(
            """
            [mqtt]
            serverAddress = "ssl://user:secret@broker.example:8883"
            clientid = "site-a"
            version = "3.1.1"
            keep_alive = "15s"
            session_expiry = "2h"
            receive_maximum = 200

            [watchdog]
            expire_subtopic = "expired"
            expire_retain = false
            expire_repeat = "1s"
            agent_log_directory = "/var/log/vigil"

            [device_multi]
            watchTimeOut = "90s"
            watchTopics = "a/#, b/+/c"
            stateTopics = ["s/1", "s/2"]

            [agent_crashy]
            exec = "false"
            max_restarts = 3
            restart_window = "2m"
            restart_backoff = "500ms"
            restart_backoff_max = "10s"
            restart_on_silence = true
            stop_timeout = "2s"
            """,
            file: "vigil.toml"
        )
        #expect(configuration.warnings.isEmpty)
        let mqtt = try #require(configuration.mqtt)
        #expect(mqtt.clientID == "site-a")
        #expect(mqtt.address.useTLS)
        #expect(mqtt.username == "user")
        #expect(mqtt.password == "secret")
        #expect(mqtt.version == .v3_1_1)
        #expect(mqtt.keepAlive == .seconds(15))
        #expect(!mqtt.cleanSession, "a persistent session by default")
        #expect(mqtt.sessionExpiry == .seconds(7200))
        #expect(mqtt.receiveMaximum == 200)
        let clean = try #require(try VigilConfiguration.parse("[mqtt]\nclean_start = true\n", file: "vigil.toml").mqtt)
        #expect(clean.cleanSession)
        #expect(clean.sessionExpiry == nil)
        #expect(clean.receiveMaximum == 64)
        let defaults = try #require(try VigilConfiguration.parse("[mqtt]\nclientid = \"x\"\n", file: "vigil.toml").mqtt)
        #expect(defaults.sessionExpiry == .seconds(86_400))
        let watchdog = configuration.devices.watchdog
        #expect(watchdog.expireTopic("multi") == "home/monitoring/expired/multi")
        #expect(!watchdog.expireRetain)
        #expect(watchdog.expireRepeat == .seconds(1))
        #expect(watchdog.definitions.first?.watchTopics == ["a/#", "b/+/c"])
        #expect(watchdog.definitions.first?.stateTopics == ["s/1", "s/2"])
        #expect(watchdog.definitions.first?.watchTimeout == 90)
        let agent = try #require(configuration.devices.agents.agents.first)
        #expect(
            agent.restartPolicy
                == AgentRestartPolicy(maxRestarts: 3, window: .seconds(120), backoff: .milliseconds(500), maximumBackoff: .seconds(10))
        )
        #expect(agent.restartOnSilence)
        #expect(agent.stopTimeout == .seconds(2))
        #expect(agent.logFile == "/var/log/vigil/crashy.log")
    }

    @Test("Former camelCase spellings of Vigil's own keys still work, each with a deprecation warning")
    func formerSpellings() throws {
        let configuration = try VigilConfiguration.parse(
            """
            [mqtt]
            serverAddress = "mqtt://127.0.0.1:1883"
            keepAlive = "15s"

            [agent_old]
            exec = "false"
            maxRestarts = 3
            restartWindow = "2m"
            restartBackoff = "500ms"
            restartBackoffMax = "10s"
            restartOnSilence = true
            stopTimeout = "2s"
            logFile = "/tmp/old.log"
            passEnvironment = ["PYTHONPATH"]

            [agent_both]
            exec = "false"
            max_restarts = 4
            maxRestarts = 9
            """,
            file: "vigil.toml",
            environment: ["VIGIL_MQTT_CAFILE": "/etc/ssl/ca.pem"]
        )
        #expect(configuration.mqtt?.keepAlive == .seconds(15))
        #expect(configuration.mqtt?.tls != nil)
        let agents = configuration.devices.agents.agents
        let old = try #require(agents.first { $0.name == "old" })
        #expect(
            old.restartPolicy == AgentRestartPolicy(maxRestarts: 3, window: .seconds(120), backoff: .milliseconds(500), maximumBackoff: .seconds(10))
        )
        #expect(old.restartOnSilence && old.stopTimeout == .seconds(2) && old.logFile == "/tmp/old.log" && old.passEnvironment == ["PYTHONPATH"])
        #expect(agents.first { $0.name == "both" }?.restartPolicy.maxRestarts == 4)
        let warnings = configuration.warnings
        #expect(
            warnings.contains("vigil.toml: 'mqtt.keepAlive' is deprecated; write 'mqtt.keep_alive' (the old spelling still works)"),
            "\(warnings)"
        )
        #expect(
            warnings.contains(
                "vigil.toml: 'agent_old.restartOnSilence' is deprecated; write 'agent_old.restart_on_silence' (the old spelling still works)"
            )
        )
        #expect(warnings.contains("<environment>: VIGIL_MQTT_CAFILE is deprecated; set VIGIL_MQTT_CA_FILE instead"))
        #expect(warnings.contains("vigil.toml: 'agent_both.maxRestarts' is ignored: 'agent_both.max_restarts' is set too"))
        #expect(warnings.filter { $0.contains("deprecated") }.count == 10)
        #expect(!warnings.contains { $0.contains("unknown key") })
    }

    @Test("Without device sections the default client id is Vigil's own")
    func vigilClientID() throws {
        let configuration = try VigilConfiguration.parse("[mqtt]\nserverAddress = \"mqtt://127.0.0.1:1883\"\n", file: "vigil.toml")
        let clientID = try #require(configuration.mqtt?.clientID)
        #expect(clientID.hasPrefix("vigil-"))
        #expect(configuration.devices.isEmpty)
        #expect(try VigilConfiguration.parse("", file: "empty.toml").mqtt == nil)
    }

    @Test("Environment variables override iotmonitor keys")
    func environment() throws {
        let configuration = try VigilConfiguration.parse(
            try Self.seedExampleText,
            file: "config.toml",
            environment: ["VIGIL_MQTT_SERVERADDRESS": "tcp://10.0.0.5:1884", "VIGIL_DEVICE_ESP04_WATCHTIMEOUT": "5"]
        )
        #expect(configuration.mqtt?.address.host == "10.0.0.5")
        #expect(configuration.mqtt?.address.port == 1884)
        #expect(configuration.devices.watchdog.definitions.first?.watchTimeout == 5)
    }

    @Test(
        "Invalid iotmonitor sections name the key",
        arguments: [
            ("[mqtt]\n[agent_x]\nwatchTopics=\"a/#\"\n", "agent_x.exec"),
            ("[mqtt]\n[device_x]\nwatchTopics=\"a/#/b\"\n", "device_x.watchTopics"),
            ("[mqtt]\n[device_x]\nwatchTimeOut=0\n", "device_x.watchTimeOut"),
            ("[device_x]\nwatchTopics=\"a/#\"\n", "mqtt"),
            ("[mqtt]\nserverAddress=\"http://x\"\n", "mqtt.serverAddress"),
            ("[mqtt]\nbaseTopic=\"home/#\"\n", "mqtt.baseTopic"),
            ("[watchdog]\nexpire_subtopic=\"a/b\"\n", "watchdog.expire_subtopic"),
        ]
    )
    func errors(text: String, key: String) {
        #expect {
            try VigilConfiguration.parse(text, file: "bad.toml")
        } throws: { error in
            (error as? ConfigurationError)?.key == key
        }
    }
}
