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
import ServiceLifecycle
import StreamSimulators
import Testing
import VigilApp
import VigilCore
import VigilMonitors

/// The stream exporters' text checked by Debian's `promtool`, and the seed-004 listener.
@Suite("Streams exporter", .enabled(if: IntegrationEnvironment.enabled))
struct StreamsExporterTests {
    /// Polls a Visionaire fleet with faults and a MediaMTX instance with SRT connections, and
    /// returns both exporters' text.
    static func exposition() async throws -> (visionaire: [UInt8], mediamtx: [UInt8]) {
        let cameras = VisionaireSimulator(cameras: [
            .init(id: "c73a1992f67961d1", name: "Gerbang \"Utama\" \\ 1", node: 0),
            .init(id: "0badc0de00000001", name: "Lobby", node: 1, state: "STOPPED"),
            .init(id: "0badc0de00000002", name: "Lobby", node: 0, state: nil, pipelineState: "RUNNING"),
            .init(id: "0badc0de00000003", name: "Lobby", node: 0, detailStatus: 500),
        ])
        let broken = VisionaireSimulator(cameras: [.init(id: "1", name: "Parking")])
        broken.update { $0.listStatus = 500 }
        let mediamtx = MediaMTXSimulator(
            generation: .current,
            paths: [
                .init(name: "live/cam1", readers: ["webRTCSession", "hlsMuxer"], inboundBytes: 1_000, outboundBytes: 2_000),
                .init(name: "srt/studio", inboundBytes: 5_000),
                .init(name: "idle", sourceType: nil, online: false),
            ]
        )
        mediamtx.update { $0.srtConnections = [.init(id: "a", path: "srt/studio"), .init(id: "b", state: "read", path: "srt/studio")] }
        let servers = [
            try await SimulatorServer.start { await cameras.handle($0) },
            try await SimulatorServer.start { await broken.handle($0) },
            try await SimulatorServer.start { await mediamtx.handle($0) },
        ]
        let visionaireExporter = MetricsSnapshotExporter()
        let visionaire = VisionairePoller(
            configuration: .init(apiBaseURLs: [servers[0].baseURL, servers[1].baseURL]),
            exporter: visionaireExporter,
            hub: nil
        )
        await visionaire.poll()
        let mediamtxExporter = MetricsSnapshotExporter()
        let poller = MediaMTXPoller(
            configuration: .init(instances: [.init(name: "edge", url: servers[2].baseURL)]),
            exporter: mediamtxExporter,
            hub: nil
        )
        await poller.poll(instance: "edge")
        mediamtx.update { $0.paths[0].inboundBytes = 9_000 }
        await poller.poll(instance: "edge")
        for server in servers { await server.stop() }
        return (visionaireExporter.exposition, mediamtxExporter.exposition)
    }

    static func promtool() throws -> String {
        let path = IntegrationEnvironment.environment["PROMTOOL"] ?? "/usr/bin/promtool"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw IntegrationEnvironment.MissingService(
                variable: "PROMTOOL",
                detail: "'\(path)' is not executable; install Debian's prometheus package"
            )
        }
        return path
    }

    /// Runs `promtool check metrics` on a text and returns its exit status and output.
    static func check(_ text: [UInt8]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try promtool())
        process.arguments = ["check", "metrics"]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        input.fileHandleForWriting.write(Data(text))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("promtool check metrics accepts the Visionaire and MediaMTX exposition")
    func promtoolAccepts() async throws {
        let (visionaire, mediamtx) = try await Self.exposition()
        let text = String(decoding: visionaire, as: UTF8.self)
        #expect(text.contains("camera_stream_status_up{"))
        #expect(text.contains("stream_api_errors_total{"))
        #expect(String(decoding: mediamtx, as: UTF8.self).contains("vigil_mediamtx_srt_rtt_seconds{"))
        let result = try Self.check(visionaire + mediamtx)
        #expect(result.status == 0, "promtool: \(result.output)")
        #expect(result.output.isEmpty, "promtool: \(result.output)")
    }

    @Test("promtool rejects a gauge named *_total, which is why the seed's *_total gauges are untyped")
    func promtoolCanFail() throws {
        let text = "# HELP camera_stream_total x\n# TYPE camera_stream_total gauge\ncamera_stream_total{stream_name=\"a\"} 1.0\n"
        let result = try Self.check(Array(text.utf8))
        #expect(result.status != 0)
    }

    /// Runs the exporter listener (one Lobby camera) on a free loopback port while `body` runs.
    static func withExporter(token: String? = nil, _ body: @Sendable (Int) async throws -> Void) async throws {
        let exporter = MetricsSnapshotExporter()
        exporter.publish([MetricFamily(name: "camera_stream_total", help: "h", kind: .untyped, samples: [.init([.init("stream_name", "Lobby")], 2)])])
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = buildMetricsListener(
            exporter: exporter,
            host: "127.0.0.1",
            port: 0,
            token: token,
            onServerRunning: { portContinuation.yield($0) },
            logger: Logger(label: "test")
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = portStream.makeAsyncIterator()
            let port = try #require(await iterator.next())
            try await body(port)
            group.cancelAll()
        }
    }

    @Test("The exporter_port listener serves /metrics and answers 404 elsewhere")
    func exporterListener() async throws {
        try await Self.withExporter { port in
            let metrics = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics"), timeout: .seconds(5))
            #expect(metrics.status == .ok)
            #expect(metrics.headers.first(name: "content-type") == "text/plain; version=0.0.4; charset=utf-8")
            let body = String(buffer: try await metrics.body.collect(upTo: 1 << 20))
            #expect(body.contains("camera_stream_total{stream_name=\"Lobby\"} 2.0"))
            for path in ["/", "/api/v1/streams", "/metrics/x"] {
                let other = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(5))
                #expect(other.status == .notFound, "\(path)")
            }
        }
    }

    @Test("With a token the exporter's /metrics needs it in the header: 401 without, 200 with")
    func exporterToken() async throws {
        try await Self.withExporter(token: "s3cret") { port in
            func status(_ authorization: String?, query: String = "") async throws -> (Int, String) {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics\(query)")
                if let authorization { request.headers.add(name: "Authorization", value: authorization) }
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
                return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
            }
            let refused = try await status(nil)
            #expect(refused.0 == 401)
            #expect(!refused.1.contains("Lobby"))
            #expect(try await status("Bearer wrong").0 == 401)
            #expect(try await status(nil, query: "?token=s3cret").0 == 401, "a token in the URL ends up in scrape logs; only the header counts")
            let admitted = try await status("Bearer s3cret")
            #expect(admitted.0 == 200)
            #expect(admitted.1.contains("camera_stream_total{stream_name=\"Lobby\"} 2.0"))
        }
    }
}
