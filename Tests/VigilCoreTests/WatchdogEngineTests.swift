//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Testing
import VigilCore

@Suite("Watchdog deadline engine")
struct WatchdogEngineTests {
    /// Collects what one `expire(at:)` call reported.
    private func expire(_ engine: inout WatchdogEngine, at now: Double) -> [(slot: Int, lastContact: Double?)] {
        var reported: [(slot: Int, lastContact: Double?)] = []
        engine.expire(at: now) { slot, lastContact in reported.append((slot.index, lastContact)) }
        return reported
    }

    @Test("A silent device expires at its deadline, not before, and only once")
    func expiresOnce() {
        var engine = WatchdogEngine()
        let device = engine.add(timeout: 30, at: 1_000)
        #expect(engine.nextDeadline == 1_030)
        #expect(expire(&engine, at: 1_029.9).isEmpty)
        #expect(!engine.isExpired(device))
        let reported = expire(&engine, at: 1_030)
        #expect(reported.map(\.slot) == [device.index])
        #expect(reported.first?.lastContact == nil)
        #expect(engine.isExpired(device))
        #expect(engine.expiredCount == 1)
        #expect(engine.deadline(of: device) == nil)
        #expect(expire(&engine, at: 5_000).isEmpty)
        #expect(engine.pendingCount == 0)
    }

    @Test("Touching re-arms lazily: the deadline follows the last contact")
    func rearm() {
        var engine = WatchdogEngine()
        let device = engine.add(timeout: 10, at: 0)
        for second in stride(from: 1.0, through: 50, by: 1) {
            #expect(engine.touch(device, at: second) == .alive)
            #expect(expire(&engine, at: second).isEmpty)
        }
        #expect(engine.deadline(of: device) == 60)
        #expect(engine.pendingCount == 1)
        #expect(expire(&engine, at: 59.5).isEmpty)
        let reported = expire(&engine, at: 60)
        #expect(reported.count == 1)
        #expect(reported.first?.lastContact == 50)
    }

    @Test("A touch after expiry recovers the device, which can expire again")
    func recovery() {
        var engine = WatchdogEngine()
        let device = engine.add(timeout: 5, at: 0)
        engine.touch(device, at: 1)
        #expect(expire(&engine, at: 6).count == 1)
        #expect(engine.touch(device, at: 20) == .recovered)
        #expect(!engine.isExpired(device))
        #expect(engine.expiredCount == 0)
        #expect(engine.touch(device, at: 21) == .alive)
        #expect(expire(&engine, at: 25.9).isEmpty)
        let again = expire(&engine, at: 26)
        #expect(again.map(\.slot) == [device.index])
        #expect(again.first?.lastContact == 21)
    }

    @Test("A late, out-of-order contact never shortens the deadline")
    func outOfOrderTouch() {
        var engine = WatchdogEngine()
        let device = engine.add(timeout: 10, at: 0)
        engine.touch(device, at: 8)
        engine.touch(device, at: 3)
        #expect(engine.lastContact(of: device) == 8)
        #expect(engine.deadline(of: device) == 18)
        #expect(expire(&engine, at: 17).isEmpty)
    }

    @Test("Devices expire in deadline order; equal deadlines in slot order")
    func order() {
        var engine = WatchdogEngine()
        let timeouts: [Double] = [30, 10, 20, 10, 5, 20]
        let slots = timeouts.map { engine.add(timeout: $0, at: 100) }
        engine.touch(slots[4], at: 104)  // deadline 109
        let reported = expire(&engine, at: 1_000).map(\.slot)
        #expect(reported == [4, 1, 3, 2, 5, 0])
    }

    @Test("Many devices with random traffic expire exactly when a brute-force model says")
    func manyDevicesAgainstModel() {
        var generator = SplitMix64(seed: 42)
        var engine = WatchdogEngine(capacity: 20_000)
        let count = 20_000
        var timeouts: [Double] = []
        var last: [Double?] = Array(repeating: nil, count: count)
        var expired = Array(repeating: false, count: count)
        var deadline: [Double] = []
        for _ in 0..<count {
            let timeout = Double(generator.next(in: 1...60))
            timeouts.append(timeout)
            deadline.append(timeout)
            engine.add(timeout: timeout, at: 0)
        }
        var now = 0.0
        var totalReported = 0
        var recoveries = 0
        for _ in 0..<200 {
            now += 0.5
            // A batch of messages from random devices.
            for _ in 0..<400 {
                let index = generator.next(in: 0...(count - 1))
                let result = engine.touch(WatchdogEngine.Slot(index), at: now)
                #expect((result == .recovered) == expired[index])
                if expired[index] { recoveries += 1 }
                expired[index] = false
                last[index] = now
                deadline[index] = now + timeouts[index]
            }
            var reported: [Int] = []
            engine.expire(at: now) { slot, lastContact in
                reported.append(slot.index)
                #expect(lastContact == last[slot.index])
            }
            let expected = (0..<count).filter { !expired[$0] && deadline[$0] <= now }
            #expect(Set(reported) == Set(expected))
            #expect(reported.count == expected.count)
            for index in expected { expired[index] = true }
            totalReported += reported.count
            // Reports come in deadline order.
            let reportedDeadlines = reported.map { deadline[$0] }
            #expect(reportedDeadlines == reportedDeadlines.sorted())
        }
        #expect(engine.expiredCount == expired.filter { $0 }.count)
        #expect(engine.pendingCount == count - engine.expiredCount)
        #expect(totalReported > 1_000)
        #expect(recoveries > 0)
    }

    @Test("The heap never holds more than one entry per device, however many messages arrive")
    func oneEntryPerDevice() {
        var engine = WatchdogEngine()
        let slots = (0..<100).map { _ in engine.add(timeout: 60, at: 0) }
        for step in 1...1_000 {
            engine.touch(slots[step % slots.count], at: Double(step) / 100)
        }
        #expect(engine.pendingCount == 100)
        #expect(engine.nextDeadline == 60)
        // Popping the stale top re-positions it instead of expiring the device.
        #expect(expire(&engine, at: 60).isEmpty)
        #expect(engine.pendingCount == 100)
        #expect(engine.nextDeadline ?? 0 > 60)
    }
}

/// A small deterministic random generator, so failures reproduce.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func next(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }
}
