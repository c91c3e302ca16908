//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
import Testing
import VigilMQTT

/// A device flooded with distinct state topics (a wildcard `stateTopics`) stays within its limits:
/// in memory (metrics, RSS), in the store (what a restarted Vigil republishes) and on a hello.
@Suite("Device state limits against Mosquitto", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct DevicesStateLimitsIntegrationTests {
    static let flood = 3_000
    static let payloadSize = 2_000
    static let maxTopics = 20
    /// Floods in a row. One flood's RSS moves by several MB either way (allocator arenas, the
    /// subscription backlog of the moment); unbounded storage would add 6 MB per flood on top, so
    /// three floods after the first tell the two apart where one could not.
    static let rounds = 4

    @Test("Four floods of 3,000 distinct state topics of 2 kB: 20 kept in memory and in the store, the rest evicted and counted")
    func floodStaysBounded() async throws {
        let prefix = MQTTTestSupport.uniqueTopic("devices-flood")
        let config = try DevicesIntegrationTests.config(
            prefix: prefix,
            """
            [watchdog]
            report_interval = "200ms"
            state_max_topics = \(Self.maxTopics)
            state_max_bytes = 65536
            state_max_payload = 4096

            [device_flood]
            helloTopic = "\(prefix)/hello/flood"
            stateTopics = "\(prefix)/flood/#"
            """
        )
        let directory = DevicesIntegrationTests.scratch("flood")
        let filler = String(repeating: "x", count: Self.payloadSize)
        @Sendable func topic(_ index: Int) -> String { "\(prefix)/flood/t\(index)" }
        let total = Self.rounds * Self.flood
        let kept = Set((total - Self.maxTopics..<total).map(topic))

        try await DevicesIntegrationTests.withVigil(config, directory: directory) { vigil in
            let pid = vigil.process.process.processIdentifier
            try await DevicesIntegrationTests.withObserver(["\(prefix)/flood/#"], noLocal: true) { client, log in
                // The first flood warms up allocator and SQLite caches; unbounded, each later one
                // would add its 3,000 × 2 kB = 6 MB of states again.
                var rss: [Int] = []
                for round in 0..<Self.rounds {
                    for index in round * Self.flood..<(round + 1) * Self.flood {
                        try await client.publish(to: topic(index), payload: ByteBuffer(string: "\(index):\(filler)"), qos: .atLeastOnce)
                    }
                    let evicted = Double((round + 1) * Self.flood - Self.maxTopics)
                    _ = try await Self.waitForMetric(vigil, "vigil_device_states_evicted_total{device=\"flood\"}", equal: evicted)
                    rss.append(Self.residentKilobytes(pid))
                }
                // Over state_max_payload: refused, not stored.
                try await client.publish(to: "\(prefix)/flood/huge", payload: ByteBuffer(repeating: 0x41, count: 5_000), qos: .atLeastOnce)
                let metrics = try await Self.waitForMetric(vigil, "vigil_device_states_refused_total{device=\"flood\"}", equal: 1)
                #expect(Self.metric(metrics, "vigil_device_states_evicted_total{device=\"flood\"}") == Double(total - Self.maxTopics))
                #expect(Self.metric(metrics, "vigil_device_states{device=\"flood\"}") == Double(Self.maxTopics))
                let bytes = try #require(Self.metric(metrics, "vigil_device_state_bytes{device=\"flood\"}"))
                #expect(bytes <= 65536 && bytes > Double(Self.maxTopics * Self.payloadSize))
                print("device flood: RSS after each flood \(rss) kB, state bytes \(Int(bytes))")
                // Unbounded: 3 × 6 MB = 18 MB more; bounded: noise of a few MB either way.
                let unbounded = (Self.rounds - 1) * Self.flood * Self.payloadSize / 1024
                #expect(rss[Self.rounds - 1] - rss[0] < unbounded / 2, "RSS grew from \(rss[0]) kB to \(rss[Self.rounds - 1]) kB")
                #expect(vigil.log.components(separatedBy: "Device state limit reached").count - 1 == 1)

                // A hello republishes exactly the kept states, the newest.
                log.clear()
                try await client.publish(to: "\(prefix)/hello/flood", payload: ByteBuffer(string: "hi"), qos: .atLeastOnce)
                let republished = try await Self.collectTopics(log, count: Self.maxTopics)
                #expect(republished == kept)
            }
        }
        // The store holds only the kept states: a restarted Vigil republishes exactly those.
        try await DevicesIntegrationTests.withObserver(["\(prefix)/flood/#"], noLocal: true) { _, log in
            try await DevicesIntegrationTests.withVigil(config, directory: directory) { _ in
                let republished = try await Self.collectTopics(log, count: Self.maxTopics, timeout: .seconds(10))
                #expect(republished == kept)
            }
        }
    }

    // MARK: - Helpers

    /// Waits for `count` messages, then a little longer for any extra, and returns their topics.
    static func collectTopics(_ log: MessageLog, count: Int, timeout: Duration = .seconds(5)) async throws -> Set<String> {
        let deadline = ContinuousClock.now + timeout
        while log.messages.count < count && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        // Anything beyond the kept states would arrive in the same burst.
        try await Task.sleep(for: .milliseconds(500))
        let messages = log.messages
        #expect(messages.count == count, "got \(messages.count) messages")
        return Set(messages.map(\.topic))
    }

    static func waitForMetric(_ vigil: DevicesVigil, _ series: String, equal value: Double, timeout: Duration = .seconds(60)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        var body = ""
        while ContinuousClock.now < deadline {
            body = try await vigil.get("/metrics").body
            if metric(body, series) == value { return body }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("\(series) never reached \(value)")
        return body
    }

    /// The value of one series in a Prometheus text page.
    static func metric(_ body: String, _ series: String) -> Double? {
        for line in body.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    static func residentKilobytes(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        return 0
    }
}
