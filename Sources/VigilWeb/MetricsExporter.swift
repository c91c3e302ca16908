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
