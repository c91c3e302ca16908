//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import VigilCore
import VigilMQTT

/// Runs a service only while this instance owns its work key and holds the key's lease: work that
/// one instance of a cluster must do for all (the device watchdog, which publishes expiries; the
/// gateway monitor, which decides failovers).
///
/// Ownership (rendezvous hashing over the members) says which instance should run the work; the
/// lease (``WorkLeaseStore``) makes sure that no two do at once, even while the instances disagree
/// about the member list, and fences the service's state writes: the service gets a
/// ``FencedStateStore``, so an instance that has lost the lease (frozen past its expiry, cut off
/// from Redis) has its next write refused instead of overwriting its successor's decisions.
///
/// On gaining the key and the lease a fresh service is made and run (it restores what it needs
/// from the shared store); on losing either the service's task is cancelled and awaited, and the
/// lease released, before the key is watched again. Ownership is checked every `checkInterval`
/// (a comparison of a few hashes; the membership itself refreshes every 2 s); the lease is renewed
/// every third of its TTL, and the service stops when no renewal succeeded for two thirds of it,
/// before the lease can have expired on the server.
struct OwnedService: Service {
    let key: String
    let ownership: WorkOwnership
    let logger: Logger
    var checkInterval: Duration = .milliseconds(100)
    /// The shared state store; given to the service fenced by the lease when there are leases.
    let store: any StateStore
    /// Where the key's lease is kept; `nil` runs on ownership alone.
    var leases: (any WorkLeaseStore)?
    /// How long a grant lasts without renewal: a dead holder's work waits at most this long for
    /// its lease (the membership drops it after three 2 s heartbeats, so 6 s costs no extra wait).
    var leaseTTL: Duration = .seconds(6)
    /// How often a waiting owner asks for the lease.
    var leaseRetry: Duration = .milliseconds(500)
    var clock: any VigilClock = SystemClock()
    let make: @Sendable (any StateStore) throws -> any Service

