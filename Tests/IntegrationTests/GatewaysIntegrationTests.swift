//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import NIOCore
import Synchronization
import Testing
import VigilCore
import VigilMQTT
import VigilMonitors

/// The gateway monitor against real Janus 1.1.2 gateways and the real Mosquitto started by
/// `scripts/test`. Every test uses its own topic prefix, so gateways named gxy1.. never meet
/// another test's.
@Suite("Gateways (real Janus over Mosquitto)", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct GatewaysIntegrationTests {
    @Test("Gateways that start after the monitor are seen online; sessions show up within one poll interval")
    func startAfterMonitor() async throws {
        let bed = GatewayTestBed()
        let configuration = try bed.configuration(primaries: ["gxy1", "gxy2", "gxy3"])
        try await bed.withMonitor(configuration) { _ in
            try await bed.eventually("monitor subscribed") { !bed.logs.entries("Subscribed to gateway status").isEmpty }
            try await Task.sleep(for: .milliseconds(200))
            try bed.start(["gxy1", "gxy2", "gxy3"])
            let online = try await bed.waitOnline(["gxy1", "gxy2", "gxy3"], timeout: .seconds(3))
            #expect(online < .seconds(2))
            print("gateways: 3 gateways started after the monitor seen online after \(online)")
            for name in ["gxy1", "gxy2", "gxy3"] {
                #expect(!bed.logs.entries("Gateway status updated", ["server": name, "online": "true"]).isEmpty)
                #expect(bed.metric("vigil_gateway_online", [("gateway", name)]) == 1)
            }
            // The first request right after "online" is answered (or retried once): sessions 0.
            try await bed.eventually("sessions 0") { bed.metric("galaxy_gateways_sessions", [("name", "gxy1"), ("type", "rooms")]) == 0 }

            try await bed.createSessions(3, on: "gxy1")
            try await bed.createSessions(1, on: "gxy2")
            let seen = try await bed.eventually("sessions counted", timeout: .seconds(3)) {
                bed.metric("galaxy_gateways_sessions", [("name", "gxy1"), ("type", "rooms")]) == 3
                    && bed.metric("galaxy_gateways_sessions", [("name", "gxy2"), ("type", "rooms")]) == 1
            }
            #expect(seen <= .milliseconds(1500))  // one poll interval (1 s) plus a reply on a busy machine
            print("gateways: new sessions counted \(seen) after creation (poll interval 1 s)")
            #expect(bed.metric("galaxy_gateways_sessions", [("name", "gxy3"), ("type", "rooms")]) == 0)
            let state = try #require(await bed.state("gxy1"))
            #expect(state.attributes["sessions"] == .number(3))
            #expect(state.attributes["role"] == "primary")
            #expect(state.attributes["name"] == "gxy1")
            #expect(state.attributes["last_error"] == .null)
            #expect(!bed.logs.entries("Gateway sessions updated", ["server": "gxy1", "sessions": "3"]).isEmpty)
            #expect((bed.metric("vigil_gateway_last_seen_seconds", [("gateway", "gxy1")]) ?? 0) > 1_700_000_000)
        }
    }

    @Test("A monitor that starts after the gateways probes them and sees them online")
    func monitorStartsLate() async throws {
        let bed = GatewayTestBed()
        try bed.start(["gxy1", "gxy2", "gxy3"])
        // Let every gateway announce itself (not retained) before the monitor exists.
        try await Task.sleep(for: .milliseconds(700))
        let configuration = try bed.configuration(primaries: ["gxy1", "gxy2"], spares: ["gxy3"])
        try await bed.withMonitor(configuration) { _ in
            let online = try await bed.waitOnline(["gxy1", "gxy2", "gxy3"], timeout: .seconds(3))
            #expect(online < .seconds(2))
            print("gateways: a late monitor saw 3 running gateways online after \(online) (probe)")
            #expect(await bed.state("gxy3")?.attributes["role"] == "failover")
            // A probed-online primary that then dies counts as a failure for failover.
            try await bed.gateway("gxy1").kill9()
            try await bed.eventually("failover to gxy3") {
                bed.metric("galaxy_failover_active", [("failed_server", "gxy1"), ("failover_server", "gxy3")]) == 1
            }
        }
    }

    @Test("kill -9 of a primary: offline within 1 s, failover to the first spare, recovery on restart")
    func killAndRecover() async throws {
        let bed = GatewayTestBed()
        let configuration = try bed.configuration(primaries: ["gxy1", "gxy2"], spares: ["gxy12", "gxy13"], waitTime: .seconds(1))
        try await bed.withMonitor(configuration) { _ in
            try await bed.eventually("monitor subscribed") { !bed.logs.entries("Subscribed to gateway status").isEmpty }
            try await Task.sleep(for: .milliseconds(200))
            try bed.start(["gxy1", "gxy2", "gxy12", "gxy13"])
            _ = try await bed.waitOnline(["gxy1", "gxy2", "gxy12", "gxy13"], timeout: .seconds(3))

            let killed = ContinuousClock.now
            try await bed.gateway("gxy1").kill9()
            let offline = try await bed.eventually("gxy1 offline", timeout: .seconds(2)) { await bed.state("gxy1")?.status == .down }
            #expect(offline < .seconds(1))
            print("gateways: kill -9 seen as offline after \(offline)")
            #expect(bed.metric("vigil_gateway_online", [("gateway", "gxy1")]) == 0)
            #expect(!bed.logs.entries("Gateway is offline", ["gateway": "gxy1"]).isEmpty)
            #expect(!bed.logs.entries("Primary server offline - failover timer started", ["server": "gxy1", "wait_time": "1s"]).isEmpty)
            #expect(await bed.state("gxy1")?.attributes["failover"].flatMap { field($0, "state") } == "pending")

            try await bed.eventually("failover completed", timeout: .seconds(3)) {
                bed.metric("galaxy_failover_events_total", [("event", "completed"), ("failed_server", "gxy1"), ("failover_server", "gxy12")]) == 1
            }
            let failedOver = ContinuousClock.now - killed
            #expect(failedOver >= .seconds(1))  // not before FAILOVER_WAIT_TIME
            print("gateways: failover completed \(failedOver) after kill -9 (FAILOVER_WAIT_TIME 1 s)")
            #expect(bed.metric("galaxy_failover_events_total", [("event", "triggered"), ("failed_server", "gxy1"), ("failover_server", "")]) == 1)
            #expect(bed.metric("galaxy_failover_active", [("failed_server", "gxy1"), ("failover_server", "gxy12")]) == 1)
            #expect(!bed.logs.entries("Failover completed successfully", ["failed_server": "gxy1", "failover_server": "gxy12"]).isEmpty)
            #expect(!bed.logs.entries("Migrated room assignments").isEmpty)
            let failed = try #require(await bed.state("gxy1"))
            #expect(field(failed.attributes["failover"], "state") == "failed_over")
            #expect(field(failed.attributes["failover"], "failover_server") == "gxy12")
            #expect(field(await bed.state("gxy12")?.attributes["failover"], "state") == "serving")
            #expect(field(await bed.state("gxy13")?.attributes["failover"], "pool_position") == .number(1))
            let mapping = try #require(try await bed.retainedMapping(of: "gxy1"))
            #expect(field(mapping, "failover_server") == "gxy12")
            #expect(field(mapping, "mode") == "failover")
            let saved = try #require(try await bed.store.value(forKey: GatewayMonitor.stateKey))
            #expect(String(decoding: saved, as: UTF8.self).contains("gxy12"))
            let types = try await bed.hub.events(limit: 1000).map(\.type)
            #expect(types.contains("failover_triggered") && types.contains("failover_completed") && types.contains("gateway_down"))

            // Restart gxy1: recovered, gxy12 goes back to the end of the pool, mapping cleared.
            try bed.gateway("gxy1").start()
            try await bed.eventually("recovered", timeout: .seconds(3)) {
                bed.metric("galaxy_failover_events_total", [("event", "recovered"), ("failed_server", "gxy1"), ("failover_server", "gxy12")]) == 1
            }
            #expect(bed.metric("galaxy_failover_active", [("failed_server", "gxy1"), ("failover_server", "gxy12")]) == 0)
            #expect(!bed.logs.entries("Failed server recovered - new assignments will go to recovered server", ["server": "gxy1"]).isEmpty)
            try await bed.eventually("gxy1 up again") { await bed.state("gxy1")?.status == .up }
            #expect(await bed.state("gxy1")?.attributes["failover"] == .null)
            #expect(field(await bed.state("gxy12")?.attributes["failover"], "pool_position") == .number(2))
            #expect(field(await bed.state("gxy13")?.attributes["failover"], "pool_position") == .number(1))
            #expect(try await bed.retainedMapping(of: "gxy1") == nil)
        }
    }

    @Test("No spare left: no_failover then distributed; nothing online: failed")
    func noSpareLeft() async throws {
        let bed = GatewayTestBed()
        let configuration = try bed.configuration(primaries: ["gxy1", "gxy2", "gxy3"], spares: ["gxy12"], waitTime: .milliseconds(500))
        try await bed.withMonitor(configuration) { _ in
            try await bed.eventually("monitor subscribed") { !bed.logs.entries("Subscribed to gateway status").isEmpty }
            try await Task.sleep(for: .milliseconds(200))
            try bed.start(["gxy1", "gxy2", "gxy3", "gxy12"])
            _ = try await bed.waitOnline(["gxy1", "gxy2", "gxy3", "gxy12"], timeout: .seconds(3))

            try await bed.gateway("gxy1").kill9()
            try await bed.eventually("gxy1 to gxy12") {
                bed.metric("galaxy_failover_active", [("failed_server", "gxy1"), ("failover_server", "gxy12")]) == 1
            }
            try await bed.gateway("gxy2").kill9()
            try await bed.eventually("distributed", timeout: .seconds(3)) {
                bed.metric("galaxy_failover_events_total", [("event", "distributed"), ("failed_server", "gxy2"), ("failover_server", "gxy3")]) == 1
            }
            #expect(bed.metric("galaxy_failover_events_total", [("event", "no_failover"), ("failed_server", "gxy2"), ("failover_server", "")]) == 1)
            #expect(!bed.logs.entries("No failover servers available - will distribute to alive primary servers", ["server": "gxy2"]).isEmpty)
            #expect(!bed.logs.entries("Distributed assignments to alive servers (emergency mode)", ["failed_server": "gxy2"]).isEmpty)
            // The hub applies the tracker's observation after the metric moved: wait for it too.
            try await bed.eventually("gxy2 shown as distributed", timeout: .seconds(3)) {
                field(await bed.state("gxy2")?.attributes["failover"], "state") == "distributed"
            }
            #expect(field(try await bed.retainedMapping(of: "gxy2"), "mode") == "distributed")

            try await bed.gateway("gxy3").kill9()
            try await bed.eventually("failed", timeout: .seconds(3)) {
                bed.metric("galaxy_failover_events_total", [("event", "failed"), ("failed_server", "gxy3"), ("failover_server", "")]) == 1
            }
            #expect(!bed.logs.entries("No alive primary servers available - cannot failover", ["server": "gxy3"]).isEmpty)
            #expect(field(await bed.state("gxy3")?.attributes["failover"], "state") == "failed")
        }
    }

    @Test("A hung gateway (SIGSTOP) is reported stale, not failed over")
    func hungGateway() async throws {
        let bed = GatewayTestBed()
        let configuration = try bed.configuration(primaries: ["gxy1", "gxy2"], spares: ["gxy12"])
        try await bed.withMonitor(configuration) { _ in
            try await bed.eventually("monitor subscribed") { !bed.logs.entries("Subscribed to gateway status").isEmpty }
            try await Task.sleep(for: .milliseconds(200))
            try bed.start(["gxy1", "gxy2"])
            _ = try await bed.waitOnline(["gxy1", "gxy2"], timeout: .seconds(3))
            try await bed.eventually("first reply") { await bed.state("gxy1")?.attributes["sessions"] == .number(0) }
            try bed.gateway("gxy1").signal(SIGSTOP)
            try await bed.eventually("stale warning", timeout: .seconds(4)) {
                !bed.logs.entries("Gateway status is stale", ["gateway": "gxy1"]).isEmpty
            }
            let warning = try #require(bed.logs.entries("Gateway status is stale", ["gateway": "gxy1"]).first)
            #expect(warning.level == .warning)
            #expect(warning.metadata["since_last_seen"]?.hasSuffix("s") == true)
            let state = try #require(await bed.state("gxy1"))
            #expect(state.status == .stale)
            #expect(state.attributes["stale"] == .bool(true))
            #expect(await bed.state("gxy2")?.status == .up)
            #expect(bed.metric("galaxy_failover_events_total", [("event", "triggered"), ("failed_server", "gxy1"), ("failover_server", "")]) == nil)
            // Resumed, it answers again and is no longer stale.
            try bed.gateway("gxy1").signal(SIGCONT)
            try await bed.eventually("fresh again", timeout: .seconds(3)) { await bed.state("gxy1")?.status == .up }
        }
    }

    @Test("A wrong admin key is a visible error, not zero sessions")
    func wrongAdminKey() async throws {
        let bed = GatewayTestBed()
        var configuration = try bed.configuration(primaries: ["gxy1"])
        configuration.adminKey = "not-the-secret"
        try await bed.withMonitor(configuration) { _ in
            try await bed.eventually("monitor subscribed") { !bed.logs.entries("Subscribed to gateway status").isEmpty }
            try bed.start(["gxy1"])
            try await bed.eventually("error state", timeout: .seconds(3)) { await bed.state("gxy1")?.status == .error }
            let state = try #require(await bed.state("gxy1"))
            #expect(state.attributes["online"] == .bool(true))
            #expect(state.attributes["last_error"]?.string?.hasPrefix("403 Unauthorized") == true)
            #expect(state.attributes["sessions"] == .null)
            #expect(bed.metric("galaxy_gateways_sessions", [("name", "gxy1"), ("type", "rooms")]) == nil)
            #expect(!bed.logs.entries("Gateway admin request rejected", ["gateway": "gxy1", "code": "403"]).isEmpty)
            #expect(try await bed.hub.events(limit: 100).contains { $0.type == "gateway_error" })
        }
    }

    @Test("Discovered servers are tracked, not used for failover")
    func discovered() async throws {
        let bed = GatewayTestBed()
        let configuration = try bed.configuration(primaries: ["gxy1"], spares: [])
        try await bed.withMonitor(configuration) { _ in
            try await bed.eventually("monitor subscribed") { !bed.logs.entries("Subscribed to gateway status").isEmpty }
            try await Task.sleep(for: .milliseconds(200))
            try bed.start(["gxy1", "gxy9"])
            _ = try await bed.waitOnline(["gxy1", "gxy9"], timeout: .seconds(3))
            #expect(await bed.state("gxy9")?.attributes["role"] == "discovered")
            try await bed.gateway("gxy9").kill9()
            try await bed.eventually("gxy9 offline") { await bed.state("gxy9")?.status == .down }
            try await Task.sleep(for: .milliseconds(1300))
            #expect(bed.metric("galaxy_failover_events_total", [("event", "triggered"), ("failed_server", "gxy9"), ("failover_server", "")]) == nil)
        }
    }

    @Test("50 unconfigured status names: no admin key sent to them, no new series, capped and expired; configured gateways still work")
    func unconfiguredNamesGetNothing() async throws {
        let bed = GatewayTestBed()
        var configuration = try bed.configuration(primaries: ["gxy1"], spares: ["gxy12"])
        configuration.maxDiscovered = 20
        configuration.discoveredExpiry = .seconds(3)
        let monitored = configuration
        let requestTopic = try GatewayTopicTemplate(configuration.adminRequestTopic)
        let statusTopic = try GatewayTopicTemplate(configuration.statusTopic)
        let keyed = KeyedRequests()
        // A server discovered by an earlier run, restored from the store: the monitor forgets it.
        await bed.hub.apply(Observation(target: TargetID(.gateway, "leftover"), time: 1, status: .up, attributes: ["role": "discovered"]))
        let spyConfiguration = try MQTTTestSupport.configuration(.v3_1_1)
        try await withMQTTClient(spyConfiguration) { spy in
            // Every admin request of this bed, to any name: count those that carry the secret.
            try await spy.subscribe(to: [MQTTSubscribeInfo(filter: requestTopic.filter, qos: .atLeastOnce)]) { requests in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for try await request in requests where String(buffer: request.payload).contains(JanusGateway.adminSecret) {
                            if let server = requestTopic.server(in: request.topic) { keyed.add(server) }
                        }
                    }
                    defer { group.cancelAll() }
                    try await bed.withMonitor(monitored) { _ in
                        try await bed.eventually("monitor subscribed") { !bed.logs.entries("Subscribed to gateway status").isEmpty }
                        #expect(await bed.state("leftover") == nil)
                        try await Task.sleep(for: .milliseconds(200))
                        try bed.start(["gxy1", "gxy12"])
                        _ = try await bed.waitOnline(["gxy1", "gxy12"], timeout: .seconds(3))
                        try await bed.eventually("configured gateways answered") {
                            bed.metric("galaxy_gateways_sessions", [("name", "gxy1"), ("type", "rooms")]) == 0
                                && bed.metric("galaxy_gateways_sessions", [("name", "gxy12"), ("type", "rooms")]) == 0
                        }
                        let before = bed.seriesCount()

                        // A real Janus that is not configured, and 50 names announced by a plain client.
                        try bed.start(["gxy9"])
                        let names = (0..<50).map { "rogue\($0)" }
                        for name in names {
                            try await spy.publish(
                                to: statusTopic.topic(for: name),
                                payload: ByteBuffer(string: #"{"online": true}"#),
                                qos: .atLeastOnce
                            )
                        }
                        // 51 unconfigured names, 20 shown, 31 refused and counted.
                        try await bed.eventually("cap reached and refusals counted", timeout: .seconds(5)) {
                            bed.metric("vigil_gateways_discovered_refused_total", []) == 31
                        }
                        #expect(await bed.discoveredCount() == 20)
                        #expect(bed.metric("vigil_gateways_discovered", []) == 20)
                        // Two poll rounds (poll interval 1 s) while they are shown and online.
                        try await Task.sleep(for: .milliseconds(2200))
                        let toUnconfigured = keyed.count { $0 != "gxy1" && $0 != "gxy12" }
                        let toConfigured = keyed.count { $0 == "gxy1" || $0 == "gxy12" }
                        #expect(toUnconfigured == 0)
                        #expect(toConfigured >= 4)
                        let during = bed.seriesCount()
                        #expect(during == before)
                        print(
                            "gateways: 50 unconfigured names + 1 unconfigured Janus: \(toUnconfigured) admin requests with the key to them (\(toConfigured) to the 2 configured); series \(before) before, \(during) after; 20 discovered, 31 refused"
                        )

                        // Silent discovered servers are forgotten: states gone, series unchanged.
                        let expired = try await bed.eventually("discovered expired", timeout: .seconds(6)) { await bed.discoveredCount() == 0 }
                        #expect(bed.metric("vigil_gateways_discovered", []) == 0)
                        #expect(bed.metric("vigil_gateways_discovered_expired_total", []) == 20)
                        #expect(bed.seriesCount() == before)
                        print("gateways: 20 discovered names forgotten \(expired) after the cap check (discovered_expiry 3 s)")

                        // The configured gateways still work.
                        try await bed.createSessions(2, on: "gxy1")
                        try await bed.eventually("sessions counted", timeout: .seconds(3)) {
                            bed.metric("galaxy_gateways_sessions", [("name", "gxy1"), ("type", "rooms")]) == 2
                        }
                        #expect(await bed.state("gxy1")?.status == .up)
                        #expect(keyed.count { $0 != "gxy1" && $0 != "gxy12" } == 0)
                    }
                }
            }
        }
    }

    @Test("HTTP admin fallback: POST /admin list_sessions against a gateway with the HTTP admin API")
    func httpFallback() async throws {
        let bed = GatewayTestBed()
        let port = try freeLoopbackPort()
        let closedPort = try freeLoopbackPort()
        let gateway = try bed.gateway("gxyh", httpAdminPort: port)
        try gateway.start()
        var configuration = GatewayMonitorConfiguration(
            adminKey: JanusGateway.adminSecret,
            availableServers: ["gxyh", "gone"],
            adminURLs: ["gxyh": "http://127.0.0.1:\(port)", "gone": "http://127.0.0.1:\(closedPort)"],
            httpPollInterval: .milliseconds(300)
        )
        configuration.staleThreshold = .seconds(5)
        #expect(configuration.mode == .http)
        try await bed.withMonitor(configuration) { _ in
            try await bed.eventually("gxyh up over HTTP", timeout: .seconds(4)) { await bed.state("gxyh")?.status == .up }
            #expect(await bed.state("gone")?.status == .down)
            #expect(await bed.state("gone")?.attributes["last_error"]?.string?.contains("127.0.0.1:\(closedPort)") == true)
            try await bed.createSessions(2, on: "gxyh")
            try await bed.eventually("2 sessions over HTTP", timeout: .seconds(2)) {
                bed.metric("galaxy_gateways_sessions", [("name", "gxyh"), ("type", "rooms")]) == 2
            }
        }
        // A wrong key over HTTP: the 403 comes back as HTTP 200 with a JSON error body.
        let errorBed = GatewayTestBed()
        let errorPort = try freeLoopbackPort()
        try errorBed.gateway("gxyh", httpAdminPort: errorPort).start()
        let wrong = GatewayMonitorConfiguration(
            adminKey: "wrong",
            availableServers: ["gxyh"],
            adminURLs: ["gxyh": "http://127.0.0.1:\(errorPort)"],
            httpPollInterval: .milliseconds(300)
        )
        try await errorBed.withMonitor(wrong) { _ in
            try await errorBed.eventually("error over HTTP", timeout: .seconds(4)) { await errorBed.state("gxyh")?.status == .error }
            #expect(await errorBed.state("gxyh")?.attributes["last_error"]?.string?.hasPrefix("403") == true)
        }
    }

    @Test("A restarted monitor keeps the failover mapping from the store and recovers it")
    func restartKeepsMapping() async throws {
        let bed = GatewayTestBed()
        let configuration = try bed.configuration(primaries: ["gxy1", "gxy2"], spares: ["gxy12"], waitTime: .milliseconds(300))
        try await bed.withMonitor(configuration) { _ in
            try await bed.eventually("monitor subscribed") { !bed.logs.entries("Subscribed to gateway status").isEmpty }
            try await Task.sleep(for: .milliseconds(200))
            try bed.start(["gxy1", "gxy2", "gxy12"])
            _ = try await bed.waitOnline(["gxy1", "gxy2", "gxy12"], timeout: .seconds(3))
            try await bed.gateway("gxy1").kill9()
            try await bed.eventually("failover") {
                bed.metric("galaxy_failover_active", [("failed_server", "gxy1"), ("failover_server", "gxy12")]) == 1
            }
        }
        // A second monitor on the same store (a Vigil restart) restores the mapping; gxy1 returns.
        try await bed.withMonitor(configuration) { _ in
            try await bed.eventually("restored") { !bed.logs.entries("Restored failover mapping", ["failed_server": "gxy1"]).isEmpty }
            try bed.gateway("gxy1").start()
            try await bed.eventually("recovered after restart", timeout: .seconds(4)) {
                bed.metric("galaxy_failover_events_total", [("event", "recovered"), ("failed_server", "gxy1"), ("failover_server", "gxy12")]) == 1
            }
            #expect(try await bed.retainedMapping(of: "gxy1") == nil)
        }
    }
}

/// A member of a JSON object value.
private func field(_ value: JSONValue?, _ key: String) -> JSONValue? {
    if case .object(let object)? = value { return object[key] }
    return nil
}

/// Admin requests carrying the secret, per server name.
private final class KeyedRequests: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    func add(_ server: String) { counts.withLock { $0[server, default: 0] += 1 } }

    /// Requests to the servers that match.
    func count(_ matching: (String) -> Bool) -> Int {
        counts.withLock { $0.filter { matching($0.key) }.values.reduce(0, +) }
    }
}
