//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

// The live-feed benchmark (bench/live/run.sh drives it).
//
//   vigil-live-bench server --port P --rate 100 --targets 100
//       Vigil's hub (in-memory store) and Vigil's web application (buildWebApplication: REST,
//       WebSocket live feed, dashboard), exactly as `vigil serve` builds them, plus a generator
//       that changes the status of one target RATE times per second. Each change carries its
//       wall-clock time in the attribute `bench_t`.
//   vigil-live-bench clients --url ws://127.0.0.1:P/api/v1/live --clients 1000 --warmup 5 --duration 30
//       Opens CLIENTS WebSocket connections, waits until all are connected and WARMUP seconds
//       have passed, prints "MEASURE_START", then for DURATION seconds records for every state
//       message the delay from `bench_t` to its arrival, and prints percentiles.

import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import VigilCore
import VigilWeb

@main
struct LiveBench {
    static func main() async throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        guard let mode = arguments.first else { usage() }
        arguments.removeFirst()
        var options: [String: String] = [:]
        while arguments.count >= 2, arguments[0].hasPrefix("--") {
            options[String(arguments[0].dropFirst(2))] = arguments[1]
            arguments.removeFirst(2)
        }
        switch mode {
        case "server":
            try await server(
                port: Int(options["port"] ?? "0") ?? 0,
                rate: Double(options["rate"] ?? "100") ?? 100,
                targets: Int(options["targets"] ?? "100") ?? 100
            )
        case "clients":
            guard let url = options["url"] else { usage() }
            try await clients(
                url: url,
                count: Int(options["clients"] ?? "1000") ?? 1000,
                warmup: Double(options["warmup"] ?? "5") ?? 5,
                duration: Double(options["duration"] ?? "30") ?? 30
            )
        default:
            usage()
        }
    }

    static func usage() -> Never {
        print("usage: vigil-live-bench server --port P [--rate 100] [--targets 100]")
        print("       vigil-live-bench clients --url ws://127.0.0.1:P/api/v1/live [--clients 1000] [--warmup 5] [--duration 30]")
        exit(2)
    }

    // MARK: - Server

    static func server(port: Int, rate: Double, targets: Int) async throws {
        var logger = Logger(label: "vigil.bench")
        logger.logLevel = .warning
        let hub = Hub(stores: MemoryStore().stores, logger: logger)
        let dependencies = WebDependencies(
            hub: hub,
            exporters: [],
            readiness: Readiness(),
            version: "bench",
            configuration: WebConfiguration(host: "127.0.0.1", port: port)
        )
        let app = buildWebApplication(dependencies, logger: logger) { port in
            say("listening on \(port)")
        }
        let generator = ChangeGenerator(hub: hub, rate: rate, targets: targets)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: hub), .init(service: app), .init(service: generator)],
            logger: logger
        ))
        try await group.run()
    }

    /// Flips the status of one target every 1/rate seconds, on a fixed schedule.
    struct ChangeGenerator: Service {
        let hub: Hub
        let rate: Double
        let targets: Int

        func run() async throws {
            let clock = ContinuousClock()
            let start = clock.now
            let interval = Duration.nanoseconds(Int64(1e9 / rate))
            try? await cancelWhenGracefulShutdown {
                var statuses = [TargetStatus](repeating: .up, count: targets)
                var count = 0
                while !Task.isCancelled {
                    count += 1
                    try await Task.sleep(until: start + interval * count, clock: clock)
                    let index = count % targets
                    statuses[index] = statuses[index] == .up ? .down : .up
                    await hub.apply(Observation(
                        target: TargetID(.stream, "bench/cam\(index)"),
                        time: wallClockSeconds(),
                        status: statuses[index],
                        attributes: ["bench_t": .number(wallClockSeconds()), "sequence": .number(Double(count))]
                    ))
                }
            }
        }
    }

    // MARK: - Clients

    static func clients(url: String, count: Int, warmup: Double, duration: Double) async throws {
        var quiet = Logger(label: "vigil.bench.client")
        quiet.logLevel = .error
        let logger = quiet
        let shared = ClientsState()
        let group = MultiThreadedEventLoopGroup.singleton

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for index in 0..<count {
                // Ramp up in small steps so the listen backlog never overflows.
                if index % 50 == 49 { try await Task.sleep(for: .milliseconds(20)) }
                tasks.addTask {
                    do {
                        try await WebSocketClient.connect(
                            url: url,
                            configuration: .init(maxFrameSize: 1 << 16),
                            eventLoopGroup: group,
                            logger: logger
                        ) { inbound, _, _ in
                            shared.connected.add(1, ordering: .relaxed)
                            var latencies: [Double] = []
                            latencies.reserveCapacity(Int(duration * 120))
                            do {
                                for try await message in inbound.messages(maxSize: 1 << 24) {
                                    guard case .text(let text) = message else { continue }
                                    let now = wallClockSeconds()
                                    let window = shared.measure.withLock { $0 }
                                    if now >= window.end { break }
                                    guard now >= window.start, text.hasPrefix(#"{"type":"state""#), let sent = benchTime(text) else { continue }
                                    latencies.append(now - sent)
                                }
                            } catch {
                                shared.failed.add(1, ordering: .relaxed)
                            }
                            shared.results.withLock { $0.append(latencies) }
                        }
                    } catch {
                        shared.failed.add(1, ordering: .relaxed)
                    }
                }
            }
            // Wait for every connection, then warm up, then measure.
            let connectDeadline = wallClockSeconds() + 60
            while shared.connected.load(ordering: .relaxed) + shared.failed.load(ordering: .relaxed) < count, wallClockSeconds() < connectDeadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            say("connected \(shared.connected.load(ordering: .relaxed)) of \(count) clients (\(shared.failed.load(ordering: .relaxed)) failed)")
            try await Task.sleep(for: .seconds(warmup))
            let start = wallClockSeconds()
            shared.measure.withLock { $0 = (start, start + duration) }
            say("MEASURE_START")
            try await tasks.waitForAll()
        }

        let perClient = shared.results.withLock { $0 }
        var all = perClient.flatMap { $0 }.map { $0 * 1000 }
        all.sort()
        func percentile(_ p: Double) -> Double { all.isEmpty ? .nan : all[min(all.count - 1, Int(Double(all.count) * p))] }
        let counts = perClient.map(\.count).sorted()
        say(String(format: "messages %d over %.0f s from %d clients (per client min %d, max %d)",
                     all.count, duration, perClient.count, counts.first ?? 0, counts.last ?? 0))
        say(String(format: "latency_ms p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f max %.2f",
                     percentile(0.5), percentile(0.9), percentile(0.99), percentile(0.999), all.last ?? .nan))
    }

    /// What the client tasks share.
    final class ClientsState: Sendable {
        let connected = Atomic<Int>(0)
        let failed = Atomic<Int>(0)
        let results = Mutex<[[Double]]>([])
        let measure = Mutex<(start: Double, end: Double)>((.infinity, .infinity))
    }

    /// Writes a line to standard output at once (it is a file when run.sh reads it).
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// The value of `"bench_t":` in a message.
    static func benchTime(_ text: String) -> Double? {
        guard let range = text.range(of: #""bench_t":"#) else { return nil }
        let rest = text[range.upperBound...]
        let end = rest.firstIndex { $0 == "," || $0 == "}" } ?? rest.endIndex
        return Double(rest[..<end])
    }
}
