//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing
import VigilApp
import VigilMonitors

@Suite("[host_ingest] and vigil agent settings")
struct HostAgentConfigurationTests {
    @Test("[host_ingest] is read; defaults when absent")
    func ingest() throws {
        #expect(try VigilConfiguration.defaults(environment: [:]).hostIngest == HostIngestConfiguration())
        let configuration = try VigilConfiguration.parse(
            """
            [host]
            processes = ["mediamtx"]

            [host_ingest]
            enabled = true
            topic_prefix = "site/agents"
            tokens = ["0123456789abcdef0123"]
            stale_after = "20s"
            max_hosts = 10
            """,
            file: "vigil.toml"
        )
        #expect(
            configuration.hostIngest
                == HostIngestConfiguration(
                    enabled: true,
                    topicPrefix: "site/agents",
                    tokens: ["0123456789abcdef0123"],
                    staleAfter: .seconds(20),
                    maxHosts: 10
                )
        )
        #expect(configuration.host.processes == ["mediamtx"])
        #expect(configuration.warnings.isEmpty)
    }

    @Test(
        "Bad [host_ingest] values are errors naming the key",
        arguments: [
            ("topic_prefix = \"a/#\"", "host_ingest.topic_prefix"),
            ("topic_prefix = \"/a\"", "host_ingest.topic_prefix"),
            ("tokens = [\"short\"]", "host_ingest.tokens"),
            ("stale_after = \"0s\"", "host_ingest.stale_after"),
            ("max_hosts = 0", "host_ingest.max_hosts"),
            ("max_hosts = 1000000", "host_ingest.max_hosts"),
        ]
    )
    func badIngest(line: String, key: String) {
        let error = #expect(throws: ConfigurationError.self) { try VigilConfiguration.parse("[host_ingest]\n\(line)\n", file: "vigil.toml") }
        #expect(error?.key == key)
        #expect(error?.file == "vigil.toml")
    }

    @Test("vigil agent: the command line over the environment over [agent]")
    func agentSettings() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("agent-\(UUID().uuidString).toml").path
        try """
        [agent]
        push = "mqtt://broker:1883"
        name = "media1"
        interval = "10s"
        processes = ["mediamtx"]
        buffer = 100
        """.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fromFile = try HostAgentSettings.resolve(path: path, commandLine: .init(), environment: [:])
        #expect(fromFile.destination == .mqtt("mqtt://broker:1883"))
        #expect(fromFile.name == "media1")
        #expect(fromFile.interval == .seconds(10))
        #expect(fromFile.bufferLimit == 100)
        #expect(fromFile.sampler.processes == ["mediamtx"])
        let overridden = try HostAgentSettings.resolve(
            path: path,
            commandLine: .init(push: "http://central:8080", name: "media2"),
            environment: ["VIGIL_AGENT_TOKEN": "t0k3n", "VIGIL_AGENT_NAME": "ignored"]
        )
        #expect(overridden.destination == .http("http://central:8080/api/v1/ingest/host"))
        #expect(overridden.token == "t0k3n")
        #expect(overridden.name == "media2")
    }

    @Test(
        "vigil agent: missing push, HTTP without a token, bad names and unknown keys are errors",
        arguments: [
            (HostAgentSettings.CommandLine(), "agent.push"),
            (HostAgentSettings.CommandLine(push: "gopher://x"), "agent.push"),
            (HostAgentSettings.CommandLine(push: "http://central:8080"), "agent.token"),
            (HostAgentSettings.CommandLine(push: "mqtt://b:1883", name: "a/b"), "agent.name"),
            (HostAgentSettings.CommandLine(push: "mqtt://b:1883", interval: "1ms"), "agent.interval"),
        ]
    )
    func badAgentSettings(commandLine: HostAgentSettings.CommandLine, key: String) {
        let error = #expect(throws: ConfigurationError.self) { try HostAgentSettings.resolve(path: nil, commandLine: commandLine, environment: [:]) }
        #expect(error?.key == key)
    }
}
