//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import NIOCore
public import VigilCore
import VigilMQTT

/// What the device watchdog must do after a message or a tick.
public enum DeviceTableAction: Sendable, Hashable {
    /// An expired device sent something again.
    case recovered(device: Int)
    /// A device's hello topic fired; `count` is its new hello count.
    case hello(device: Int, count: Int)
    /// The stored payload of a state topic changed (`nil`: an empty payload, a refused payload or
    /// an eviction removed it).
    case stateChanged(topic: String, payload: [UInt8]?)
    /// A device evicted or refused a state for the first time (later ones are only counted).
    case stateLimitReached(device: Int)
}

/// The in-memory heart of the device watchdog: which topic belongs to which device, deadlines,
/// hello counts and stored states. Pure: no I/O, time passed in.
///
/// A message is routed with one walk of a topic trie (cost grows with the topic's levels, not with
/// the number of devices) and re-arms the device's deadline in the shared ``WatchdogEngine``
/// without allocating.
///
/// Messages the broker marks as *retained* are old news: they are stored when they match
/// `stateTopics` but neither prove a device alive nor count as a hello.
///
/// Each device keeps at most ``DeviceStateLimits`` worth of states: beyond its topic or byte cap
/// the least recently written states are evicted, and a payload over the size cap is refused.
public struct DeviceTable: Sendable {
    private enum Role: UInt8, Sendable {
        case watch, hello, state
    }

    private struct Route: Sendable, Equatable {
        var device: Int32
        var role: Role
    }

    /// The devices, in configuration order; their index is the `device` of every action.
    public let definitions: [DeviceDefinition]
    private var engine: WatchdogEngine
    private var slotOfDevice: [Int32]
    private var deviceOfSlot: [Int32]
    private let trie: MQTTTopicTrie<Route>
    private var helloCounts: [Int]
    private var states: [String: [UInt8]] = [:]
    private var ledgers: [DeviceStateLedger]
    private var limitReported: [Bool]
    /// The devices whose state filters match the message being routed (reused, no allocation).
    private var stateDevices: [Int32] = []
    private var stamp: UInt64 = 0
    /// The caps on each device's states.
    public let limits: DeviceStateLimits
    private var reportPending: [Bool]
    private var reportList: [Int32] = []
    private var byName: [TargetID: Int] = [:]
    /// When watching started; the "last contact" reported for a device never heard from.
    public let startTime: Double
    /// Inherited devices overdue at construction: handed out by the first ``expire(at:into:)``.
    private var overdue: [(device: Int, lastContact: Double)] = []

    /// What another instance's watchdog knew of a device when this one took the work over.
    public struct InheritedContact: Sendable, Hashable {
        /// The last contact on this table's (monotonic) time axis; `nil`: never heard from.
        public var lastContact: Double?
        /// Whether the device was expired (its expiry already published).
        public var expired: Bool

        /// Creates an inherited contact.
        public init(lastContact: Double?, expired: Bool) {
            self.lastContact = lastContact
            self.expired = expired
        }
    }

