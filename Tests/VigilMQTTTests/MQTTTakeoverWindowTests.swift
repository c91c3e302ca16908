//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing

@testable import VigilMQTT

@Suite("MQTT takeover window")
struct MQTTTakeoverWindowTests {
    @Test("the limit within the window is a loop; takeovers spread wider are not; 0 disables")
    func window() {
        let start = ContinuousClock.now
        var window = MQTTTakeoverWindow(limit: 3, window: .seconds(60))
        var loops: [Bool] = []
        loops.append(window.record(at: start))
        loops.append(window.record(at: start + .seconds(50)))
        // The first one is out of the window by now: two in the window.
        loops.append(window.record(at: start + .seconds(70)))
        #expect(window.count == 2)
        loops.append(window.record(at: start + .seconds(80)))
        #expect(loops == [false, false, false, true])
        var off = MQTTTakeoverWindow(limit: 0, window: .seconds(60))
        let never = (0..<10).map { off.record(at: start + .seconds($0)) }
        #expect(never == Array(repeating: false, count: 10))
        // Hostile values are clamped, never a trap.
        var negative = MQTTTakeoverWindow(limit: -5, window: .seconds(-1))
        let clamped = negative.record(at: start)
        #expect(!clamped)
    }
}
