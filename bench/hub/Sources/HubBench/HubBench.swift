//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import VigilCore
import VigilRedis
import VigilStorage

// A fleet's reports through `Hub.apply` into the SQLite store, as `vigil serve` wires them: the
// hub with its default batching and its service running (timer and early history writes), per-target series in a `SeriesRegistry` (devices capped at
// 10,000 as by default), and the store's history and latest-state writes.
//
//   HubBench schema PATH                          creates an empty database (for the peer)
//   HubBench run PATH DEVICES SAMPLES ROUNDS      prints one JSON line
//   HubBench store sqlite PATH|redis URL DEVICES SAMPLES ROUNDS QUERIES
//                                                 the same ingest into that store, then QUERIES
//                                                 history reads (GET /api/v1/history's call);
//                                                 prints one JSON line
//
// Each round every device reports once: status up, a `last_contact` attribute and SAMPLES samples
// kept as history, whose values change from round to round (so every state is written again).
// bench/hub/peer.py produces the same rows.

@main
struct HubBench {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 3 else {
            FileHandle.standardError.write(Data("usage: HubBench schema PATH | run PATH DEVICES SAMPLES ROUNDS\n".utf8))
            exit(2)
        }
        switch arguments[1] {
        case "schema":
            _ = try SQLiteStore(path: arguments[2])
        case "run" where arguments.count == 6:
            guard let devices = Int(arguments[3]), let samples = Int(arguments[4]), let rounds = Int(arguments[5]) else { exit(2) }
            try await run(path: arguments[2], devices: devices, samples: samples, rounds: rounds)
        case "store" where arguments.count == 8:
            guard let devices = Int(arguments[4]), let samples = Int(arguments[5]), let rounds = Int(arguments[6]), let queries = Int(arguments[7])
            else { exit(2) }
            var configuration = StoreConfiguration(backend: arguments[2] == "redis" ? .redis : .sqlite, path: arguments[3])
            if arguments[2] == "redis" {
                configuration.redis = .url(arguments[3])
                configuration.keyPrefix = "bench\(UInt32.random(in: 0...UInt32.max)):"
            }
            try await runStore(configuration, devices: devices, samples: samples, rounds: rounds, queries: queries)
        default:
            exit(2)
        }
    }

    static let sampleNames = ["rx_bytes_per_second", "temperature_celsius", "rssi_dbm", "battery_ratio", "uptime_seconds"]

    /// The same formula as peer.py's `value`.
    static func value(device: Int, round: Int, sample: Int) -> Double {
        let step: Int = device * 7 + round * 13 + sample * 31
        return Double(step % 1000) / 4
    }

    static func run(path: String, devices: Int, samples: Int, rounds: Int) async throws {
        let store = try SQLiteStore(path: path)
        let hub = Hub(
            stores: store.stores,
            configuration: HubConfiguration(
                maxBufferedPoints: ProcessInfo.processInfo.environment["MAX_BUFFERED_POINTS"].flatMap(Int.init)
                    ?? HubConfiguration().maxBufferedPoints,
                seriesTargetLimits: [.device: 10_000]
            ),
            metricsFactory: SeriesRegistry()
        )
        let names = (0..<devices).map { "d\($0)" }
        let started = cpuSeconds()
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingDiscardingTaskGroup { group in
            // The hub's own service: its timer and its early history writes, as in `vigil serve`.
            group.addTask { try await hub.run() }
            await ingest(into: hub, names: names, samples: samples, rounds: rounds)
            group.cancelAll()
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let cpu = cpuSeconds() - started
        let total = devices * samples * rounds
        print(
            """
            {"name":"vigil","samples":\(total),"seconds":\(seconds),"cpu_seconds":\(cpu),\
            "samples_per_second":\(Double(total) / seconds),"cpu_us_per_sample":\(cpu * 1e6 / Double(total))}
            """
        )
    }

    /// Ingest through the hub into the configured store (as `run`), then `queries` history reads
    /// of one series each over the whole range at a 60 s step, timed one by one.
    static func runStore(_ configuration: StoreConfiguration, devices: Int, samples: Int, rounds: Int, queries: Int) async throws {
        let backend = try StoreFactory.openBackend(configuration, logger: Logger(label: "bench"))
        let hub = Hub(
            stores: backend.stores,
            configuration: HubConfiguration(seriesTargetLimits: [.device: 10_000]),
            metricsFactory: SeriesRegistry()
        )
        let names = (0..<devices).map { "d\($0)" }
        var spent = (seconds: 0.0, cpu: 0.0)
        var latencies: [Double] = []
        let clock = ContinuousClock()
        try await withThrowingDiscardingTaskGroup { group in
            if let redis = backend.redis { group.addTask { try await redis.run() } }
            group.addTask { try await hub.run() }
            let started = cpuSeconds()
            let start = clock.now
            await ingest(into: hub, names: names, samples: samples, rounds: rounds)
            spent = (seconds(start.duration(to: clock.now)), cpuSeconds() - started)
            let series = try await hub.series(prefix: "device/")
            guard !series.isEmpty else { throw CancellationError() }
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<queries {
                let name = series.randomElement(using: &generator)!
                let begin = clock.now
                let points = try await hub.history(series: name, from: 1_799_999_000, to: 1_800_100_000, step: 60)
                latencies.append(seconds(begin.duration(to: clock.now)) * 1000)
                precondition(!points.isEmpty, "no history for \(name)")
            }
            group.cancelAll()
        }
        latencies.sort()
        func quantile(_ q: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * q))] }
        let total = devices * samples * rounds
        print(
            """
            {"name":"\(configuration.backend.rawValue)","samples":\(total),"seconds":\(spent.seconds),"cpu_seconds":\(spent.cpu),\
            "samples_per_second":\(Double(total) / spent.seconds),"history_p50_ms":\(quantile(0.5)),"history_p99_ms":\(quantile(0.99)),\
            "points_per_query":\(rounds)}
            """
        )
    }

    /// ROUNDS reports of every device, applied 1,000 at a time, then a final flush.
    static func ingest(into hub: Hub, names: [String], samples: Int, rounds: Int) async {
        let batch = 1_000
        var observations: [Observation] = []
        observations.reserveCapacity(batch)
        for round in 0..<rounds {
            for device in names.indices {
                observations.append(report(device: device, name: names[device], round: round, devices: names.count, samples: samples))
                if observations.count == batch {
                    await hub.apply(observations)
                    observations.removeAll(keepingCapacity: true)
                }
            }
            if !observations.isEmpty {
                await hub.apply(observations)
                observations.removeAll(keepingCapacity: true)
            }
        }
        await hub.flush()
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func report(device: Int, name: String, round: Int, devices: Int, samples: Int) -> Observation {
        let offset: Double = Double(device) * 2 / Double(devices)
        let time: Double = 1_800_000_000 + Double(round * 2) + offset
        return Observation(
            target: TargetID(.device, name),
            time: time,
            status: .up,
            attributes: ["last_contact": .number(time)],
            samples: (0..<samples).map { Sample(sampleNames[$0], value(device: device, round: round, sample: $0)) }
        )
    }

    /// User plus system CPU of the whole process (the hub and SQLite's writer thread).
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}
