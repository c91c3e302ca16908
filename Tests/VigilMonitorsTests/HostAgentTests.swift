//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import MetricsTestKit
import Testing
import VigilCore

@testable import VigilMonitors

@Suite("Host agent: sampler, buffer, report checks and the central's ingest")
struct HostAgentTests {
    // MARK: - Sampler

    /// A procfs tree with two `mediamtx` processes and one other.
    static func fakeProc() throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-proc-\(UUID().uuidString)").path
        func write(_ path: String, _ text: String) throws {
            let url = URL(fileURLWithPath: root + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        try write("stat", "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 100 0 50 800 50 0 0 0 0 0\n")
        try write("meminfo", "MemTotal:       1000 kB\nMemFree:         200 kB\nMemAvailable:    400 kB\n")
        try write("loadavg", "0.50 0.40 0.30 1/100 4242\n")
        try write(
            "net/dev",
            """
            Inter-|   Receive                                                |  Transmit
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
                lo: 5000 10 0 0 0 0 0 0 5000 10 0 0 0 0 0 0
              eth0: 1000 10 0 0 0 0 0 0 2000 10 0 0 0 0 0 0

            """
        )
        for (pid, name, user, rss) in [(10, "mediamtx", 300, 100), (11, "mediamtx", 100, 50), (12, "sshd", 5, 1)] {
            try write("\(pid)/comm", "\(name)\n")
            try write("\(pid)/stat", "\(pid) (\(name)) S 1 1 1 0 -1 0 0 0 0 0 \(user) 0 0 0 20 0 1 0 100 1000 \(rss)\n")
            try write("\(pid)/statm", "1000 \(rss) 10 1 0 100 0\n")
        }
        return root
    }

    @Test("The sampler reads CPU, memory, load, network, disk and named processes; rates from the second sample on")
    func sampler() throws {
        let root = try Self.fakeProc()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var sampler = HostSampler(settings: .init(disks: ["/"], processes: ["mediamtx", "absent"], procRoot: root))
        let first = sampler.sample(time: 100)
        func value(_ samples: [Sample], _ name: String, _ label: String? = nil) -> Double? {
            samples.first { $0.name == name && (label == nil || $0.labels.first?.value == label) }?.value
        }
        #expect(value(first, "memory_used_ratio") == 0.6)
        #expect(value(first, "load1") == 0.5)
        #expect(value(first, "network_receive_bytes_total", "eth0") == 1000)
        #expect(value(first, "network_receive_bytes_total", "lo") == nil)
        #expect(value(first, "process_count", "mediamtx") == 2)
        #expect(value(first, "process_count", "absent") == 0)
        #expect((value(first, "process_resident_bytes", "mediamtx") ?? 0) > 0)
        #expect(value(first, "disk_total_bytes", "/") != nil)
        #expect(value(first, "cpu_usage_ratio") == nil)
        // The second sample has rates: 1000 more bytes received over 10 s.
        try "cpu  200 0 100 850 50 0 0 0 0 0\n".write(toFile: root + "/stat", atomically: true, encoding: .utf8)
        try "  eth0: 11000 10 0 0 0 0 0 0 2000 10 0 0 0 0 0 0\n".write(toFile: root + "/net/dev", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: root + "/11")
        let second = sampler.sample(time: 110)
        #expect(value(second, "network_receive_bytes_per_second", "eth0") == 1000)
        #expect(value(second, "cpu_usage_ratio") == 0.75)
        #expect(value(second, "process_count", "mediamtx") == 1)
    }

    @Test("procfs process files: a name with spaces and parentheses, resident pages")
    func processParsers() {
        let stat = ProcParsers.processStat("42 (a (b) c) S 1 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0")
        #expect(stat?.name == "a (b) c")
        #expect(stat?.cpuTicks == 10)
        #expect(ProcParsers.processStat("garbage") == nil)
        #expect(ProcParsers.residentPages("100 25 3") == 25)
    }

    // MARK: - Buffer

    @Test("The buffer keeps the newest samples up to its limit and counts what it dropped")
    func buffer() {
        var buffer = SampleBuffer(limit: 3)
        for time in 1...5 { buffer.append(HostReport.Entry(time: Double(time), metrics: [])) }
        #expect(buffer.count == 3)
        #expect(buffer.dropped == 2)
        #expect(buffer.first(2).map(\.time) == [3, 4])
        buffer.removeFirst(2)
        #expect(buffer.first(10).map(\.time) == [5])
        buffer.discardFirst(1)
        #expect(buffer.isEmpty)
        #expect(buffer.dropped == 3)
    }

    @Test("Push URLs: MQTT schemes, HTTP with the ingest path added, anything else refused")
    func destinations() {
        #expect(HostAgentConfiguration.Destination(url: "mqtt://b:1883") == .mqtt("mqtt://b:1883"))
        #expect(HostAgentConfiguration.Destination(url: "http://c:8080") == .http("http://c:8080/api/v1/ingest/host"))
        #expect(HostAgentConfiguration.Destination(url: "https://c/") == .http("https://c/api/v1/ingest/host"))
        #expect(HostAgentConfiguration.Destination(url: "http://c:8080/custom") == .http("http://c:8080/custom"))
        #expect(HostAgentConfiguration.Destination(url: "ftp://c") == nil)
    }

    // MARK: - Report checks

    static func report(host: String = "media1", time: Double = 1_000, metrics: [HostReport.Metric]) -> [UInt8] {
        Array(HostReport(host: host, intervalSeconds: 5, droppedSamples: 0, samples: [.init(time: time, metrics: metrics)]).encoded())
    }

    @Test("Every value is range-checked: unknown metrics, labels, values, times and host names are refused")
    func validation() throws {
        let good = try HostReportValidator.decode(Self.report(metrics: [.init(name: "load1", value: 0.5)]), now: 1_000)
        #expect(good.samples.count == 1)
        let bad: [[UInt8]] = [
            Self.report(metrics: [.init(name: "load1", value: -1)]),
            Self.report(metrics: [.init(name: "cpu_usage_ratio", value: 1.5)]),
            Self.report(metrics: [.init(name: "evil_metric", value: 1)]),
            Self.report(metrics: [.init(name: "load1", value: 1, labels: ["x": "y"])]),
            Self.report(metrics: [.init(name: "disk_free_bytes", value: 1, labels: ["mountpoint": "no-slash"])]),
            Self.report(metrics: [.init(name: "cpu_seconds_total", value: 1, labels: ["mode": "hacking"])]),
            Self.report(time: 1_000 + 3_600, metrics: []),
            Self.report(time: 1_000 - 8 * 86_400, metrics: []),
            Self.report(host: "../etc", metrics: []),
            Self.report(host: String(repeating: "a", count: 65), metrics: []),
            Array(#"{"version": 2, "host": "a", "interval_seconds": 5, "dropped_samples": 0, "samples": []}"#.utf8),
            Array(#"{"version": 1, "host": "a", "interval_seconds": 0, "dropped_samples": 0, "samples": []}"#.utf8),
            Array("not json".utf8),
        ]
        for body in bad {
            #expect(throws: HostReportValidator.Problem.self, "\(String(decoding: body, as: UTF8.self))") {
                try HostReportValidator.decode(body, now: 1_000)
            }
        }
    }

    // MARK: - Ingest

    static func ingest(maxHosts: Int = 2, clock: ManualClock, metrics: TestMetrics) -> (HostIngest, Hub) {
        let hub = Hub(stores: MemoryStore().stores, clock: clock)
        let ingest = HostIngest(
            configuration: HostIngestConfiguration(enabled: true, staleAfter: .seconds(15), maxHosts: maxHosts),
            hub: hub,
            localHost: "central",
            client: nil,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            clock: clock,
            metricsFactory: metrics
        )
        return (ingest, hub)
    }

    @Test("Reports become host targets; duplicates are skipped; max_hosts and name conflicts are refused and counted")
    func ingestReports() async throws {
        let clock = ManualClock(wallClockSeconds: 1_000)
        let metrics = TestMetrics()
        let (ingest, hub) = Self.ingest(clock: clock, metrics: metrics)
        let body = Self.report(host: "media1", time: 999, metrics: [.init(name: "load1", value: 0.5)])
        #expect(await ingest.submit(body, transport: .http) == .accepted(samples: 1))
        #expect(await ingest.submit(body, transport: .http) == .accepted(samples: 0))
        let state = try #require(await hub.state(of: TargetID(.host, "media1")))
        #expect(state.status == .up)
        #expect(state.attributes["source"] == .string("agent"))
        #expect(state.values["load1"] == 0.5)
        #expect(await ingest.submit(Self.report(host: "media2", metrics: []), transport: .mqtt) == .accepted(samples: 1))
        guard case .refused = await ingest.submit(Self.report(host: "media3", metrics: []), transport: .http) else {
            Issue.record("a third host was accepted with max_hosts 2")
            return
        }
        #expect(try metrics.expectCounter("vigil_host_ingest_refused_total", [("reason", "max_hosts")]).totalValue == 1)
        guard case .invalid = await ingest.submit(Self.report(host: "central", metrics: []), transport: .http) else {
            Issue.record("an agent took the central's own name")
            return
        }
        #expect(try metrics.expectCounter("vigil_host_ingest_refused_total", [("reason", "name_conflict")]).totalValue == 1)
        guard case .invalid = await ingest.submit(Self.report(host: "media2", metrics: []), transport: .mqtt, topicHost: "media1") else {
            Issue.record("a report under another host's topic was accepted")
            return
        }
        #expect(try metrics.expectCounter("vigil_host_ingest_reports_total", [("transport", "http")]).totalValue == 2)
    }

    @Test("A silent host goes stale after stale_after, an offline status makes it down, a report brings it back")
    func staleness() async throws {
        let clock = ManualClock(wallClockSeconds: 1_000)
        let (ingest, hub) = Self.ingest(clock: clock, metrics: TestMetrics())
        let target = TargetID(.host, "media1")
        _ = await ingest.submit(Self.report(host: "media1", time: 999, metrics: []), transport: .http)
        clock.advance(by: .seconds(10))
        await ingest.markStale()
        #expect(await hub.state(of: target)?.status == .up)
        clock.advance(by: .seconds(10))
        await ingest.markStale()
        #expect(await hub.state(of: target)?.status == .stale)
        _ = await ingest.submit(Self.report(host: "media1", time: 1_019, metrics: []), transport: .mqtt)
        #expect(await hub.state(of: target)?.status == .up)
        await ingest.markOffline("media1")
        #expect(await hub.state(of: target)?.status == .down)
    }
}
