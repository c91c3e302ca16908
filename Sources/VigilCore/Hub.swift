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
    /// How many buffered history points force an early write: the observation that reaches it
    /// waits for the write, so a source faster than the store is slowed down rather than the
    /// buffer growing. Default 5,000.
    public var maxBufferedPoints: Int

    /// Creates a configuration with the defaults above.
    public init(flushInterval: Duration = .seconds(1), maxBufferedPoints: Int = 5_000) {
        self.flushInterval = flushInterval
        self.maxBufferedPoints = maxBufferedPoints
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

    private var latest: [TargetID: TargetState] = [:]
    private var dirty: Set<TargetID> = []
    private var pendingPoints: [HistoryPoint] = []
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
        self.metrics = SampleMetrics(factory: metricsFactory)
        self.stores = stores
        self.bus = bus
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
    }

    /// Loads the latest states saved by a previous run, so the API is complete from the start.
    public func restore() async throws {
        for state in try await stores.latest.states(kind: nil) where latest[state.target] == nil {
            latest[state.target] = state
        }
        logger.debug("Restored latest states", metadata: ["hub.targets": "\(latest.count)"])
    }

    /// Applies an observation: updates the target's state, metrics and history, and publishes the
    /// change. When ``HubConfiguration/maxBufferedPoints`` history points are waiting, it writes them
    /// before returning.
    public func apply(_ observation: Observation) async {
        record(observation)
        if pendingPoints.count >= configuration.maxBufferedPoints { await flush() }
    }

    private func record(_ observation: Observation) {
        var state = latest[observation.target] ?? TargetState(target: observation.target, since: observation.time, updatedAt: observation.time)
        state.apply(observation)
        latest[observation.target] = state
        dirty.insert(observation.target)
        for sample in observation.samples {
            metrics.record(sample, for: observation.target)
            if sample.recordHistory {
                pendingPoints.append(HistoryPoint(series: sample.seriesKey(for: observation.target), time: observation.time, value: sample.value))
            }
        }
        bus.publish(.state(state))
    }

    /// Applies several observations.
    public func apply(_ observations: [Observation]) async {
        for observation in observations {
            record(observation)
            if pendingPoints.count >= configuration.maxBufferedPoints { await flush() }
        }
    }

    /// Forgets a target (for example a stream that no longer exists).
    public func remove(_ target: TargetID) async {
        if latest.removeValue(forKey: target) != nil { bus.publish(.removed(target)) }
        dirty.remove(target)
        // Its metric series must vanish too, or /metrics would report a stream that no longer exists.
        metrics.destroy(target)
        do {
            try await stores.latest.remove(target)
        } catch {
            logger.warning("Could not remove target state", metadata: ["target": "\(target)", "error": "\(error)"])
        }
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

    /// The latest state of one target.
    public func state(of target: TargetID) -> TargetState? { latest[target] }

    /// The latest states, optionally of one kind, ordered by target.
    public func states(kind: TargetKind? = nil) -> [TargetState] {
        latest.values.filter { kind == nil || $0.target.kind == kind }.sorted { $0.target < $1.target }
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
        if !pendingPoints.isEmpty {
            let points = pendingPoints
            pendingPoints.removeAll(keepingCapacity: true)
            do {
                try await stores.history.append(points)
            } catch {
                logger.error("Could not write history", metadata: ["points": "\(points.count)", "error": "\(error)"])
            }
        }
        if !dirty.isEmpty {
            let states = dirty.compactMap { latest[$0] }
            dirty.removeAll(keepingCapacity: true)
            do {
                try await stores.latest.upsert(states)
            } catch {
                logger.error("Could not write latest states", metadata: ["states": "\(states.count)", "error": "\(error)"])
            }
        }
    }

    /// Flushes periodically until graceful shutdown, then once more.
    public func run() async throws {
        let interval = configuration.flushInterval
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await self.clock.sleep(for: interval)
                await self.flush()
            }
        }
        await flush()
    }
}

/// swift-metrics instruments for samples, created once per series and kept per target.
///
/// A target has a handful of samples, so its instruments are a small array searched by name and
/// labels: no series-key string is built per sample, and removing a target drops one entry.
struct SampleMetrics {
    let factory: any MetricsFactory
    private var instruments: [TargetID: [Instrument]] = [:]

    private struct Instrument {
        var name: String
        var labels: [Label]
        var handle: Handle
    }

    private enum Handle {
        case gauge(Gauge)
        /// A running total's counter and the total it last saw.
        case counter(FloatingPointCounter, last: Double)
    }

    init(factory: any MetricsFactory) { self.factory = factory }

    /// Destroys every instrument of a target, so its series leave the exposition.
    mutating func destroy(_ target: TargetID) {
        for instrument in instruments.removeValue(forKey: target) ?? [] {
            switch instrument.handle {
            case .gauge(let gauge): gauge.destroy()
            case .counter(let counter, _): counter.destroy()
            }
        }
    }

    mutating func record(_ sample: Sample, for target: TargetID) {
        if let index = instruments[target]?.firstIndex(where: { $0.name == sample.name && $0.labels == sample.labels }) {
            switch instruments[target]![index].handle {
            case .gauge(let gauge):
                gauge.record(sample.value)
            case .counter(let counter, let last):
                let delta = counterIncrease(from: last, to: sample.value)
                if delta > 0 { counter.increment(by: delta) }
                instruments[target]![index].handle = .counter(counter, last: sample.value)
            }
            return
        }
        let handle: Handle
        switch sample.kind {
        case .gauge:
            let gauge = Gauge(label: sample.metricName(for: target), dimensions: sample.metricLabels(for: target), factory: factory)
            gauge.record(sample.value)
            handle = .gauge(gauge)
        case .counter:
            let counter = FloatingPointCounter(label: sample.metricName(for: target), dimensions: sample.metricLabels(for: target), factory: factory)
            if sample.value > 0 { counter.increment(by: sample.value) }
            handle = .counter(counter, last: sample.value)
        }
        instruments[target, default: []].append(Instrument(name: sample.name, labels: sample.labels, handle: handle))
    }
}
