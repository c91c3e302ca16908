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

    @Test("A device heard from while its expiry is still being recorded stays up (the late 'expired' is not applied)")
    func recoveryDuringRecording() async throws {
        let prefix = MQTTTestSupport.uniqueTopic("expiry-race")
        let clock = ManualClock(wallClockSeconds: 1_800_000_000)
        let memory = MemoryStore()
        let events = GatedEventLog(memory)
        let hub = Hub(stores: Stores(latest: memory, history: memory, state: memory, events: events), clock: clock)
        let configuration = DeviceMonitorConfiguration(
            baseTopic: "\(prefix)/mon",
            definitions: [
                DeviceDefinition(name: "d1", watchTimeout: 10, watchTopics: ["\(prefix)/d1/#"]),
                DeviceDefinition(name: "d2", watchTimeout: 12, watchTopics: ["\(prefix)/d2/#"]),
            ],
            reportInterval: .seconds(3600),
            upInterval: .seconds(3600)
        )
        let d2 = TargetID(.device, "d2")
        try await withMQTTClient(try MQTTTestSupport.configuration()) { client in
            let watchdog = DeviceWatchdog(configuration: configuration, client: client, hub: hub, store: memory, clock: clock)
            try await withMQTTClient(try MQTTTestSupport.configuration()) { device in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await watchdog.run() }
                    func advance(_ seconds: Double) async throws {
                        clock.advance(by: .milliseconds(Int64(seconds * 1000)))
                        try await withTimeout(.seconds(5)) { await clock.waitForSleepers(1) }
                    }
                    try await withTimeout(.seconds(5)) { await clock.waitForSleepers(1) }
                    // d1 expires; its recording stops at the event write (the gate is shut).
                    try await advance(10.5)
                    try await withTimeout(.seconds(5)) { await events.waitForBlockedWriters(1) }
                    // d2 expires: published at once, its recording queued behind d1's.
                    try await advance(2)
                    #expect(await hub.state(of: d2)?.attributes["state"] != .string("expired"))
                    // d2 talks: the receive path reports it up.
                    let deadline = ContinuousClock.now + .seconds(10)
                    while await hub.state(of: d2)?.attributes["state"] != .string("up"), ContinuousClock.now < deadline {
                        try await device.publish(to: "\(prefix)/d2/temp", payload: ByteBuffer(string: "21"), qos: .atLeastOnce)
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    #expect(await hub.state(of: d2)?.attributes["state"] == .string("up"))
                    // The recordings go on: d2's expiry is still an event, but not its state.
                    await events.open()
                    try await withTimeout(.seconds(5)) {
                        while try await memory.events(afterID: nil, since: nil, limit: 100).filter({ $0.type == "device_expired" }).count < 2 {
                            try await Task.sleep(for: .milliseconds(5))
                        }
                    }
                    try await Task.sleep(for: .milliseconds(100))
                    #expect(await hub.state(of: d2)?.attributes["state"] == .string("up"))
                    #expect(await hub.state(of: TargetID(.device, "d1"))?.attributes["state"] == .string("expired"))
                    group.cancelAll()
                }
            }
        }
    }
}

/// An event log whose batch writes wait until it is opened (the watchdog's expiry recording uses
/// batches; the receive path writes single events, which pass).
actor GatedEventLog: EventLog {
    private let base: MemoryStore
    private var isOpen = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ base: MemoryStore) { self.base = base }

    func open() {
        isOpen = true
        for waiter in waiting { waiter.resume() }
        waiting.removeAll()
    }

    func waitForBlockedWriters(_ count: Int) async {
        while waiting.count < count { await Task.yield() }
    }

    func append(_ event: Event) async throws -> Event { try await base.append(event) }

    func append(contentsOf events: [Event]) async throws -> [Event] {
        if !isOpen { await withCheckedContinuation { waiting.append($0) } }
        return try await base.append(contentsOf: events)
    }

    func events(afterID: Int64?, since: Double?, limit: Int) async throws -> [Event] {
        try await base.events(afterID: afterID, since: since, limit: limit)
    }

    func prune(before time: Double) async throws -> Int { try await base.prune(before: time) }
}
