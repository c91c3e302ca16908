//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import StreamSimulators
import Synchronization
import Testing
import VigilCore

@testable import VigilMonitors

@Suite("MediaMTX decoding and rates")
struct StreamsMediaMTXDecodingTests {
    /// A path as MediaMTX 1.5 (≤ 1.15 field set) reports it.
    static let legacyPath = """
        {"name":"live/cam1","confName":"all_others","source":{"type":"rtspSession","id":"6a9c1b7e-0d2b-4e0f-9c8e-2f1f3c7e1a10"},
         "ready":true,"readyTime":"2024-03-01T08:15:02.123456789Z","tracks":["H264","MPEG-4 Audio"],
         "bytesReceived":123456789,"bytesSent":987654,"readers":[{"type":"hlsMuxer","id":""},{"type":"webRTCSession","id":"r1"}]}
        """
    /// A path as a later version reports it (new and deprecated fields).
    static let currentPath = """
        {"name":"srt/studio","confName":"srt/studio","source":{"type":"srtConn","id":"4f1c"},"ready":true,
         "readyTime":"2025-05-01T10:00:00Z","tracks":["H265"],"bytesReceived":5000,"bytesSent":7000,
         "available":true,"availableTime":"2025-05-01T10:00:00Z","online":true,"onlineTime":"2025-05-01T10:00:00Z",
         "tracks2":[{"codec":"H265","codecProps":{"width":1920,"height":1080,"profile":"Main"}},{"codec":"Opus","codecProps":{"channelCount":2}}],
         "inboundBytes":5000,"outboundBytes":7000,"inboundFramesInError":3,"readers":[]}
        """

    @Test("MediaMTX <= 1.15 paths decode from ready/bytesReceived/tracks")
    func legacy() throws {
        let path = try JSONDecoder().decode(MediaMTXPath.self, from: Data(Self.legacyPath.utf8))
        #expect(path.generation == .legacy)
        #expect(path.online)
        #expect(path.onlineTime == "2024-03-01T08:15:02.123456789Z")
        #expect(path.sourceType == "rtspSession")
        #expect(path.readerCount == 2)
        #expect(path.readerTypes == ["hlsMuxer", "webRTCSession"])
        #expect(path.tracks == ["H264", "MPEG-4 Audio"])
        #expect(path.inboundBytes == 123_456_789)
        #expect(path.outboundBytes == 987_654)
        #expect(path.inboundFramesInError == nil)
    }

    @Test("Later paths decode from online/inboundBytes/tracks2")
    func current() throws {
        let path = try JSONDecoder().decode(MediaMTXPath.self, from: Data(Self.currentPath.utf8))
        #expect(path.generation == .current)
        #expect(path.online)
        #expect(path.available == true)
        #expect(path.tracks == ["H265", "Opus"])
        #expect(path.inboundFramesInError == 3)
        let newOnly = try JSONDecoder().decode(
            MediaMTXPath.self,
            from: Data(
                #"{"name":"a","source":null,"online":false,"onlineTime":null,"inboundBytes":9,"outboundBytes":1,"tracks2":[],"readers":[]}"#.utf8
            )
        )
        #expect(newOnly.generation == .current)
        #expect(!newOnly.online)
        #expect(newOnly.sourceType == nil)
        #expect(newOnly.inboundBytes == 9)
        #expect(newOnly.outboundBytes == 1)
    }

    @Test("A page and an SRT connection decode; mbpsMaxBW -1 is ignored")
    func srtPage() throws {
        let text =
            "{\"pageCount\":1,\"itemCount\":1,\"items\":[" + MediaMTXSimulator.srtJSON(.init(id: "c1", path: "srt/studio", msRTT: 31.25)) + "]}"
        let page = try JSONDecoder().decode(MediaMTXPage<MediaMTXSRTConnection>.self, from: Data(text.utf8))
        #expect(page.pageCount == 1)
        let connection = try #require(page.items.first)
        #expect(connection.state == "publish")
        #expect(connection.rttMilliseconds == 31.25)
        #expect(connection.linkCapacityMbps == 95.3)
        #expect(connection.receiveLossRate == 0)
    }

