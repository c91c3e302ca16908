//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import MetricsTestKit
import Testing

@testable import VigilCore

@Suite("Work split between instances (rendezvous hashing)")
struct WorkOwnershipTests {
    static let keys = (0..<3_000).map { "mediamtx/instance-\($0)" }
    static let members = ["vigil-a-8080", "vigil-b-8080", "vigil-c-8080"]

    @Test("Every key has exactly one owner, the same whatever order the members are listed in")
    func oneOwnerIndependentOfOrder() {
        for key in Self.keys {
            let owner = WorkOwnership.owner(of: key, among: Self.members)
            #expect(owner != nil)
            #expect(WorkOwnership.owner(of: key, among: Self.members.reversed()) == owner)
            #expect(WorkOwnership.owner(of: key, among: [Self.members[1], Self.members[2], Self.members[0]]) == owner)
        }
        #expect(WorkOwnership.owner(of: "devices", among: []) == nil)
    }

    @Test("Three members get about a third of the keys each")
    func balanced() {
        var counts: [String: Int] = [:]
        for key in Self.keys { counts[WorkOwnership.owner(of: key, among: Self.members)!, default: 0] += 1 }
        #expect(counts.count == 3)
        for (_, count) in counts { #expect((800...1_200).contains(count), "\(counts)") }
    }

    @Test("A member leaving moves only its own keys; one joining takes keys only for itself")
    func minimalMovement() {
        let before = Dictionary(uniqueKeysWithValues: Self.keys.map { ($0, WorkOwnership.owner(of: $0, among: Self.members)!) })
        let survivors = Self.members.filter { $0 != "vigil-b-8080" }
        for key in Self.keys {
            let after = WorkOwnership.owner(of: key, among: survivors)!
            if before[key] != "vigil-b-8080" { #expect(after == before[key]) } else { #expect(after != "vigil-b-8080") }
        }
        let grown = Self.members + ["vigil-d-8080"]
        var taken = 0
        for key in Self.keys {
            let after = WorkOwnership.owner(of: key, among: grown)!
            if after != before[key] {
                #expect(after == "vigil-d-8080")
                taken += 1
            }
        }
        #expect((550...950).contains(taken), "the new member took \(taken) of 3,000")
    }

    @Test("The hash is fixed (not Hasher, whose seed differs per process): known owners stay known")
    func stableAcrossProcesses() {
        #expect(WorkOwnership.fnv1a("") == 0xcbf2_9ce4_8422_2325)
        #expect(WorkOwnership.fnv1a("a") == 0xaf63_dc4c_8601_ec8c)
        let owners = ["devices", "gateways", "mediamtx/m1"].map { WorkOwnership.owner(of: $0, among: Self.members)! }
        #expect(owners == ["devices", "gateways", "mediamtx/m1"].map { WorkOwnership.owner(of: $0, among: Self.members)! })
    }

    @Test("An instance owns everything alone, is always its own member, and counts a change once")
    func ownershipOfOneInstance() throws {
        let metrics = TestMetrics()
        let ownership = WorkOwnership(instanceID: "vigil-b-8080", metricsFactory: metrics)
        #expect(Self.keys.allSatisfy(ownership.owns))
        // Its own heartbeat missing from the list (not written yet): still a member.
        #expect(ownership.update(members: ["vigil-a-8080", "vigil-c-8080"]))
        #expect(ownership.currentMembers == Self.members)
        #expect(!ownership.update(members: Self.members.reversed()))
        #expect(try metrics.expectCounter("vigil_cluster_membership_changes_total").totalValue == 1)
        #expect(try metrics.expectGauge("vigil_cluster_members").lastValue == 3)
        let owned = Self.keys.filter(ownership.owns)
        #expect(owned == Self.keys.filter { WorkOwnership.owner(of: $0, among: Self.members) == "vigil-b-8080" })
        #expect(owned.count < Self.keys.count)
        #expect(ownership.update(members: []))
        #expect(Self.keys.allSatisfy(ownership.owns))
    }
}
