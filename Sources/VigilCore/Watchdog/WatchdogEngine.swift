//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// One deadline engine for every watched device: a device is alive while it keeps being touched,
/// and expires when it has been silent for its timeout.
///
/// The engine is a plain value with no clock of its own: callers pass the time (seconds, any epoch,
/// usually the wall clock) to every operation, so tests drive time by hand.
///
/// ## How it scales
///
/// Per-device data is kept in parallel arrays indexed by a dense ``Slot`` (struct of arrays, about
/// 41 bytes per device), and pending deadlines live in one binary min-heap with **lazy re-arm**:
///
/// - ``touch(_:at:)``, called for every message, only stores the new deadline in the slot's array
///   entry: O(1), no heap operation and no allocation.
/// - A heap entry keeps the deadline the slot had when the entry was (re)positioned. When the
///   entry reaches the top and its recorded deadline has passed, ``expire(at:_:)`` compares it
///   with the slot's current deadline: if the device was touched meanwhile, the entry is moved to
///   the current deadline (one sift-down, O(log n)); otherwise the device expires.
///
/// A device therefore costs at most one heap operation per timeout period however many messages
/// it sends, and never more than one heap entry. Expired devices leave the heap and come back
/// with their next touch.
///
/// ```
///  touch(slot, t) ──► deadlines[slot] = t + timeout          (O(1))
///  expire(now)    ──► while heap.top.deadline <= now:
///                        current = deadlines[top.slot]
///                        current > now ? move top to current (sift-down)
///                                      : pop, mark expired, report
/// ```
///
/// Expiry order is deadline order; equal deadlines are reported in slot order.
///
/// ```swift
/// var engine = WatchdogEngine()
/// let esp04 = engine.add(timeout: 60, at: now)
/// engine.touch(esp04, at: now + 10)            // a message arrived
/// engine.expire(at: now + 75) { slot, lastContact in print(slot, lastContact as Any) }
/// ```
public struct WatchdogEngine: Sendable {
    /// The identity of one device inside an engine: a dense index assigned by ``add(timeout:at:)``.
    public struct Slot: Hashable, Sendable, Comparable, CustomStringConvertible {
        /// The index in the engine's arrays.
        public let index: Int

        /// Creates a slot from an index previously returned by the engine.
        public init(_ index: Int) { self.index = index }

        public static func < (lhs: Slot, rhs: Slot) -> Bool { lhs.index < rhs.index }

        public var description: String { "#\(index)" }
    }

    /// What a touch did to the device's state.
    public enum TouchResult: Sendable, Hashable {
        /// The device was alive (or never expired) and stays alive; its deadline moved.
        case alive
        /// The device had expired and is alive again.
        case recovered
    }

    private struct Entry {
        /// The deadline this entry is ordered by (may be older than the slot's current deadline).
        var deadline: Double
        var slot: Int32

        @inline(__always)
        static func before(_ lhs: Entry, _ rhs: Entry) -> Bool {
            lhs.deadline < rhs.deadline || (lhs.deadline == rhs.deadline && lhs.slot < rhs.slot)
        }
    }

    private static let flagExpired: UInt8 = 1
    private static let flagQueued: UInt8 = 2
    private static let flagContacted: UInt8 = 4

    private var timeouts: [Double] = []
    private var deadlines: [Double] = []
    private var lastContacts: [Double] = []
    private var flags: [UInt8] = []
    private var heap: [Entry] = []
    private var expiredTotal = 0

    /// Creates an empty engine.
    ///
    /// - Parameter capacity: The number of devices to reserve memory for.
    public init(capacity: Int = 0) {
        timeouts.reserveCapacity(capacity)
        deadlines.reserveCapacity(capacity)
        lastContacts.reserveCapacity(capacity)
        flags.reserveCapacity(capacity)
        heap.reserveCapacity(capacity)
    }

    /// The number of devices.
    public var count: Int { timeouts.count }

    /// The number of devices currently expired.
    public var expiredCount: Int { expiredTotal }

    /// The number of pending deadlines in the heap (at most one per device that is not expired).
    public var pendingCount: Int { heap.count }

    /// The earliest pending deadline, or `nil` when no device is armed.
    ///
    /// The value may be earlier than the real next expiry (a lazily re-armed entry): calling
    /// ``expire(at:_:)`` at that time is always correct, it just may report nothing.
    public var nextDeadline: Double? { heap.first?.deadline }

    /// Adds a device and arms its first deadline at `now + timeout`.
    ///
    /// A device that never sends anything therefore expires one timeout after it was added, with
    /// no last contact.
    ///
    /// - Parameters:
    ///   - timeout: The silence, in seconds, after which the device expires; must be positive.
    ///   - now: The current time.
    /// - Returns: The device's slot.
    @discardableResult
    public mutating func add(timeout: Double, at now: Double) -> Slot {
        precondition(timeout > 0, "a watchdog timeout must be positive")
        precondition(timeouts.count < Int(Int32.max), "too many devices")
        let index = timeouts.count
        timeouts.append(timeout)
        deadlines.append(now + timeout)
        lastContacts.append(0)
        flags.append(0)
        push(index)
        return Slot(index)
    }

