//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import VigilWeb

#if canImport(Glibc)
import Glibc
#endif

/// The standard Prometheus process metrics, read from `/proc/self` at scrape time: no timer, and
/// always current.
///
/// `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
/// `process_open_fds`, `process_max_fds`, `process_start_time_seconds`.
struct ProcessMetrics: MetricsExporter {
    let startTime: Double

    func emit(into buffer: inout [UInt8]) {
        var text = ""
        let ticks = Double(max(sysconf(Int32(_SC_CLK_TCK)), 1))
        let pageSize = Double(max(sysconf(Int32(_SC_PAGESIZE)), 1))
        if let stat = Self.read("/proc/self/stat"), let close = stat.lastIndex(of: ")") {
            // Fields after the command name; utime and stime are fields 14 and 15 (1-based) overall.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 22, let utime = Double(fields[11]), let stime = Double(fields[12]),
                let virtual = Double(fields[20]), let resident = Double(fields[21])
            {
                text += Self.metric(
                    "process_cpu_seconds_total",
                    "counter",
                    "Total user and system CPU time spent in seconds.",
                    (utime + stime) / ticks
                )
                text += Self.metric("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", virtual)
                text += Self.metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", resident * pageSize)
            }
        }
        if let entries = Self.countDirectory("/proc/self/fd") {
            text += Self.metric("process_open_fds", "gauge", "Number of open file descriptors.", Double(entries))
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            text += Self.metric("process_max_fds", "gauge", "Maximum number of open file descriptors.", Double(limit.rlim_cur))
        }
        text += Self.metric("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", startTime)
        buffer.append(contentsOf: text.utf8)
    }

    private static func metric(_ name: String, _ type: String, _ help: String, _ value: Double) -> String {
        let rendered = value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        return "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(rendered)\n"
    }

    private static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return String(decoding: bytes[0..<count], as: UTF8.self)
    }

    private static func countDirectory(_ path: String) -> Int? {
        guard let directory = opendir(path) else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { raw in raw[0] == 0x2E && (raw[1] == 0 || (raw[1] == 0x2E && raw[2] == 0)) }
            if !isDot { count += 1 }
        }
        return max(0, count - 1)  // the descriptor opendir itself holds
    }
}
