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
/// `vigil_host_network_transmit_bytes_per_second{interface}`, `vigil_host_disk_total_bytes{mountpoint}`,
/// `vigil_host_disk_free_bytes{mountpoint}`, `vigil_host_disk_used_ratio{mountpoint}`, and for named
/// processes `vigil_host_process_count{process}`, `vigil_host_process_cpu_seconds_total{process}`,
/// `vigil_host_process_resident_bytes{process}`; all labelled `host="<name>"`. The samples come from
/// ``HostSampler``, which `vigil agent` uses too.
public final class HostMonitor: Service {
    private let configuration: HostMonitorConfiguration
    private let hub: Hub
    private let logger: Logger

    /// Creates the sampler; it runs on the hub's clock.
    public init(configuration: HostMonitorConfiguration, hub: Hub, logger: Logger = Logger(label: "vigil.host")) {
        self.configuration = configuration
        self.hub = hub
        self.logger = logger
    }

    /// Samples every `interval` until shutdown.
    public func run() async throws {
        let interval = configuration.interval
        let target = TargetID(.host, configuration.name)
        try? await cancelWhenGracefulShutdown {
            var sampler = HostSampler(settings: self.configuration.samplerSettings)
            while !Task.isCancelled {
                let time = self.hub.clock.wallClockSeconds
                let samples = sampler.sample(time: time)
                await self.hub.apply(Observation(target: target, time: time, status: .up, samples: samples))
                try await self.hub.clock.sleep(for: interval)
            }
        }
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
