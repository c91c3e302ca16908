//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
import NIOCore
public import ServiceLifecycle
import Synchronization
public import VigilCore
public import VigilMQTT

/// The iotmonitor watchdog over MQTT: watches devices and agents for silence, counts hellos, and
/// stores and restores their state topics.
///
/// Publications (QoS 0, as iotmonitor):
/// - `[baseTopic]/expire/[name]` when a device expires, with the Unix time (whole seconds) of its
///   last contact (of the start of watching when it was never heard from); retained by default.
///   When the device comes back, the same topic gets an **empty payload**, which also clears the
///   retained expiry at the broker.
/// - `[baseTopic]/up` every second with Vigil's uptime in whole seconds.
/// - `[baseTopic]/helloTopicCount/[name]`, retained, whenever the count changes and at every
///   connection to the broker (with the expiries in force, so a broker that lost its retained
///   messages learns them again).
/// - The stored payload of every state topic at start-up, and a device's own stored states when
///   its hello topic fires.
///
/// Subscriptions cover only the devices' watch, hello and state filters (minus filters another one
/// covers), with MQTT 5 *no local*, so Vigil's own republications never look like device traffic.
///
/// State payloads are written through to the ``StateStore`` before the next message is handled,
/// and a QoS 1 state message is acknowledged to the broker only once that write has committed
/// (``MQTTSubscription`` acknowledges a message when the next one is asked for). A failed write is
/// retried with backoff, never skipped; a message whose write did not complete when Vigil stops
/// (or is killed) stays unacknowledged and the broker redelivers it to the persistent session.
/// Each device keeps at most ``DeviceMonitorConfiguration/stateLimits``: evicted and refused states
/// leave memory and the store, counted by `vigil_device_states_evicted_total{device}` and
/// `vigil_device_states_refused_total{device}`; `vigil_device_states{device}` and
/// `vigil_device_state_bytes{device}` show what is kept (devices with `stateTopics` only).
///
/// Hub targets `device/<name>` (and `agent/<name>` for agents' topics) get the attributes `name`,
/// `state` (`waiting`, `up`, `expired`, `unwatched`), `last_contact`, `hello_count`, and the samples
/// `up`, `last_seen_seconds` (Unix time of the last contact) and `hello_total`: the metrics
/// `vigil_device_up{device}`, `vigil_device_last_seen_seconds{device}`,
/// `vigil_device_hello_total{device}`. Events: `device_expired` (warning), `device_recovered`.
public final class DeviceWatchdog: Service, Sendable {
    private let configuration: DeviceMonitorConfiguration
    private let client: MQTTClient
    private let hub: Hub
    private let store: any StateStore
    private let logger: Logger
    /// Deadlines run on its monotonic time; the table keeps monotonic seconds, and stamps shown or
    /// published (last contact, expiry payloads, events) are converted from them when they leave.
    private let clock: any VigilClock
    private let onExpired: @Sendable (TargetID) -> Void
    /// Whether ``run()`` starts from the hub's device states (a cluster's takeover).
    private let inheritsFromHub: Bool
    /// Whether the client was connected when the watchdog was made (no `.connected` event follows).
    private let connectedAtCreation: Bool
    private let table: Mutex<DeviceTable>
    /// Taken in `init`, before the client runs, so that the first connection is seen too.
    private let connectionEvents: AsyncStream<MQTTConnectionEvent>

    /// The ``StateStore`` key prefix of stored state payloads (the topic follows); `vigil import
    /// iotmonitor-leveldb` writes there too.
    public static let statePrefix = "devices/state/"
    static let helloPrefix = "devices/hello/"

