//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilCore

@Suite("counterIncrease")
struct CounterIncreaseTests {
    @Test(
        "Growth is the difference; a drop or a known restart counts the whole current value",
        arguments: [
            (100.0, 150.0, false, 50.0),
            (100.0, 100.0, false, 0.0),
            (100.0, 30.0, false, 30.0),
            (100.0, 180.0, true, 180.0),
            (100.0, -5.0, false, 0.0),
        ]
    )
    func increase(previous: Double, current: Double, restarted: Bool, expected: Double) {
        #expect(counterIncrease(from: previous, to: current, restarted: restarted) == expected)
    }
}