    func run() async throws {
        let metrics = LeaseMetrics(work: key)
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    while !(ownership.isSettled && ownership.owns(key)) { try await clock.sleep(for: checkInterval) }
                    var lease: WorkLease?
                    if let leases {
                        lease = try await acquire(leases, metrics: metrics)
                        // Ownership moved while waiting for the lease.
                        guard lease != nil else { continue }
                    }
                    logger.info(
                        "This instance now runs '\(key)'",
                        metadata: ["members": "\(ownership.currentMembers.joined(separator: ","))", "lease_token": "\(lease?.token ?? 0)"]
                    )
                    let serviceStore: any StateStore =
                        if let lease, let leases { FencedStateStore(base: store, leases: leases, lease: lease) } else { store }
                    let moved: Bool
                    do {
                        moved = try await run(try make(serviceStore), lease: lease, metrics: metrics)
                    } catch {
                        await release(lease)
                        throw error
                    }
                    // Lets the next owner start now rather than at the lease's expiry.
                    await release(lease)
                    // Ended by itself: shutdown (a failure has thrown).
                    guard moved else { return }
                    if ownership.owns(key) {
                        // Still the owner: the lease was lost (refused or not renewed in time).
                        logger.info("'\(key)' stopped here until its lease is granted again", metadata: ["lease_token": "\(lease?.token ?? 0)"])
                    } else {
                        logger.info(
                            "'\(key)' moved to another instance",
                            metadata: ["owner": "\(ownership.owner(of: key))", "lease_token": "\(lease?.token ?? 0)"]
                        )
                    }
                }
            }
        } catch is CancellationError {
            // Graceful shutdown while waiting for the key or the lease.
        }
    }

    /// Ends a grant (if any) early, whatever the task's cancellation; a failure leaves it to expire.
    private func release(_ lease: WorkLease?) async {
        guard let lease, let leases else { return }
        _ = try? await withCancellationShield { try await leases.release(lease) }
    }

    /// Runs `service` until it ends (returns `false`), or until the key or the lease is lost
    /// (returns `true`, with the service cancelled and awaited).
    private func run(_ service: any Service, lease: WorkLease?, metrics: LeaseMetrics) async throws -> Bool {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                // Losing the key cancels the service while this process runs on: its MQTT filters
                // go (the new owner subscribes); a graceful stop keeps them.
                try await MQTTClient.$unsubscribesOnCancellation.withValue(true) { try await service.run() }
                return false
            }
            group.addTask {
                while ownership.owns(key) { try await clock.sleep(for: checkInterval) }
                return true
            }
            if let lease, let leases {
                group.addTask { try await keep(lease, in: leases, metrics: metrics) }
            }
            // The first to end decides; the others are cancelled and awaited.
            let first = try await group.next() ?? false
            group.cancelAll()
            while (try? await group.next()) != nil {}
            return first
        }
    }

    /// Asks for the lease until it is granted (returns it) or the key moves away (returns `nil`).
    private func acquire(_ leases: any WorkLeaseStore, metrics: LeaseMetrics) async throws -> WorkLease? {
        var waiting = false
        var failures = 0
        while ownership.owns(key) {
            do {
                if let lease = try await leases.acquire(work: key, holder: ownership.instanceID, ttl: leaseTTL) {
                    metrics.acquisitions.increment()
                    return lease
                }
                if !waiting {
                    // The previous owner still holds it: it is stopping, or it died and its grant
                    // runs out within the TTL.
                    logger.info("Waiting for the lease on '\(key)'", metadata: ["ttl": "\(leaseTTL)"])
                    waiting = true
                }
            } catch {
                metrics.errors.increment()
                failures += 1
                // The first failure of a streak, then every 20th (every 10 s at the default retry).
                if failures == 1 || failures.isMultiple(of: 20) {
                    logger.warning("Could not ask for the lease on '\(key)'; will retry", metadata: ["error": "\(error)", "failures": "\(failures)"])
                }
            }
            try await clock.sleep(for: leaseRetry)
        }
        return nil
    }

    /// Renews the lease every third of its TTL; returns `true` when it is lost: refused by the
    /// server, or not renewed for two thirds of the TTL (Redis unreachable or slow), which is
    /// before it can have expired there.
    private func keep(_ lease: WorkLease, in leases: any WorkLeaseStore, metrics: LeaseMetrics) async throws -> Bool {
        let renewed = RenewalStamp(clock.now)
        return try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                while true {
                    try await clock.sleep(for: leaseTTL / 3)
                    let asked = clock.now
                    do {
                        guard try await leases.renew(lease, ttl: leaseTTL) else {
                            logger.error(
                                "Lost the lease on '\(key)' to another instance; stopping its work",
                                metadata: ["lease_token": "\(lease.token)"]
                            )
                            return true
                        }
                        // The server's expiry counts from when it ran the script, after `asked`.
                        renewed.set(asked)
                    } catch {
                        metrics.errors.increment()
                        logger.warning("Could not renew the lease on '\(key)'; will retry", metadata: ["error": "\(error)"])
                    }
                }
            }
            group.addTask {
                while true {
                    try await clock.sleep(for: checkInterval)
                    if renewed.get().duration(to: clock.now) >= leaseTTL * 2 / 3 {
                        logger.error(
                            "The lease on '\(key)' could not be renewed in time; stopping its work",
                            metadata: ["lease_token": "\(lease.token)"]
                        )
                        return true
                    }
                }
            }
            let lost = try await group.next() ?? true
            group.cancelAll()
            if lost { metrics.losses.increment() }
            return lost
        }
    }
}

/// `vigil_cluster_lease_*{work}`: grants taken, grants lost while running, and errors talking to
/// the lease store.
private struct LeaseMetrics: Sendable {
    let acquisitions: Counter
    let losses: Counter
    let errors: Counter

    init(work: String) {
        acquisitions = Counter(label: "vigil_cluster_lease_acquisitions_total", dimensions: [("work", work)])
        losses = Counter(label: "vigil_cluster_lease_losses_total", dimensions: [("work", work)])
        errors = Counter(label: "vigil_cluster_lease_errors_total", dimensions: [("work", work)])
    }
}

/// The start of the last successful renewal, shared by the renewing and the watching task.
private final class RenewalStamp: Sendable {
    private let nanoseconds: Atomic<Int64>

    init(_ instant: MonotonicInstant) {
        nanoseconds = Atomic(instant.nanoseconds)
    }

    func set(_ instant: MonotonicInstant) { nanoseconds.store(instant.nanoseconds, ordering: .releasing) }

    func get() -> MonotonicInstant { MonotonicInstant(nanoseconds: nanoseconds.load(ordering: .acquiring)) }
}