    /// Creates the watchdog. Nothing runs until ``run()``.
    ///
    /// - Parameters:
    ///   - configuration: Devices, agents and topics.
    ///   - client: The shared MQTT client (run by its own service).
    ///   - hub: Where observations and events go.
    ///   - store: Where state payloads and hello counts are kept.
    ///   - logger: Logger, label `vigil.devices`.
    ///   - clock: The clock (``SystemClock``; tests pass a ``ManualClock``).
    ///   - onExpired: Called when a device or agent expires (the agent supervisor restarts agents
    ///     configured to restart on silence).
    ///   - inheritsFromHub: Start from the last contacts and expiries the hub shows (another
    ///     instance's watchdog wrote them to the shared store): deadlines carry over, and a device
    ///     already expired is not published as expired again.
    public init(
        configuration: DeviceMonitorConfiguration,
        client: MQTTClient,
        hub: Hub,
        store: any StateStore,
        logger: Logger = Logger(label: "vigil.devices"),
        clock: any VigilClock = SystemClock(),
        onExpired: @escaping @Sendable (TargetID) -> Void = { _ in },
        inheritsFromHub: Bool = false
    ) {
        self.inheritsFromHub = inheritsFromHub
        self.configuration = configuration
        self.client = client
        self.hub = hub
        self.store = store
        self.logger = logger
        self.clock = clock
        self.onExpired = onExpired
        self.table = Mutex(DeviceTable(definitions: configuration.definitions, at: clock.now.seconds, limits: configuration.stateLimits))
        self.connectionEvents = client.connectionEvents
        self.connectedAtCreation = client.isConnected
    }

