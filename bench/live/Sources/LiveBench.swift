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
//   vigil-live-bench peer --port P --rate 100 --targets 100
//       The named peer (PeerServer.swift): the idiomatic Hummingbird WebSocket broadcast, one
//       AsyncStream and one `outbound.write` per message per client, same messages and schedule.
//   vigil-live-bench clients --url ws://127.0.0.1:P/api/v1/live --clients 1000 --warmup 5 --duration 30
//       Opens CLIENTS WebSocket connections (BenchClient.swift: a minimal SwiftNIO client), waits
//       until all are connected and WARMUP seconds have passed, prints "MEASURE_START", then for
//       DURATION seconds records for every state message the delay from `bench_t` to its arrival,
//       and prints percentiles.

import Foundation
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
        case "peer":
            try await PeerServer.run(
                port: Int(options["port"] ?? "0") ?? 0,
                rate: Double(options["rate"] ?? "100") ?? 100,
                targets: Int(options["targets"] ?? "100") ?? 100
            )
        case "clients":
            guard let url = options["url"] else { usage() }
            try await BenchClients.run(
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
        print("       vigil-live-bench peer --port P [--rate 100] [--targets 100]")
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
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: hub), .init(service: app), .init(service: generator)],
                logger: logger
            )
        )
        try await group.run()
    }

    /// Changes the status of one target through the hub on every tick of a ``ChangeSchedule``.
    struct ChangeGenerator: Service {
        let hub: Hub
        let rate: Double
        let targets: Int

        func run() async throws {
            try await ChangeSchedule(rate: rate, targets: targets).run { change in
                await hub.apply(
                    Observation(
                        target: TargetID(.stream, change.name),
                        time: change.time,
                        status: change.status,
                        attributes: ["bench_t": .number(SystemClock().wallClockSeconds), "sequence": .number(Double(change.sequence))]
                    )
                )
            }
        }
    }

    /// Writes a line to standard output at once (it is a file when run.sh reads it).
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}

/// The benchmark's changes: every 1/rate seconds on a fixed schedule (no drift), the status of the
/// next of `targets` stream targets flips, until graceful shutdown.
struct ChangeSchedule {
    struct Change: Sendable {
        var name: String
        var status: TargetStatus
        var sequence: Int
        var time: Double
    }

    let rate: Double
    let targets: Int

    func run(_ apply: @escaping @Sendable (Change) async throws -> Void) async throws {
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
                try await apply(Change(name: "bench/cam\(index)", status: statuses[index], sequence: count, time: SystemClock().wallClockSeconds))
            }
        }
    }
}
