//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Synchronization

/// What the hub tells its live subscribers.
public enum HubUpdate: Sendable, Hashable {
    /// A target's state changed (status, attributes or values).
    case state(TargetState)
    /// An event was recorded.
    case event(Event)
    /// A target is no longer watched (for example a stream that vanished from its server).
    case removed(TargetID)
}

/// Fans hub updates out to many subscribers without letting a slow one hold up the others.
///
/// Each subscriber gets its own `AsyncStream` with a bounded buffer. When a subscriber falls
/// behind by more than its buffer, the *oldest* updates it has not read are dropped
/// (`bufferingNewest`): a live view prefers the newest state over a complete backlog, and the
/// ``droppedUpdates`` counter says how often that happened. Publishing never blocks and never waits
/// for a subscriber.
public final class EventBus: Sendable {
    private struct Subscribers {
        var next = 0
        var continuations: [Int: AsyncStream<HubUpdate>.Continuation] = [:]
    }

    private let subscribers = Mutex(Subscribers())
    private let dropped = Atomic<Int>(0)

    /// Creates a bus with no subscribers.
    public init() {}

    /// How many updates were dropped for slow subscribers since start.
    public var droppedUpdates: Int { dropped.load(ordering: .relaxed) }

    /// How many subscribers are attached.
    public var subscriberCount: Int { subscribers.withLock { $0.continuations.count } }

    /// Publishes an update to every subscriber.
    public func publish(_ update: HubUpdate) {
        let targets = subscribers.withLock { Array($0.continuations.values) }
        for continuation in targets {
            if case .dropped = continuation.yield(update) {
                dropped.add(1, ordering: .relaxed)
            }
        }
    }

    /// Subscribes to updates.
    ///
    /// - Parameter bufferSize: How many unread updates to keep for this subscriber.
    /// - Returns: A stream that ends when the caller stops iterating it (or the task is cancelled).
    public func subscribe(bufferSize: Int = 1024) -> AsyncStream<HubUpdate> {
        let (stream, continuation) = AsyncStream.makeStream(of: HubUpdate.self, bufferingPolicy: .bufferingNewest(bufferSize))
        let id = subscribers.withLock { subscribers in
            let id = subscribers.next
            subscribers.next += 1
            subscribers.continuations[id] = continuation
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.continuations.removeValue(forKey: id) }
        }
        return stream
    }
}
