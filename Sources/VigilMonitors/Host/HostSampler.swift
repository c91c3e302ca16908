//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import VigilCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads one machine's CPU, memory, load, network, disk and named processes from procfs, and turns
/// counters into rates between two calls. Used by ``HostMonitor`` (the machine Vigil runs on) and by
/// ``HostAgent`` (`vigil agent`, pushing to a central Vigil): both report the same samples.
public struct HostSampler: Sendable {
    /// What to read.
    public struct Settings: Sendable, Hashable {
        /// Mount points whose usage is reported.
        public var disks: [String]
        /// Interfaces to report; empty means every interface except `lo`.
        public var interfaces: [String]
        /// Process names (`/proc/<pid>/comm`) whose count, CPU time and resident memory are reported.
        public var processes: [String]
        /// Where procfs is mounted.
        public var procRoot: String

        /// Creates the settings.
        public init(disks: [String] = ["/"], interfaces: [String] = [], processes: [String] = [], procRoot: String = "/proc") {
            self.disks = disks
            self.interfaces = interfaces
            self.processes = processes
            self.procRoot = procRoot
        }
    }

    private struct Previous: Sendable {
        var time: Double
        var cpu: ProcParsers.CPUTimes?
        var network: [String: ProcParsers.InterfaceCounters]
    }

    private let settings: Settings
    private let ticksPerSecond: Double
    private let pageSize: Double
    private var previous: Previous?
    private var processes: ProcessTracker

    /// Creates a sampler; the first ``sample(time:)`` has no rates (they need two readings).
    public init(settings: Settings) {
        self.settings = settings
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        self.ticksPerSecond = ticks > 0 ? Double(ticks) : 100
        let page = sysconf(Int32(_SC_PAGESIZE))
        self.pageSize = page > 0 ? Double(page) : 4096
        self.processes = ProcessTracker(names: settings.processes, procRoot: settings.procRoot)
    }

    /// Takes one sample at `time` (seconds since 1970).
    public mutating func sample(time: Double) -> [Sample] {
        var samples: [Sample] = []
        samples.reserveCapacity(48)
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
            if total > 0 { samples.append(Sample(.memoryUsedRatio, max(0, min(1, 1 - available / total)))) }
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
        for path in settings.disks {
            var stats = statvfs()
            guard statvfs(path, &stats) == 0 else { continue }
            let blockSize = Double(stats.f_frsize)
            let total = Double(stats.f_blocks) * blockSize
            let free = Double(stats.f_bavail) * blockSize
            let label = [Label("mountpoint", path)]
            samples.append(Sample("disk_total_bytes", total, labels: label, recordHistory: false))
            samples.append(Sample("disk_free_bytes", free, labels: label))
            if total > 0 { samples.append(Sample("disk_used_ratio", max(0, min(1, 1 - free / total)), labels: label)) }
        }
        for usage in processes.sample() {
            let label = [Label("process", usage.name)]
            samples.append(Sample("process_count", Double(usage.count), labels: label))
            samples.append(Sample("process_cpu_seconds_total", usage.cpuTicks / ticksPerSecond, kind: .counter, labels: label, recordHistory: false))
            samples.append(Sample("process_resident_bytes", usage.residentPages * pageSize, labels: label))
        }
        previous = Previous(time: time, cpu: cpu, network: network)
        return samples
    }

    private func includes(interface name: String) -> Bool {
        settings.interfaces.isEmpty ? name != "lo" : settings.interfaces.contains(name)
    }

    private func readFile(_ relativePath: String) -> String? {
        readSmallFile(settings.procRoot + "/" + relativePath)
    }
}

/// Finds the processes of the configured names and sums their CPU time and resident memory.
///
/// Scanning every `/proc/<pid>` each interval would cost more than everything else the sampler does,
/// so the process ids found are kept and the scan runs again only when one of them has gone (or its
/// name changed), a name had no process, or every ``rescanEvery`` samples (a new worker process).
struct ProcessTracker: Sendable {
    /// What one name adds up to.
    struct Usage: Sendable, Hashable {
        var name: String
        var count: Int
        var cpuTicks: Double
        var residentPages: Double
    }

    /// Samples between full scans while every known process is still there.
    static let rescanEvery = 12
    /// At most this many process ids are kept per name.
    static let maxPIDsPerName = 256

    let names: [String]
    let procRoot: String
    private var pids: [String: [Int32]] = [:]
    private var samplesSinceScan = Int.max

    init(names: [String], procRoot: String) {
        self.names = names
        self.procRoot = procRoot
    }

    mutating func sample() -> [Usage] {
        guard !names.isEmpty else { return [] }
        if samplesSinceScan >= Self.rescanEvery || names.contains(where: { pids[$0, default: []].isEmpty }) {
            scan()
        }
        samplesSinceScan += 1
        var result: [Usage] = []
        var lost = false
        for name in names {
            var usage = Usage(name: name, count: 0, cpuTicks: 0, residentPages: 0)
            for pid in pids[name, default: []] {
                guard let stat = readSmallFile("\(procRoot)/\(pid)/stat").flatMap(ProcParsers.processStat), stat.name == name,
                    let resident = readSmallFile("\(procRoot)/\(pid)/statm").flatMap(ProcParsers.residentPages)
                else {
                    lost = true
                    continue
                }
                usage.count += 1
                usage.cpuTicks += stat.cpuTicks
                usage.residentPages += resident
            }
            result.append(usage)
        }
        if lost { samplesSinceScan = Int.max }
        return result
    }

    private mutating func scan() {
        samplesSinceScan = 0
        var found: [String: [Int32]] = [:]
        guard let directory = opendir(procRoot) else {
            pids = [:]
            return
        }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let pid = Int32(name), pid > 0 else { continue }
            guard let comm = readSmallFile("\(procRoot)/\(pid)/comm") else { continue }
            let command = comm.hasSuffix("\n") ? String(comm.dropLast()) : comm
            guard names.contains(command), found[command, default: []].count < Self.maxPIDsPerName else { continue }
            found[command, default: []].append(pid)
        }
        pids = found
    }
}