    /// Restores stored states, then watches until graceful shutdown.
    ///
    /// The subscription is registered before the stored states are read, so that what a
    /// persistent session's broker sends at once waits in it (unacknowledged) for the restore.
    public func run() async throws {
        if inheritsFromHub { await inheritFromHub() }
        let (restored, restoreDone) = AsyncStream.makeStream(of: Void.self)
        try? await cancelWhenGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await self.receiveLoop(after: restored) }
                await self.restore()
                await self.reportAll(initial: true)
                restoreDone.finish()
                // Expiries are published by the tick loop; their hub observations, events and log
                // lines follow in a task of their own, so a large batch's bookkeeping does not delay
                // the next tick's publications. A device is in at most one batch until it is heard
                // from again, so the stream holds at most one entry per device.
                let (expiries, recorder) = AsyncStream.makeStream(of: ExpiryBatch.self)
                group.addTask {
                    defer { recorder.finish() }
                    try await self.tickLoop(recorder)
                }
                // Shielded: after a stop it records what the tick loop published, then ends with the stream.
                group.addTask { try? await withCancellationShield { await self.recordExpiries(expiries) } }
                group.addTask { await self.republishOnConnection() }
            }
        }
    }

    // MARK: - Start-up

    /// Rebuilds the table from what the hub shows of each device: its last contact and whether
    /// it is expired (see ``DeviceTable/InheritedContact``).
    private func inheritFromHub() async {
        let reading = clock.reading
        var states: [TargetID: TargetState] = [:]
        for kind in [TargetKind.device, .agent] {
            for state in await hub.states(kind: kind) { states[state.target] = state }
        }
        var inherited: [Int: DeviceTable.InheritedContact] = [:]
        for (index, definition) in configuration.definitions.enumerated() {
            guard let state = states[definition.target] else { continue }
            guard case .string(let watch)? = state.attributes[Self.watchStateAttribute(definition.kind)] else { continue }
            var last: Double?
            // Range-checked: a stamp from the store is peer data.
            if case .number(let wall)? = state.attributes[AttributeName.lastContact.rawValue], wall.isFinite, wall > 0,
                wall <= reading.wallClockSeconds + 1
            {
                last = reading.seconds - (reading.wallClockSeconds - wall)
            }
            guard watch == "expired" || last != nil else { continue }
            inherited[index] = .init(lastContact: last, expired: watch == "expired")
        }
        guard !inherited.isEmpty else { return }
        let start = reading.seconds
        let configuration = self.configuration
        table.withLock {
            $0 = DeviceTable(definitions: configuration.definitions, at: start, limits: configuration.stateLimits, inherited: inherited)
        }
        logger.info(
            "Device watchdog took over from another instance",
            metadata: [
                "devices.inherited": "\(inherited.count)",
                "devices.expired": "\(inherited.values.filter(\.expired).count)",
            ]
        )
    }

    private func restore() async {
        do {
            var dropped: [DeviceTableAction] = []
            for (key, value) in try await store.values(prefix: Self.statePrefix) {
                let topic = String(key.dropFirst(Self.statePrefix.count))
                table.withLock { _ = $0.restoreState(topic: topic, payload: value, into: &dropped) }
            }
            // States beyond the limits (lowered since they were stored) leave the store too.
            await perform(dropped, at: clock.reading)
            let states = table.withLock { $0.stateCount }
            for (key, value) in try await store.values(prefix: Self.helloPrefix) {
                // Range-checked: a count near Int.max would trap at the next hello.
                guard let count = Int(String(decoding: value, as: UTF8.self)), (0...(1 << 53)).contains(count) else { continue }
                let parts = key.dropFirst(Self.helloPrefix.count).split(separator: "/", maxSplits: 1)
                guard parts.count == 2, let kind = TargetKind(rawValue: String(parts[0])) else { continue }
                table.withLock { table in
                    if let device = table.index(of: TargetID(kind, String(parts[1]))) { table.setHelloCount(count, of: device) }
                }
            }
            logger.info("Device watchdog restored stored states", metadata: ["devices.states": "\(states)"])
        } catch {
            logger.error("Could not read stored device states", metadata: ["error": "\(error)"])
        }
    }

    /// On the first connection, republishes every stored state; on every connection (the broker
    /// may have restarted without persistence), the hello counts and the expiries in force.
    private func republishOnConnection() async {
        var first = true
        // A watchdog that takes over in a cluster starts on a connection that is already up: that
        // connection counts as its first.
        if connectedAtCreation {
            await republish(first: true)
            first = false
        }
        for await event in connectionEvents {
            guard case .connected = event else { continue }
            await republish(first: first)
            first = false
        }
    }

    private func republish(first: Bool) async {
        // Expiries inherited at a takeover were published by the previous owner (a fresh table has
        // none at start-up either): the first republication leaves them out.
        let includeExpired = !(first && inheritsFromHub)
        let (states, counts, expired) = table.withLock { table in
            (
                first ? table.allStates : [],
                table.definitions.indices.map { (table.definitions[$0].name, table.helloCount(of: $0)) },
                !includeExpired
                    ? []
                    : table.definitions.indices.filter { table.isExpired($0) }.map {
                        (table.definitions[$0].name, table.lastContact(of: $0) ?? table.startTime)
                    }
            )
        }
        let reading = clock.reading
        var messages = states.map { (topic: $0.topic, payload: ByteBuffer(bytes: $0.payload), retain: false) }
        messages += counts.map { (configuration.helloCountTopic($0.0), ByteBuffer(string: "\($0.1)"), true) }
        messages += expired.map { name, lastContact in
            (
                configuration.expireTopic(name), Self.timestampPayload(reading.wallClockSeconds(atMonotonic: lastContact)),
                configuration.expireRetain
            )
        }
        await publishAll(messages)
        if first { logger.info("Republished stored states", metadata: ["devices.states": "\(states.count)"]) }
    }

    // MARK: - Messages

    /// Receives until cancelled; messages are handled only once `restored` has finished.
    private func receiveLoop(after restored: AsyncStream<Void>) async throws {
        let filters = table.withLock { $0.subscriptionFilters }
        guard !filters.isEmpty else {
            // Nothing to watch over MQTT (agents without topics): wait for shutdown.
            try await gracefulShutdown()
            return
        }
        var waitForRestore = true
        let infos = filters.map { MQTTSubscribeInfo(filter: $0, qos: .atLeastOnce, noLocal: true) }
        var actions: [DeviceTableAction] = []
        actions.reserveCapacity(16)
        while !Task.isCancelled {
            do {
                try await client.subscribe(to: infos, bufferSize: 100_000) { subscription in
                    if waitForRestore {
                        for await _ in restored {}
                        waitForRestore = false
                    }
                    logger.info("Device watchdog subscribed", metadata: ["devices.filters": "\(filters.count)"])
                    for try await message in subscription {
                        let now = clock.now
                        actions.removeAll(keepingCapacity: true)
                        table.withLock { table in
                            _ = table.receive(
                                topic: message.topic,
                                payload: message.payload,
                                retained: message.retain,
                                at: now.seconds,
                                into: &actions
                            )
                        }
                        // The wall clock is read only for the few messages that change something,
                        // at the same monotonic instant the table used.
                        if !actions.isEmpty {
                            let done = await perform(actions, at: ClockReading(instant: now, wallClockSeconds: clock.wallClockSeconds))
                            // Asking for the next message would acknowledge this one: stop first
                            // when its state write could not complete.
                            if !done { throw CancellationError() }
                        }
                    }
                }
                // The subscription ends when the client stops.
                try await gracefulShutdown()
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                logger.warning("Device watchdog subscription failed; retrying", metadata: ["error": "\(error)"])
                try await clock.sleep(for: .seconds(2))
            }
        }
    }

    /// Carries out the table's actions.
    ///
    /// - Returns: `false` when a state write could not be completed because the task was cancelled
    ///   (the message must then not be acknowledged).
    @discardableResult
    private func perform(_ actions: [DeviceTableAction], at time: ClockReading) async -> Bool {
        var complete = true
        for action in actions {
            switch action {
            case .recovered(let device):
                let definition = configuration.definitions[device]
                await publish(configuration.expireTopic(definition.name), ByteBuffer(), retain: configuration.expireRetain)
                await hub.apply(observation(device, at: time, expired: false, lastContact: time.seconds))
                await hub.record(
                    Event(
                        time: time.wallClockSeconds,
                        target: definition.target,
                        type: "\(definition.kind.rawValue)_recovered",
                        severity: .info,
                        message: "\(definition.kind == .agent ? "Agent" : "Device") \(definition.name) is sending again"
                    )
                )
            case .hello(let device, let count):
                let definition = configuration.definitions[device]
                await publish(configuration.helloCountTopic(definition.name), ByteBuffer(string: "\(count)"), retain: true)
                do {
                    try await store.setValue(Array("\(count)".utf8), forKey: "\(Self.helloPrefix)\(definition.kind.rawValue)/\(definition.name)")
                } catch {
                    logger.error("Could not store a hello count", metadata: ["device": "\(definition.name)", "error": "\(error)"])
                }
                let states = table.withLock { $0.states(of: device) }
                for (topic, payload) in states {
                    await publish(topic, ByteBuffer(bytes: payload))
                }
                logger.debug("Hello", metadata: ["device": "\(definition.name)", "devices.republished": "\(states.count)"])
            case .stateLimitReached(let device):
                // Once per device: the counters say how often it happens since.
                let limits = configuration.stateLimits
                logger.warning(
                    "Device state limit reached; older states are evicted and oversized ones refused",
                    metadata: [
                        "device": "\(configuration.definitions[device].name)", "devices.state_max_topics": "\(limits.maxTopics)",
                        "devices.state_max_bytes": "\(limits.maxBytes)", "devices.state_max_payload": "\(limits.maxPayload)",
                    ]
                )
            case .stateChanged(let topic, let payload):
                // Write-through: the next message is read (and this one acknowledged) only once
                // this one is on disk.
                if complete { complete = await storeState(topic: topic, payload: payload) }
            }
        }
        return complete
    }

    /// Writes (or removes) one state, retrying a failed write with backoff (0.1 s doubling to 5 s)
    /// until it succeeds.
    ///
    /// - Returns: `false` when the task was cancelled before the write succeeded.
    private func storeState(topic: String, payload: [UInt8]?) async -> Bool {
        var failures = 0
        while true {
            do {
                if let payload {
                    try await store.setValue(payload, forKey: Self.statePrefix + topic)
                } else {
                    try await store.removeValue(forKey: Self.statePrefix + topic)
                }
                if failures > 0 {
                    logger.info("Device state stored after retrying", metadata: ["mqtt.topic": "\(topic)", "devices.failures": "\(failures)"])
                }
                return true
            } catch {
                if Task.isCancelled { return false }
                failures += 1
                if failures == 1 || failures.isMultiple(of: 20) {
                    logger.error(
                        "Could not store a device state; retrying (the message stays unacknowledged)",
                        metadata: ["mqtt.topic": "\(topic)", "error": "\(error)", "devices.failures": "\(failures)"]
                    )
                }
                let delay = min(0.1 * Double(1 << min(failures - 1, 10)), 5)
                do { try await clock.sleep(for: .milliseconds(Int64(delay * 1000))) } catch { return false }
            }
        }
    }

    // MARK: - Time

    /// Expiries published in one tick, for ``recordExpiries(_:)``.
    struct ExpiryBatch: Sendable {
        var expired: [(device: Int, lastContact: Double)]
        var reading: ClockReading
    }

    private func tickLoop(_ recorder: AsyncStream<ExpiryBatch>.Continuation) async throws {
        let start = table.withLock { $0.startTime }
        let upInterval = configuration.upInterval.secondsValue
        let reportInterval = configuration.reportInterval.secondsValue
        let repeatInterval = configuration.expireRepeat.secondsValue
        var nextUp = start + upInterval
        var nextReport = start + reportInterval
        var nextRepeat = start + repeatInterval
        var expired: [(device: Int, lastContact: Double)] = []
        while !Task.isCancelled {
            let reading = clock.reading
            let time = reading.seconds
            expired.removeAll(keepingCapacity: true)
            table.withLock { $0.expire(at: time, into: &expired) }
            if !expired.isEmpty {
                await publishExpiries(expired, at: reading)
                recorder.yield(ExpiryBatch(expired: expired, reading: reading))
            }
            if time >= nextUp {
                await publish(configuration.upTopic, ByteBuffer(string: "\(Int(time - start))"))
                nextUp = max(nextUp + upInterval, time + upInterval / 2)
            }
            if repeatInterval > 0 && time >= nextRepeat {
                let still = table.withLock { table in
                    table.definitions.indices.filter { table.isExpired($0) }.map { ($0, table.lastContact(of: $0) ?? table.startTime) }
                }
                for (device, lastContact) in still {
                    await publish(
                        configuration.expireTopic(configuration.definitions[device].name),
                        Self.timestampPayload(reading.wallClockSeconds(atMonotonic: lastContact)),
                        retain: configuration.expireRetain
                    )
                }
                nextRepeat = time + repeatInterval
            }
            if time >= nextReport {
                await reportAll(initial: false)
                nextReport = time + reportInterval
            }
            let deadline = table.withLock { $0.nextDeadline } ?? .infinity
            let wake = min(nextUp, nextReport, deadline, repeatInterval > 0 ? nextRepeat : .infinity)
            let delay = min(max(wake - clock.now.seconds, 0.005), 1)
            try await clock.sleep(for: .milliseconds(Int64(delay * 1000)))
        }
    }

    /// Publishes the expiries found in one tick, together: a fleet that falls silent at once (a
    /// broker or network outage) expires together, and one awaited publication, hub observation
    /// and event write per device, in turn, made the last of 100,000 devices expire 29 s late.
    private func publishExpiries(_ expired: [(device: Int, lastContact: Double)], at time: ClockReading) async {
        let messages = expired.map { device, lastContact in
            (
                topic: configuration.expireTopic(configuration.definitions[device].name),
                payload: Self.timestampPayload(time.wallClockSeconds(atMonotonic: lastContact)),
                retain: configuration.expireRetain
            )
        }
        await publishAll(messages)
    }

    /// Logs each published expiry and hands the batch to the hub (observations and events, one
    /// write each), until the tick loop ends.
    private func recordExpiries(_ batches: AsyncStream<ExpiryBatch>) async {
        for await batch in batches {
            let time = batch.reading
            var events: [Event] = []
            events.reserveCapacity(batch.expired.count)
            for (device, lastContact) in batch.expired {
                let definition = configuration.definitions[device]
                let lastContactStamp = time.wallClockSeconds(atMonotonic: lastContact)
                logger.info("Device expired", metadata: ["device": "\(definition.name)", "devices.last_contact": "\(lastContactStamp)"])
                events.append(
                    Event(
                        time: time.wallClockSeconds,
                        target: definition.target,
                        type: "\(definition.kind.rawValue)_expired",
                        severity: .warning,
                        message:
                            "\(definition.kind == .agent ? "Agent" : "Device") \(definition.name) has been silent for \(Int(definition.watchTimeout)) s",
                        fields: ["last_contact": "\(Int(lastContactStamp))"]
                    )
                )
            }
            // A device heard from since the tick is reported "up" by the report path; an "expired"
            // written after that report would stick until its next message.
            let observations = table.withLock { table in
                batch.expired.filter { table.isExpired($0.device) }.map {
                    self.observation(table, $0.device, at: time, expired: true, lastContact: table.lastContact(of: $0.device))
                }
            }
            await hub.apply(observations)
            await hub.record(events)
            for (device, _) in batch.expired { onExpired(configuration.definitions[device].target) }
        }
    }

    /// Hands the hub the devices heard from since the last report (all of them when `initial`).
    private func reportAll(initial: Bool) async {
        let time = clock.reading
        let observations: [Observation] = table.withLock { table in
            let devices = initial ? Array(table.definitions.indices) : table.drainReports()
            return devices.map { device in
                self.observation(table, device, at: time, expired: table.isExpired(device), lastContact: table.lastContact(of: device))
            }
        }
        if !observations.isEmpty { await hub.apply(observations) }
    }

    /// The attribute that holds the watch state: `state` for a device; for an agent, whose status
    /// (and `state`) belong to the supervisor, `watch_state`.
    static func watchStateAttribute(_ kind: TargetKind) -> String {
        kind == .agent ? "watch_state" : AttributeName.state.rawValue
    }

    /// `lastContact` is monotonic seconds (the table's axis); the observation carries wall-clock stamps.
    private func observation(_ device: Int, at time: ClockReading, expired: Bool, lastContact: Double?) -> Observation {
        table.withLock { observation($0, device, at: time, expired: expired, lastContact: lastContact) }
    }

    private func observation(_ table: borrowing DeviceTable, _ device: Int, at time: ClockReading, expired: Bool, lastContact: Double?) -> Observation
    {
        let definition = table.definitions[device]
        // Whole milliseconds: the two clocks are read a few microseconds apart, which must not make
        // an unchanged last contact look changed from one report to the next.
        let lastContact = lastContact.map { (time.wallClockSeconds(atMonotonic: $0) * 1000).rounded() / 1000 }
        let watched = table.isWatched(device)
        let state = !watched ? "unwatched" : expired ? "expired" : lastContact == nil ? "waiting" : "up"
        var samples = [Sample("hello_total", Double(table.helloCount(of: device)), kind: .counter, recordHistory: false)]
        if watched { samples.append(Sample(.up, expired ? 0 : 1, recordHistory: false)) }
        if let lastContact { samples.append(Sample(.lastSeenSeconds, lastContact, recordHistory: false)) }
        if !definition.stateTopics.isEmpty {
            let usage = table.stateUsage(of: device)
            let counts = table.stateLimitCounts(of: device)
            samples.append(Sample("states", Double(usage.count), recordHistory: false))
            samples.append(Sample("state_bytes", Double(usage.bytes), recordHistory: false))
            samples.append(Sample("states_evicted_total", Double(counts.evicted), kind: .counter, recordHistory: false))
            samples.append(Sample("states_refused_total", Double(counts.refused), kind: .counter, recordHistory: false))
        }
        // Agents' status belongs to the supervisor (is the process running); the watchdog only
        // adds attributes and samples to them.
        let status: TargetStatus? =
            definition.kind == .agent ? nil : !watched ? .unknown : expired ? .down : lastContact == nil ? .unknown : .up
        return Observation(
            target: definition.target,
            time: time.wallClockSeconds,
            status: status,
            attributes: [
                "name": .string(definition.name),
                Self.watchStateAttribute(definition.kind): .string(state),
                AttributeName.lastContact.rawValue: lastContact.map { .number($0) } ?? .null,
                AttributeName.helloCount.rawValue: .number(Double(table.helloCount(of: device))),
                AttributeName.watchTimeout.rawValue: .number(definition.watchTimeout),
            ],
            samples: samples
        )
    }

    // MARK: - Publishing

    /// Publishes many QoS 0 messages to distinct topics, a chunk at a time: each chunk is one hop to
    /// the connection's event loop and one socket flush (``MQTTClient/publishAtMostOnce(_:)``);
    /// awaited one by one, 100,000 devices' hello counts at every connection cost seconds of CPU.
    /// Chunks keep one visit to the event loop short, so reading goes on between them.
    private func publishAll(_ messages: [(topic: String, payload: ByteBuffer, retain: Bool)]) async {
        let chunk = 4_096
        for start in stride(from: 0, to: messages.count, by: chunk) {
            let sent = await client.publishAtMostOnce(Array(messages[start..<min(start + chunk, messages.count)]))
            if sent == 0 {
                logger.debug("Publications skipped: not connected", metadata: ["mqtt.messages": "\(messages.count - start)"])
                return
            }
        }
    }

    private func publish(_ topic: String, _ payload: ByteBuffer, retain: Bool = false) async {
        do {
            try await client.publish(to: topic, payload: payload, qos: .atMostOnce, retain: retain)
        } catch {
            logger.debug("Publication skipped", metadata: ["mqtt.topic": "\(topic)", "error": "\(error)"])
        }
    }

    static func timestampPayload(_ time: Double) -> ByteBuffer {
        ByteBuffer(string: "\(Int(time.rounded(.down)))")
    }
}
