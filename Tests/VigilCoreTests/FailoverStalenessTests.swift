//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilCore

@Suite("Gateway staleness")
struct FailoverStalenessTests {
    @Test("Unknown, offline, fresh and stale with the time since last seen")
    func verdicts() {
        #expect(GatewayStaleness.evaluate(online: nil, lastSeen: 100, now: 200, threshold: 30) == .unknown)
        #expect(GatewayStaleness.evaluate(online: false, lastSeen: 0, now: 200, threshold: 30) == .offline)
        #expect(GatewayStaleness.evaluate(online: true, lastSeen: 170, now: 200, threshold: 30) == .fresh)
        #expect(GatewayStaleness.evaluate(online: true, lastSeen: 169, now: 200, threshold: 30) == .stale(sinceLastSeen: 31))
        #expect(GatewayStaleness.evaluate(online: true, lastSeen: nil, now: 200, threshold: 30) == .fresh)
        #expect(GatewayStaleness.stale(sinceLastSeen: 1).isStale)
        #expect(!GatewayStaleness.fresh.isStale)
    }

    @Test("Staleness never fails a gateway over")
    func staleIsNotFailure() {
        var machine = FailoverStateMachine(primaries: ["gxy1"], spares: ["gxy12"], waitTime: 5)
        _ = machine.statusChanged(server: "gxy1", online: true, now: 0)
        let verdict = GatewayStaleness.evaluate(online: machine.online["gxy1"], lastSeen: 0, now: 1000, threshold: 30)
        #expect(verdict.isStale)
        #expect(machine.advance(to: 1000).isEmpty)
        #expect(machine.mappings.isEmpty)
    }
}
