//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Prometheus
import StreamSimulators
import Testing
import VigilApp
import VigilCore

/// The whole application with `[visionaire]` and `[mediamtx]` against simulated servers: both
/// sources in `GET /api/v1/streams`, the camera metrics on the main `/metrics` and on
/// `exporter_port`.
@Suite("Streams in the application", .enabled(if: IntegrationEnvironment.enabled))
struct StreamsApplicationTests {
    func get(_ url: String) async throws -> (status: HTTPResponseStatus, body: String) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(5))
        return (response.status, String(buffer: try await response.body.collect(upTo: 8 << 20)))
    }

    @Test("Both sources reach the API, /metrics and the exporter port")
    func application() async throws {
        let cameras = VisionaireSimulator(cameras: [
            .init(id: "c73a1992f67961d1", name: "Gate", node: 0),
            .init(id: "0badc0de00000001", name: "Lobby", node: 1, state: "STOPPED"),
        ])
        let mediamtx = MediaMTXSimulator(generation: .legacy, paths: [.init(name: "live/cam1", readers: ["hlsMuxer"], inboundBytes: 1000)])
        let visionaireServer = try await SimulatorServer.start { await cameras.handle($0) }
        let mediamtxServer = try await SimulatorServer.start { await mediamtx.handle($0) }
        let exporterPort = try freeLoopbackPort()
        let configuration = try VigilConfiguration.parse(
            """
            [http]
            listen = "127.0.0.1:0"
            [store]
            backend = "memory"
            [host]
            enabled = false
            [visionaire]
            api_base_urls = ["\(visionaireServer.baseURL)"]
            update_interval = "500ms"
            exporter_port = \(exporterPort)
            exporter_host = "127.0.0.1"
            [mediamtx]
            interval = "500ms"
            [[mediamtx.instances]]
            name = "edge"
            url = "\(mediamtxServer.baseURL)"
            """,
            file: "test.toml"
        )
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = try VigilApplication(configuration: configuration, registry: PrometheusCollectorRegistry(), logger: logger) {
            portContinuation.yield($0)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let base = "http://127.0.0.1:\(port)"
            var streams = ""
            for _ in 0..<100 {
                streams = try await get(base + "/api/v1/streams").body
                if streams.contains("visionaire/") && streams.contains("mediamtx/edge/live/cam1") { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(streams.contains("\"source\":\"visionaire\""))
            #expect(streams.contains("\"source\":\"mediamtx\""))
            #expect(streams.contains("mediamtx/edge/live/cam1"))
            let metrics = try await get(base + "/metrics")
            #expect(
                metrics.body.contains(
                    "camera_stream_status_up{stream_id=\"c73a1992f67961d1\",stream_name=\"Gate\",node_num=\"0\",state_text=\"RUNNING\""
                )
            )
            #expect(metrics.body.contains("vigil_mediamtx_up{instance=\"edge\"} 1.0"))
            let exporter = try await get("http://127.0.0.1:\(exporterPort)/metrics")
            #expect(exporter.status == .ok)
            #expect(exporter.body.contains("camera_stream_total{stream_name=\"Lobby\"} 1.0"))
            #expect(!exporter.body.contains("vigil_"))
            #expect(try await get("http://127.0.0.1:\(exporterPort)/").status == .notFound)
            group.cancelAll()
        }
        await visionaireServer.stop()
        await mediamtxServer.stop()
    }
}
