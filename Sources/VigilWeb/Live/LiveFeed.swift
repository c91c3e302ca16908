//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
public import Metrics
import NIOCore
public import ServiceLifecycle
import Synchronization
public import VigilCore

/// Carries hub updates to the live WebSocket clients.
///
/// One subscription to the hub's ``EventBus`` feeds every client: each update is filtered per
/// client, encoded once, and pushed into the client's own ``LiveClientQueue`` (states coalesce per
/// target, events queue in order). Sample-only updates of a target are limited to one per
/// ``LiveConfiguration/sampleInterval`` by a ``LiveSampleLimiter``. A ticker sends heartbeats,
/// flushes held samples and disconnects clients whose socket has stopped accepting data.
///
/// Bounds: at most ``LiveConfiguration/maxClients`` clients (one more is refused), and per client
/// ``LiveConfiguration/maxPendingEvents`` queued events, ``LiveConfiguration/maxQueuedBytes``
/// queued bytes and ``LiveConfiguration/maxRequestsPerSecond`` messages from it; a client past one
/// of these is disconnected.
///
/// Metrics (swift-metrics, exported by `/metrics`): `vigil_live_clients` (gauge),
/// `vigil_live_messages_sent_total`, `vigil_live_states_coalesced_total`,
/// `vigil_live_refused_total{reason="max_clients"}` and
/// `vigil_live_disconnects_total{reason="slow"|"queued_bytes"|"requests"|"stalled"}`.
public final class LiveFeed: Service, Sendable {
    /// One connected client as the feed sees it.
    final class Connection: Sendable {
        let id: Int
        let queue: LiveClientQueue
        private let routing: Mutex<(filter: LiveFilter, writer: LiveChannelWriter?)>
        private let requests: Mutex<LiveRequestLimiter>
        private let aborted = Atomic<Bool>(false)
        private let onAbort: @Sendable (_ reason: String) -> Void

        init(
            id: Int,
            filter: LiveFilter,
            limits: LiveClientQueue.Limits,
            requests: LiveRequestLimiter,
            onAbort: @escaping @Sendable (_ reason: String) -> Void
        ) {
            self.id = id
            self.queue = LiveClientQueue(limits: limits)
            self.routing = Mutex((filter, nil))
            self.requests = Mutex(requests)
            self.onAbort = onAbort
        }

        /// Counts one message from the client; `false` when it sent more than its rate allows.
        func allowRequest(now: Double) -> Bool {
            requests.withLock { $0.allow(now: now) }
        }

        var filter: LiveFilter {
            get { routing.withLock { $0.filter } }
            set { routing.withLock { $0.filter = newValue } }
        }

        /// The writer that drains the queue to the socket; `nil` until the socket starts (and in
        /// tests that read the queue directly).
        var writer: LiveChannelWriter? {
            get { routing.withLock { $0.writer } }
            set { routing.withLock { $0.writer = newValue } }
        }

        /// The filter and the writer, read under one lock.
        var route: (filter: LiveFilter, writer: LiveChannelWriter?) { routing.withLock { $0 } }

        /// Whether the connection was aborted.
        var isAborted: Bool { aborted.load(ordering: .relaxed) }

