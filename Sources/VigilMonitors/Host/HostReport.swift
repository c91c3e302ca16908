//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Foundation
public import VigilCore

/// What `vigil agent` sends to a central Vigil: one JSON document per batch, over MQTT (topic
/// `<prefix>/<host>/metrics`) or HTTP (`POST /api/v1/ingest/host`). The format is documented in
/// docs/API.md ("Host agents").
///
/// ```json
/// {"version": 1, "host": "media1", "interval_seconds": 5, "dropped_samples": 0,
///  "samples": [{"time": 1765000000.5, "metrics": [{"name": "load1", "value": 0.4},
///    {"name": "disk_free_bytes", "value": 1.2e10, "labels": {"mountpoint": "/"}}]}]}
/// ```
public struct HostReport: Sendable, Codable, Hashable {
    /// One metric of one sample.
    public struct Metric: Sendable, Codable, Hashable {
        public var name: String
        public var value: Double
        public var labels: [String: String]?

        public init(name: String, value: Double, labels: [String: String]? = nil) {
            self.name = name
            self.value = value
            self.labels = labels
        }
    }

    /// Everything sampled at one time.
    public struct Entry: Sendable, Codable, Hashable {
        public var time: Double
        public var metrics: [Metric]

        public init(time: Double, metrics: [Metric]) {
            self.time = time
            self.metrics = metrics
        }
    }

    /// The format version; this build reads and writes 1.
    public var version: Int
    /// The host name, the target `host/<host>`.
    public var host: String
    /// The agent's sampling interval.
    public var intervalSeconds: Double
    /// Samples the agent dropped since it started because its buffer was full.
    public var droppedSamples: Double
    /// `"offline"` in the last report of an agent that stops; absent otherwise.
    public var status: String?
    /// The samples, oldest first.
    public var samples: [Entry]

    public init(host: String, intervalSeconds: Double, droppedSamples: Double, status: String? = nil, samples: [Entry]) {
        self.version = 1
        self.host = host
        self.intervalSeconds = intervalSeconds
        self.droppedSamples = droppedSamples
        self.status = status
        self.samples = samples
    }

    enum CodingKeys: String, CodingKey {
        case version, host, status, samples
        case intervalSeconds = "interval_seconds"
        case droppedSamples = "dropped_samples"
    }

    /// Converts sampler output into a report entry.
    public static func entry(time: Double, samples: [Sample]) -> Entry {
        Entry(
            time: time,
            metrics: samples.map { sample in
                Metric(
                    name: sample.name,
                    value: sample.value,
                    labels: sample.labels.isEmpty ? nil : Dictionary(sample.labels.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
                )
            }
        )
    }

    /// The JSON text.
    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }
}

/// The limits and value ranges a central Vigil checks every report against (see ``HostReportValidator``).
public enum HostReportLimits {
    /// Largest accepted body or MQTT payload.
    public static let maxBytes = 1 << 20
    /// Samples in one report.
    public static let maxSamples = 1_000
    /// Metrics in one sample.
    public static let maxMetricsPerSample = 512
    /// Distinct series (metric name and labels) one remote host may have.
    public static let maxSeriesPerHost = 512
    /// How far in the past a sample may be (a buffer of a week at most).
    public static let maxAge: Double = 7 * 86_400
    /// How far in the future a sample may be (clock skew).
    public static let maxSkew: Double = 300
}

/// One metric the central accepts from an agent: its kind, its only allowed label, its value range
/// and whether it goes to history. Anything else in a report is an error (400).
struct HostMetricSpec: Sendable {
    var kind: Sample.Kind
    var label: String?
    var range: ClosedRange<Double>
    var history: Bool

    static let bytes: ClosedRange<Double> = 0...1e18
    static let counterBytes: ClosedRange<Double> = 0...1.9e19
    static let ratio: ClosedRange<Double> = 0...1

    static let catalog: [String: HostMetricSpec] = [
        "cpu_seconds_total": .init(kind: .counter, label: "mode", range: 0...1e12, history: false),
        "cpu_usage_ratio": .init(kind: .gauge, label: nil, range: ratio, history: true),
        "memory_total_bytes": .init(kind: .gauge, label: nil, range: bytes, history: false),
        "memory_available_bytes": .init(kind: .gauge, label: nil, range: bytes, history: true),
        "memory_used_ratio": .init(kind: .gauge, label: nil, range: ratio, history: true),
        "load1": .init(kind: .gauge, label: nil, range: 0...1e6, history: true),
        "load5": .init(kind: .gauge, label: nil, range: 0...1e6, history: false),
        "load15": .init(kind: .gauge, label: nil, range: 0...1e6, history: false),
        "network_receive_bytes_total": .init(kind: .counter, label: "interface", range: counterBytes, history: false),
        "network_transmit_bytes_total": .init(kind: .counter, label: "interface", range: counterBytes, history: false),
        "network_receive_bytes_per_second": .init(kind: .gauge, label: "interface", range: 0...1e13, history: true),
        "network_transmit_bytes_per_second": .init(kind: .gauge, label: "interface", range: 0...1e13, history: true),
        "disk_total_bytes": .init(kind: .gauge, label: "mountpoint", range: bytes, history: false),
        "disk_free_bytes": .init(kind: .gauge, label: "mountpoint", range: bytes, history: true),
        "disk_used_ratio": .init(kind: .gauge, label: "mountpoint", range: ratio, history: true),
        "process_count": .init(kind: .gauge, label: "process", range: 0...1e7, history: true),
        "process_cpu_seconds_total": .init(kind: .counter, label: "process", range: 0...1e12, history: false),
        "process_resident_bytes": .init(kind: .gauge, label: "process", range: bytes, history: true),
    ]

