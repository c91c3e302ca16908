//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The failover rules of gxydb-api (seed 000) as a pure value type: inputs are status changes and
/// the passing of time, outputs are ``FailoverStateMachine/Output`` values the caller turns into
/// logs, metrics, events and MQTT publications.
///
/// The rules:
/// - A server fails only on an explicit transition from online to offline; a server never seen
///   online cannot fail, and staleness or missing admin replies are not failures.
/// - Only primaries fail over. An offline primary starts a timer of ``waitTime``; coming back
///   online before it fires cancels it.
/// - When the timer fires: event ``EventKind/triggered``; the first spare of the pool (the
///   failover servers in configuration order, first in first out) leaves the pool and takes over
///   (event ``EventKind/completed``).
/// - With no spare left: event ``EventKind/noFailover``, then the failed server's load is spread
///   round-robin over the primaries that are online (event ``EventKind/distributed``); with none
///   online, event ``EventKind/failed``.
/// - When a failed primary that has a mapping comes back online: event ``EventKind/recovered``; a
///   spare goes back to the *end* of the pool. Existing assignments are not moved back.
///
/// ```
///   online ──offline──► pending(deadline) ──deadline──► mapped(spare | distributed) | failed
///     ▲                      │online                        │online
///     └──────────────────────┴──────────────────────────────┘ (recovered when mapped)
/// ```
///
/// Time is passed in by the caller (seconds since the epoch), so tests drive it by hand.
public struct FailoverStateMachine: Sendable, Hashable {
    /// The kind of a failover event; the raw value is the `event` label of
    /// `galaxy_failover_events_total`.
    public enum EventKind: String, Sendable, Hashable, Codable, CaseIterable {
        /// The wait time of an offline primary ran out; failover starts.
        case triggered
        /// A spare took over a failed primary.
        case completed
        /// No spare and no online primary: the failed primary's load has nowhere to go.
        case failed
        /// No spare was left for a failed primary.
        case noFailover = "no_failover"
        /// A failed primary's load was spread over the online primaries (emergency mode).
        case distributed
        /// A failed primary with a mapping came back online.
        case recovered
    }

    /// Where the load of a failed primary went.
    public enum Mapping: Sendable, Hashable, Codable {
        /// A spare took over.
        case spare(String)
        /// Spread round-robin over these online primaries, in order.
        case distributed([String])

        /// The servers that carry the load, in order.
        public var servers: [String] {
            switch self {
            case .spare(let server): [server]
            case .distributed(let servers): servers
            }
        }

        /// The value of the `failover_server` label: the spare, or the distribution targets
        /// joined by commas.
        public var label: String { servers.joined(separator: ",") }
    }

    /// One failover event.
    public struct Event: Sendable, Hashable {
        /// What happened.
        public var kind: EventKind
        /// The primary concerned.
        public var failedServer: String
        /// The server(s) that took over, joined by commas, or empty.
        public var failoverServer: String
        /// When it happened.
        public var time: Double

        /// Creates an event.
        public init(kind: EventKind, failedServer: String, failoverServer: String, time: Double) {
            self.kind = kind
            self.failedServer = failedServer
            self.failoverServer = failoverServer
            self.time = time
        }
    }

    /// Something the caller must act on.
    public enum Output: Sendable, Hashable {
        /// A primary went offline and its failover timer started.
        case timerStarted(server: String, deadline: Double)
        /// A primary came back before its timer fired.
        case timerCancelled(server: String)
        /// A failover event (count it, log it, record it).
        case event(Event)
        /// The mapping of a failed primary changed: `nil` means it was removed (publish or clear
        /// the retained mapping, set `galaxy_failover_active`).
        case mappingChanged(failedServer: String, mapping: Mapping?)
    }

    /// The durable part of the state, saved after every change so that a restart does not strand a
    /// mapping.
    public struct Snapshot: Sendable, Hashable, Codable {
        /// Spares available, in the order they will be used.
        public var pool: [String]
        /// Mappings of failed primaries.
        public var mappings: [String: Mapping]
        /// When each mapping was made.
        public var mappedAt: [String: Double]
        /// Deadlines of pending failovers.
        public var pending: [String: Double]

