//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Prometheus

/// Something that writes Prometheus text exposition: the swift-metrics registry, or a source that
/// keeps its own snapshot (the seed-004 camera metrics, which must change all at once).
public protocol MetricsExporter: Sendable {
    /// Appends exposition text to a buffer.
    func emit(into buffer: inout [UInt8])
}

extension PrometheusCollectorRegistry: MetricsExporter {}

/// The content type of Prometheus text exposition format 0.0.4.
public let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

/// The metric families of another exporter whose names start with one of some prefixes: the
/// seed-000 `galaxy_*` series on gxydb-api's own port, without the rest of Vigil's `/metrics`.
public struct MetricFamilyFilter: MetricsExporter {
    private let source: any MetricsExporter
    private let prefixes: [[UInt8]]

    /// Creates a filter.
    ///
    /// - Parameters:
    ///   - source: The exporter whose text is filtered.
    ///   - prefixes: Metric name prefixes to keep (`"galaxy_"`).
    public init(_ source: any MetricsExporter, keeping prefixes: [String]) {
        self.source = source
        self.prefixes = prefixes.map { Array($0.utf8) }
    }

    public func emit(into buffer: inout [UInt8]) {
        var text: [UInt8] = []
        source.emit(into: &text)
        var start = 0
        while start < text.count {
            let end = text[start...].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? text.count
            if keeps(text[start..<end]) { buffer.append(contentsOf: text[start..<end]) }
            start = end
        }
    }

    /// A sample line starts with the metric name; `# HELP name` and `# TYPE name` name it third.
    private func keeps(_ line: ArraySlice<UInt8>) -> Bool {
        var name = line
        for marker in ["# HELP ", "# TYPE "] where line.starts(with: marker.utf8) {
            name = line.dropFirst(marker.utf8.count)
        }
        if name.first == UInt8(ascii: "#") { return false }
        return prefixes.contains { name.starts(with: $0) }
    }
}
