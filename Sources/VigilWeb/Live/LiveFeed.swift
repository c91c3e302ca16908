//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
import Metrics
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
/// Metrics (swift-metrics, exported by `/metrics`): `vigil_live_clients` (gauge),
/// `vigil_live_messages_sent_total`, `vigil_live_states_coalesced_total` and
/// `vigil_live_disconnects_total{reason="slow"|"stalled"}`.
public final class LiveFeed: Service, Sendable {
    /// One connected client as the feed sees it.
    final class Connection: Sendable {
        let id: Int
        let queue: LiveClientQueue
        private let routing: Mutex<(filter: LiveFilter, writer: LiveChannelWriter?)>
        private let aborted = Atomic<Bool>(false)
        private let onAbort: @Sendable (_ reason: String) -> Void

        init(id: Int, filter: LiveFilter, limits: LiveClientQueue.Limits, onAbort: @escaping @Sendable (_ reason: String) -> Void) {
            self.id = id
            self.queue = LiveClientQueue(limits: limits)
            self.routing = Mutex((filter, nil))
            self.onAbort = onAbort
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

        /// Queues a message that is not a hub update (a reply, a snapshot) and sends it soon.
        func send(_ message: ByteBuffer) {
            queue.push(message: message)
            writer?.scheduleDrain()
        }

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
    private let now: @Sendable () -> Double
    private let connections = Mutex<[Int: Connection]>([:])
    private let nextID = Atomic<Int>(1)
    private let limiter: Mutex<LiveSampleLimiter>
    private let epoch = ContinuousClock.now

    private let clientsGauge = Gauge(label: "vigil_live_clients")
    private let sentCounter = Counter(label: "vigil_live_messages_sent_total")
    private let coalescedCounter = Counter(label: "vigil_live_states_coalesced_total")
    private let slowCounter = Counter(label: "vigil_live_disconnects_total", dimensions: [("reason", "slow")])
    private let stalledCounter = Counter(label: "vigil_live_disconnects_total", dimensions: [("reason", "stalled")])

    /// Creates a feed.
    ///
    /// - Parameters:
    ///   - hub: The hub whose updates are carried.
    ///   - version: Vigil's version, sent in snapshots.
    ///   - configuration: Rates and limits.
    ///   - logger: Logger, label `vigil.web`.
    ///   - now: The clock, in seconds since the epoch.
    public init(
        hub: Hub,
        version: String,
        configuration: LiveConfiguration = .init(),
        logger: Logger = Logger(label: "vigil.web"),
        now: @escaping @Sendable () -> Double = wallClockSeconds
    ) {
        self.hub = hub
        self.version = version
        self.configuration = configuration
        self.logger = logger
        self.now = now
        self.limiter = Mutex(LiveSampleLimiter(interval: configuration.sampleInterval.seconds))
    }

    /// How many clients are connected.
    public var clientCount: Int { connections.withLock { $0.count } }

    /// Distributes hub updates until graceful shutdown, then closes every client queue.
    public func run() async throws {
        let updates = hub.bus.subscribe(bufferSize: 65_536)
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
    func connect(filter: LiveFilter, onAbort: @escaping @Sendable (_ reason: String) -> Void) -> Connection {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        let connection = Connection(
            id: id,
            filter: filter,
            limits: .init(maxPendingEvents: configuration.maxPendingEvents),
            onAbort: onAbort
        )
        let count = connections.withLock { connections -> Int in
            connections[id] = connection
            return connections.count
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
        return LiveMessage.encode(LiveMessage.Snapshot(time: now(), version: version, states: states, events: events, lastEventID: lastEventID))
    }

    /// Counts messages a client's writer has sent.
    func countSent(_ count: Int) {
        sentCounter.increment(by: count)
    }

    /// Nanoseconds since the feed was created, on a monotonic clock.
    func monotonicNanoseconds() -> Int64 {
        let elapsed = (ContinuousClock.now - epoch).components
        return elapsed.seconds * 1_000_000_000 + elapsed.attoseconds / 1_000_000_000
    }

    // MARK: - Distribution

    /// Filters, encodes and queues one hub update for every client.
    func dispatch(_ update: HubUpdate) {
        switch update {
        case .state(let state):
            let seconds = Double(monotonicNanoseconds()) / 1e9
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
                if client.abort(reason: "too slow") {
                    slowCounter.increment()
                    logger.info("Live client too slow; disconnected", metadata: ["live.client": "\(client.id)"])
                }
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
        var lastHeartbeat = ContinuousClock.now
        let writeTimeout = Int64(configuration.writeTimeout.seconds * 1e9)
        while !Task.isCancelled {
            do { try await Task.sleep(for: period) } catch { return }
            let seconds = Double(monotonicNanoseconds()) / 1e9
            for state in limiter.withLock({ $0.due(now: seconds) }) {
                fanOut(.state(state))
            }
            let clients = connections.withLock { Array($0.values) }
            let current = monotonicNanoseconds()
            for client in clients {
                guard let started = client.writer?.blockedSince.load(ordering: .relaxed) else { continue }
                if started != 0, current - started > writeTimeout, client.abort(reason: "stalled") {
                    stalledCounter.increment()
                    logger.info("Live client stalled; disconnected", metadata: ["live.client": "\(client.id)"])
                }
            }
            if ContinuousClock.now - lastHeartbeat >= configuration.heartbeatInterval {
                lastHeartbeat = ContinuousClock.now
                if !clients.isEmpty {
                    let heartbeat = LiveMessage.encode(LiveMessage.Heartbeat(time: now()))
                    for client in clients { client.queue.pushHeartbeat(heartbeat) }
                    LiveChannelWriter.scheduleDrains(clients.compactMap(\.writer))
                }
            }
        }
    }
}