        /// Creates a snapshot.
        public init(pool: [String], mappings: [String: Mapping], mappedAt: [String: Double], pending: [String: Double]) {
            self.pool = pool
            self.mappings = mappings
            self.mappedAt = mappedAt
            self.pending = pending
        }
    }

    /// Primary servers (`AVAILABLE_JANUS_SERVERS`), in configuration order.
    public let primaries: [String]
    /// Failover servers (`FAILOVER_JANUS_SERVERS`), in configuration order.
    public let spares: [String]
    /// How long a primary may be offline before it fails over, in seconds.
    public let waitTime: Double
    /// Whether a spare known to be offline is passed over (it keeps its place in the pool). The
    /// original always takes the head of the pool; with all spares online both behave the same.
    public let skipOfflineSpares: Bool

    /// Spares available, in the order they will be used.
    public private(set) var pool: [String]
    /// The mapping of every failed primary that has one.
    public private(set) var mappings: [String: Mapping] = [:]
    /// When each mapping was made.
    public private(set) var mappedAt: [String: Double] = [:]
    /// Deadlines of failovers waiting for their wait time to pass.
    public private(set) var pending: [String: Double] = [:]
    /// Primaries whose failover found nowhere to go (event ``EventKind/failed``), until they return.
    public private(set) var unplaced: Set<String> = []
    /// The last explicit status of each configured server (`nil`: not known).
    public private(set) var online: [String: Bool] = [:]
    private var roundRobin = 0

    /// Creates a state machine.
    ///
    /// - Parameters:
    ///   - primaries: The primary servers, in configuration order.
    ///   - spares: The failover servers, in configuration order (the initial pool).
    ///   - waitTime: Seconds a primary may stay offline before it fails over.
    ///   - skipOfflineSpares: Whether spares known to be offline are passed over.
    public init(primaries: [String], spares: [String], waitTime: Double, skipOfflineSpares: Bool = true) {
        self.primaries = primaries
        let primarySet = Set(primaries)
        var seen: Set<String> = []
        self.spares = spares.filter { !primarySet.contains($0) && seen.insert($0).inserted }
        self.waitTime = waitTime
        self.skipOfflineSpares = skipOfflineSpares
        self.pool = self.spares
    }

    /// Whether a server is a primary.
    public func isPrimary(_ server: String) -> Bool { primaries.contains(server) }

    /// Whether a server is a failover server.
    public func isSpare(_ server: String) -> Bool { spares.contains(server) }

    /// The primary a spare currently stands in for, if any.
    public func failedServer(servedBy spare: String) -> String? {
        mappings.first { $0.value == .spare(spare) }?.key
    }

    /// The earliest pending deadline; the caller calls ``advance(to:)`` at or after it.
    public var nextDeadline: Double? { pending.values.min() }

    /// The durable state.
    public var snapshot: Snapshot {
        Snapshot(pool: pool, mappings: mappings, mappedAt: mappedAt, pending: pending)
    }

    /// Restores a snapshot saved by a previous run.
    ///
    /// Servers that are no longer configured are dropped; spares missing from both pool and
    /// mappings (newly configured) are appended to the pool. Primaries with a mapping or a pending
    /// failover are known to have been offline, so their next online status is a recovery.
    public mutating func restore(_ snapshot: Snapshot) {
        let mapped = snapshot.mappings.filter { isPrimary($0.key) }
        let used = Set(mapped.values.compactMap { if case .spare(let spare) = $0 { spare } else { nil } })
        var pool = snapshot.pool.filter { isSpare($0) && !used.contains($0) }
        for spare in spares where !pool.contains(spare) && !used.contains(spare) { pool.append(spare) }
        self.pool = pool
        self.mappings = mapped
        self.mappedAt = snapshot.mappedAt.filter { mapped[$0.key] != nil }
        self.pending = snapshot.pending.filter { isPrimary($0.key) && mapped[$0.key] == nil }
        for server in Array(mappings.keys) + Array(pending.keys) { online[server] = false }
    }