    /// Builds the table and arms every device that has watch topics.
    ///
    /// - Parameters:
    ///   - definitions: The devices and agents.
    ///   - now: The current time; devices never heard from expire one timeout after it.
    ///   - limits: The caps on each device's stored states.
    ///   - inherited: What the previous owner knew, by device index (a cluster's takeover): a
    ///     device heard from keeps its deadline (last contact + timeout), one already expired starts
    ///     expired without being reported again, so each expiry is published once across owners.
    public init(
        definitions: [DeviceDefinition],
        at now: Double,
        limits: DeviceStateLimits = .init(),
        inherited: [Int: InheritedContact] = [:]
    ) {
        self.definitions = definitions
        self.limits = limits
        self.startTime = now
        var engine = WatchdogEngine(capacity: definitions.count)
        var trie = MQTTTopicTrie<Route>()
        slotOfDevice = Array(repeating: -1, count: definitions.count)
        deviceOfSlot = []
        deviceOfSlot.reserveCapacity(definitions.count)
        for (index, definition) in definitions.enumerated() {
            byName[definition.target] = index
            let device = Int32(index)
            if !definition.watchTopics.isEmpty {
                let timeout = definition.watchTimeout
                let slot: WatchdogEngine.Slot
                switch (inherited[index]?.lastContact, inherited[index]?.expired) {
                case (let contact?, _):
                    // Never later than now: a clock step must not push a deadline out.
                    let last = min(contact, now)
                    slot = engine.add(timeout: timeout, at: last)
                    engine.touch(slot, at: last)
                case (nil, true?):
                    slot = engine.add(timeout: timeout, at: now - timeout)
                default:
                    slot = engine.add(timeout: timeout, at: now)
                }
                slotOfDevice[index] = Int32(slot.index)
                deviceOfSlot.append(device)
            }
            for filter in Set(definition.watchTopics) { trie.insert(filter: filter, value: Route(device: device, role: .watch)) }
            if let hello = definition.helloTopic { trie.insert(filter: hello, value: Route(device: device, role: .hello)) }
            for filter in Set(definition.stateTopics) { trie.insert(filter: filter, value: Route(device: device, role: .state)) }
        }
        self.engine = engine
        self.trie = trie
        helloCounts = Array(repeating: 0, count: definitions.count)
        ledgers = Array(repeating: DeviceStateLedger(), count: definitions.count)
        limitReported = Array(repeating: false, count: definitions.count)
        reportPending = Array(repeating: false, count: definitions.count)
        guard !inherited.isEmpty else { return }
        // Expired before the takeover: expired here too, silently. Overdue since (the previous
        // owner died before their deadline): reported by the first expire(at:into:).
        var overdue: [(device: Int, lastContact: Double)] = []
        let deviceOfSlot = self.deviceOfSlot
        // self.engine: the local `engine` above is the copy it was built in.
        self.engine.expire(at: now) { slot, lastContact in
            let device = Int(deviceOfSlot[slot.index])
            if inherited[device]?.expired != true { overdue.append((device, lastContact ?? now)) }
        }
        self.overdue = overdue
    }

    // MARK: - Messages

    /// Routes one message.
    ///
    /// - Parameters:
    ///   - topic: The message's topic.
    ///   - payload: Its payload (read only when the topic is a state topic).
    ///   - retained: Whether the broker delivered it as a retained message.
    ///   - now: The time of arrival.
    ///   - actions: Receives what the caller must do; appended to, never cleared.
    /// - Returns: Whether any device claimed the topic.
    @discardableResult
    public mutating func receive(topic: String, payload: ByteBuffer, retained: Bool, at now: Double, into actions: inout [DeviceTableAction]) -> Bool
    {
        var matched = false
        stateDevices.removeAll(keepingCapacity: true)
        let trie = self.trie
        trie.forEachMatch(topic: topic) { route in
            matched = true
            let device = Int(route.device)
            switch route.role {
            case .watch:
                if !retained { touch(device, at: now, into: &actions) }
            case .hello:
                guard !retained else { return }
                helloCounts[device] += 1
                actions.append(.hello(device: device, count: helloCounts[device]))
                markForReport(device)
                // A hello is a sign of life too.
                touch(device, at: now, into: &actions)
            case .state:
                // Overlapping filters of one device match twice; the device counts once.
                if !stateDevices.contains(route.device) { stateDevices.append(route.device) }
            }
        }
        if !stateDevices.isEmpty {
            let devices = stateDevices
            storeState(topic: topic, payload: payload.readableBytesView, devices: devices, into: &actions)
        }
        return matched
    }

    // MARK: - States