    static let cpuModes: Set<String> = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]

    /// Whether a label value is acceptable: bounded printable ASCII, and for `mode` a known mode.
    func accepts(labelValue value: String) -> Bool {
        switch label {
        case "mode": return Self.cpuModes.contains(value)
        case "mountpoint": return value.hasPrefix("/") && Self.isPrintable(value, maxLength: 256)
        default: return !value.isEmpty && Self.isPrintable(value, maxLength: 64)
        }
    }

    static func isPrintable(_ value: String, maxLength: Int) -> Bool {
        guard value.utf8.count <= maxLength else { return false }
        return value.utf8.allSatisfy { byte in
            (0x20..<0x7F).contains(byte) && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\")
        }
    }
}

/// Checks a report and turns it into hub observations. Every value an agent chooses is checked:
/// the host name, the number of samples and metrics, each metric's name, label and value range,
/// and each sample's time against the central's clock.
public enum HostReportValidator {
    /// Why a report was refused.
    public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// Whether a host name is acceptable: 1 to 64 of `A-Z a-z 0-9 . _ -`, not starting with `.` or `-`.
    public static func isValidHostName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, first != UInt8(ascii: "."), first != UInt8(ascii: "-"), bytes.count <= 64 else { return false }
        return bytes.allSatisfy(isHostNameByte)
    }

    private static func isHostNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"): true
        case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"): true
        default: false
        }
    }

    /// Decodes and checks a report.
    ///
    /// - Parameters:
    ///   - bytes: The JSON document.
    ///   - now: The central's wall clock, seconds since 1970.
    /// - Returns: The report, its samples in time order.
    public static func decode(_ bytes: some Collection<UInt8>, now: Double) throws(Problem) -> HostReport {
        guard bytes.count <= HostReportLimits.maxBytes else { throw Problem("report larger than \(HostReportLimits.maxBytes) bytes") }
        let report: HostReport
        do {
            report = try JSONDecoder().decode(HostReport.self, from: Data(bytes))
        } catch {
            throw Problem("not a host report (JSON with version, host, interval_seconds, dropped_samples, samples)")
        }
        try check(report, now: now)
        var sorted = report
        sorted.samples.sort { $0.time < $1.time }
        return sorted
    }

    static func check(_ report: HostReport, now: Double) throws(Problem) {
        guard report.version == 1 else { throw Problem("version \(report.version) is not supported (1 is)") }
        guard isValidHostName(report.host) else { throw Problem("host must be 1 to 64 of A-Z a-z 0-9 . _ -") }
        guard report.intervalSeconds.isFinite, (0.1...86_400).contains(report.intervalSeconds) else {
            throw Problem("interval_seconds must be between 0.1 and 86400")
        }
        guard report.droppedSamples.isFinite, (0...1e15).contains(report.droppedSamples) else {
            throw Problem("dropped_samples must be between 0 and 1e15")
        }
        if let status = report.status, status != "offline" { throw Problem("status must be \"offline\" or absent") }
        guard report.samples.count <= HostReportLimits.maxSamples else { throw Problem("more than \(HostReportLimits.maxSamples) samples") }
        for entry in report.samples {
            guard entry.time.isFinite, entry.time >= now - HostReportLimits.maxAge, entry.time <= now + HostReportLimits.maxSkew else {
                throw Problem("sample time \(entry.time) is more than 7 days old or 5 minutes ahead of the central's clock")
            }
            guard entry.metrics.count <= HostReportLimits.maxMetricsPerSample else {
                throw Problem("more than \(HostReportLimits.maxMetricsPerSample) metrics in one sample")
            }
            for metric in entry.metrics { try check(metric) }
        }
    }

    static func check(_ metric: HostReport.Metric) throws(Problem) {
        guard let spec = HostMetricSpec.catalog[metric.name] else {
            throw Problem("unknown metric '\(metric.name.prefix(64))'")
        }
        guard metric.value.isFinite, spec.range.contains(metric.value) else {
            throw Problem("\(metric.name) = \(metric.value) is outside \(spec.range.lowerBound)...\(spec.range.upperBound)")
        }
        let labels = metric.labels ?? [:]
        if let label = spec.label {
            guard labels.count == 1, let value = labels[label], spec.accepts(labelValue: value) else {
                throw Problem("\(metric.name) needs exactly the label '\(label)' with a valid value")
            }
        } else if !labels.isEmpty {
            throw Problem("\(metric.name) takes no labels")
        }
    }

    /// The hub samples of a checked entry.
    static func samples(of entry: HostReport.Entry) -> [Sample] {
        entry.metrics.compactMap { metric in
            guard let spec = HostMetricSpec.catalog[metric.name] else { return nil }
            let labels = (metric.labels ?? [:]).map { Label($0.key, $0.value) }
            return Sample(metric.name, metric.value, kind: spec.kind, labels: labels, recordHistory: spec.history)
        }
    }
}
