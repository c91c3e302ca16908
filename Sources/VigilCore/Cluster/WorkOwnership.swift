//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Metrics
import Synchronization

/// Which instance of a cluster does which piece of work: rendezvous (highest random weight) hashing
/// of a work key over the live members.
///
/// Every instance computes the same owner from the same member list, with no coordination: the
/// member with the highest score for the key wins. When a member leaves, only its keys move (each
/// to the member with the next-highest score); when one joins, it takes about 1/n of the keys.
/// Members learn the list from the membership heartbeats (``update(members:)``); between an
/// instance's death and the expiry of its heartbeat its keys have no running owner, and while two
/// instances disagree about the list a key may briefly have two.
///
/// A standalone instance (no member list yet, or no cluster) owns everything.
public final class WorkOwnership: Sendable {
    /// This instance's id.
    public let instanceID: String
    private let members = Mutex<[String]>([])
    private let settled = Atomic<Bool>(false)
    private let memberGauge: Gauge
    private let membershipChanges: Counter

    /// Creates the ownership of one instance; it owns everything until ``update(members:)``.
    public init(instanceID: String, metricsFactory: any MetricsFactory = MetricsSystem.factory) {
        self.instanceID = instanceID
        self.memberGauge = Gauge(label: "vigil_cluster_members", factory: metricsFactory)
        self.membershipChanges = Counter(label: "vigil_cluster_membership_changes_total", factory: metricsFactory)
        memberGauge.record(1)
    }

    /// The live members (this instance included), ordered by id.
    public var currentMembers: [String] {
        members.withLock { $0.isEmpty ? [instanceID] : $0 }
    }

    /// Whether the member list can be trusted for work that must not run twice: set by the
    /// membership once this instance's heartbeat has been visible long enough for every other
    /// member to have read it (instances starting together would otherwise each run such work
    /// until they have seen each other).
    public var isSettled: Bool { settled.load(ordering: .acquiring) }

    /// Marks the list as read (or unreadable for now) without changing it.
    public func settle() { settled.store(true, ordering: .releasing) }

    /// Replaces the member list; this instance is always a member (it knows it is alive, even when
    /// its own heartbeat could not be written).
    ///
    /// - Returns: Whether the list changed.
    @discardableResult
    public func update(members list: [String]) -> Bool {
        var set = Set(list)
        set.insert(instanceID)
        let sorted = set.sorted()
        let changed = members.withLock { current in
            guard current != sorted else { return false }
            current = sorted
            return true
        }
        guard changed else { return false }
        memberGauge.record(Double(sorted.count))
        membershipChanges.increment()
        return true
    }

    /// Whether this instance owns a work key now.
    public func owns(_ key: String) -> Bool {
        owner(of: key) == instanceID
    }

    /// The member that owns a work key now.
    public func owner(of key: String) -> String {
        Self.owner(of: key, among: currentMembers) ?? instanceID
    }

    /// The owner of `key` among `members`: the highest score, the smaller id on a tie; `nil` for no
    /// members. Stable across processes and versions (FNV-1a and a fixed mixer, not `Hasher`, whose
    /// seed differs per process).
    public static func owner(of key: String, among members: [String]) -> String? {
        let keyHash = fnv1a(key)
        var best: (score: UInt64, id: String)?
        for member in members {
            let score = mix(fnv1a(member) ^ keyHash)
            if let current = best, current.score > score || (current.score == score && current.id < member) { continue }
            best = (score, member)
        }
        return best?.id
    }

    /// 64-bit FNV-1a of the UTF-8 bytes.
    public static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// SplitMix64's finaliser: spreads the XOR of two FNV hashes over every bit.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
