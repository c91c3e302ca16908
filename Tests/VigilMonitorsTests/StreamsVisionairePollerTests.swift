//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import StreamSimulators
import Testing
import VigilCore

@testable import VigilMonitors

/// A small fleet: two healthy hosts with faults in some cameras, a host whose list fails with
/// HTTP 500 and a host that is down.
struct VisionaireFleet {
    let simulators: [VisionaireSimulator]
    let servers: [SimulatorServer]
    let deadURL: String

    static func start() async throws -> VisionaireFleet {
        let first = VisionaireSimulator(cameras: [
            .init(id: "c73a1992f67961d1", name: "Gate", node: 0),
            .init(id: "0badc0de00000001", name: "Gate", node: 1, state: "STOPPED"),
            .init(id: "0badc0de00000002", name: "Lobby", node: 0, state: nil, pipelineState: "RUNNING"),
            .init(id: "0badc0de00000003", name: "Lobby", node: 0, detailStatus: 500),
            .init(id: "0badc0de00000004", name: "Lobby", node: 0, brokenDetail: true),
        ])
        let second = VisionaireSimulator(cameras: [
            .init(id: "1000000000000001", name: "Lobby", node: 2, active: false),
            .init(id: "1000000000000002", name: "Parking", node: 2),
        ])
        let failing = VisionaireSimulator(cameras: [.init(id: "2000000000000001", name: "Gate")])
        failing.update { $0.listStatus = 500 }
        var servers: [SimulatorServer] = []
        for simulator in [first, second, failing] {
            servers.append(try await SimulatorServer.start { await simulator.handle($0) })
        }
        let dead = try await SimulatorServer.start { _ in .json("{}") }
        await dead.stop()
        return VisionaireFleet(simulators: [first, second, failing], servers: servers, deadURL: dead.baseURL)
    }

    var urls: [String] { servers.map(\.baseURL) + [deadURL] }

    func stop() async {
        for server in servers { await server.stop() }
    }
}

@Suite("Visionaire poller against simulated hosts")
struct StreamsVisionairePollerTests {
    func lines(_ exporter: MetricsSnapshotExporter) -> [String] {
        String(decoding: exporter.exposition, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test("A known fleet gives the seed's metrics, labels and values, with failures counted")
    func knownFleet() async throws {
        let fleet = try await VisionaireFleet.start()
        let exporter = MetricsSnapshotExporter()
        let hub = Hub(stores: MemoryStore().stores)
        let poller = VisionairePoller(configuration: .init(apiBaseURLs: fleet.urls, requestTimeout: .seconds(1)), exporter: exporter, hub: hub)
        await poller.poll()
        let hosts = VisionaireConfiguration.sourceHosts(for: fleet.urls)
        let text = lines(exporter)
        func up(_ id: String, _ name: String, _ node: Int, _ state: String, _ host: Int, _ value: String) -> String {
            "camera_stream_status_up{stream_id=\"\(id)\",stream_name=\"\(name)\",node_num=\"\(node)\",state_text=\"\(state)\",source_host=\"\(hosts[host])\"} \(value)"
        }
        let expectedStatus = [
            up("c73a1992f67961d1", "Gate", 0, "RUNNING", 0, "1.0"),
            up("0badc0de00000001", "Gate", 1, "STOPPED", 0, "0.0"),
            up("0badc0de00000002", "Lobby", 0, "RUNNING", 0, "1.0"),
            up("0badc0de00000003", "Lobby", 0, "API_ERROR", 0, "0.0"),
            up("0badc0de00000004", "Lobby", 0, "API_ERROR", 0, "0.0"),
            up("1000000000000001", "Lobby", 2, "RUNNING", 1, "0.0"),
            up("1000000000000002", "Parking", 2, "RUNNING", 1, "1.0"),
        ]
        #expect(text.filter { $0.hasPrefix("camera_stream_status_up{") } == expectedStatus)
        #expect(
            text.filter { $0.hasPrefix("camera_stream_total{") } == [
                "camera_stream_total{stream_name=\"Gate\"} 2.0",
                "camera_stream_total{stream_name=\"Lobby\"} 4.0",
                "camera_stream_total{stream_name=\"Parking\"} 1.0",
            ]
        )
        #expect(
            text.filter { $0.hasPrefix("camera_stream_status_total{") } == [
                "camera_stream_status_total{stream_name=\"Gate\",state_text=\"RUNNING\"} 1.0",
                "camera_stream_status_total{stream_name=\"Gate\",state_text=\"STOPPED\"} 1.0",
                "camera_stream_status_total{stream_name=\"Lobby\",state_text=\"RUNNING\"} 2.0",
                "camera_stream_status_total{stream_name=\"Lobby\",state_text=\"API_ERROR\"} 2.0",
                "camera_stream_status_total{stream_name=\"Parking\",state_text=\"RUNNING\"} 1.0",
            ]
        )
        #expect(
            text.filter { $0.hasPrefix("stream_api_errors_total{") } == [
                "stream_api_errors_total{source_host=\"\(hosts[0])\"} 2.0",
                "stream_api_errors_total{source_host=\"\(hosts[1])\"} 0.0",
                "stream_api_errors_total{source_host=\"\(hosts[2])\"} 1.0",
                "stream_api_errors_total{source_host=\"\(hosts[3])\"} 1.0",
            ]
        )
        let responseTimes = text.filter { $0.hasPrefix("stream_api_response_time_seconds{") }
        #expect(responseTimes.count == 4)
        #expect(responseTimes[2] == "stream_api_response_time_seconds{source_host=\"\(hosts[2])\"} 0.0")
        #expect(responseTimes[3] == "stream_api_response_time_seconds{source_host=\"\(hosts[3])\"} 0.0")
        #expect(!responseTimes[0].hasSuffix(" 0.0"))

