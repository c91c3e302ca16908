//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// One instance's lease on a piece of once-only work (the device watchdog, failover decisions),
/// with its fencing token.
///
/// Rendezvous ownership (``WorkOwnership``) says who should run the work; the lease makes sure at
/// most one does. Every grant of a work's lease carries a larger token, and the writes that record
/// the work's decisions (``FencedStateStore``) are accepted only while the writer's lease is the
/// current one: an instance that was frozen past its lease's expiry, or that still believes it owns
/// the work while the others have moved on, has its next write refused instead of overwriting its
/// successor's.
public struct WorkLease: Sendable, Hashable, CustomStringConvertible {
    /// The work key, as in ``WorkOwnership``.
    public var work: String
    /// The instance holding the lease.
    public var holder: String
    /// The fencing token: larger for every later grant of this work's lease.
    public var token: Int64

    /// Describes a grant.
    public init(work: String, holder: String, token: Int64) {
        self.work = work
        self.holder = holder
        self.token = token
    }

    /// What the lease store keeps for this grant: the holder and the token.
    public var value: String { "\(holder)/\(token)" }

    public var description: String { "\(work) held by \(holder) with token \(token)" }
}

/// A fenced write was refused: the lease it was made under is no longer the current one.
public struct WorkLeaseLostError: Error, CustomStringConvertible {
    /// The lease the write was made under.
    public var lease: WorkLease

    /// Describes a refused write.
    public init(lease: WorkLease) {
        self.lease = lease
    }

    public var description: String { "the lease on '\(lease.work)' (token \(lease.token)) is no longer held; the write was refused" }
}

/// Leases on once-only work, kept where every instance of a cluster sees them (Redis), and the
/// state writes they fence.
public protocol WorkLeaseStore: Sendable {
    /// Grants the lease on `work` to `holder` for `ttl`, with a new token, unless another grant is
    /// still current.
    ///
    /// - Returns: The grant, or `nil` while another holder's lease lasts.
    func acquire(work: String, holder: String, ttl: Duration) async throws -> WorkLease?

    /// Extends a grant to `ttl` from now.
    ///
    /// - Returns: `false` when the grant is no longer current (it expired, or another holder has
    ///   the lease): the holder must stop the work.
    func renew(_ lease: WorkLease, ttl: Duration) async throws -> Bool

    /// Ends a grant early, when it is still current, so that the next owner need not wait for its
    /// expiry.
    func release(_ lease: WorkLease) async throws

    /// The current grant of `work`'s lease, or `nil` when nobody holds it (for `/api/v1/cluster`).
    func holder(of work: String) async throws -> WorkLease?

    /// Stores a state row only while `lease` is current, in one atomic step with the check.
    ///
    /// - Throws: ``WorkLeaseLostError`` when the lease is no longer current.
    func setValue(_ value: [UInt8], forKey key: String, fencedBy lease: WorkLease) async throws

    /// Removes a state row only while `lease` is current, in one atomic step with the check.
    ///
    /// - Throws: ``WorkLeaseLostError`` when the lease is no longer current.
    func removeValue(forKey key: String, fencedBy lease: WorkLease) async throws
}

/// The state store of a service that runs under a lease: reads go to the shared store, writes are
/// fenced by the lease.
public struct FencedStateStore: StateStore {
    /// The shared store the rows live in (reads).
    public let base: any StateStore
    /// The lease store (fenced writes into the same rows).
    public let leases: any WorkLeaseStore
    /// The lease the writes are made under.
    public let lease: WorkLease

    /// Wraps a shared store for the holder of `lease`.
    public init(base: any StateStore, leases: any WorkLeaseStore, lease: WorkLease) {
        self.base = base
        self.leases = leases
        self.lease = lease
    }

    public func value(forKey key: String) async throws -> [UInt8]? {
        try await base.value(forKey: key)
    }

    public func setValue(_ value: [UInt8], forKey key: String) async throws {
        try await leases.setValue(value, forKey: key, fencedBy: lease)
    }

    public func removeValue(forKey key: String) async throws {
        try await leases.removeValue(forKey: key, fencedBy: lease)
    }

    public func values(prefix: String) async throws -> [(key: String, value: [UInt8])] {
        try await base.values(prefix: prefix)
    }
}