        /// Closes the client's connection at once; returns `false` when it was already aborted.
        @discardableResult
        func abort(reason: String) -> Bool {
            guard aborted.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return false }
            queue.close()
            onAbort(reason)
            return true
        }
    }

    private let hub: Hub
    private let version: String
    private let configuration: LiveConfiguration
    private let logger: Logger
    /// Monotonic time for rates, held samples, heartbeats and stall detection; wall time for stamps.
    let clock: any VigilClock
    private let connections = Mutex<[Int: Connection]>([:])
    private let nextID = Atomic<Int>(1)
    private let limiter: Mutex<LiveSampleLimiter>

    private let clientsGauge: Gauge
    private let sentCounter: Counter
    private let coalescedCounter: Counter
    private let refusedCounter: Counter
    private let disconnectCounters: [Disconnect: Counter]

    /// Why the feed closed a client, the `reason` label of `vigil_live_disconnects_total`.
    enum Disconnect: String, Sendable, CaseIterable {
        /// Too many queued events (or targets).
        case slow
        /// Too many queued bytes.
        case queuedBytes = "queued_bytes"
        /// Too many messages from the client.
        case requests
        /// The socket accepted nothing for too long.
        case stalled
    }

    /// Creates a feed.
    ///
    /// - Parameters:
    ///   - hub: The hub whose updates are carried.
    ///   - version: Vigil's version, sent in snapshots.
    ///   - configuration: Rates and limits.
    ///   - logger: Logger, label `vigil.web`.
    ///   - clock: Wall clock for snapshot and heartbeat stamps, monotonic time for rates, held
    ///     samples, heartbeats and stall detection.
    ///   - metricsFactory: Where the feed's metrics are created; tests inject `TestMetrics`.
    public init(
        hub: Hub,
        version: String,
        configuration: LiveConfiguration = .init(),
        logger: Logger = Logger(label: "vigil.web"),
        clock: any VigilClock = SystemClock(),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.clientsGauge = Gauge(label: "vigil_live_clients", factory: metricsFactory)
        self.sentCounter = Counter(label: "vigil_live_messages_sent_total", factory: metricsFactory)
        self.coalescedCounter = Counter(label: "vigil_live_states_coalesced_total", factory: metricsFactory)
        self.refusedCounter = Counter(label: "vigil_live_refused_total", dimensions: [("reason", "max_clients")], factory: metricsFactory)
        var disconnects: [Disconnect: Counter] = [:]
        for reason in Disconnect.allCases {
            disconnects[reason] = Counter(label: "vigil_live_disconnects_total", dimensions: [("reason", reason.rawValue)], factory: metricsFactory)
        }
        self.disconnectCounters = disconnects
        self.hub = hub
        self.version = version
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        self.limiter = Mutex(LiveSampleLimiter(interval: configuration.sampleInterval.seconds))
    }

    /// How many clients are connected.
    public var clientCount: Int { connections.withLock { $0.count } }

    /// Distributes hub updates until graceful shutdown, then closes every client queue.
    public func run() async throws {
        let updates = hub.bus.subscribe(name: "live")
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await update in updates { self.dispatch(update) }
                }
                group.addTask {
                    await self.tick()
                }
                await group.next()
                group.cancelAll()
            }
        }
        for connection in connections.withLock({ Array($0.values) }) { connection.queue.close() }
    }

    // MARK: - Clients

    /// Registers a client; updates are queued for it from now on.
    ///
    /// - Returns: The connection, or `nil` when ``LiveConfiguration/maxClients`` are connected
    ///   already (counted in `vigil_live_refused_total{reason="max_clients"}`).
    func connect(filter: LiveFilter, onAbort: @escaping @Sendable (_ reason: String) -> Void) -> Connection? {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        let connection = Connection(
            id: id,
            filter: filter,
            limits: .init(maxPendingEvents: configuration.maxPendingEvents, maxQueuedBytes: configuration.maxQueuedBytes),
            requests: LiveRequestLimiter(perSecond: configuration.maxRequestsPerSecond, now: monotonicSeconds()),
            onAbort: onAbort
        )
        let count = connections.withLock { connections -> Int? in
            guard connections.count < configuration.maxClients else { return nil }
            connections[id] = connection
            return connections.count
        }
        guard let count else {
            refusedCounter.increment()
            logger.debug("Live client refused: too many clients", metadata: ["live.max_clients": "\(configuration.maxClients)"])
            return nil
        }
        clientsGauge.record(count)
        logger.debug("Live client connected", metadata: ["live.client": "\(id)", "live.clients": "\(count)"])
        return connection
    }

    /// Forgets a client.
    func disconnect(_ connection: Connection) {
        connection.queue.close()
        let count = connections.withLock { connections -> Int in
            connections[connection.id] = nil
            return connections.count
        }
        clientsGauge.record(count)
        logger.debug("Live client disconnected", metadata: ["live.client": "\(connection.id)", "live.clients": "\(count)"])
    }

    /// The snapshot message for a filter: the latest states and recent events that pass it.
    func snapshot(filter: LiveFilter) async -> ByteBuffer {
        let states = filter.states ? await hub.states().filter { filter.passes($0.target) } : []
        var events: [Event] = []
        if filter.events, configuration.snapshotEvents > 0 {
            do {
                events = try await hub.events(limit: configuration.snapshotEvents).filter { filter.passes(.event($0)) }
            } catch {
                logger.warning("Could not read events for a live snapshot", metadata: ["error": "\(error)"])
            }
        }
        let lastEventID = events.last?.id ?? 0
        return LiveMessage.encode(
            LiveMessage.Snapshot(time: clock.wallClockSeconds, version: version, states: states, events: events, lastEventID: lastEventID)
        )
    }

    /// Queues a message that is not a hub update (a reply, a snapshot) and sends it soon; a client
    /// whose queue overflows is disconnected.
    func send(_ message: ByteBuffer, to connection: Connection) {
        switch connection.queue.push(message: message) {
        case .queued, .coalesced: connection.writer?.scheduleDrain()
        case .overflow: abortOverflowed(connection)
        case .closed: break
        }
    }

    /// Counts one message from a client; when it has sent too many, disconnects it and returns `false`.
    func admitRequest(from connection: Connection) -> Bool {
        guard connection.allowRequest(now: monotonicSeconds()) else {
            abort(connection, .requests, reason: "too many messages (limit \(configuration.maxRequestsPerSecond) per second)")
            return false
        }
        return true
    }

    /// Disconnects a client whose queue overflowed, naming the bound it passed.
    private func abortOverflowed(_ connection: Connection) {
        switch connection.queue.overflow {
        case .bytes: abort(connection, .queuedBytes, reason: "too slow (more than \(configuration.maxQueuedBytes) bytes queued)")
        case .events, .states, nil: abort(connection, .slow, reason: "too slow")
        }
    }

    /// Closes a client's connection once, counting and logging why.
    private func abort(_ connection: Connection, _ why: Disconnect, reason: String) {
        guard connection.abort(reason: reason) else { return }
        disconnectCounters[why]?.increment()
        logger.info("Live client disconnected: \(reason)", metadata: ["live.client": "\(connection.id)", "live.reason": "\(why.rawValue)"])
    }

    /// Counts messages a client's writer has sent.
    func countSent(_ count: Int) {
        sentCounter.increment(by: count)
    }

    /// Monotonic seconds, for rates and held samples.
    func monotonicSeconds() -> Double {
        clock.now.seconds
    }

    /// The wall clock, for the stamps of snapshots and heartbeats.
    var wallClockSeconds: Double { clock.wallClockSeconds }

    // MARK: - Distribution

    /// Filters, encodes and queues one hub update for every client.
    func dispatch(_ update: HubUpdate) {
        switch update {
        case .state(let state):
            let seconds = monotonicSeconds()
            guard let state = limiter.withLock({ $0.offer(state, now: seconds) }) else { return }
            fanOut(.state(state))
        case .removed(let target):
            limiter.withLock { $0.forget(target) }
            fanOut(update)
        case .event:
            fanOut(update)
        }
    }

    private func fanOut(_ update: HubUpdate) {
        let clients = connections.withLock { Array($0.values) }
        guard !clients.isEmpty else { return }
        var encoded: ByteBuffer?
        var coalesced = 0
        var wake: [LiveChannelWriter] = []
        for client in clients {
            let (filter, writer) = client.route
            guard filter.passes(update) else { continue }
            let message = encoded ?? LiveMessage.encode(update)
            encoded = message
            let result: LiveClientQueue.PushResult
            switch update {
            // A removal takes the place of a queued state of its target, and the other way round.
            case .state(let state): result = client.queue.push(state: state.target, message: message)
            case .removed(let target): result = client.queue.push(state: target, message: message)
            case .event: result = client.queue.push(message: message)
            }
            switch result {
            case .queued:
                if let writer { wake.append(writer) }
            case .coalesced:
                coalesced += 1
            case .overflow:
                abortOverflowed(client)
            case .closed:
                break
            }
        }
        LiveChannelWriter.scheduleDrains(wake)
        if coalesced > 0 { coalescedCounter.increment(by: coalesced) }
    }

    /// Flushes held samples, sends heartbeats and disconnects stalled clients until cancelled.
    private func tick() async {
        let period = max(.milliseconds(10), min(configuration.sampleInterval / 4, .milliseconds(250)))
        var lastHeartbeat = clock.now
        let writeTimeout = Int64(configuration.writeTimeout.seconds * 1e9)
        while !Task.isCancelled {
            do { try await clock.sleep(for: period) } catch { return }
            let seconds = monotonicSeconds()
            for state in limiter.withLock({ $0.due(now: seconds) }) {
                fanOut(.state(state))
            }
            let clients = connections.withLock { Array($0.values) }
            let current = clock.now.nanoseconds
            for client in clients {
                guard let started = client.writer?.blockedSince.load(ordering: .relaxed) else { continue }
                if started != 0, current - started > writeTimeout {
                    abort(client, .stalled, reason: "stalled")
                }
            }
            if lastHeartbeat.duration(to: clock.now) >= configuration.heartbeatInterval {
                lastHeartbeat = clock.now
                if !clients.isEmpty {
                    let heartbeat = LiveMessage.encode(LiveMessage.Heartbeat(time: clock.wallClockSeconds))
                    for client in clients { client.queue.pushHeartbeat(heartbeat) }
                    LiveChannelWriter.scheduleDrains(clients.compactMap(\.writer))
                }
            }
        }
    }
}