    @Test("Rates use real elapsed time and survive counter resets and epoch changes")
    func counterRate() throws {
        var rate = CounterRate()
        let initial = rate.update(value: 1000, time: 0)
        #expect(initial == nil)
        let firstRates = rate.update(value: 3000, time: 2)
        let first = try #require(firstRates)
        #expect(first.instant == 1000)
        // The counter went down: the source restarted, so everything it counted is new.
        let resetRates = rate.update(value: 500, time: 4)
        let reset = try #require(resetRates)
        #expect(reset.instant == 250)
        #expect(reset.instant >= 0)
        // Same value range but a new epoch: also a restart.
        _ = rate.update(value: 1000, time: 6, epoch: "a")
        let restartedRates = rate.update(value: 2000, time: 8, epoch: "b")
        let restarted = try #require(restartedRates)
        #expect(restarted.instant == 1000)
        // A reading that does not move time forward yields nothing.
        let sameTime = rate.update(value: 2500, time: 8, epoch: "b")
        #expect(sameTime == nil)
    }

    @Test("Window averages cover the last 10 and 60 seconds")
    func windows() throws {
        var rate = CounterRate()
        _ = rate.update(value: 0, time: 0)
        var last: CounterRate.Rates?
        var value = 0.0
        for second in stride(from: 2.0, through: 100, by: 2) {
            value += second <= 80 ? 200 : 400
            last = rate.update(value: value, time: second)
        }
        let rates = try #require(last)
        #expect(rates.instant == 200)
        #expect(rates.average10s == 200)
        // 60 s window from t=40: 40 s at 100/s, then 20 s at 200/s.
        #expect(abs(rates.average60s - (40 * 100 + 20 * 200) / 60) < 1e-9)
    }

    @Test("Percentiles use the nearest rank")
    func percentiles() throws {
        let result = try #require(MediaMTXPoller.percentiles([5, 1, 4, 2, 3, 100, 6, 7, 8, 9]))
        #expect(result.p50 == 5)
        #expect(result.p95 == 100)
        #expect(MediaMTXPoller.percentiles([]) == nil)
    }
}

@Suite("MediaMTX poller against a simulated server")
struct StreamsMediaMTXPollerTests {
    static func paths(_ count: Int, bytes: UInt64 = 0) -> [MediaMTXSimulator.Path] {
        (0..<count).map { .init(name: "live/cam\($0)", readers: ["webRTCSession"], inboundBytes: bytes, outboundBytes: bytes / 2) }
    }