    /// Stores (or, for an empty or refused payload, removes) the state of `topic` for `devices`,
    /// then evicts what the devices' limits no longer allow.
    private mutating func storeState<Bytes: Collection<UInt8>>(
        topic: String,
        payload: Bytes,
        devices: [Int32],
        into actions: inout [DeviceTableAction]
    ) {
        let count = payload.count
        guard count > 0 else {
            removeState(topic: topic, devices: devices, into: &actions)
            return
        }
        guard count <= limits.maxPayload, DeviceStateLedger.cost(topic: topic, payloadCount: count) <= limits.maxBytes else {
            for device in devices.map(Int.init) {
                ledgers[device].countRefused()
                limitReached(device, into: &actions)
            }
            // The older state is no longer the latest: republishing it later would be wrong.
            removeState(topic: topic, devices: devices, into: &actions)
            return
        }
        if states[topic].map({ !$0.elementsEqual(payload) }) ?? true {
            let bytes = Array(payload)
            states[topic] = bytes
            actions.append(.stateChanged(topic: topic, payload: bytes))
        }
        stamp &+= 1
        for device in devices.map(Int.init) {
            markForReport(device)
            let evicted = ledgers[device].write(topic, payloadCount: count, stamp: stamp, limits: limits)
            guard !evicted.isEmpty else { continue }
            limitReached(device, into: &actions)
            for gone in evicted where !isKept(gone) {
                states[gone] = nil
                actions.append(.stateChanged(topic: gone, payload: nil))
            }
        }
    }

    private mutating func removeState(topic: String, devices: [Int32], into actions: inout [DeviceTableAction]) {
        for device in devices.map(Int.init) where ledgers[device].contains(topic) {
            ledgers[device].remove(topic)
            markForReport(device)
        }
        if !isKept(topic), states.removeValue(forKey: topic) != nil {
            actions.append(.stateChanged(topic: topic, payload: nil))
        }
    }

    /// Whether some device still keeps a state topic (only devices whose filters match it can).
    private func isKept(_ topic: String) -> Bool {
        var kept = false
        trie.forEachMatch(topic: topic) { route in
            if route.role == .state && ledgers[Int(route.device)].contains(topic) { kept = true }
        }
        return kept
    }

    private mutating func limitReached(_ device: Int, into actions: inout [DeviceTableAction]) {
        markForReport(device)
        guard !limitReported[device] else { return }
        limitReported[device] = true
        actions.append(.stateLimitReached(device: device))
    }

    private mutating func touch(_ device: Int, at now: Double, into actions: inout [DeviceTableAction]) {
        let slot = slotOfDevice[device]
        guard slot >= 0 else { return }
        if engine.touch(WatchdogEngine.Slot(Int(slot)), at: now) == .recovered {
            actions.append(.recovered(device: device))
        }
        markForReport(device)
    }

    private mutating func markForReport(_ device: Int) {
        if !reportPending[device] {
            reportPending[device] = true
            reportList.append(Int32(device))
        }
    }

    // MARK: - Time

    /// The earliest time at which ``expire(at:into:)`` may have something to do.
    public var nextDeadline: Double? { engine.nextDeadline }

    /// Expires the devices whose deadline has passed.
    ///
    /// - Parameters:
    ///   - now: The current time.
    ///   - expired: Receives each newly expired device with its last contact (the start time when
    ///     it was never heard from), in deadline order.
    public mutating func expire(at now: Double, into expired: inout [(device: Int, lastContact: Double)]) {
        if !overdue.isEmpty {
            expired += overdue
            overdue.removeAll()
        }
        let start = startTime
        engine.expire(at: now) { slot, lastContact in
            expired.append((Int(deviceOfSlot[slot.index]), lastContact ?? start))
        }
    }

    /// Returns the devices heard from (or whose hello count changed) since the last call, and
    /// forgets them.
    public mutating func drainReports() -> [Int] {
        let list = reportList.map(Int.init)
        for device in list { reportPending[device] = false }
        reportList.removeAll(keepingCapacity: true)
        return list
    }

    // MARK: - Queries

    /// The index of a device or agent by name.
    public func index(of target: TargetID) -> Int? { byName[target] }

    /// Whether a device is expired now.
    public func isExpired(_ device: Int) -> Bool {
        let slot = slotOfDevice[device]
        return slot >= 0 && engine.isExpired(WatchdogEngine.Slot(Int(slot)))
    }

    /// Whether a device has watch topics (and so can expire).
    public func isWatched(_ device: Int) -> Bool { slotOfDevice[device] >= 0 }

    /// The last contact of a device, or `nil` if it was never heard from.
    public func lastContact(of device: Int) -> Double? {
        let slot = slotOfDevice[device]
        return slot >= 0 ? engine.lastContact(of: WatchdogEngine.Slot(Int(slot))) : nil
    }

