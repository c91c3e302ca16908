//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
public import ServiceLifecycle
public import VigilCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Samples this machine's CPU, memory, load, network and disk from procfs and hands the samples to
/// the hub as observations of `host/<name>`.
///
/// Metrics (through the hub): `vigil_host_cpu_seconds_total{mode}`, `vigil_host_cpu_usage_ratio`,
/// `vigil_host_memory_total_bytes`, `vigil_host_memory_available_bytes`, `vigil_host_memory_used_ratio`,
/// `vigil_host_load1|load5|load15`, `vigil_host_network_receive_bytes_total{interface}`,
/// `vigil_host_network_transmit_bytes_total{interface}`, `vigil_host_network_receive_bytes_per_second{interface}`,
/// `vigil_host_network_transmit_bytes_per_second{interface}`, `vigil_host_disk_total_bytes{path}`,
/// `vigil_host_disk_free_bytes{path}`, `vigil_host_disk_used_ratio{path}`; all labelled `host="<name>"`.
public final class HostMonitor: Service {
    private let configuration: HostMonitorConfiguration
    private let hub: Hub
    private let logger: Logger
    private let ticksPerSecond: Double

    private struct Previous {
        var time: Double
        var cpu: ProcParsers.CPUTimes?
        var network: [String: ProcParsers.InterfaceCounters]
    }

    /// Creates the sampler; it runs on the hub's clock.
    public init(configuration: HostMonitorConfiguration, hub: Hub, logger: Logger = Logger(label: "vigil.host")) {
        self.configuration = configuration
        self.hub = hub
        self.logger = logger
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        self.ticksPerSecond = ticks > 0 ? Double(ticks) : 100
    }

    /// Samples every `interval` until shutdown.
    public func run() async throws {
        let interval = configuration.interval
        try? await cancelWhenGracefulShutdown {
            var previous: Previous?
            while !Task.isCancelled {
                let observation = self.sample(previous: &previous, time: self.hub.clock.wallClockSeconds)
                await self.hub.apply(observation)
                try await self.hub.clock.sleep(for: interval)
            }
        }
    }

    /// Takes one sample. `previous` carries counters between calls so that rates can be computed.
    private func sample(previous: inout Previous?, time: Double) -> Observation {
        var samples: [Sample] = []
        let cpu = readFile("stat").flatMap(ProcParsers.cpuTimes)
        if let cpu {
            for (mode, ticks) in cpu.modes {
                samples.append(
                    Sample("cpu_seconds_total", ticks / ticksPerSecond, kind: .counter, labels: [Label("mode", mode)], recordHistory: false)
                )
            }
            if let last = previous?.cpu, cpu.total > last.total {
                samples.append(Sample(.cpuUsageRatio, max(0, min(1, (cpu.busy - last.busy) / (cpu.total - last.total)))))
            }
        }
        if let memory = readFile("meminfo").map(ProcParsers.memInfo), let total = memory["MemTotal"] {
            let available = memory["MemAvailable"] ?? memory["MemFree"] ?? 0
            samples.append(Sample("memory_total_bytes", total, recordHistory: false))
            samples.append(Sample("memory_available_bytes", available))
            if total > 0 { samples.append(Sample(.memoryUsedRatio, 1 - available / total)) }
        }
        if let load = readFile("loadavg").flatMap(ProcParsers.loadAverage) {
            samples.append(Sample(.load1, load.0))
            samples.append(Sample("load5", load.1, recordHistory: false))
            samples.append(Sample("load15", load.2, recordHistory: false))
        }
        var network: [String: ProcParsers.InterfaceCounters] = [:]
        for counters in readFile("net/dev").map(ProcParsers.networkCounters) ?? [] where includes(interface: counters.name) {
            network[counters.name] = counters
            let label = [Label("interface", counters.name)]
            samples.append(Sample("network_receive_bytes_total", counters.receivedBytes, kind: .counter, labels: label, recordHistory: false))
            samples.append(Sample("network_transmit_bytes_total", counters.transmittedBytes, kind: .counter, labels: label, recordHistory: false))
            if let previous, let last = previous.network[counters.name], time > previous.time {
                let elapsed = time - previous.time
                let rx = counterIncrease(from: last.receivedBytes, to: counters.receivedBytes)
                let tx = counterIncrease(from: last.transmittedBytes, to: counters.transmittedBytes)
                samples.append(Sample(.networkReceiveBytesPerSecond, rx / elapsed, labels: label))
                samples.append(Sample(.networkTransmitBytesPerSecond, tx / elapsed, labels: label))
            }
        }
        for path in configuration.disks {
            var stats = statvfs()
            guard statvfs(path, &stats) == 0 else { continue }
            let blockSize = Double(stats.f_frsize)
            let total = Double(stats.f_blocks) * blockSize
            let free = Double(stats.f_bavail) * blockSize
            let label = [Label("mountpoint", path)]
            samples.append(Sample("disk_total_bytes", total, labels: label, recordHistory: false))
            samples.append(Sample("disk_free_bytes", free, labels: label))
            if total > 0 { samples.append(Sample("disk_used_ratio", 1 - free / total, labels: label)) }
        }
        previous = Previous(time: time, cpu: cpu, network: network)
        return Observation(target: TargetID(.host, configuration.name), time: time, status: .up, samples: samples)
    }

    private func includes(interface name: String) -> Bool {
        configuration.interfaces.isEmpty ? name != "lo" : configuration.interfaces.contains(name)
    }

    private func readFile(_ relativePath: String) -> String? {
        readSmallFile(configuration.procRoot + "/" + relativePath)
    }
}

/// Reads a small text file (procfs files report size 0, so read until EOF).
func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16 * 1024)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if count == 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
}
