//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Synchronization

/// Serves Prometheus text from immutable snapshots that pollers replace whole.
///
/// A poller builds the families of one cycle off to the side and hands them over with
/// ``publish(_:part:)``; the exporter renders them once and swaps the rendered text in under a
/// lock. A scrape (``emit(into:)``) therefore sees either the previous cycle or the new one, never
/// a mix, and series that a cycle no longer contains (a vanished camera) are gone at once. This is
/// the seed-004 exporter's registry swap, done without a registry.
///
/// Parts let several independent pollers share one exporter (one part per MediaMTX instance);
/// families of the same name in different parts are written together under one `# HELP`/`# TYPE`.
///
/// `VigilApp` makes this type a `MetricsExporter` for the main `/metrics` (this module does not
/// depend on the web module).
public final class MetricsSnapshotExporter: Sendable {
    private struct State: Sendable {
        var parts: [String: [MetricFamily]] = [:]
        var exposition: [UInt8] = []
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Creates an empty exporter.
    public init() {}

    /// Replaces the families of one part (all at once) and re-renders the exposition.
    ///
    /// - Parameters:
    ///   - families: The complete families of the part; families without samples are left out.
    ///   - part: The part's key; the default suits exporters with a single poller.
    public func publish(_ families: [MetricFamily], part: String = "") {
        state.withLock { state in
            state.parts[part] = families
            state.exposition = Self.render(state.parts)
            state.generation &+= 1
        }
    }

    /// Removes a part (for example an instance that was taken out of the configuration).
    public func remove(part: String) {
        state.withLock { state in
            guard state.parts.removeValue(forKey: part) != nil else { return }
            state.exposition = Self.render(state.parts)
            state.generation &+= 1
        }
    }

    /// Appends the current exposition text to a buffer.
    public func emit(into buffer: inout [UInt8]) {
        let text = state.withLock { $0.exposition }
        buffer.append(contentsOf: text)
    }

    /// The current exposition text.
    public var exposition: [UInt8] { state.withLock { $0.exposition } }

    /// How many snapshots were published so far.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// The current families of one part.
    public func families(part: String = "") -> [MetricFamily] {
        state.withLock { $0.parts[part] ?? [] }
    }

    private static func render(_ parts: [String: [MetricFamily]]) -> [UInt8] {
        if parts.count == 1, let only = parts.values.first { return PrometheusText.render(only) }
        var merged: [MetricFamily] = []
        var index: [String: Int] = [:]
        for key in parts.keys.sorted() {
            for family in parts[key] ?? [] {
                if let position = index[family.name] {
                    merged[position].samples += family.samples
                } else {
                    index[family.name] = merged.count
                    merged.append(family)
                }
            }
        }
        return PrometheusText.render(merged)
    }
}