    /// Takes servers as last seen online by a previous owner of this work (a cluster's takeover),
    /// so that their next offline status is a failure although this machine never saw them
    /// online; a server whose status is known here (or that has a mapping) keeps it.
    public mutating func assumeOnline(_ servers: some Sequence<String>) {
        for server in servers where (isPrimary(server) || isSpare(server)) && online[server] == nil {
            online[server] = true
        }
    }

    /// Feeds an explicit status of a server (a status message, or the first admin reply of a
    /// server whose state was unknown).
    ///
    /// - Parameters:
    ///   - server: The server name; servers that are neither primaries nor spares are ignored.
    ///   - isOnline: The new status.
    ///   - now: The current time.
    /// - Returns: What the caller must do.
    public mutating func statusChanged(server: String, online isOnline: Bool, now: Double) -> [Output] {
        guard isPrimary(server) || isSpare(server) else { return [] }
        let previous = online[server]
        online[server] = isOnline
        guard isPrimary(server) else { return [] }
        var outputs: [Output] = []
        if isOnline {
            if pending.removeValue(forKey: server) != nil {
                outputs.append(.timerCancelled(server: server))
            }
            unplaced.remove(server)
            if let mapping = mappings.removeValue(forKey: server) {
                mappedAt[server] = nil
                if case .spare(let spare) = mapping {
                    pool.removeAll { $0 == spare }
                    pool.append(spare)
                }
                outputs.append(.event(Event(kind: .recovered, failedServer: server, failoverServer: mapping.label, time: now)))
                outputs.append(.mappingChanged(failedServer: server, mapping: nil))
            }
        } else if previous == true && pending[server] == nil && mappings[server] == nil {
            let deadline = now + waitTime
            pending[server] = deadline
            outputs.append(.timerStarted(server: server, deadline: deadline))
        }
        return outputs
    }

    /// Fires every pending failover whose deadline is at or before `now`, earliest first.
    ///
    /// - Parameter now: The current time.
    /// - Returns: What the caller must do.
    public mutating func advance(to now: Double) -> [Output] {
        var outputs: [Output] = []
        let due = pending.filter { $0.value <= now }.sorted { ($0.value, $0.key) < ($1.value, $1.key) }
        for (server, _) in due {
            pending[server] = nil
            outputs += fail(server, now: now)
        }
        return outputs
    }

    private mutating func fail(_ server: String, now: Double) -> [Output] {
        var outputs: [Output] = [.event(Event(kind: .triggered, failedServer: server, failoverServer: "", time: now))]
        let index = skipOfflineSpares ? pool.firstIndex { online[$0] != false } : pool.indices.first
        if let index {
            let spare = pool.remove(at: index)
            mappings[server] = .spare(spare)
            mappedAt[server] = now
            outputs.append(.event(Event(kind: .completed, failedServer: server, failoverServer: spare, time: now)))
            outputs.append(.mappingChanged(failedServer: server, mapping: .spare(spare)))
            return outputs
        }
        outputs.append(.event(Event(kind: .noFailover, failedServer: server, failoverServer: "", time: now)))
        let alive = primaries.filter { $0 != server && online[$0] == true }
        guard !alive.isEmpty else {
            unplaced.insert(server)
            outputs.append(.event(Event(kind: .failed, failedServer: server, failoverServer: "", time: now)))
            return outputs
        }
        // Round-robin: each emergency distribution starts one server further along, so that
        // successive failures do not all land first on the same primary.
        let start = roundRobin % alive.count
        roundRobin += 1
        let targets = Array(alive[start...] + alive[..<start])
        mappings[server] = .distributed(targets)
        mappedAt[server] = now
        outputs.append(.event(Event(kind: .distributed, failedServer: server, failoverServer: targets.joined(separator: ","), time: now)))
        outputs.append(.mappingChanged(failedServer: server, mapping: .distributed(targets)))
        return outputs
    }
}
