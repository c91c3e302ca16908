//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
public import Metrics
public import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Settings of the ``Hub``.
public struct HubConfiguration: Sendable {
    /// How often buffered history points and state changes are written to the stores. Default 1 s.
    public var flushInterval: Duration
    /// The most history points buffered: the observation that reaches it waits for a write, so a
    /// source faster than the store is slowed down rather than the buffer growing. Half of it
    /// starts a write in the background (from ``Hub/run()``) while observations keep coming.
    /// Default 200,000 (about 6 MB): at 150,000 samples/s the timer's writes stay the rule, and
    /// each write is large, which is what keeps SQLite's cost per point low (a transaction
    /// rewrites every index page it touches).
    public var maxBufferedPoints: Int
    /// How many targets of a kind get their own metric series (`vigil_device_up{device=…}`);
    /// later targets of that kind are only counted in `vigil_targets{kind,status}`, and each series
    /// they would have had in `vigil_hub_series_refused_total{kind}`. Kinds not listed are unbounded.
    /// Their state, history and API are not affected.
    public var seriesTargetLimits: [TargetKind: Int]

    /// Creates a configuration with the defaults above.
    public init(flushInterval: Duration = .seconds(1), maxBufferedPoints: Int = 200_000, seriesTargetLimits: [TargetKind: Int] = [:]) {
        self.flushInterval = flushInterval
        self.maxBufferedPoints = maxBufferedPoints
        self.seriesTargetLimits = seriesTargetLimits
    }
}

