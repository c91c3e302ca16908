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
import VigilMQTT

/// Issue 13's acceptance test for the device watchdog: state messages a broker was told are taken
/// are never lost, even when Vigil is killed with SIGKILL while they arrive, or stopped gracefully
/// with SIGTERM (a persistent session keeps its subscriptions at the broker across the stop).
///
/// A publisher sends 10,000 distinct QoS 1 state messages (100 devices × 100 state topics, not
/// retained) and keeps going while Vigil is killed part-way and restarted on the same store. Once
/// Vigil holds them all, a hello from each device makes it republish that device's stored states;
/// a fresh subscriber counts what comes back (lost: expected but never republished; repeated:
/// republished more than once).
@Suite("Device states survive SIGKILL and SIGTERM (at least once, issue 13)", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct DevicesAtLeastOnceIntegrationTests {
    static let devices = 100
    static let statesPerDevice = 100

    @Test(
        "10,000 QoS 1 states, Vigil killed with SIGKILL (or stopped with SIGTERM) part-way and restarted: all come back",
        arguments: [(1_500, SIGKILL), (5_000, SIGKILL), (8_500, SIGKILL), (5_000, SIGTERM)]
    )
    func killAndRestart(killAfter: Int, signal: Int32) async throws {
        let prefix = MQTTTestSupport.uniqueTopic("alo-\(killAfter)")
        var sections = "[watchdog]\nreport_interval = \"500ms\"\n"
        for device in 0..<Self.devices {
            sections += "\n[device_d\(device)]\nhelloTopic = \"\(prefix)/d\(device)/hello\"\nstateTopics = \"\(prefix)/d\(device)/state/#\"\n"
        }
        let directory = DevicesIntegrationTests.scratch("alo")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("config.toml")
        try DevicesIntegrationTests.config(prefix: prefix, sections).replacingOccurrences(of: "log_level = \"debug\"", with: "log_level = \"info\"")
            .write(to: path, atomically: true, encoding: .utf8)
        let arguments = ["serve", "--config", path.path]

        let first = try VigilProcess(arguments: arguments, directory: directory)
        try await first.waitUntilHealthy()
        try await Self.waitForLog(first, "Device watchdog subscribed")
        // The subscription exists at the broker once its session does: from here on the broker
        // keeps every state message for Vigil's client id.
        try await Task.sleep(for: .seconds(1))

        // The publisher runs on while Vigil is killed and restarted.
        let published = PublishedCount()
        let restarted: VigilProcess = try await withMQTTClient(try MQTTTestSupport.configuration()) { publisher in
            try await withThrowingTaskGroup(of: VigilProcess?.self) { group in
                group.addTask {
                    for index in 0..<(Self.devices * Self.statesPerDevice) {
                        let (device, state) = (index % Self.devices, index / Self.devices)
                        try await publisher.publish(
                            to: "\(prefix)/d\(device)/state/s\(state)",
                            payload: ByteBuffer(string: Self.payload(device: device, state: state)),
                            qos: .atLeastOnce
                        )
                        published.value.add(1, ordering: .relaxed)
                        if index % 10 == 9 { try await Task.sleep(for: .milliseconds(4)) }
                    }
                    return nil
                }
                group.addTask {
                    while published.value.load(ordering: .relaxed) < killAfter { try await Task.sleep(for: .milliseconds(2)) }
                    _ = try await first.stop(signal: signal)
                    print("alo[\(killAfter)]: vigil stopped with signal \(signal) after \(published.value.load(ordering: .relaxed)) published")
                    let next = try VigilProcess(arguments: arguments, directory: directory)
                    try await next.waitUntilHealthy()
                    print("alo[\(killAfter)]: vigil healthy again after \(published.value.load(ordering: .relaxed)) published")
                    return next
                }
                var next: VigilProcess?
                for try await result in group { if let result { next = result } }
                return try #require(next)
            }
        }
        let vigil = restarted
        #expect(published.value.load(ordering: .relaxed) == Self.devices * Self.statesPerDevice)

        // Wait until Vigil reports every state stored (its in-memory table is what a hello republishes).
        let deadline = ContinuousClock.now + .seconds(90)
        var stored = 0
        while ContinuousClock.now < deadline {
            stored = try await Self.storedStates(vigil)
            if stored >= Self.devices * Self.statesPerDevice { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        let metrics = try await vigil.get("/metrics").body
        print(
            "alo[\(killAfter)]: states reported stored \(stored); after restart "
                + "\(Self.metric(metrics, "vigil_mqtt_messages_acknowledged_total")) acknowledged, "
                + "\(Self.metric(metrics, "vigil_mqtt_messages_redelivered_total")) redelivered, "
                + "\(Self.metric(metrics, "vigil_mqtt_read_pauses_total")) read pauses, "
                + "\(Self.metric(metrics, "vigil_mqtt_messages_unrouted_total")) unrouted"
        )

        // A hello from each device: Vigil republishes that device's stored states.
        let (lost, repeated, received) = try await Self.helloAndCount(prefix: prefix)
        print("alo[\(killAfter)]: republished \(received) messages: lost \(lost.count), repeated \(repeated.count)")
        if !lost.isEmpty { print("alo[\(killAfter)]: lost \(lost.sorted().prefix(50))") }
        if !repeated.isEmpty { print("alo[\(killAfter)]: repeated \(repeated.sorted().prefix(50))") }
        #expect(lost.count == 0)
        #expect(stored == Self.devices * Self.statesPerDevice)
        if stored < Self.devices * Self.statesPerDevice { print("alo[\(killAfter)]: vigil log tail:\n\(vigil.log.suffix(3000))") }
        _ = try await vigil.stop()
    }

    static func payload(device: Int, state: Int) -> String { "v-\(device)-\(state)" }

    /// Subscribes to every state topic, sends one hello per device and counts the republications.
    static func helloAndCount(prefix: String) async throws -> (lost: Set<String>, repeated: Set<String>, received: Int) {
        let expected = Set(
            (0..<devices).flatMap { device in
                (0..<statesPerDevice).map { state in "\(prefix)/d\(device)/state/s\(state)=\(payload(device: device, state: state))" }
            }
        )
        let seen = RepublishedCounts()
        try await withMQTTClient(try MQTTTestSupport.configuration()) { client in
            try await client.subscribe(to: [MQTTSubscribeInfo(filter: "\(prefix)/+/state/#", qos: .atLeastOnce)], bufferSize: 100_000) {
                subscription in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await message in subscription {
                            let key = "\(message.topic)=\(String(buffer: message.payload))"
                            seen.counts.withLock { $0[key, default: 0] += 1 }
                        }
                    }
                    for device in 0..<devices {
                        try await client.publish(to: "\(prefix)/d\(device)/hello", payload: ByteBuffer(string: "hello"), qos: .atLeastOnce)
                    }
                    let deadline = ContinuousClock.now + .seconds(30)
                    while ContinuousClock.now < deadline, seen.counts.withLock({ $0.count }) < expected.count {
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    // Anything repeated would arrive in the same burst.
                    try await Task.sleep(for: .seconds(1))
                    group.cancelAll()
                }
            }
        }
        let counts = seen.counts.withLock { $0 }
        let received = counts.values.reduce(0, +)
        return (expected.subtracting(counts.keys), Set(counts.filter { $0.value > 1 }.keys), received)
    }

    /// The sum of `vigil_device_states` over all devices.
    static func storedStates(_ vigil: VigilProcess) async throws -> Int {
        let body = try await vigil.get("/metrics").body
        return body.split(separator: "\n").filter { $0.hasPrefix("vigil_device_states{") }.reduce(0) { sum, line in
            sum + (line.split(separator: " ").last.flatMap { Double($0) }.map { Int($0) } ?? 0)
        }
    }

    static func metric(_ body: String, _ name: String) -> String {
        body.split(separator: "\n").first { $0.hasPrefix(name + " ") }.map { String($0.split(separator: " ").last ?? "?") } ?? "absent"
    }

    static func waitForLog(_ vigil: VigilProcess, _ text: String, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while !vigil.log.contains(text) {
            guard ContinuousClock.now < deadline else { throw VigilProcess.Failure("no '\(text)' in the log:\n\(vigil.log)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// How many messages the publisher has sent, shared with the task that kills Vigil.
final class PublishedCount: Sendable {
    let value = Atomic<Int>(0)
}

/// How often each `topic=payload` was republished.
final class RepublishedCounts: Sendable {
    let counts = Mutex<[String: Int]>([:])
}
