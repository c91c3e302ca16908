//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Metrics
import Synchronization

/// What the hub tells its live subscribers.
public enum HubUpdate: Sendable, Hashable {
    /// A target's state changed (status, attributes or values).
    case state(TargetState)
    /// An event was recorded.
    case event(Event)
    /// A target is no longer watched (for example a stream that vanished from its server).
    case removed(TargetID)

    /// The target whose newer update replaces this one (states and removals); `nil` for events,
    /// which are never coalesced.
    var coalescingTarget: TargetID? {
        switch self {
        case .state(let state): state.target
        case .removed(let target): target
        case .event: nil
        }
    }
}

/// Fans hub updates out to many subscribers without letting a slow one hold up the others.
///
/// Each subscriber has its own bounded queue, and publishing never blocks or waits for one:
/// - **States coalesce per target.** A queued state (or removal) of a target is replaced in place by
///   the newer one, so a flood of samples occupies one slot per target and never pushes events out.
///   The newest picture of every target always arrives.
/// - **Events queue in order**, up to ``Limits/maxPendingEvents`` per subscriber. Only a subscriber
///   that is really stuck reaches that bound; then the *oldest* queued event is dropped for it.
/// - **Nothing is dropped silently.** Every drop is counted in ``droppedUpdates`` and in
///   `vigil_events_dropped_total{subscriber,kind}` (`kind` is `event` or `state`; a state is dropped
///   only when more than ``Limits/maxPendingTargets`` distinct targets wait).
///
/// ```swift
/// for await update in hub.bus.subscribe(name: "live") { … }
/// ```
public final class EventBus: Sendable {
    /// The bounds of one subscriber's queue.
    public struct Limits: Sendable, Hashable {
        /// Queued events before the oldest one is dropped. At least 1.
        public var maxPendingEvents: Int
        /// Distinct targets with a queued state before a new target's state is dropped. At least 1.
        public var maxPendingTargets: Int

        /// Creates limits; values below 1 count as 1.
        public init(maxPendingEvents: Int = 65_536, maxPendingTargets: Int = 65_536) {
            self.maxPendingEvents = max(1, maxPendingEvents)
            self.maxPendingTargets = max(1, maxPendingTargets)
        }
    }

    private struct Subscribers {
        var next = 0
        var all: [Int: EventBusSubscriber] = [:]
    }

    private let subscribers = Mutex(Subscribers())
    private let dropped = Atomic<Int>(0)
    private let metricsFactory: any MetricsFactory

    /// Creates a bus with no subscribers.
    ///
    /// - Parameter metricsFactory: Where the drop counters are created; tests inject `TestMetrics`.
    public init(metricsFactory: any MetricsFactory = MetricsSystem.factory) {
        self.metricsFactory = metricsFactory
    }

    /// How many updates were dropped for stuck subscribers since start.
    public var droppedUpdates: Int { dropped.load(ordering: .relaxed) }

    /// How many subscribers are attached.
    public var subscriberCount: Int { subscribers.withLock { $0.all.count } }

    /// Publishes an update to every subscriber.
    public func publish(_ update: HubUpdate) {
        let targets = subscribers.withLock { Array($0.all.values) }
        for subscriber in targets where !subscriber.push(update) {
            dropped.add(1, ordering: .relaxed)
        }
    }

    /// Subscribes to updates.
    ///
    /// - Parameters:
    ///   - name: Names the subscriber in `vigil_events_dropped_total{subscriber}`.
    ///   - limits: The bounds of this subscriber's queue.
    /// - Returns: A sequence for one consumer. It ends when the consuming task is cancelled; the
    ///   subscription ends when the sequence and its iterator are gone.
    public func subscribe(name: String = "default", limits: Limits = .init()) -> Subscription {
        let subscriber = EventBusSubscriber(
            limits: limits,
            droppedEvents: Counter(
                label: "vigil_events_dropped_total",
                dimensions: [("subscriber", name), ("kind", "event")],
                factory: metricsFactory
            ),
            droppedStates: Counter(
                label: "vigil_events_dropped_total",
                dimensions: [("subscriber", name), ("kind", "state")],
                factory: metricsFactory
            )
        )
        let id = subscribers.withLock { subscribers in
            let id = subscribers.next
            subscribers.next += 1
            subscribers.all[id] = subscriber
            return id
        }
        subscriber.onFinish = { [weak self] in
            _ = self?.subscribers.withLock { $0.all.removeValue(forKey: id) }
        }
        return Subscription(token: Subscription.Token(subscriber))
    }

    // MARK: - Subscription

    /// The updates of one subscriber, in publish order (a coalesced state keeps the place of the
    /// first one it replaced).
    public struct Subscription: AsyncSequence, Sendable {
        public typealias Element = HubUpdate
        public typealias Failure = Never

        /// Ends the subscription when the last copy of the sequence or its iterator goes away.
        final class Token: Sendable {
            let subscriber: EventBusSubscriber
            init(_ subscriber: EventBusSubscriber) { self.subscriber = subscriber }
            deinit { subscriber.finish() }
        }

        let token: Token

        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(token: token)
        }

        /// Hands out the updates of one batch, then waits for the next batch.
        public struct AsyncIterator: AsyncIteratorProtocol {
            public typealias Failure = Never
            let token: Token
            private var batch: [HubUpdate] = []
            private var index = 0

            init(token: Token) {
                self.token = token
            }