/// The single place where observations become state, history, metrics and live updates.
///
/// Sources call ``apply(_:)``; the hub keeps the latest state of every target in memory (the API
/// reads it from here), buffers history points and dirty states and writes them to the stores in
/// batches from ``run()``, exports each sample as a swift-metrics instrument, and publishes changes
/// on the ``EventBus``. Events are written through at once, because they are rare and operators
/// rely on them.
public actor Hub: Service {
    private let stores: Stores
    /// The bus that carries state changes and events to live subscribers.
    public nonisolated let bus: EventBus
    private let configuration: HubConfiguration
    private let logger: Logger
    /// The clock of the sources feeding this hub (``SystemClock`` in production).
    public nonisolated let clock: any VigilClock

    /// Each target's state and metric instruments, in one entry so that a target costs one
    /// dictionary slot.
    private var latest: [TargetID: TargetEntry] = [:]
    private var dirty: Set<TargetID> = []
    private var pendingPoints: [HistoryPoint] = []
    /// Asks ``run()`` for a history write once half the buffer is used; at most one request waits.
    private nonisolated let historyWrites: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation)
    private var historyWriteRequested = false
    private var metrics: SampleMetrics

    /// Creates a hub.
    ///
    /// - Parameters:
    ///   - stores: Where state, history and events are persisted.
    ///   - bus: Where live updates go.
    ///   - configuration: Batching settings.
    ///   - logger: Logger, label `vigil.hub`.
    ///   - clock: The clock; tests pass a ``ManualClock``.
    ///   - metricsFactory: Where sample metrics are created; tests inject `TestMetrics`.
    public init(
        stores: Stores,
        bus: EventBus = EventBus(),
        configuration: HubConfiguration = .init(),
        logger: Logger = Logger(label: "vigil.hub"),
        clock: any VigilClock = SystemClock(),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.metrics = SampleMetrics(factory: metricsFactory, limits: configuration.seriesTargetLimits)
        self.stores = stores
        self.bus = bus
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        self.historyWrites = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Loads the latest states saved by a previous run, so the API is complete from the start.
    public func restore() async throws {
        for state in try await stores.latest.states(kind: nil) where latest[state.target] == nil {
            latest[state.target] = TargetEntry(state: state)
            metrics.count(state.target.kind, from: nil, to: state.status)
        }
        logger.debug("Restored latest states", metadata: ["hub.targets": "\(latest.count)"])
    }

    /// Applies an observation: updates the target's state, metrics and history, and publishes the
    /// change. When ``HubConfiguration/maxBufferedPoints`` history points are waiting, it writes them
    /// before returning.
    public func apply(_ observation: Observation) async {
        record(observation)
        if pendingPoints.count >= configuration.maxBufferedPoints { await writeHistory() }
    }

    private func record(_ observation: Observation) {
        let target = observation.target
        let index: Dictionary<TargetID, TargetEntry>.Index
        let changes: TargetState.Changes
        if let existing = latest.index(forKey: target) {
            index = existing
            let before = latest.values[index].state.status
            // Changed in place: a copy of the state would copy its dictionaries on write.
            changes = latest.values[index].state.update(with: observation)
            if changes.contains(.status) { metrics.count(target.kind, from: before, to: latest.values[index].state.status) }
        } else {
            var state = TargetState(target: target, since: observation.time, updatedAt: observation.time)
            _ = state.update(with: observation)
            metrics.count(target.kind, from: nil, to: state.status)
            latest[target] = TargetEntry(state: state)
            index = latest.index(forKey: target)!
            changes = [.status, .content]
        }
        for sample in observation.samples {
            let seriesKey = metrics.record(sample, for: target, instruments: &latest.values[index].instruments)
            if let seriesKey {
                pendingPoints.append(HistoryPoint(series: seriesKey, time: observation.time, value: sample.value))
            }
        }
        if !historyWriteRequested, pendingPoints.count >= configuration.maxBufferedPoints / 2 {
            historyWriteRequested = true
            historyWrites.continuation.yield()
        }
        // A report that repeats what is known is neither written again nor sent to live clients.
        guard !changes.isEmpty else { return }
        dirty.insert(target)
        bus.publish(.state(latest.values[index].state))
    }

    /// Applies several observations.
    public func apply(_ observations: [Observation]) async {
        for observation in observations {
            record(observation)
            if pendingPoints.count >= configuration.maxBufferedPoints { await writeHistory() }
        }
    }

    /// Forgets a target (for example a stream that no longer exists).
    public func remove(_ target: TargetID) async {
        if let entry = latest.removeValue(forKey: target) {
            // Its metric series must vanish too, or /metrics would report a stream that no longer exists.
            metrics.destroy(entry.instruments, of: target)
            metrics.count(target.kind, from: entry.state.status, to: nil)
            bus.publish(.removed(target))
        }
        dirty.remove(target)
        do {
            try await stores.latest.remove(target)
        } catch {
            logger.warning("Could not remove target state", metadata: ["target": "\(target)", "error": "\(error)"])
        }
    }

    /// Takes in the state of a target that another instance monitors (told through a shared
    /// store's fan-out): it joins the view that the API and the live feed show, is not written
    /// to the store again (its own instance writes it) and records no samples. An older state
    /// than the one held is ignored.
    ///
    /// - Returns: Whether the state was taken (and published on ``bus``).
    @discardableResult
    public func merge(_ state: TargetState) -> Bool {
        if let index = latest.index(forKey: state.target) {
            let held = latest.values[index].state
            guard state.updatedAt >= held.updatedAt, state != held else { return false }
            metrics.count(state.target.kind, from: held.status, to: state.status)
            latest.values[index].state = state
        } else {
            metrics.count(state.target.kind, from: nil, to: state.status)
            latest[state.target] = TargetEntry(state: state)
        }
        bus.publish(.state(state))
        return true
    }

    /// Forgets a target that another instance removed (the store row is gone already).
    ///
    /// - Returns: Whether the target was known (and its removal published on ``bus``).
    @discardableResult
    public func mergeRemoval(of target: TargetID) -> Bool {
        guard let entry = latest.removeValue(forKey: target) else { return false }
        metrics.destroy(entry.instruments, of: target)
        metrics.count(target.kind, from: entry.state.status, to: nil)
        dirty.remove(target)
        bus.publish(.removed(target))
        return true
    }

    /// Records an event durably and publishes it.
    ///
    /// - Returns: The event with its assigned id (or id 0 when the store failed; the event is still published).
    @discardableResult
    public func record(_ event: Event) async -> Event {
        var stored = event
        do {
            stored = try await stores.events.append(event)
        } catch {
            logger.error("Could not store event", metadata: ["event.type": "\(event.type)", "error": "\(error)"])
        }
        bus.publish(.event(stored))
        return stored
    }

    /// Records events durably (one store write where the store batches) and publishes them, in order.
    @discardableResult
    public func record(_ events: [Event]) async -> [Event] {
        guard !events.isEmpty else { return [] }
        var stored = events
        do {
            stored = try await stores.events.append(contentsOf: events)
        } catch {
            logger.error("Could not store events", metadata: ["events": "\(events.count)", "error": "\(error)"])
        }
        for event in stored { bus.publish(.event(event)) }
        return stored
    }

    /// The latest state of one target.
    public func state(of target: TargetID) -> TargetState? { latest[target]?.state }

    /// The latest states, optionally of one kind, ordered by target.
    public func states(kind: TargetKind? = nil) -> [TargetState] {
        // The ids are sorted, not the states: a state is large, and moving 100,000 of them through
        // a merge sort (a retain and release per field per move) was most of an idle fleet's CPU
        // (the alerting round reads every state every 10 s).
        var ids = kind.map { kind in latest.keys.filter { $0.kind == kind } } ?? Array(latest.keys)
        ids.sort()
        return ids.compactMap { latest[$0]?.state }
    }

    /// Recent events from the event log.
    public func events(afterID: Int64? = nil, since: Double? = nil, limit: Int = 100) async throws -> [Event] {
        try await stores.events.events(afterID: afterID, since: since, limit: limit)
    }

    /// A history query, see ``HistoryStore/query(series:from:to:step:)``. Points not yet flushed are
    /// written first so that a query sees everything observed so far.
    public func history(series: String, from: Double, to: Double, step: Double) async throws -> [HistoryPoint] {
        await flush()
        return try await stores.history.query(series: series, from: from, to: to, step: step)
    }

    /// The series keys known for a prefix (for example `host/` or `stream/cam1/`).
    public func series(prefix: String) async throws -> [String] {
        await flush()
        return try await stores.history.series(prefix: prefix)
    }

    /// Writes buffered history points and changed states to the stores.
    public func flush() async {
        await writeHistory()
        if !dirty.isEmpty {
            let states = dirty.compactMap { latest[$0]?.state }
            dirty.removeAll(keepingCapacity: true)
            do {
                try await stores.latest.upsert(states)
            } catch {
                logger.error("Could not write latest states", metadata: ["states": "\(states.count)", "error": "\(error)"])
            }
        }
    }

    /// Writes the buffered history points. The hub keeps taking observations while the store
    /// writes (the actor is free during the `await`); changed states wait for the timer, because
    /// rewriting a large fleet's states several times a second would cost more than the points.
    private func writeHistory() async {
        historyWriteRequested = false
        guard !pendingPoints.isEmpty else { return }
        // Swapped, not copied: the buffer written is handed over whole and a new one started.
        var points: [HistoryPoint] = []
        points.reserveCapacity(pendingPoints.count)
        swap(&points, &pendingPoints)
        do {
            try await stores.history.append(points)
        } catch {
            logger.error("Could not write history", metadata: ["points": "\(points.count)", "error": "\(error)"])
        }
    }

    /// Flushes periodically, and writes history early when half the buffer is used, until graceful
    /// shutdown; then flushes once more.
    public func run() async throws {
        let interval = configuration.flushInterval
        try? await cancelWhenGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    for await _ in self.historyWrites.stream { await self.writeHistory() }
                }
                while !Task.isCancelled {
                    try await self.clock.sleep(for: interval)
                    await self.flush()
                }
                group.cancelAll()
            }
        }
        await flush()
    }
}

