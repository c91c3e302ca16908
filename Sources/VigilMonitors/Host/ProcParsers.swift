//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Parsers for the procfs files the host sampler reads. Pure functions over text, so they are
/// tested with recorded file contents.
public enum ProcParsers {
    /// Cumulative CPU time of the whole machine, from the first line of `/proc/stat`, in clock ticks.
    public struct CPUTimes: Sendable, Hashable {
        public var user: Double, nice: Double, system: Double, idle: Double, iowait: Double, irq: Double, softirq: Double, steal: Double

        /// All ticks.
        public var total: Double { user + nice + system + idle + iowait + irq + softirq + steal }
        /// Ticks not spent idle or waiting for I/O.
        public var busy: Double { total - idle - iowait }

        /// The modes and their tick counts, for the `mode` label.
        public var modes: [(String, Double)] {
            [
                ("user", user), ("nice", nice), ("system", system), ("idle", idle), ("iowait", iowait), ("irq", irq), ("softirq", softirq),
                ("steal", steal),
            ]
        }
    }

    /// Parses the aggregate `cpu` line of `/proc/stat`.
    public static func cpuTimes(_ text: String) -> CPUTimes? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return nil }
        let values = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard values.count >= 4 else { return nil }
        func at(_ index: Int) -> Double { index < values.count ? values[index] : 0 }
        return CPUTimes(user: at(0), nice: at(1), system: at(2), idle: at(3), iowait: at(4), irq: at(5), softirq: at(6), steal: at(7))
    }

    /// Parses `/proc/meminfo` into bytes per field (`MemTotal`, `MemAvailable`, ...).
    public static func memInfo(_ text: String) -> [String: Double] {
        var result: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let fields = line[line.index(after: colon)...].split(separator: " ")
            guard let number = fields.first.flatMap({ Double($0) }) else { continue }
            let scale: Double = fields.count > 1 && fields[1] == "kB" ? 1024 : 1
            result[String(line[..<colon])] = number * scale
        }
        return result
    }

    /// Parses `/proc/loadavg` into the 1, 5 and 15 minute load averages.
    public static func loadAverage(_ text: String) -> (Double, Double, Double)? {
        let fields = text.split(separator: " ")
        guard fields.count >= 3, let one = Double(fields[0]), let five = Double(fields[1]), let fifteen = Double(fields[2]) else {
            return nil
        }
        return (one, five, fifteen)
    }

    /// Byte counters of one network interface.
    public struct InterfaceCounters: Sendable, Hashable {
        public var name: String
        public var receivedBytes: Double
        public var transmittedBytes: Double
    }

    /// Parses `/proc/net/dev`.
    public static func networkCounters(_ text: String) -> [InterfaceCounters] {
        text.split(separator: "\n").compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let name = line[..<colon].trimmingCharacters()
            let fields = line[line.index(after: colon)...].split(separator: " ")
            guard fields.count >= 9, let rx = Double(fields[0]), let tx = Double(fields[8]) else { return nil }
            return InterfaceCounters(name: name, receivedBytes: rx, transmittedBytes: tx)
        }
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

extension ProcParsers {
    /// The command name and CPU time (user + system, in clock ticks) from `/proc/<pid>/stat`.
    public static func processStat(_ text: String) -> (name: String, cpuTicks: Double)? {
        // The name is in parentheses and may itself contain spaces and parentheses: take the last ")".
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")"), open < close else { return nil }
        let name = String(text[text.index(after: open)..<close])
        let fields = text[text.index(after: close)...].split(separator: " ")
        // Fields after the name start at field 3 (state); utime and stime are fields 14 and 15.
        guard fields.count >= 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (name, user + system)
    }

    /// The resident set size in pages, the second field of `/proc/<pid>/statm`.
    public static func residentPages(_ text: String) -> Double? {
        let fields = text.split(separator: " ")
        guard fields.count >= 2 else { return nil }
        return Double(fields[1])
    }
}
