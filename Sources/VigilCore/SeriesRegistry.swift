//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import CoreMetrics
import Synchronization

/// The swift-metrics backend of the hub's per-target series, rendered as Prometheus text.
///
/// A fleet has many labelled series of few names (`vigil_device_up{device=…}` for every device).
/// swift-prometheus 2.4's registry copies a name's whole label table each time a series is added
/// to it, so creating n series of one name costs O(n²): about 12 minutes of start-up at 100,000
/// devices. Here each name's table is a reference, changed in place under one lock: creating or
/// destroying a series is O(1), and a scrape sorts the series by creation order (O(n log n)).
///
/// Counters and gauges are supported, the instruments the hub creates. A recorder is a gauge (its
/// last value; no histograms), a timer is a gauge of its last duration in seconds, a meter is a
/// gauge. Values are stored as the bit pattern of a `Double` in an atomic, so recording takes no
/// lock. Text follows swift-prometheus's: gauges as Swift prints a `Double` (`1.0`), counters as an
/// integer while they hold a whole number (`3`).
public final class SeriesRegistry: MetricsFactory, Sendable {
    /// What a name was first registered as; later registrations of another kind join that family.
    enum Kind: Sendable {
        case counter
        case gauge

        var typeLine: String {
            switch self {
            case .counter: "counter"
            case .gauge: "gauge"
            }
        }
    }

    /// One series: its rendered `name{labels} ` and its value.
    final class Cell: CounterHandler, FloatingPointCounterHandler, RecorderHandler, TimerHandler, MeterHandler, Sendable {
        let name: String
        let key: [UInt8]
        let kind: Kind
        let order: UInt64
        private let bits = Atomic<UInt64>(0)

        init(name: String, key: [UInt8], kind: Kind, order: UInt64) {
            self.name = name
            self.key = key
            self.kind = kind
            self.order = order
        }

        var value: Double { Double(bitPattern: bits.load(ordering: .relaxed)) }

        private func add(_ amount: Double) {
            var current = bits.load(ordering: .relaxed)
            while true {
                let next = (Double(bitPattern: current) + amount).bitPattern
                let (exchanged, original) = bits.compareExchange(expected: current, desired: next, ordering: .relaxed)
                if exchanged { return }
                current = original
            }
        }

        private func store(_ value: Double) { bits.store(value.bitPattern, ordering: .relaxed) }

        func increment(by amount: Int64) { if amount > 0 { add(Double(amount)) } }
        func increment(by amount: Double) { if amount > 0, amount.isFinite { add(amount) } }
        func reset() { store(0) }
        func record(_ value: Int64) { store(Double(value)) }
        func record(_ value: Double) { store(value) }
        func recordNanoseconds(_ duration: Int64) { store(Double(duration) / 1e9) }
        func set(_ value: Int64) { store(Double(value)) }
        func set(_ value: Double) { store(value) }
        func decrement(by amount: Double) { if amount.isFinite { add(-amount) } }
    }

    /// The series of one name, changed in place (a class, so the dictionary is never copied).
    final class Family {
        let kind: Kind
        var series: [[UInt8]: Cell] = [:]

        init(kind: Kind) { self.kind = kind }
    }

    private struct State: ~Copyable {
        var families: [String: Family] = [:]
        var created: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Creates an empty registry.
    public init() {}

    /// The number of series.
    public var seriesCount: Int {
        state.withLock { state in state.families.values.reduce(0) { $0 + $1.series.count } }
    }

    private func cell(_ name: String, _ dimensions: [(String, String)], _ kind: Kind) -> Cell {
        let key = Self.render(name, dimensions)
        return state.withLock { state in
            let family: Family
            if let existing = state.families[name] {
                family = existing
            } else {
                family = Family(kind: kind)
                state.families[name] = family
            }
            if let cell = family.series[key] { return cell }
            state.created += 1
            let cell = Cell(name: name, key: key, kind: kind, order: state.created)
            family.series[key] = cell
            return cell
        }
    }

    private func destroy(_ handler: AnyObject) {
        guard let cell = handler as? Cell else { return }
        state.withLock { state in
            guard let family = state.families[cell.name], family.series[cell.key] === cell else { return }
            family.series.removeValue(forKey: cell.key)
            if family.series.isEmpty { state.families.removeValue(forKey: cell.name) }
        }
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        cell(label, dimensions, .counter)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        cell(label, dimensions, .counter)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        cell(label, dimensions, .gauge)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        cell(label, dimensions, .gauge)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        cell(label, dimensions, .gauge)
    }

    public func destroyCounter(_ handler: any CounterHandler) { destroy(handler) }
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { destroy(handler) }
    public func destroyRecorder(_ handler: any RecorderHandler) { destroy(handler) }
    public func destroyTimer(_ handler: any TimerHandler) { destroy(handler) }
    public func destroyMeter(_ handler: any MeterHandler) { destroy(handler) }

    /// Appends the Prometheus text exposition of every series: names in alphabetical order, each
    /// name's series in creation order.
    public func emit(into buffer: inout [UInt8]) {
        let families: [(name: String, kind: Kind, cells: [Cell])] = state.withLock { state in
            state.families.map { ($0.key, $0.value.kind, Array($0.value.series.values)) }
        }
        for family in families.sorted(by: { $0.name < $1.name }) {
            buffer.append(contentsOf: "# TYPE \(family.name) \(family.kind.typeLine)\n".utf8)
            for cell in family.cells.sorted(by: { $0.order < $1.order }) {
                buffer.append(contentsOf: cell.key)
                Self.appendValue(cell.value, counter: family.kind == .counter, to: &buffer)
                buffer.append(UInt8(ascii: "\n"))
            }
        }
    }

    /// The text of a value: a counter's whole number as an integer, anything else as Swift prints
    /// a `Double` (`NaN`, `+Inf` and `-Inf` as Prometheus spells them).
    static func appendValue(_ value: Double, counter: Bool, to buffer: inout [UInt8]) {
        if value.isNaN {
            buffer.append(contentsOf: "NaN".utf8)
        } else if value.isInfinite {
            buffer.append(contentsOf: (value > 0 ? "+Inf" : "-Inf").utf8)
        } else if counter, value == value.rounded(), abs(value) < 9_007_199_254_740_992 {
            buffer.append(contentsOf: String(Int64(value)).utf8)
        } else {
            buffer.append(contentsOf: "\(value)".utf8)
        }
    }

    /// `name{label="value",…} `, values escaped as the text format requires.
    static func render(_ name: String, _ dimensions: [(String, String)]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(name.utf8.count + 32)
        bytes.append(contentsOf: name.utf8)
        PrometheusEscaping.appendLabels(dimensions, to: &bytes)
        bytes.append(UInt8(ascii: " "))
        return bytes
    }
}
