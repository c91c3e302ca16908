//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
public import Logging
public import Metrics
import NIOCore
public import ServiceLifecycle
import Synchronization
public import VigilCore
public import VigilRedis

/// Pub/Sub fan-out between the instances that share one Redis: each instance publishes its own
/// changes and merges the others' into its hub, so that its API, live feed and dashboard show
/// the whole fleet.
///
/// - Every local state, removal and event goes to `<prefix>updates` as
///   `{"instance": ID, "state" | "removed" | "event": …}`; MediaMTX states and removals also go to
///   seed 003's `mediamtx:updates` as `{"instance": ID, "field": "<instance>/<path>", "state": …}`
///   (or `"removed": true`), `field` naming the field of `mediamtx:streams:latest`.
/// - Messages carrying this instance's id are ignored; what was merged from others is not
///   published again (no echo loop between instances).
/// - Pub/Sub is at-most-once: a message published while this instance is disconnected is lost.
///   At start the hub restores every instance's states from the store, and every
///   ``resyncInterval`` the fan-out merges the stored states again (a newer one than the hub's
///   wins), which repairs a missed change; a missed removal stays until a restart.
public final class RedisFanout: Service, Sendable {
    /// The largest message taken in; a larger one is counted as invalid and dropped.
    public static let maxMessageBytes = 1 << 20
    /// How many merged event ids are remembered to recognise their echo.
    static let rememberedEvents = 4_096

    /// This instance's id in every message.
    public let instanceID: String
    private let hub: Hub
    private let publisher: any RedisCommandExecutor
    private let subscriber: RedisConfiguration
    private let keys: RedisStoreKeys
    private let logger: Logger
    private let latest: (any LatestStore)?
    /// How often the stored states are merged again (see the type's description).
    public let resyncInterval: Duration
    private let merged = Mutex(Merged())
    private let counters: Counters

    private struct Merged {
        var states: [TargetID: TargetState] = [:]
        var removals: Set<TargetID> = []
        var events: Set<Int64> = []
        var eventOrder: [Int64] = []
        /// Targets removed (here or elsewhere) and when: a resync that read the store before
        /// the removal must not bring them back. Entries older than two resyncs are dropped.
        var removedAt: [TargetID: ContinuousClock.Instant] = [:]
        /// Targets whose changes this instance published: a resync leaves them alone.
        var local: Set<TargetID> = []

        mutating func noteRemoval(_ target: TargetID) {
            removedAt[target] = .now
            local.remove(target)
        }
    }

    private struct Counters {
        let published: Counter
        let publishFailures: Counter
        let merged: Counter
        let ignored: Counter
        let invalid: Counter
        let resynced: Counter

        init(factory: any MetricsFactory) {
            func make(_ outcome: String) -> Counter {
                Counter(label: "vigil_fanout_messages_total", dimensions: [("outcome", outcome)], factory: factory)
            }
            published = make("published")
            publishFailures = make("publish_failed")
            merged = make("merged")
            ignored = make("ignored")
            invalid = make("invalid")
            resynced = make("resynced")
        }
    }

    /// Creates the fan-out.
    ///
    /// - Parameters:
    ///   - hub: The hub whose changes are published and into which the others' are merged.
    ///   - publisher: The store's client (publishes).
    ///   - subscriber: The server this instance subscribes on (any node of a cluster: Redis
    ///     Cluster forwards every message to every node).
    ///   - keys: The key layout (channel names).
    ///   - instanceID: This instance's id; see ``defaultInstanceID()``.
    ///   - logger: Logger for connection trouble.
    ///   - latest: The shared latest-state store, merged again every `resyncInterval` (`nil`: never).
    ///   - resyncInterval: How often.
    ///   - metricsFactory: Where `vigil_fanout_messages_total` goes.
    public init(
        hub: Hub,
        publisher: any RedisCommandExecutor,
        subscriber: RedisConfiguration,
        keys: RedisStoreKeys,
        instanceID: String = RedisFanout.defaultInstanceID(),
        logger: Logger,
        latest: (any LatestStore)? = nil,
        resyncInterval: Duration = .seconds(30),
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.latest = latest
        self.resyncInterval = resyncInterval
        self.hub = hub
        self.publisher = publisher
        self.subscriber = subscriber
        self.keys = keys
        self.instanceID = instanceID
        self.logger = logger
        self.counters = Counters(factory: metricsFactory)
    }

