//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
import Synchronization
import Testing
import VigilCore
import VigilMQTT
import VigilMonitors

/// An NTP step or `date -s` moves the wall clock, not time: a running watchdog against the real
/// Mosquitto keeps its deadline through a step of +1 h and one of −1 h.
@Suite("Wall-clock steps under a running watchdog", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct ClockStepIntegrationTests {
    @Test("A device's expiry comes watchTimeOut after its last message, whatever the wall clock does meanwhile")
    func watchdogDeadline() async throws {
        let prefix = MQTTTestSupport.uniqueTopic("clock-step")
        let clock = ManualClock(wallClockSeconds: 1_800_000_000)
        let memory = MemoryStore()
        let hub = Hub(stores: memory.stores, clock: clock)
        let device = TargetID(.device, "d1")
        let configuration = DeviceMonitorConfiguration(
            baseTopic: "\(prefix)/mon",
            definitions: [DeviceDefinition(name: "d1", watchTimeout: 10, watchTopics: ["\(prefix)/d1/#"])],
            reportInterval: .seconds(3600),
            upInterval: .seconds(3600)
        )
        let expiries = Atomic<Int>(0)
        try await withMQTTClient(try MQTTTestSupport.configuration()) { client in
            let watchdog = DeviceWatchdog(
                configuration: configuration,
                client: client,
                hub: hub,
                store: memory.stores.state,
                clock: clock,
                onExpired: { _ in expiries.add(1, ordering: .relaxed) }
            )
            try await withMQTTClient(try MQTTTestSupport.configuration()) { device1 in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await watchdog.run() }
                    /// Moves monotonic time and waits until the tick loop has acted on it and sleeps again.
                    func advance(_ seconds: Double) async throws {
                        clock.advance(by: .milliseconds(Int64(seconds * 1000)))
                        try await withTimeout(.seconds(5)) { await clock.waitForSleepers(1) }
                    }
                    /// Expiries are recorded (hub, callback) by a task of their own after they are published.
                    func recorded(_ count: Int) async throws -> Bool {
                        let deadline = ContinuousClock.now + .seconds(5)
                        while expiries.load(ordering: .relaxed) < count, ContinuousClock.now < deadline {
                            try await Task.sleep(for: .milliseconds(5))
                        }
                        return expiries.load(ordering: .relaxed) == count
                    }
                    try await withTimeout(.seconds(5)) { await clock.waitForSleepers(1) }
                    // Never heard from: it expires watchTimeOut after the start.
                    try await advance(10.5)
                    #expect(try await recorded(1))
                    #expect(await hub.state(of: device)?.attributes["state"] == .string("expired"))

                    // It talks (retried until the watchdog's subscription is in place): recovered at 10.5 s.
                    let deadline = ContinuousClock.now + .seconds(10)
                    while await hub.state(of: device)?.attributes["state"] != .string("up"), ContinuousClock.now < deadline {
                        try await device1.publish(to: "\(prefix)/d1/temp", payload: ByteBuffer(string: "21.5"), qos: .atLeastOnce)
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    #expect(await hub.state(of: device)?.attributes["state"] == .string("up"))
                    // Messages still in flight would move the last contact: let them land first.
                    try await Task.sleep(for: .milliseconds(300))

                    // +1 h: a wall-clock deadline would pass at once.
                    clock.stepWallClock(by: 3600)
                    try await advance(5)
                    // An expiry would be recorded within milliseconds.
                    try await Task.sleep(for: .milliseconds(100))
                    #expect(expiries.load(ordering: .relaxed) == 1)
                    #expect(await hub.state(of: device)?.attributes["state"] == .string("up"))
                    // −1 h twice (net −1 h): a wall-clock deadline would move an hour later.
                    clock.stepWallClock(by: -7200)
                    try await advance(4.9)
                    // An expiry would be recorded within milliseconds.
                    try await Task.sleep(for: .milliseconds(100))
                    #expect(expiries.load(ordering: .relaxed) == 1)
                    #expect(await hub.state(of: device)?.attributes["state"] == .string("up"))
                    // 10 s of monotonic time after the last message it expires, not an hour off.
                    try await advance(0.2)
                    #expect(try await recorded(2))
                    #expect(await hub.state(of: device)?.attributes["state"] == .string("expired"))
                    group.cancelAll()
                }
            }
        }
    }
}