            public mutating func next() async -> HubUpdate? {
                if index < batch.count {
                    defer { index += 1 }
                    return batch[index]
                }
                guard let next = await token.subscriber.next() else { return nil }
                batch = next
                index = 1
                return next[0]
            }
        }
    }
}

// MARK: - EventBusSubscriber queue

/// One subscriber's queue: coalesced states and a bounded FIFO of events, merged in publish order
/// when the consumer takes them.
final class EventBusSubscriber: Sendable {
    private struct Pending {
        var sequence: UInt64 = 0
        /// Events in order; those before `eventsHead` were dropped and await compaction.
        var events: [(sequence: UInt64, update: HubUpdate)] = []
        var eventsHead = 0
        /// Targets in the order their first queued state arrived.
        var stateOrder: [(sequence: UInt64, target: TargetID)] = []
        var states: [TargetID: HubUpdate] = [:]
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false

        var pendingEvents: Int { events.count - eventsHead }
        var isEmpty: Bool { pendingEvents == 0 && stateOrder.isEmpty }
    }

    private let limits: EventBus.Limits
    private let pending = Mutex(Pending())
    private let droppedEvents: Counter
    private let droppedStates: Counter
    private let finishAction = Mutex<(@Sendable () -> Void)?>(nil)

    init(limits: EventBus.Limits, droppedEvents: Counter, droppedStates: Counter) {
        self.limits = limits
        self.droppedEvents = droppedEvents
        self.droppedStates = droppedStates
    }

    /// Called once when the subscription ends (removes it from the bus).
    var onFinish: (@Sendable () -> Void)? {
        get { finishAction.withLock { $0 } }
        set { finishAction.withLock { $0 = newValue } }
    }

    /// Queues an update; returns `false` when an update was dropped to make room.
    func push(_ update: HubUpdate) -> Bool {
        enum Outcome { case kept, droppedEvent, droppedState }
        let (outcome, waiter) = pending.withLock { pending -> (Outcome, CheckedContinuation<Void, Never>?) in
            guard !pending.finished else { return (.kept, nil) }
            pending.sequence &+= 1
            var outcome = Outcome.kept
            if let target = update.coalescingTarget {
                if pending.states.updateValue(update, forKey: target) == nil {
                    if pending.states.count > limits.maxPendingTargets {
                        pending.states[target] = nil
                        return (.droppedState, nil)
                    }
                    pending.stateOrder.append((pending.sequence, target))
                }
            } else {
                if pending.pendingEvents >= limits.maxPendingEvents {
                    pending.eventsHead += 1
                    outcome = .droppedEvent
                    // Compact once half the array is dropped entries: amortised O(1) per drop.
                    if pending.eventsHead >= pending.events.count / 2 {
                        pending.events.removeFirst(pending.eventsHead)
                        pending.eventsHead = 0
                    }
                }
                pending.events.append((pending.sequence, update))
            }
            defer { pending.waiter = nil }
            return (outcome, pending.waiter)
        }
        waiter?.resume()
        switch outcome {
        case .kept: return true
        case .droppedEvent: droppedEvents.increment()
        case .droppedState: droppedStates.increment()
        }
        return false
    }

    /// Waits for updates and takes all that are queued; `nil` once the subscription has ended.
    func next() async -> [HubUpdate]? {
        while true {
            if Task.isCancelled {
                finish()
                return nil
            }
            switch pending.withLock({ Self.take(&$0) }) {
            case .batch(let batch): return batch
            case .finished: return nil
            case .empty: break
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = pending.withLock { pending -> Bool in
                        if !pending.isEmpty || pending.finished || Task.isCancelled { return true }
                        pending.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                pending.withLock { pending -> CheckedContinuation<Void, Never>? in
                    defer { pending.waiter = nil }
                    return pending.waiter
                }?.resume()
            }
        }
    }

    /// Ends the subscription: queued updates are released and the bus forgets it.
    func finish() {
        let waiter = pending.withLock { pending -> CheckedContinuation<Void, Never>? in
            guard !pending.finished else { return nil }
            let waiter = pending.waiter
            pending = Pending(finished: true)
            return waiter
        }
        waiter?.resume()
        let action = finishAction.withLock { action in
            defer { action = nil }
            return action
        }
        action?()
    }

    private enum Taken {
        case empty
        case finished
        /// Updates in publish order.
        case batch([HubUpdate])
    }

    private static func take(_ pending: inout Pending) -> Taken {
        if pending.finished { return .finished }
        guard !pending.isEmpty else { return .empty }
        var batch: [HubUpdate] = []
        batch.reserveCapacity(pending.pendingEvents + pending.stateOrder.count)
        var eventIndex = pending.eventsHead
        var stateIndex = 0
        while eventIndex < pending.events.count || stateIndex < pending.stateOrder.count {
            let takeEvent: Bool
            if eventIndex == pending.events.count {
                takeEvent = false
            } else if stateIndex == pending.stateOrder.count {
                takeEvent = true
            } else {
                takeEvent = pending.events[eventIndex].sequence < pending.stateOrder[stateIndex].sequence
            }
            if takeEvent {
                batch.append(pending.events[eventIndex].update)
                eventIndex += 1
            } else {
                if let update = pending.states[pending.stateOrder[stateIndex].target] { batch.append(update) }
                stateIndex += 1
            }
        }
        pending.events.removeAll(keepingCapacity: true)
        pending.eventsHead = 0
        pending.stateOrder.removeAll(keepingCapacity: true)
        pending.states.removeAll(keepingCapacity: true)
        return .batch(batch)
    }
}
