//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import VigilCore

/// One metric family of Prometheus text exposition (format 0.0.4): a name, its help text, its type
/// and its samples.
///
/// The stream exporters build immutable lists of families once per poll cycle and render them with
/// ``PrometheusText/render(_:into:)``. Keeping them out of the swift-metrics registry is what lets a
/// whole cycle replace the previous one at once and lets series of vanished streams disappear.
public struct MetricFamily: Sendable, Hashable {
    /// The type written on the `# TYPE` line.
    public enum Kind: String, Sendable, Hashable {
        /// A value that goes up and down.
        case gauge
        /// A running total.
        case counter
        /// A value without a declared type. Used for the seed-004 gauges whose names end in
        /// `_total` (`camera_stream_total`, `camera_stream_status_total`): Prometheus treats them like
        /// gauges, and `promtool check metrics` rejects a *gauge* named `…_total`.
        case untyped
    }

    /// One sample: its labels, in order, and its value.
    public struct Sample: Sendable, Hashable {
        /// Label names and values, written in this order.
        public var labels: [Label]
        /// The value.
        public var value: Double

        /// Creates a sample.
        public init(_ labels: [Label], _ value: Double) {
            self.labels = labels
            self.value = value
        }
    }

    /// A label name and value.
    public struct Label: Sendable, Hashable {
        /// The label name.
        public var name: String
        /// The label value.
        public var value: String

        /// Creates a label.
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The metric name.
    public var name: String
    /// The help text.
    public var help: String
    /// The declared type.
    public var kind: Kind
    /// The samples, in output order.
    public var samples: [Sample]

    /// Creates a family.
    public init(name: String, help: String, kind: Kind, samples: [Sample] = []) {
        self.name = name
        self.help = help
        self.kind = kind
        self.samples = samples
    }
}

/// Renders ``MetricFamily`` values as Prometheus text exposition format 0.0.4.
public enum PrometheusText {
    /// Appends the families to a buffer. Families without samples are left out entirely.
    public static func render(_ families: [MetricFamily], into buffer: inout [UInt8]) {
        for family in families where !family.samples.isEmpty {
            buffer.append(contentsOf: "# HELP \(family.name) ".utf8)
            PrometheusEscaping.append(family.help, to: &buffer, quotes: false)
            buffer.append(UInt8(ascii: "\n"))
            buffer.append(contentsOf: "# TYPE \(family.name) \(family.kind.rawValue)\n".utf8)
            for sample in family.samples {
                buffer.append(contentsOf: family.name.utf8)
                PrometheusEscaping.appendLabels(sample.labels.lazy.map { ($0.name, $0.value) }, to: &buffer)
                buffer.append(UInt8(ascii: " "))
                buffer.append(contentsOf: format(sample.value).utf8)
                buffer.append(UInt8(ascii: "\n"))
            }
        }
    }

    /// Renders families to a new byte array.
    public static func render(_ families: [MetricFamily]) -> [UInt8] {
        var buffer: [UInt8] = []
        render(families, into: &buffer)
        return buffer
    }

    /// Formats a value the way the Python client does: integers as `1.0`, and `NaN`, `+Inf`, `-Inf`.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value == .infinity { return "+Inf" }
        if value == -.infinity { return "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return "\(Int64(value)).0" }
        return "\(value)"
    }
}
