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

/// A state store whose writes fail while ``failing`` is set, counting the attempts.
final class FailingStateStore: StateStore {
    let base = MemoryStore()
    let failing = Atomic<Bool>(true)
    let attempts = Atomic<Int>(0)

    struct Failure: Error {}

    func value(forKey key: String) async throws -> [UInt8]? { try await base.value(forKey: key) }

    func setValue(_ value: [UInt8], forKey key: String) async throws {
        attempts.add(1, ordering: .relaxed)
        if failing.load(ordering: .relaxed) { throw Failure() }
        try await base.setValue(value, forKey: key)
    }

    func removeValue(forKey key: String) async throws {
        attempts.add(1, ordering: .relaxed)
        if failing.load(ordering: .relaxed) { throw Failure() }
        try await base.removeValue(forKey: key)
    }

    func values(prefix: String) async throws -> [(key: String, value: [UInt8])] { try await base.values(prefix: prefix) }
}

/// A device state whose store write fails is retried and never acknowledged: a watchdog that stops
/// while the store still fails leaves it to the broker, which redelivers it to the next one.
@Suite("Device state writes that fail (at least once, issue 13)", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct DevicesStoreFailureIntegrationTests {
    @Test("A failed state write is retried, not acknowledged; after a restart the broker redelivers the message")
    func failedWriteIsRedelivered() async throws {
        let prefix = MQTTTestSupport.uniqueTopic("store-failure")
        var configuration = try MQTTTestSupport.configuration(clientID: "vigil-store-failure-\(UUID().uuidString.prefix(8))")
        configuration.cleanSession = false
        configuration.sessionExpiry = .seconds(60)
        let devices = DeviceMonitorConfiguration(
            baseTopic: "\(prefix)/mon",
            definitions: [DeviceDefinition(name: "lamp", helloTopic: "\(prefix)/lamp/hello", stateTopics: ["\(prefix)/lamp/state"])]
        )
        let topic = "\(prefix)/lamp/state"

        // First run: every write fails.
        let failing = FailingStateStore()
        try await Self.withWatchdog(devices, configuration, store: failing) {
            try await withMQTTClient(try MQTTTestSupport.configuration()) { device in
                try await Self.eventually("the watchdog retries the write") {
                    try await device.publish(to: topic, payload: ByteBuffer(string: "on"), qos: .atLeastOnce)
                    return failing.attempts.load(ordering: .relaxed) >= 3
                }
            }
        }
        #expect(try await failing.base.value(forKey: "devices/state/\(topic)") == nil)

        // Second run, same client id, a store that works: the broker sends the message again.
        let working = FailingStateStore()
        working.failing.store(false, ordering: .relaxed)
        try await Self.withWatchdog(devices, configuration, store: working) {
            try await Self.eventually("the redelivered state is stored") {
                try await working.base.value(forKey: "devices/state/\(topic)") == Array("on".utf8)
            }
        }
    }

    static func withWatchdog(
        _ devices: DeviceMonitorConfiguration,
        _ configuration: MQTTClientConfiguration,
        store: FailingStateStore,
        _ body: @Sendable () async throws -> Void
    ) async throws {
        let memory = MemoryStore()
        let hub = Hub(stores: memory.stores)
        try await withMQTTClient(configuration) { client in
            let watchdog = DeviceWatchdog(configuration: devices, client: client, hub: hub, store: store)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await watchdog.run() }
                try await body()
                group.cancelAll()
            }
        }
    }

    static func eventually(_ what: String, timeout: Duration = .seconds(10), _ condition: @Sendable () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw VigilProcess.Failure("timed out waiting until \(what)") }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}