        // The error counter keeps counting across cycles.
        await poller.poll()
        #expect(lines(exporter).contains("stream_api_errors_total{source_host=\"\(hosts[0])\"} 4.0"))
        #expect(lines(exporter).contains("stream_api_errors_total{source_host=\"\(hosts[3])\"} 2.0"))

        // Hub state for the API.
        let states = await hub.states(kind: .stream)
        let gate = try #require(states.first { $0.target == VisionairePoller.target(sourceHost: hosts[0], streamID: "c73a1992f67961d1") })
        #expect(gate.status == .up)
        #expect(gate.attributes["source"] == .string("visionaire"))
        #expect(gate.attributes["stream_name"] == .string("Gate"))
        #expect(gate.attributes["fps"] == .number(15))
        #expect(gate.values["up"] == 1)
        let failed = try #require(states.first { $0.target == VisionairePoller.target(sourceHost: hosts[0], streamID: "0badc0de00000003") })
        #expect(failed.status == .error)
        #expect(failed.attributes["state_text"] == .string("API_ERROR"))
        #expect(states.count == 7)
        await fleet.stop()
    }

    @Test("Streams that vanish disappear from the metrics and the hub; a failing host's cameras go stale")
    func vanishing() async throws {
        let fleet = try await VisionaireFleet.start()
        let exporter = MetricsSnapshotExporter()
        let hub = Hub(stores: MemoryStore().stores)
        let urls = Array(fleet.urls.prefix(2))
        let poller = VisionairePoller(configuration: .init(apiBaseURLs: urls), exporter: exporter, hub: hub)
        await poller.poll()
        #expect(lines(exporter).contains { $0.contains("1000000000000002") })
        fleet.simulators[1].update { $0.cameras.removeLast() }
        fleet.simulators[0].update { $0.listStatus = 500 }
        await poller.poll()
        let text = lines(exporter)
        #expect(!text.contains { $0.contains("1000000000000002") })
        #expect(!text.contains { $0.contains("c73a1992f67961d1") })
        #expect(!text.contains("camera_stream_total{stream_name=\"Parking\"} 1.0"))
        let hosts = VisionaireConfiguration.sourceHosts(for: urls)
        #expect(await hub.state(of: VisionairePoller.target(sourceHost: hosts[1], streamID: "1000000000000002")) == nil)
        let stale = try #require(await hub.state(of: VisionairePoller.target(sourceHost: hosts[0], streamID: "c73a1992f67961d1")))
        #expect(stale.status == .stale)
        #expect(stale.attributes["error"]?.string?.contains("500") == true)
        await fleet.stop()
    }

    @Test("A scrape during a cycle sees the previous snapshot, and the new one after it")
    func scrapeDuringCycle() async throws {
        let fleet = try await VisionaireFleet.start()
        let exporter = MetricsSnapshotExporter()
        let urls = Array(fleet.urls.prefix(2))
        let poller = VisionairePoller(configuration: .init(apiBaseURLs: urls), exporter: exporter, hub: nil)
        await poller.poll()
        let before = exporter.exposition
        fleet.simulators[0].update { $0.cameras[1].state = "RUNNING" }
        fleet.simulators[1].update { $0.cameras[0].active = true }
        fleet.simulators[0].hold()
        async let cycle: [VisionaireHostReport] = poller.poll()
        // Wait until details of the new cycle are being answered (held at the gate).
        while fleet.simulators[0].heldCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(exporter.exposition == before)
        fleet.simulators[0].release()
        _ = await cycle
        let after = exporter.exposition
        #expect(after != before)
        let text = lines(exporter)
        #expect(text.contains { $0.contains("0badc0de00000001") && $0.contains("RUNNING") && $0.hasSuffix(" 1.0") })
        #expect(text.contains { $0.contains("1000000000000001") && $0.hasSuffix(" 1.0") })
        await fleet.stop()
    }
}