    func text(_ exporter: MetricsSnapshotExporter) -> [String] {
        String(decoding: exporter.exposition, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test("Paging reads every page of both lists", arguments: [MediaMTXSimulator.Generation.legacy, .current, .newOnly])
    func paging(generation: MediaMTXSimulator.Generation) async throws {
        let simulator = MediaMTXSimulator(generation: generation, paths: Self.paths(7))
        simulator.update { state in
            state.srtConnections = (0..<5).map { .init(id: "s\($0)", state: $0 == 0 ? "publish" : "read", path: "live/cam0", msRTT: Double(10 + $0)) }
        }
        let server = try await SimulatorServer.start { await simulator.handle($0) }
        let exporter = MetricsSnapshotExporter()
        let poller = MediaMTXPoller(
            configuration: .init(instances: [.init(name: "edge", url: server.baseURL)], itemsPerPage: 3),
            exporter: exporter,
            hub: nil
        )
        let report = await poller.poll(instance: "edge")
        #expect(report.error == nil)
        #expect(report.paths.map(\.path.name) == (0..<7).map { "live/cam\($0)" })
        #expect(report.srtConnections.count == 5)
        #expect(report.paths.allSatisfy { $0.path.generation == (generation == .legacy ? .legacy : .current) })
        let cam0 = try #require(report.paths.first)
        #expect(cam0.srtPublisher?.id == "s0")
        #expect(cam0.srtReaders == 4)
        #expect(cam0.path.readerCount == 1)
        let requests = simulator.current.pageRequests
        #expect(requests.filter { $0.hasPrefix("paths:") } == ["paths:0", "paths:1", "paths:2"])
        #expect(requests.filter { $0.hasPrefix("srtconns:") } == ["srtconns:0", "srtconns:1"])
        #expect(text(exporter).contains("vigil_mediamtx_srt_connections{instance=\"edge\",state=\"read\"} 4.0"))
        await server.stop()
    }

    @Test("Data rates come from counter deltas over elapsed time, also across a counter reset")
    func bitrateAcrossReset() async throws {
        let simulator = MediaMTXSimulator(generation: .current, paths: [.init(name: "cam", inboundBytes: 1_000_000, outboundBytes: 0)])
        let server = try await SimulatorServer.start { await simulator.handle($0) }
        let clock = ManualClock()
        let exporter = MetricsSnapshotExporter()
        let hub = Hub(stores: MemoryStore().stores)
        let poller = MediaMTXPoller(
            configuration: .init(instances: [.init(name: "edge", url: server.baseURL)]),
            exporter: exporter,
            hub: hub,
            clock: clock
        )
        let first = await poller.poll(instance: "edge")
        #expect(first.paths.first?.inbound == nil)
        clock.advance(by: .seconds(2))
        simulator.update {
            $0.paths[0].inboundBytes = 1_500_000
            $0.paths[0].outboundBytes = 250_000
        }
        let second = await poller.poll(instance: "edge")
        #expect(second.paths.first?.inbound?.instant == 250_000)  // 500 kB in 2 s
        #expect(second.paths.first?.outbound?.instant == 125_000)
        #expect(text(exporter).contains("vigil_mediamtx_path_inbound_bytes_per_second{instance=\"edge\",path=\"cam\"} 250000.0"))
        // The publisher reconnects: the counter starts again from zero.
        clock.advance(by: .seconds(4))
        simulator.update {
            $0.paths[0].inboundBytes = 100_000
            $0.paths[0].onlineTime = "2025-01-01T11:00:00Z"
        }
        let third = await poller.poll(instance: "edge")
        #expect(third.paths.first?.inbound?.instant == 25_000)
        clock.advance(by: .seconds(2))
        simulator.update { $0.paths[0].inboundBytes = 600_000 }
        let fourth = await poller.poll(instance: "edge")
        #expect(fourth.paths.first?.inbound?.instant == 250_000)
        let state = try #require(await hub.state(of: MediaMTXPoller.target(instance: "edge", path: "cam")))
        #expect(state.values["inbound_bytes_per_second"] == 250_000)
        #expect(state.attributes["source"] == .string("mediamtx"))
        let history = try await hub.history(
            series: "stream/mediamtx/edge/cam/inbound_bytes_per_second",
            from: 0,
            to: .greatestFiniteMagnitude,
            step: 0
        )
        #expect(history.map(\.value) == [250_000, 25_000, 250_000])
        await server.stop()
    }

    @Test("An unreachable instance is down with its error; its paths stay visible as stale, and come back")
    func downAndBack() async throws {
        let simulator = MediaMTXSimulator(generation: .current, paths: Self.paths(2, bytes: 10_000))
        simulator.update { $0.srtConnections = [.init(id: "p", path: "live/cam0", msRTT: 20)] }
        var server = try await SimulatorServer.start { await simulator.handle($0) }
        let port = server.port
        let clock = ManualClock()
        let exporter = MetricsSnapshotExporter()
        let hub = Hub(stores: MemoryStore().stores)
        let poller = MediaMTXPoller(
            configuration: .init(instances: [.init(name: "edge", url: server.baseURL)], requestTimeout: .seconds(2)),
            exporter: exporter,
            hub: hub,
            clock: clock
        )
        await poller.poll(instance: "edge")
        let cam = MediaMTXPoller.target(instance: "edge", path: "live/cam0")
        #expect(await hub.state(of: cam)?.status == .up)
        #expect(await hub.state(of: cam)?.values["srt_rtt_seconds"] == 0.02)

        await server.stop()
        clock.advance(by: .seconds(2))
        let down = await poller.poll(instance: "edge")
        #expect(down.error != nil)
        let instance = try #require(await hub.state(of: MediaMTXPoller.target(instance: "edge")))
        #expect(instance.status == .down)
        #expect(instance.attributes["error"]?.string != nil)
        let stale = try #require(await hub.state(of: cam))
        #expect(stale.status == .stale)
        #expect(stale.attributes["path"] == .string("live/cam0"))
        #expect(stale.values["readers"] == 1)
        let lines = text(exporter)
        #expect(lines.contains("vigil_mediamtx_up{instance=\"edge\"} 0.0"))
        #expect(lines.contains("vigil_mediamtx_errors_total{instance=\"edge\"} 1.0"))
        #expect(!lines.contains { $0.hasPrefix("vigil_mediamtx_path_") })
        let events = try await hub.events(limit: 10)
        #expect(events.contains { $0.target == MediaMTXPoller.target(instance: "edge") && $0.fields["to"] == "down" })

        // MediaMTX restarts: counters from zero, a new start time.
        simulator.update { state in
            state.started = "2025-01-01T12:00:00Z"
            for index in state.paths.indices { state.paths[index].inboundBytes = 4_000 }
        }
        server = try await SimulatorServer.start(port: port) { await simulator.handle($0) }
        clock.advance(by: .seconds(2))
        let back = await poller.poll(instance: "edge")
        #expect(back.error == nil)
        #expect(back.paths.first?.inbound == nil)
        #expect(await hub.state(of: MediaMTXPoller.target(instance: "edge"))?.status == .up)
        #expect(await hub.state(of: cam)?.status == .up)
        #expect(await hub.state(of: cam)?.attributes["error"] == nil)
        clock.advance(by: .seconds(2))
        simulator.update { $0.paths[0].inboundBytes = 8_000 }
        let next = await poller.poll(instance: "edge")
        #expect(next.paths.first?.inbound?.instant == 2_000)
        #expect(text(exporter).contains("vigil_mediamtx_up{instance=\"edge\"} 1.0"))
        await server.stop()
    }

    @Test("Vanished paths disappear; basic authentication is sent; SRT off is not an error")
    func vanishAndAuth() async throws {
        let simulator = MediaMTXSimulator(generation: .legacy, paths: Self.paths(3))
        simulator.update {
            $0.credentials = ("vigil", "s3cret")
            $0.srtEnabled = false
        }
        let server = try await SimulatorServer.start { await simulator.handle($0) }
        let exporter = MetricsSnapshotExporter()
        let hub = Hub(stores: MemoryStore().stores)
        let poller = MediaMTXPoller(
            configuration: .init(instances: [.init(name: "a", url: server.baseURL, user: "vigil", password: "s3cret")]),
            exporter: exporter,
            hub: hub
        )
        let report = await poller.poll(instance: "a")
        #expect(report.error == nil)
        #expect(report.paths.count == 3)
        simulator.update { $0.paths.removeFirst() }
        await poller.poll(instance: "a")
        #expect(await hub.state(of: MediaMTXPoller.target(instance: "a", path: "live/cam0")) == nil)
        #expect(!text(exporter).contains { $0.contains("live/cam0") })
        #expect(text(exporter).contains { $0.contains("live/cam1") })

        let wrong = MediaMTXPoller(
            configuration: .init(instances: [.init(name: "b", url: server.baseURL, user: "vigil", password: "nope")]),
            exporter: exporter,
            hub: nil
        )
        let rejected = await wrong.poll(instance: "b")
        #expect(rejected.error?.contains("401") == true)
        #expect(rejected.error?.contains("authentication error") == true)
        await server.stop()
    }
}