    /// Records a sign of life: the device's deadline becomes `now + timeout`.
    ///
    /// O(1) and allocation-free for a device that is alive; a device that had expired is put back
    /// into the heap (O(log n)).
    ///
    /// - Parameters:
    ///   - slot: The device.
    ///   - now: The time of the contact. A time earlier than the last contact is ignored for the
    ///     deadline, so replayed or reordered messages never shorten it.
    /// - Returns: Whether the device was alive or has just recovered.
    @discardableResult
    public mutating func touch(_ slot: Slot, at now: Double) -> TouchResult {
        let index = slot.index
        let state = flags[index]
        if state & Self.flagContacted == 0 || now > lastContacts[index] {
            lastContacts[index] = now
        }
        flags[index] = state | Self.flagContacted
        let deadline = lastContacts[index] + timeouts[index]
        if deadline > deadlines[index] { deadlines[index] = deadline }
        if state & Self.flagExpired != 0 {
            flags[index] &= ~Self.flagExpired
            expiredTotal -= 1
            deadlines[index] = deadline
            if state & Self.flagQueued == 0 { push(index) }
            return .recovered
        }
        if state & Self.flagQueued == 0 { push(index) }
        return .alive
    }

    /// Expires every device whose deadline is at or before `now`, in deadline order.
    ///
    /// Entries whose device was touched since they were positioned are moved to the device's
    /// current deadline instead (lazy re-arm). Each expired device is reported once; it is not
    /// reported again until it has been touched and fallen silent again.
    ///
    /// - Parameters:
    ///   - now: The current time.
    ///   - body: Called with each expired device and its last contact (`nil` if it was never
    ///     touched).
    /// - Returns: The number of devices that expired.
    @discardableResult
    public mutating func expire(at now: Double, _ body: (Slot, _ lastContact: Double?) throws -> Void) rethrows -> Int {
        var expiredNow = 0
        while let top = heap.first, top.deadline <= now {
            let index = Int(top.slot)
            let current = deadlines[index]
            if current > now {
                heap[0].deadline = current
                siftDown(0)
                continue
            }
            removeTop()
            flags[index] = (flags[index] & ~Self.flagQueued) | Self.flagExpired
            expiredTotal += 1
            expiredNow += 1
            try body(Slot(index), lastContact(of: Slot(index)))
        }
        return expiredNow
    }

    /// Whether a device is currently expired.
    public func isExpired(_ slot: Slot) -> Bool { flags[slot.index] & Self.flagExpired != 0 }

    /// The time of a device's last contact, or `nil` if it was never touched.
    public func lastContact(of slot: Slot) -> Double? {
        flags[slot.index] & Self.flagContacted != 0 ? lastContacts[slot.index] : nil
    }

    /// A device's timeout in seconds.
    public func timeout(of slot: Slot) -> Double { timeouts[slot.index] }

    /// The time at which a device expires if it stays silent, or `nil` while it is expired.
    public func deadline(of slot: Slot) -> Double? { isExpired(slot) ? nil : deadlines[slot.index] }

    /// The devices that are currently expired, in slot order (O(n); for reports, not hot paths).
    public var expiredSlots: [Slot] {
        flags.indices.lazy.filter { self.flags[$0] & Self.flagExpired != 0 }.map(Slot.init)
    }

    /// An estimate of the memory the engine holds, in bytes (array capacities, not counts).
    public var approximateMemoryBytes: Int {
        timeouts.capacity * 8 + deadlines.capacity * 8 + lastContacts.capacity * 8 + flags.capacity
            + heap.capacity * MemoryLayout<Entry>.stride
    }

    // MARK: - Heap

    private mutating func push(_ index: Int) {
        flags[index] |= Self.flagQueued
        heap.append(Entry(deadline: deadlines[index], slot: Int32(index)))
        siftUp(heap.count - 1)
    }

    private mutating func removeTop() {
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(0)
        }
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        let entry = heap[child]
        while child > 0 {
            let parent = (child - 1) / 2
            guard Entry.before(entry, heap[parent]) else { break }
            heap[child] = heap[parent]
            child = parent
        }
        heap[child] = entry
    }

    private mutating func siftDown(_ start: Int) {
        let count = heap.count
        var parent = start
        let entry = heap[parent]
        while true {
            var child = 2 * parent + 1
            guard child < count else { break }
            if child + 1 < count && Entry.before(heap[child + 1], heap[child]) { child += 1 }
            guard Entry.before(heap[child], entry) else { break }
            heap[parent] = heap[child]
            parent = child
        }
        heap[parent] = entry
    }
}
