//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

// The streams benchmark's Swift side (run through bench/streams/run.sh):
//
//   vigil-streams-bench simulate --hosts 50 --streams 20 --latency-ms 5
//       starts a simulated Visionaire fleet on 127.0.0.1 and prints `URLS <json array>`; runs
//       until its standard input closes.
//   vigil-streams-bench poll --urls URL,URL,... --cycles 10 [--concurrency 32] [--per-host 8]
//       runs Vigil's Visionaire poller (with a hub on the in-memory store) for one warm-up cycle
//       and N measured cycles; prints one JSON line with wall and CPU seconds per cycle.
//   vigil-streams-bench demo [--seconds 600]
//       a small living fleet for the README screenshot (scripts/dashboard-screenshot.sh): one
//       MediaMTX instance whose SRT paths carry traffic that varies, and two Visionaire sites with
//       one camera down; prints `MEDIAMTX <url>` and `VISIONAIRE <json array>`, then runs for N s.

import StreamSimulators
import VigilCore
import VigilMonitors

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func option(_ name: String, _ arguments: [String]) -> String? {
    guard let index = arguments.firstIndex(of: "--" + name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

func cpuSeconds() -> Double {
    var usage = rusage()
    #if os(Linux)
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    #else
    getrusage(RUSAGE_SELF, &usage)
    #endif
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

func simulate(_ arguments: [String]) async throws {
    let hosts = Int(option("hosts", arguments) ?? "50") ?? 50
    let streams = Int(option("streams", arguments) ?? "20") ?? 20
    let latency = Int(option("latency-ms", arguments) ?? "5") ?? 5
    var servers: [SimulatorServer] = []
    for host in 0..<hosts {
        let simulator = VisionaireSimulator(cameras: VisionaireSimulator.cameras(count: streams, host: host))
        simulator.update { $0.latency = .milliseconds(latency) }
        servers.append(try await SimulatorServer.start { await simulator.handle($0) })
    }
    print("URLS [" + servers.map { "\"\($0.baseURL)\"" }.joined(separator: ",") + "]")
    fflush(nil)
    // Serve until the runner closes our standard input.
    var byte: UInt8 = 0
    while read(0, &byte, 1) > 0 {}
    for server in servers { await server.stop() }
}

func poll(_ arguments: [String]) async throws {
    let urls = (option("urls", arguments) ?? "").split(separator: ",").map(String.init)
    let cycles = Int(option("cycles", arguments) ?? "10") ?? 10
    var configuration = VisionaireConfiguration(apiBaseURLs: urls)
    if let concurrency = option("concurrency", arguments).flatMap(Int.init) { configuration.maxConcurrentRequests = concurrency }
    if let perHost = option("per-host", arguments).flatMap(Int.init) { configuration.maxRequestsPerHost = perHost }
    let hub = Hub(stores: MemoryStore().stores)
    let poller = VisionairePoller(configuration: configuration, exporter: MetricsSnapshotExporter(), hub: hub)
    _ = await poller.poll()
    let clock = ContinuousClock()
    var walls: [Double] = []
    var cpus: [Double] = []
    var errors = 0
    var cameras = 0
    for _ in 0..<cycles {
        let cpuStart = cpuSeconds()
        let start = clock.now
        let reports = await poller.poll()
        let elapsed = start.duration(to: clock.now).components
        walls.append(Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
        cpus.append(cpuSeconds() - cpuStart)
        errors += reports.reduce(0) { $0 + $1.errors }
        cameras = reports.reduce(0) { $0 + $1.cameras.count }
    }
    let sortedWalls = walls.sorted()
    print(
        "{\"impl\":\"vigil\",\"cycles\":\(cycles),\"hosts\":\(urls.count),\"concurrency\":\(configuration.maxConcurrentRequests),\"cameras\":\(cameras),\"errors\":\(errors),"
            + "\"wall_mean\":\(walls.reduce(0, +) / Double(cycles)),\"wall_median\":\(sortedWalls[cycles / 2]),"
            + "\"cpu_mean\":\(cpus.reduce(0, +) / Double(cycles))}"
    )
}

func demo(_ arguments: [String]) async throws {
    let seconds = max(1, min(3600, Int(option("seconds", arguments) ?? "600") ?? 600))
    let live = ["studio-a", "studio-b", "field-1"]
    let mediamtx = MediaMTXSimulator(
        paths: live.enumerated().map { index, name in
            MediaMTXSimulator.Path(name: name, readers: Array(repeating: "webRTCSession", count: index + 1))
        } + [MediaMTXSimulator.Path(name: "archive", sourceType: nil, online: false)]
    )
    let mediamtxServer = try await SimulatorServer.start { await mediamtx.handle($0) }
    var sites: [SimulatorServer] = []
    for host in 0..<2 {
        var cameras = VisionaireSimulator.cameras(count: 5, host: host)
        for index in cameras.indices { cameras[index].name = ["gate", "lobby", "dock", "yard", "roof"][index] }
        if host == 1 { cameras[3].state = "STOPPED" }
        let simulator = VisionaireSimulator(cameras: cameras)
        sites.append(try await SimulatorServer.start { await simulator.handle($0) })
    }
    print("MEDIAMTX \(mediamtxServer.baseURL)")
    print("VISIONAIRE [" + sites.map { "\"\($0.baseURL)\"" }.joined(separator: ",") + "]")
    fflush(nil)
    // Traffic and round-trip times that wander, so the charts have something to show.
    var generator = SystemRandomNumberGenerator()
    for tick in 0..<seconds {
        let phase = Double(tick) / 20
        mediamtx.update { state in
            for (index, name) in live.enumerated() {
                guard let path = state.paths.firstIndex(where: { $0.name == name }) else { continue }
                let megabits = [4.0, 2.5, 6.0][index] * (1 + 0.25 * sin(phase + Double(index))) + Double.random(in: -0.2...0.2, using: &generator)
                let bytes = UInt64(max(0, megabits) * 125_000)
                state.paths[path].inboundBytes += bytes
                state.paths[path].outboundBytes += bytes * UInt64(state.paths[path].readers.count)
            }
            state.srtConnections = live.enumerated().map { index, name in
                MediaMTXSimulator.SRTConnection(
                    id: "srt-\(index)",
                    path: name,
                    msRTT: [12.0, 35.0, 80.0][index] * (1 + 0.3 * sin(phase * 1.7 + Double(index))),
                    mbpsReceiveRate: [4.0, 2.5, 6.0][index]
                )
            }
        }
        try await Task.sleep(for: .seconds(1))
    }
    await mediamtxServer.stop()
    for server in sites { await server.stop() }
}

let arguments = CommandLine.arguments
switch arguments.dropFirst().first {
case "simulate": try await simulate(arguments)
case "poll": try await poll(arguments)
case "demo": try await demo(arguments)
default:
    print("usage: vigil-streams-bench simulate|poll|demo [options]")
    exit(2)
}
