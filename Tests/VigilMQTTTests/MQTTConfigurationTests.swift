//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import Testing
import VigilClientSupport

@testable import VigilMQTT

@Suite("MQTT addresses and configuration")
struct MQTTConfigurationTests {
    @Test("URLs parse into host, port and TLS with default ports")
    func urls() throws {
        let cases: [(String, String, Int, Bool)] = [
            ("mqtt://broker.local", "broker.local", 1883, false),
            ("tcp://10.0.0.1:1884", "10.0.0.1", 1884, false),
            ("mqtts://broker.local", "broker.local", 8883, true),
            ("ssl://broker.local:9999/", "broker.local", 9999, true),
            ("MQTT://Broker", "Broker", 1883, false),
            ("broker:1885", "broker", 1885, false),
            ("mqtt://[::1]:1883", "::1", 1883, false),
            ("mqtts://[fe80::1]", "fe80::1", 8883, true),
        ]
        for (url, host, port, tls) in cases {
            let address = try MQTTAddress(url: url)
            #expect(address.host == host, "\(url)")
            #expect(address.port == port, "\(url)")
            #expect(address.useTLS == tls, "\(url)")
        }
    }

    @Test("Credentials in the URL become the configuration's defaults")
    func credentials() throws {
        let configuration = try MQTTClientConfiguration(url: "tcp://user:pa:ss@host:1883", clientID: "c")
        #expect(configuration.username == "user")
        #expect(configuration.password == "pa:ss")
        #expect(configuration.address.description == "mqtt://host:1883")
    }

    @Test(
        "Bad URLs are rejected",
        arguments: ["http://host", "mqtt://", "mqtt://host:0", "mqtt://host:70000", "mqtt://host:x", "mqtt://host/path", "mqtt://[::1"]
    )
    func badURLs(url: String) {
        #expect(throws: MQTTClientError.self) { try MQTTAddress(url: url) }
    }

    @Test(
        "Errors about a URL never quote its credentials",
        arguments: [
            "mqtt://user:Pw0rd!@host:70000", "ftp://user:Pw0rd!@host", "mqtt://user:Pw0rd!/x@host", "mqtt://Pw0rd!@[::1",
        ]
    )
    func errorsHideCredentials(url: String) {
        let error = #expect(throws: MQTTClientError.self) { try MQTTAddress(url: url) }
        #expect(error.map { !"\($0)".contains("Pw0rd!") } == true, "\(String(describing: error))")
        #expect(error.map { "\($0)".contains("***@") } == true, "\(String(describing: error))")
    }

    @Test("Reconnect delays grow exponentially, are capped and jittered")
    func backoff() throws {
        let policy = MQTTReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(1), jitter: 0.2)
        #expect(policy.delay(forAttempt: 1, random: 1) == .milliseconds(100))
        #expect(policy.delay(forAttempt: 2, random: 1) == .milliseconds(200))
        #expect(policy.delay(forAttempt: 4, random: 1) == .milliseconds(800))
        #expect(policy.delay(forAttempt: 5, random: 1) == .seconds(1))
        #expect(policy.delay(forAttempt: 500, random: 1) == .seconds(1))
        // Jitter shortens a delay by up to 20 %.
        #expect(policy.delay(forAttempt: 1, random: 0) == .milliseconds(80))
        #expect(policy.delay(forAttempt: 1, random: 0.5) == .milliseconds(90))
        let defaults = try MQTTClientConfiguration(url: "mqtt://h", clientID: "c").reconnect
        #expect(defaults == MQTTReconnectPolicy(initialDelay: .milliseconds(500), maximumDelay: .seconds(30), jitter: 0.2))
    }

    @Test("CONNECT carries the configuration")
    func connectPacket() throws {
        var configuration = try MQTTClientConfiguration(url: "mqtt://h", clientID: "id")
        configuration.username = "u"
        configuration.password = "p"
        configuration.keepAlive = .seconds(15)
        configuration.cleanSession = false
        configuration.sessionExpiry = .seconds(3600)
        configuration.will = MQTTWill(topic: "w", payload: .init(string: "x"), qos: .exactlyOnce, retain: true, delay: .seconds(2))
        let packet = MQTTConnection.makeConnectPacket(configuration)
        #expect(packet.version == .v5)
        #expect(packet.keepAliveSeconds == 15)
        #expect(packet.cleanSession == false)
        #expect(packet.username == "u")
        #expect(packet.password == .init(string: "p"))
        #expect(packet.properties.contains(.sessionExpiryInterval(3600)))
        #expect(packet.will?.qos == .exactlyOnce)
        #expect(packet.will?.retain == true)
        #expect(packet.will?.properties == [.willDelayInterval(2)])
        configuration.version = .v3_1_1
        #expect(MQTTConnection.makeConnectPacket(configuration).properties.isEmpty)
    }

    @Test("Publication properties convert to wire properties and back")
    func publishProperties() {
        let properties = MQTTPublishProperties(
            payloadFormatIndicator: .utf8,
            messageExpiry: .seconds(60),
            responseTopic: "r",
            correlationData: .init(string: "c"),
            contentType: "text/plain",
            userProperties: [.init(name: "a", value: "1"), .init(name: "a", value: "2")]
        )
        #expect(MQTTPublishProperties(mqttProperties: properties.mqttProperties) == properties)
        #expect(MQTTPublishProperties().mqttProperties.isEmpty)
    }
}