/// A target's latest state and its metric instruments.
struct TargetEntry {
    var state: TargetState
    var instruments: [SampleInstrument] = []
}

/// One metric series of a target (or the record that it was refused), and the history series key
/// of its sample, built once.
struct SampleInstrument {
    var name: String
    var labels: [Label]
    var handle: Handle
    /// `nil` for samples kept without history.
    var seriesKey: String?

    enum Handle {
        case gauge(Gauge)
        /// A running total's counter and the total it last saw.
        case counter(FloatingPointCounter, last: Double)
        /// Beyond ``HubConfiguration/seriesTargetLimits``: no series.
        case refused
    }

    var isRefused: Bool {
        if case .refused = handle { return true }
        return false
    }
}

/// swift-metrics instruments for samples, created once per series and kept in each target's entry,
/// plus the per-status target counts that remain when a kind's per-target series are capped.
///
/// A target has a handful of samples, so its instruments are a small array searched by name and
/// labels: no series-key string is built per sample, and removing a target drops its entry.
struct SampleMetrics {
    let factory: any MetricsFactory
    let limits: [TargetKind: Int]
    /// Targets per kind that have series.
    private var admitted: [TargetKind: Int] = [:]
    private var refused: [TargetKind: Counter] = [:]
    private var statusCounts: [StatusKey: (count: Int, gauge: Gauge)] = [:]