    /// `<host>-<pid>-<random>`: unique per process, readable in messages.
    public static func defaultInstanceID() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
    }

    /// Publishes and merges until shutdown.
    public func run() async throws {
        var configuration = subscriber
        configuration.clientName = "vigil-fanout"
        let client = RedisClient(configuration: configuration, logger: logger)
        let updates = hub.bus.subscribe(name: "redis-fanout")
        try? await cancelWhenGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await client.run() }
                group.addTask {
                    for await update in updates { await self.publish(update) }
                }
                group.addTask {
                    for try await message in try await client.subscribe(to: [self.keys.updates]) {
                        await self.receive(message.payload)
                    }
                }
                if let latest = self.latest {
                    group.addTask {
                        while !Task.isCancelled {
                            try await self.hub.clock.sleep(for: self.resyncInterval)
                            await self.resync(latest)
                        }
                    }
                }
            }
        }
    }

    // MARK: - Publishing

    func publish(_ update: HubUpdate) async {
        var body: [UInt8] = []
        var mediaMTX: [UInt8]?
        switch update {
        case .state(let state):
            let echo = merged.withLock { merged in
                if merged.states[state.target] == state { return true }
                merged.local.insert(state.target)
                return false
            }
            if echo { return }
            body = envelope("state") { StateJSON.append(state, to: &$0) }
            if let field = mediaMTXField(state.target) {
                mediaMTX = envelope("state", field: field) { StateJSON.append(state, to: &$0) }
            }
        case .removed(let target):
            let echo = merged.withLock { merged in
                merged.noteRemoval(target)
                return merged.removals.remove(target) != nil
            }
            if echo { return }
            body = envelope("removed") { Self.appendTarget(target, to: &$0) }
            if let field = mediaMTXField(target) {
                mediaMTX = envelope("removed", field: field) { $0.append(contentsOf: "true".utf8) }
            }
        case .event(let event):
            let echo = merged.withLock { $0.events.contains(event.id) }
            if echo { return }
            guard let json = try? JSONEncoder().encode(event) else {
                counters.publishFailures.increment()
                return
            }
            body = envelope("event") { $0.append(contentsOf: json) }
        }
        await send(body, to: keys.updates)
        if let mediaMTX { await send(mediaMTX, to: RedisStoreKeys.mediaMTXUpdates) }
    }

    private func send(_ body: [UInt8], to channel: String) async {
        do {
            try await publisher.publish(ByteBuffer(bytes: body), to: channel)
            counters.published.increment()
        } catch {
            counters.publishFailures.increment()
            logger.debug("Could not publish a change", metadata: ["redis.channel": "\(channel)", "error": "\(error)"])
        }
    }

    private func mediaMTXField(_ target: TargetID) -> String? {
        let (key, field) = keys.latest(target)
        return key == RedisStoreKeys.mediaMTXLatest ? field : nil
    }

    /// `{"instance":ID,["field":F,]"<member>":<value>}`.
    private func envelope(_ member: String, field: String? = nil, value: (inout [UInt8]) -> Void) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        bytes.append(contentsOf: #"{"instance":"#.utf8)
        JSONText.appendString(instanceID, to: &bytes)
        if let field {
            bytes.append(contentsOf: #","field":"#.utf8)
            JSONText.appendString(field, to: &bytes)
        }
        bytes.append(UInt8(ascii: ","))
        JSONText.appendString(member, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        value(&bytes)
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    private static func appendTarget(_ target: TargetID, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: #"{"kind":"#.utf8)
        JSONText.appendString(target.kind.rawValue, to: &bytes)
        bytes.append(contentsOf: #","name":"#.utf8)
        JSONText.appendString(target.name, to: &bytes)
        bytes.append(UInt8(ascii: "}"))
    }

    // MARK: - Merging

    /// Merges every stored state that the hub lacks or holds an older version of.
    func resync(_ latest: any LatestStore) async {
        let began = ContinuousClock.now
        let states: [TargetState]
        do {
            states = try await latest.states(kind: nil)
        } catch {
            logger.debug("Could not read the stored states", metadata: ["error": "\(error)"])
            return
        }
        let forget = began - resyncInterval * 2
        let skipped = merged.withLock { merged in
            merged.removedAt = merged.removedAt.filter { $0.value > forget }
            return merged.local.union(merged.removedAt.filter { $0.value >= began - resyncInterval }.keys)
        }
        for state in states where !skipped.contains(state.target) {
            if let held = await hub.state(of: state.target), state.updatedAt <= held.updatedAt { continue }
            let removedSince = merged.withLock { merged in
                if let removed = merged.removedAt[state.target], removed >= began { return true }
                merged.states[state.target] = state
                return false
            }
            if removedSince { continue }
            if await hub.merge(state) { counters.resynced.increment() }
        }
    }

    private struct Message: Decodable {
        var instance: String
        var state: TargetState?
        var removed: TargetID?
        var event: Event?
    }

    func receive(_ payload: ByteBuffer) async {
        guard payload.readableBytes <= Self.maxMessageBytes,
            let message = try? JSONDecoder().decode(Message.self, from: Data(payload.readableBytesView))
        else {
            counters.invalid.increment()
            return
        }
        guard message.instance != instanceID else {
            counters.ignored.increment()
            return
        }
        if let state = message.state {
            merged.withLock {
                $0.states[state.target] = state
                $0.removals.remove(state.target)
            }
            if await hub.merge(state) { counters.merged.increment() } else { counters.ignored.increment() }
        } else if let target = message.removed {
            merged.withLock {
                $0.states[target] = nil
                $0.removals.insert(target)
                $0.noteRemoval(target)
            }
            if await hub.mergeRemoval(of: target) {
                counters.merged.increment()
            } else {
                _ = merged.withLock { $0.removals.remove(target) }
                counters.ignored.increment()
            }
        } else if let event = message.event {
            merged.withLock { merged in
                merged.events.insert(event.id)
                merged.eventOrder.append(event.id)
                if merged.eventOrder.count > Self.rememberedEvents {
                    merged.events.remove(merged.eventOrder.removeFirst())
                }
            }
            hub.bus.publish(.event(event))
            counters.merged.increment()
        } else {
            counters.invalid.increment()
        }
    }
}