    /// The number of hellos a device sent.
    public func helloCount(of device: Int) -> Int { helloCounts[device] }

    /// The number of devices currently expired.
    public var expiredCount: Int { engine.expiredCount }

    /// Sets a hello count restored from the store.
    public mutating func setHelloCount(_ count: Int, of device: Int) { helloCounts[device] = count }

    /// Stores a state restored from the store, attaching it to every device whose `stateTopics`
    /// match the topic, within the devices' limits (restored in the order given). States that no
    /// device claims any more are dropped from memory but left in the store.
    ///
    /// - Parameters:
    ///   - topic: The state topic.
    ///   - payload: The stored payload.
    ///   - actions: Receives `stateChanged(…, nil)` for every state the limits refused or evicted
    ///     (the caller removes them from the store), and `stateLimitReached`.
    /// - Returns: Whether a device claimed it.
    @discardableResult
    public mutating func restoreState(topic: String, payload: [UInt8], into actions: inout [DeviceTableAction]) -> Bool {
        var devices: [Int32] = []
        trie.forEachMatch(topic: topic) { route in
            if route.role == .state && !devices.contains(route.device) { devices.append(route.device) }
        }
        guard !devices.isEmpty else { return false }
        // Known to the table first, so that a refusal also removes it from the store.
        states[topic] = payload
        storeState(topic: topic, payload: payload, devices: devices, into: &actions)
        return true
    }

    /// The stored states of one device, ordered by topic.
    public func states(of device: Int) -> [(topic: String, payload: [UInt8])] {
        ledgers[device].topics.sorted().compactMap { topic in states[topic].map { (topic, $0) } }
    }

    /// The number of states a device keeps and their bytes (topic names plus payloads).
    public func stateUsage(of device: Int) -> (count: Int, bytes: Int) { (ledgers[device].count, ledgers[device].bytes) }

    /// How many states a device evicted and how many messages it refused since start-up.
    public func stateLimitCounts(of device: Int) -> (evicted: Int, refused: Int) { (ledgers[device].evicted, ledgers[device].refused) }

    /// Every stored state, ordered by topic.
    public var allStates: [(topic: String, payload: [UInt8])] {
        states.keys.sorted().map { ($0, states[$0]!) }
    }

    /// The number of stored states.
    public var stateCount: Int { states.count }

    /// The topic filters to subscribe to: every watch, hello and state filter, without the ones
    /// another filter in the list already covers (the broker would deliver a message once per
    /// matching subscription, and a hello must count once).
    public var subscriptionFilters: [String] {
        var all = Set<String>()
        for definition in definitions {
            all.formUnion(definition.watchTopics)
            all.formUnion(definition.stateTopics)
            if let hello = definition.helloTopic { all.insert(hello) }
        }
        return Self.minimalFilters(all)
    }

    /// Removes from a set of filters those that another filter of the set covers.
    static func minimalFilters(_ filters: Set<String>) -> [String] {
        var trie = MQTTTopicTrie<String>()
        for filter in filters { trie.insert(filter: filter, value: filter) }
        return filters.filter { filter in
            var covered = false
            // A trie lookup with the filter used as a topic finds every filter matching its levels
            // literally; `covers` then checks the wildcard semantics exactly.
            trie.forEachMatch(topic: filter) { other in
                if other != filter && covers(other, filter) { covered = true }
            }
            return !covered
        }.sorted()
    }

    /// Whether every topic matched by `inner` is also matched by `outer`.
    static func covers(_ outer: String, _ inner: String) -> Bool {
        let outerLevels = outer.split(separator: "/", omittingEmptySubsequences: false)
        let innerLevels = inner.split(separator: "/", omittingEmptySubsequences: false)
        for (index, level) in outerLevels.enumerated() {
            if level == "#" { return true }
            guard index < innerLevels.count else { return false }
            let other = innerLevels[index]
            if other == "#" { return false }
            if level == "+" { continue }
            if level != other { return false }
        }
        return outerLevels.count == innerLevels.count
    }
}