    private struct StatusKey: Hashable {
        var kind: TargetKind
        var status: TargetStatus
    }

    init(factory: any MetricsFactory, limits: [TargetKind: Int]) {
        self.factory = factory
        self.limits = limits
    }

    /// Moves a target from one status to another in `vigil_targets{kind,status}` (`nil`: absent).
    mutating func count(_ kind: TargetKind, from old: TargetStatus?, to new: TargetStatus?) {
        guard old != new else { return }
        if let old { adjust(StatusKey(kind: kind, status: old), by: -1) }
        if let new { adjust(StatusKey(kind: kind, status: new), by: 1) }
    }

    private mutating func adjust(_ key: StatusKey, by delta: Int) {
        if statusCounts[key] == nil {
            let gauge = Gauge(label: "vigil_targets", dimensions: [("kind", key.kind.rawValue), ("status", key.status.rawValue)], factory: factory)
            statusCounts[key] = (0, gauge)
        }
        statusCounts[key]!.count += delta
        statusCounts[key]!.gauge.record(statusCounts[key]!.count)
    }

    /// Destroys a target's instruments, so its series leave the exposition.
    mutating func destroy(_ instruments: [SampleInstrument], of target: TargetID) {
        var hadSeries = false
        for instrument in instruments {
            switch instrument.handle {
            case .gauge(let gauge):
                gauge.destroy()
                hadSeries = true
            case .counter(let counter, _):
                counter.destroy()
                hadSeries = true
            case .refused: break
            }
        }
        if hadSeries, limits[target.kind] != nil { admitted[target.kind, default: 0] -= 1 }
    }

    /// Records a sample in its instrument (created on first use) and returns its history series
    /// key when it is kept as history.
    mutating func record(_ sample: Sample, for target: TargetID, instruments: inout [SampleInstrument]) -> String? {
        if let index = instruments.firstIndex(where: { $0.name == sample.name && $0.labels == sample.labels }) {
            switch instruments[index].handle {
            case .gauge(let gauge):
                gauge.record(sample.value)
            case .counter(let counter, let last):
                let delta = counterIncrease(from: last, to: sample.value)
                if delta > 0 { counter.increment(by: delta) }
                instruments[index].handle = .counter(counter, last: sample.value)
            case .refused:
                break
            }
            return instruments[index].seriesKey
        }
        let handle: SampleInstrument.Handle
        if admits(target, instruments) {
            switch sample.kind {
            case .gauge:
                let gauge = Gauge(label: sample.metricName(for: target), dimensions: sample.metricLabels(for: target), factory: factory)
                gauge.record(sample.value)
                handle = .gauge(gauge)
            case .counter:
                let counter = FloatingPointCounter(
                    label: sample.metricName(for: target),
                    dimensions: sample.metricLabels(for: target),
                    factory: factory
                )
                if sample.value > 0 { counter.increment(by: sample.value) }
                handle = .counter(counter, last: sample.value)
            }
        } else {
            handle = .refused
            if refused[target.kind] == nil {
                refused[target.kind] = Counter(
                    label: "vigil_hub_series_refused_total",
                    dimensions: [("kind", target.kind.rawValue)],
                    factory: factory
                )
            }
            refused[target.kind]!.increment()
        }
        let seriesKey = sample.recordHistory ? sample.seriesKey(for: target) : nil
        instruments.append(SampleInstrument(name: sample.name, labels: sample.labels, handle: handle, seriesKey: seriesKey))
        return seriesKey
    }

    /// Whether a target may have series: decided at its first instrument, against its kind's limit.
    private mutating func admits(_ target: TargetID, _ instruments: [SampleInstrument]) -> Bool {
        guard let limit = limits[target.kind] else { return true }
        if let first = instruments.first { return !first.isRefused }
        guard admitted[target.kind, default: 0] < limit else { return false }
        admitted[target.kind, default: 0] += 1
        return true
    }
}
