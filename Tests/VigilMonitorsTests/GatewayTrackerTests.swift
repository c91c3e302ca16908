//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import MetricsTestKit
import NIOCore
import Synchronization
import Testing
import VigilCore

@testable import VigilMonitors

/// The gateway monitor's rules without MQTT: messages and time are fed by hand.
@Suite("Gateway tracker")
struct GatewayTrackerTests {
    let metrics = TestMetrics()

    func tracker(
        primaries: [String] = ["gxy1", "gxy2"],
        spares: [String] = ["gxy12"],
        adminKey: String? = "janusoverlord",
        maxDiscovered: Int = 64,
        discoveredExpiry: Duration = .seconds(600)
    ) -> GatewayTracker {
        var configuration = GatewayMonitorConfiguration(brokerURL: "mqtt://127.0.0.1:1883", adminKey: adminKey)
        configuration.availableServers = primaries
        configuration.failoverServers = spares
        configuration.failoverWaitTime = .seconds(5)
        configuration.pollInterval = .seconds(10)
        configuration.requestTimeout = .seconds(2)
        configuration.onlineRetryDelay = .milliseconds(500)
        configuration.staleThreshold = .seconds(30)
        configuration.maxDiscovered = maxDiscovered
        configuration.discoveredExpiry = discoveredExpiry
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var tracker = GatewayTracker(configuration: configuration, metrics: GatewayMetrics(factory: metrics), logger: logger)
        _ = tracker.start(restoring: nil, now: 0)
        tracker.connectionUp(now: 0)
        return tracker
    }

    /// The transactions of the admin requests among the effects, with their servers.
    func requests(_ effects: [GatewayTracker.Effect]) -> [(server: String, transaction: String, secret: String?)] {
        effects.compactMap {
            guard case .sendAdmin(let server, let payload) = $0,
                let object = try? JSONDecoder().decode([String: String].self, from: Data(payload))
            else { return nil }
            #expect(object["janus"] == "list_sessions")
            return (server, object["transaction"] ?? "", object["admin_secret"])
        }
    }

    func lastObservation(_ effects: [GatewayTracker.Effect], _ name: String) -> Observation? {
        effects.compactMap { if case .observe(let o) = $0, o.target.name == name { o } else { nil } }.last
    }

    /// The value of a seed-fixed series (name and labels as exported) in the effects' observations.
    func seedValue(_ effects: [GatewayTracker.Effect], _ name: String, _ labels: [(String, String)]) -> Double? {
        let wanted = labels.map { "\($0.0)=\($0.1)" }
        var value: Double?
        for case .observe(let observation) in effects {
            for sample in observation.samples where sample.seedMetric?.name == name {
                if sample.metricLabels(for: observation.target).map({ "\($0.0)=\($0.1)" }) == wanted { value = sample.value }
            }
        }
        return value
    }

    func events(_ effects: [GatewayTracker.Effect]) -> [String] {
        effects.compactMap { if case .record(let event) = $0 { "\(event.type) \(event.target?.name ?? "")" } else { nil } }
    }

    func sessions(_ transaction: String, _ ids: [Int]) -> [UInt8] {
        Array(#"{"janus":"success","transaction":"\#(transaction)","sessions":\#(ids)}"#.utf8)
    }

    @Test("Unknown gateways are probed once connected; a reply marks them online with sessions")
    func lateStartProbe() throws {
        var tracker = tracker()
        #expect(requests(tracker.tick(now: 0.1)).isEmpty)  // subscriptions get 0.3 s first
        let probes = requests(tracker.tick(now: 0.4))
        #expect(probes.map(\.server) == ["gxy1", "gxy12", "gxy2"])
        #expect(Set(probes.map(\.transaction)).count == 3)
        #expect(probes.allSatisfy { $0.secret == "janusoverlord" })
        let effects = tracker.adminReply(server: "gxy1", payload: sessions(probes[0].transaction, [1, 2, 3]), now: 0.5)
        let observation = try #require(lastObservation(effects, "gxy1"))
        #expect(observation.status == .up)
        #expect(observation.attributes["online"] == .bool(true))
        #expect(observation.attributes["sessions"] == .number(3))
        #expect(observation.attributes["role"] == "primary")
        #expect(
            observation.samples.map { "\($0.name)=\($0.value)" }
                == ["sessions=3.0", "online=1.0", "last_seen_seconds=0.5", "galaxy_gateways_sessions=3.0"]
        )
        #expect(seedValue(effects, "galaxy_gateways_sessions", [("name", "gxy1"), ("type", "rooms")]) == 3)
        // A probed-online primary that then goes offline explicitly starts a failover.
        let offline = tracker.statusMessage(server: "gxy1", payload: Array(#"{"online": false}"#.utf8), now: 1)
        #expect(events(offline).contains("failover_pending gxy1"))
    }

    @Test("Replies match on transaction and server; others are ignored")
    func correlation() {
        var tracker = tracker()
        let probes = requests(tracker.tick(now: 0.4))
        #expect(tracker.adminReply(server: "gxy1", payload: sessions("someone-else", [1]), now: 0.5).isEmpty)
        #expect(tracker.adminReply(server: "gxy2", payload: sessions(probes[0].transaction, [1]), now: 0.5).isEmpty)
        #expect(tracker.adminReply(server: "gxy1", payload: Array("not json".utf8), now: 0.5).isEmpty)
        #expect(tracker.gateways["gxy1"]?.online == nil)
        #expect(!tracker.adminReply(server: "gxy1", payload: sessions(probes[0].transaction, []), now: 0.5).isEmpty)
        #expect(tracker.gateways["gxy1"]?.sessions == 0)
    }

    @Test("Status messages are JSON with a space; online sends a request and retries it once")
    func onlineRetry() {
        var tracker = tracker()
        _ = tracker.tick(now: 0.4)
        let effects = tracker.statusMessage(server: "gxy2", payload: Array(#"{"online": true}"#.utf8), now: 1)
        #expect(tracker.gateways["gxy2"]?.online == true)
        let first = requests(effects)
        #expect(first.map(\.server) == ["gxy2"])
        #expect(requests(tracker.tick(now: 1.4)).isEmpty)
        let retry = requests(tracker.tick(now: 1.5))
        #expect(retry.map(\.server) == ["gxy2"])
        #expect(retry[0].transaction != first[0].transaction)
        #expect(requests(tracker.tick(now: 1.6)).isEmpty)  // only once
        // The retry is answered: the lost first request does not time out into an error later.
        _ = tracker.adminReply(server: "gxy2", payload: sessions(retry[0].transaction, []), now: 1.7)
        _ = tracker.tick(now: 10)
        #expect(tracker.gateways["gxy2"]?.lastError == nil)
        #expect(tracker.pending.isEmpty)
        // Malformed and empty status payloads change nothing.
        #expect(tracker.statusMessage(server: "gxy2", payload: Array("online".utf8), now: 2).isEmpty)
        #expect(tracker.statusMessage(server: "gxy2", payload: [], now: 2).isEmpty)
        #expect(tracker.gateways["gxy2"]?.online == true)
    }

    @Test("An answered first request is not retried")
    func noRetryWhenAnswered() {
        var tracker = tracker()
        _ = tracker.tick(now: 0.4)
        let first = requests(tracker.statusMessage(server: "gxy2", payload: Array(#"{"online":true}"#.utf8), now: 1))
        _ = tracker.adminReply(server: "gxy2", payload: sessions(first[0].transaction, [7, 8, 9]), now: 1.1)
        #expect(requests(tracker.tick(now: 1.6)).isEmpty)
        #expect(tracker.gateways["gxy2"]?.sessions == 3)
    }

    @Test("Polls go only to online configured gateways each interval; unknown configured ones are probed")
    func polling() {
        var tracker = tracker()
        let probes = requests(tracker.tick(now: 0.4))
        _ = tracker.adminReply(server: "gxy1", payload: sessions(probes[0].transaction, [1]), now: 0.5)
        _ = tracker.statusMessage(server: "gxy12", payload: Array(#"{"online": false}"#.utf8), now: 0.6)
        _ = tracker.statusMessage(server: "other", payload: Array(#"{"online": true}"#.utf8), now: 0.6)
        _ = tracker.tick(now: 5)  // the gxy2 probe and the discovered request time out
        #expect(requests(tracker.tick(now: 10.3)).isEmpty)
        let round = requests(tracker.tick(now: 10.4)).map(\.server)
        // gxy1 online, gxy2 unknown (probe), gxy12 offline (skipped); "other" is discovered and
        // online but not configured: it is never sent the admin secret.
        #expect(round == ["gxy1", "gxy2"])
    }

    @Test("Unconfigured servers: shown as discovered, never sent the admin secret, no series, no events")
    func discoveredNeverAsked() throws {
        var tracker = tracker()
        _ = tracker.tick(now: 0.4)
        var all: [GatewayTracker.Effect] = []
        for index in 0..<50 {
            all += tracker.statusMessage(server: "x\(index)", payload: Array(#"{"online": true}"#.utf8), now: 1)
        }
        all += tracker.tick(now: 10.4)
        for index in 0..<50 {
            all += tracker.statusMessage(server: "x\(index)", payload: Array(#"{"online": false}"#.utf8), now: 11)
            all += tracker.statusMessage(server: "x\(index)", payload: Array(#"{"online": true}"#.utf8), now: 12)
        }
        all += tracker.tick(now: 20.4)
        #expect(requests(all).allSatisfy { ["gxy1", "gxy2", "gxy12"].contains($0.server) })
        #expect(!requests(all).contains { $0.server.hasPrefix("x") })
        #expect(events(all).isEmpty)
        #expect(tracker.discoveredCount == 50)
        let observation = try #require(lastObservation(all, "x7"))
        #expect(observation.attributes["role"] == "discovered")
        #expect(observation.status == .up)
        #expect(observation.samples.isEmpty)
        #expect(try metrics.expectGauge("vigil_gateways_discovered").lastValue == 50)
        // A reply on an unconfigured server's topic is ignored, whatever it claims.
        #expect(tracker.adminReply(server: "x7", payload: sessions("vigil-1", [1]), now: 21).isEmpty)
        // Discovered servers are not judged stale (they are never asked).
        #expect(lastObservation(tracker.evaluateStaleness(now: 100), "x7") == nil)
    }

    @Test("Discovered servers are capped; the rest are refused and counted")
    func discoveredCap() throws {
        var tracker = tracker(maxDiscovered: 3)
        for index in 0..<5 {
            _ = tracker.statusMessage(server: "x\(index)", payload: Array(#"{"online": true}"#.utf8), now: 1)
        }
        #expect(tracker.discoveredCount == 3)
        #expect(tracker.gateways["x3"] == nil && tracker.gateways["x4"] == nil)
        #expect(try metrics.expectCounter("vigil_gateways_discovered_refused_total").totalValue == 2)
        // A known discovered server still updates; configured ones are never refused.
        #expect(!tracker.statusMessage(server: "x0", payload: Array(#"{"online": false}"#.utf8), now: 2).isEmpty)
        #expect(tracker.gateways["x0"]?.online == false)
        #expect(!tracker.statusMessage(server: "gxy2", payload: Array(#"{"online": true}"#.utf8), now: 2).isEmpty)
        #expect(tracker.gateways["gxy2"]?.online == true)
        #expect(try metrics.expectCounter("vigil_gateways_discovered_refused_total").totalValue == 2)
        // Unusable names are refused even with room to spare.
        var roomy = self.tracker(maxDiscovered: 10)
        #expect(roomy.statusMessage(server: String(repeating: "n", count: 65), payload: Array(#"{"online": true}"#.utf8), now: 1).isEmpty)
        #expect(roomy.statusMessage(server: "bad\u{1B}[2J", payload: Array(#"{"online": true}"#.utf8), now: 1).isEmpty)
        #expect(!roomy.statusMessage(server: String(repeating: "n", count: 64), payload: Array(#"{"online": true}"#.utf8), now: 1).isEmpty)
        #expect(roomy.discoveredCount == 1)
        #expect(try metrics.expectCounter("vigil_gateways_discovered_refused_total").totalValue == 4)
        // max_discovered = 0 shows none.
        var none = self.tracker(maxDiscovered: 0)
        #expect(none.statusMessage(server: "x0", payload: Array(#"{"online": true}"#.utf8), now: 1).isEmpty)
        #expect(none.discoveredCount == 0)
    }

    @Test("Discovered servers are forgotten after their silence: state, row and series go")
    func discoveredExpiry() throws {
        var tracker = tracker(maxDiscovered: 2, discoveredExpiry: .seconds(60))
        _ = tracker.statusMessage(server: "x0", payload: Array(#"{"online": true}"#.utf8), now: 0)
        _ = tracker.statusMessage(server: "x1", payload: Array(#"{"online": true}"#.utf8), now: 30)
        #expect(tracker.statusMessage(server: "x2", payload: Array(#"{"online": true}"#.utf8), now: 31).isEmpty)
        #expect(!tracker.tick(now: 59.9).contains(.forget(TargetID(.gateway, "x0"))))
        let expired = tracker.tick(now: 60)
        #expect(expired.contains(.forget(TargetID(.gateway, "x0"))))
        #expect(!expired.contains(.forget(TargetID(.gateway, "x1"))))
        #expect(tracker.gateways["x0"] == nil && tracker.discoveredCount == 1)
        #expect(try metrics.expectGauge("vigil_gateways_discovered").lastValue == 1)
        #expect(try metrics.expectCounter("vigil_gateways_discovered_expired_total").totalValue == 1)
        // The freed slot takes a new name; a status keeps a discovered server alive.
        #expect(!tracker.statusMessage(server: "x2", payload: Array(#"{"online": true}"#.utf8), now: 61).isEmpty)
        _ = tracker.statusMessage(server: "x1", payload: Array(#"{"online": false}"#.utf8), now: 85)
        #expect(!tracker.tick(now: 100).contains(.forget(TargetID(.gateway, "x1"))))
        #expect(tracker.tick(now: 145).contains(.forget(TargetID(.gateway, "x1"))))
        // Configured servers never expire.
        #expect(tracker.gateways["gxy1"] != nil)
        #expect(!tracker.tick(now: 10_000).contains(.forget(TargetID(.gateway, "gxy1"))))
    }

    @Test("Numbers a gateway reports are range-checked before use")
    func rangeChecks() throws {
        var tracker = tracker()
        let probes = requests(tracker.tick(now: 0.4))
        for bad in ["[-1]", "[1.5]", "[1e30]", "[0]", #"["x"]"#, "[null]", "[1,{}]"] {
            let payload = #"{"janus":"success","transaction":"t","sessions":\#(bad)}"#
            guard case .invalid = JanusAdminMessage.reply(Array(payload.utf8)) else {
                Issue.record("\(bad) accepted")
                continue
            }
        }
        #expect(JanusAdminMessage.reply(Array(#"{"janus":"success","sessions":[9007199254740991,1]}"#.utf8)) == .sessions(transaction: nil, count: 2))
        for code in ["1e30", "-1", "4.5", #""403""#, "1e308", "null"] {
            let payload = #"{"janus":"error","transaction":"t","error":{"code":\#(code),"reason":"bad\u0000\u001b[31m"}}"#
            #expect(JanusAdminMessage.reply(Array(payload.utf8)) == .error(transaction: "t", code: 0, reason: "bad[31m"))
        }
        let longReason = String(repeating: "r", count: 10_000)
        let long = JanusAdminMessage.reply(Array(#"{"janus":"error","error":{"code":403,"reason":"\#(longReason)"}}"#.utf8))
        if case .error(_, 403, let reason)? = long { #expect(reason.count <= 201) } else { Issue.record("not an error: \(String(describing: long))") }
        // An invalid session list from a configured server is an error state, not a count.
        let invalid = #"{"janus":"success","transaction":"\#(probes[0].transaction)","sessions":[-5]}"#
        let effects = tracker.adminReply(server: "gxy1", payload: Array(invalid.utf8), now: 0.5)
        #expect(lastObservation(effects, "gxy1")?.status == .error)
        #expect(tracker.gateways["gxy1"]?.sessions == nil)
        #expect(seedValue(effects, "galaxy_gateways_sessions", [("name", "gxy1"), ("type", "rooms")]) == nil)
        // Durations that no clock produces do not trap the formatter.
        #expect(formatSeconds(.infinity) == "infs")
        #expect(formatSeconds(.nan) == "nans")
        #expect(formatSeconds(1e300) == "1e+300s")
        #expect(formatSeconds(-3) == "-3.0s")
    }

    @Test("Status lines: info on change, debug on repeat; lines a peer causes are rate-limited")
    func logLines() throws {
        let lines = CapturedLines()
        var logger = Logger(label: "vigil.gateways") { _ in CapturedLines.Handler(lines: lines) }
        logger.logLevel = .debug
        var configuration = GatewayMonitorConfiguration(brokerURL: "mqtt://127.0.0.1:1883", adminKey: "k", availableServers: ["gxy1"])
        configuration.maxDiscovered = 5
        var tracker = GatewayTracker(configuration: configuration, metrics: GatewayMetrics(factory: metrics), logger: logger)
        for time in 0..<20 {
            _ = tracker.statusMessage(server: "gxy1", payload: Array(#"{"online": true}"#.utf8), now: ClockReading(seconds: Double(time)))
        }
        #expect(lines.count(.info, "Gateway status updated") == 1)
        #expect(lines.count(.debug, "Gateway status updated") == 19)
        for index in 0..<100 {
            _ = tracker.statusMessage(server: "gxy1", payload: Array("not json \(index)".utf8), now: 30)
            _ = tracker.statusMessage(server: "rogue\(index)", payload: Array(#"{"online": true}"#.utf8), now: 30)
        }
        #expect(lines.count(.warning, "Ignoring malformed gateway status") == 10)
        #expect(lines.count(.notice, "Discovered gateway that is not configured; shown, never sent the admin key, not used for failover") == 5)
        #expect(lines.count(.warning, "Ignoring the status of an unconfigured gateway: max_discovered reached") == 10)
        #expect(try metrics.expectCounter("vigil_log_lines_suppressed_total", [("logger", "vigil.gateways")]).totalValue == 175)
        // After the window, the tick sums up what was suppressed.
        _ = tracker.tick(now: 91)
        #expect(lines.count(.warning, "90 similar lines suppressed") == 1)
        #expect(lines.count(.warning, "85 similar lines suppressed") == 1)
    }

    @Test("A Janus error reply is an error state, not zero sessions")
    func errorReply() throws {
        var tracker = tracker(adminKey: "wrong")
        let probes = requests(tracker.tick(now: 0.4))
        let error =
            #"{"janus":"error","transaction":"\#(probes[0].transaction)","error":{"code":403,"reason":"Unauthorized request (wrong or missing secret/token)"}}"#
        let effects = tracker.adminReply(server: "gxy1", payload: Array(error.utf8), now: 0.5)
        let observation = try #require(lastObservation(effects, "gxy1"))
        #expect(observation.status == .error)
        #expect(observation.attributes["last_error"] == .string("403 Unauthorized request (wrong or missing secret/token)"))
        #expect(observation.attributes["sessions"] == .null)
        #expect(!observation.samples.contains { $0.name == "sessions" })
        #expect(events(effects) == ["gateway_error gxy1"])
        #expect(seedValue(effects, "galaxy_gateways_sessions", [("name", "gxy1"), ("type", "rooms")]) == nil)
    }

    @Test("Silence beyond the threshold is stale, once; a reply makes it fresh")
    func staleness() throws {
        var tracker = tracker()
        let first = requests(tracker.statusMessage(server: "gxy1", payload: Array(#"{"online": true}"#.utf8), now: 0))
        _ = tracker.adminReply(server: "gxy1", payload: sessions(first[0].transaction, []), now: 0)
        #expect(tracker.evaluateStaleness(now: 30).isEmpty)
        let stale = tracker.evaluateStaleness(now: 31)
        let observation = try #require(lastObservation(stale, "gxy1"))
        #expect(observation.status == .stale)
        #expect(observation.attributes["since_last_seen"] == .number(31))
        #expect(events(stale) == ["gateway_stale gxy1"])
        #expect(tracker.evaluateStaleness(now: 40).isEmpty)
        // Stale is not a failure: nothing fails over.
        #expect(tracker.machine.pending.isEmpty)
        _ = tracker.statusMessage(server: "gxy1", payload: Array(#"{"online": true}"#.utf8), now: 41)
        #expect(tracker.gateways["gxy1"]?.stale == false)
    }

    @Test("Failover: mapping published retained, persisted, gauges and counters set; recovery clears")
    func failoverEffects() async throws {
        var tracker = tracker()
        for server in ["gxy1", "gxy2", "gxy12"] {
            _ = tracker.statusMessage(server: server, payload: Array(#"{"online": true}"#.utf8), now: 0)
        }
        let offline = tracker.statusMessage(server: "gxy1", payload: Array(#"{"online": false}"#.utf8), now: 1)
        #expect(lastObservation(offline, "gxy1")?.status == .down)
        #expect(lastObservation(offline, "gxy1")?.attributes["failover"] == .object(["state": "pending", "deadline": .number(6)]))
        let fired = tracker.tick(now: 6)
        #expect(events(fired).filter { $0.hasPrefix("failover") } == ["failover_triggered gxy1", "failover_completed gxy1"])
        let published = fired.compactMap { if case .publishMapping(let failed, let payload) = $0 { (failed, payload) } else { nil } }
        #expect(published.count == 1)
        let payload = try #require(published.first?.1)
        let mapping = try JSONDecoder().decode(JSONValue.self, from: Data(payload))
        #expect(
            mapping
                == .object([
                    "failed_server": "gxy1", "failover_server": "gxy12", "failover_servers": .array(["gxy12"]), "mode": "failover", "since": 6,
                ])
        )
        #expect(fired.contains { if case .persist(let snapshot) = $0 { snapshot.mappings == ["gxy1": .spare("gxy12")] } else { false } })
        #expect(lastObservation(fired, "gxy12")?.attributes["failover"] == .object(["state": "serving", "failed_server": "gxy1"]))
        #expect(seedValue(fired, "galaxy_failover_active", [("failed_server", "gxy1"), ("failover_server", "gxy12")]) == 1)
        #expect(seedValue(fired, "galaxy_failover_events_total", [("event", "triggered"), ("failed_server", "gxy1"), ("failover_server", "")]) == 1)
        #expect(
            seedValue(fired, "galaxy_failover_events_total", [("event", "completed"), ("failed_server", "gxy1"), ("failover_server", "gxy12")]) == 1
        )
        // The seed's series go through the hub like every sample: exported under the seed's names.
        let hub = Hub(stores: MemoryStore().stores, metricsFactory: metrics)
        for case .observe(let observation) in fired { await hub.apply(observation) }
        #expect(try metrics.expectGauge("galaxy_failover_active", [("failed_server", "gxy1"), ("failover_server", "gxy12")]).lastValue == 1)
        #expect(
            try metrics.expectCounter("galaxy_failover_events_total", [("event", "triggered"), ("failed_server", "gxy1"), ("failover_server", "")])
                .totalValue == 1
        )
        #expect(await hub.state(of: TargetID(.gateway, "gxy1"))?.values.keys.contains { $0.hasPrefix("galaxy") } == false)

        let back = tracker.statusMessage(server: "gxy1", payload: Array(#"{"online": true}"#.utf8), now: 9)
        #expect(events(back).contains("failover_recovered gxy1"))
        #expect(back.contains(.publishMapping(failedServer: "gxy1", payload: nil)))
        #expect(seedValue(back, "galaxy_failover_active", [("failed_server", "gxy1"), ("failover_server", "gxy12")]) == 0)
        #expect(
            seedValue(back, "galaxy_failover_events_total", [("event", "recovered"), ("failed_server", "gxy1"), ("failover_server", "gxy12")]) == 1
        )
        #expect(lastObservation(back, "gxy12")?.attributes["failover"] == .object(["state": "standby", "pool_position": 1]))
    }

    @Test("Failover waits and staleness run on monotonic time: +1 h and -1 h wall-clock steps change no deadline")
    func failoverIgnoresWallClockSteps() throws {
        var tracker = tracker()
        /// A reading `seconds` into the run, with the wall clock stepped by `step`.
        func at(_ seconds: Double, step: Double) -> ClockReading {
            ClockReading(instant: MonotonicInstant(nanoseconds: Int64(seconds * 1e9)), wallClockSeconds: seconds + step)
        }
        for server in ["gxy1", "gxy2", "gxy12"] {
            _ = tracker.statusMessage(server: server, payload: Array(#"{"online": true}"#.utf8), now: at(0, step: 0))
        }
        // gxy1 goes offline at 1 s: failover is due 5 s later, at 6 s.
        let offline = tracker.statusMessage(server: "gxy1", payload: Array(#"{"online": false}"#.utf8), now: at(1, step: 0))
        #expect(lastObservation(offline, "gxy1")?.attributes["failover"] == .object(["state": "pending", "deadline": .number(6)]))
        // +1 h: a wall-clock deadline would have passed; nothing fires and no gateway turns stale.
        let stepped = tracker.tick(now: at(3, step: 3600))
        #expect(events(stepped).filter { $0.hasPrefix("failover") || $0.hasPrefix("gateway_stale") }.isEmpty)
        #expect(tracker.gateways["gxy2"]?.stale == false)
        // -1 h: a wall-clock deadline would be an hour away; it still fires at 6 s of monotonic time.
        #expect(events(tracker.tick(now: at(5.9, step: -3600))).filter { $0.hasPrefix("failover") }.isEmpty)
        let fired = tracker.tick(now: at(6, step: -3600))
        #expect(events(fired).filter { $0.hasPrefix("failover") } == ["failover_triggered gxy1", "failover_completed gxy1"])
        // What people see is stamped with the wall clock as it now reads.
        let published = fired.compactMap { if case .publishMapping(_, let payload) = $0 { payload } else { nil } }
        let mapping = try JSONDecoder().decode(JSONValue.self, from: Data(try #require(published.first)))
        #expect(
            mapping
                == .object([
                    "failed_server": "gxy1", "failover_server": "gxy12", "failover_servers": .array(["gxy12"]), "mode": "failover",
                    "since": .number(6 - 3600),
                ])
        )
    }

    @Test("A restored snapshot republishes mappings and counts the next online as recovery")
    func restore() throws {
        var first = tracker()
        for server in ["gxy1", "gxy2", "gxy12"] {
            _ = first.statusMessage(server: server, payload: Array(#"{"online": true}"#.utf8), now: 0)
        }
        _ = first.statusMessage(server: "gxy1", payload: Array(#"{"online": false}"#.utf8), now: 0)
        _ = first.tick(now: 5)
        let snapshot = first.machine.snapshot

        var configuration = first.configuration
        configuration.failoverWaitTime = .seconds(5)
        var restarted = GatewayTracker(configuration: configuration, metrics: GatewayMetrics(factory: metrics), logger: first.logger)
        let start = restarted.start(restoring: snapshot, now: 100)
        #expect(start.contains { if case .publishMapping("gxy1", .some) = $0 { true } else { false } })
        #expect(lastObservation(start, "gxy1")?.status == .down)
        let back = restarted.statusMessage(server: "gxy1", payload: Array(#"{"online": true}"#.utf8), now: 101)
        #expect(events(back).contains("failover_recovered gxy1"))
    }

    @Test("HTTP results: success, Janus error with HTTP 200, and transport failure")
    func httpResults() throws {
        var tracker = tracker()
        var effects = tracker.httpResult(server: "gxy1", outcome: .success(sessions("x", [1, 2])), now: 1)
        #expect(lastObservation(effects, "gxy1")?.status == .up)
        #expect(tracker.gateways["gxy1"]?.sessions == 2)
        let error = #"{"janus":"error","transaction":"x","error":{"code":403,"reason":"Unauthorized request (wrong or missing secret/token)"}}"#
        effects = tracker.httpResult(server: "gxy1", outcome: .success(Array(error.utf8)), now: 2)
        #expect(lastObservation(effects, "gxy1")?.status == .error)
        effects = tracker.httpResult(server: "gxy1", outcome: .failure(.init(message: "connection refused")), now: 3)
        #expect(lastObservation(effects, "gxy1")?.status == .down)
        #expect(lastObservation(effects, "gxy1")?.attributes["last_error"] == "connection refused")
        // No failover in HTTP mode.
        _ = tracker.tick(now: 100)
        #expect(tracker.machine.mappings.isEmpty && tracker.machine.pending.isEmpty)
    }
}

@Suite("Gateway topic templates and messages")
struct GatewayTopicTemplateTests {
    @Test("Filters, topics and server names")
    func template() throws {
        let status = try GatewayTopicTemplate("janus/{server}/status")
        #expect(status.filter == "janus/+/status")
        #expect(status.topic(for: "gxy1") == "janus/gxy1/status")
        #expect(status.server(in: "janus/gxy1/status") == "gxy1")
        #expect(status.server(in: "janus/gxy1/from-janus-admin") == nil)
        #expect(status.server(in: "janus//status") == nil)
        #expect(status.server(in: "janus/a/b/status") == nil)
        let leading = try GatewayTopicTemplate("{server}/status")
        #expect(leading.server(in: "gxy9/status") == "gxy9")
        let failover = try GatewayTopicTemplate("vigil/failover/{failed}", placeholder: "{failed}")
        #expect(failover.topic(for: "gxy1") == "vigil/failover/gxy1")
        #expect(throws: GatewayTopicTemplate.InvalidTemplate.self) { try GatewayTopicTemplate("janus/status") }
        #expect(throws: GatewayTopicTemplate.InvalidTemplate.self) { try GatewayTopicTemplate("janus/x{server}/status") }
        #expect(throws: GatewayTopicTemplate.InvalidTemplate.self) { try GatewayTopicTemplate("janus/{server}/{server}") }
        #expect(throws: GatewayTopicTemplate.InvalidTemplate.self) { try GatewayTopicTemplate("+/{server}/status") }
    }

    @Test("Janus replies and status payloads")
    func messages() {
        #expect(JanusAdminMessage.status(Array(#"{"online": true}"#.utf8)) == true)
        #expect(JanusAdminMessage.status(Array(#"{"online":false}"#.utf8)) == false)
        #expect(JanusAdminMessage.status(Array(#"{"online":"yes"}"#.utf8)) == nil)
        #expect(
            JanusAdminMessage.reply(Array(#"{"janus":"success","transaction":"ls-1","sessions":[5521699535140651,7372810448240323]}"#.utf8))
                == .sessions(transaction: "ls-1", count: 2)
        )
        #expect(
            JanusAdminMessage.reply(Array(#"{"janus":"error","error":{"code":456,"reason":"Missing mandatory element (transaction)"}}"#.utf8))
                == .error(transaction: nil, code: 456, reason: "Missing mandatory element (transaction)")
        )
        #expect(JanusAdminMessage.reply(Array(#"{"janus":"pong","transaction":"p1"}"#.utf8)) == .other(transaction: "p1", janus: "pong"))
        let request = String(decoding: JanusAdminMessage.listSessions(transaction: "t\"1", adminKey: nil), as: UTF8.self)
        #expect(request.contains(#""transaction":"t\"1""#))
        #expect(!request.contains("admin_secret"))
        #expect(formatSeconds(45) == "45s")
        #expect(formatSeconds(1.55) == "1.6s")
        #expect(formatSeconds(0.25) == "250ms")
        #expect(formatSeconds(90) == "1m30s")
    }
}

@Suite("Gateway inbox")
struct GatewayInboxTests {
    func status(_ server: String, _ text: String) -> GatewayInbox.Item {
        .status(server: server, payload: ByteBuffer(string: text))
    }

    @Test("Statuses coalesce per server in place; the latest wins")
    func coalescing() {
        var inbox = GatewayInbox(capacity: 10, configured: ["gxy1"])
        #expect(inbox.push(status("gxy1", "a")) == .queued)
        #expect(inbox.push(.reply(server: "gxy1", payload: ByteBuffer(string: "r1"))) == .queued)
        #expect(inbox.push(status("x", "b")) == .queued)
        for index in 0..<1000 {
            #expect(inbox.push(status("x", "b\(index)")) == .coalesced)
        }
        #expect(inbox.push(status("gxy1", "c")) == .coalesced)
        #expect(inbox.push(.tick) == .queued)
        #expect(inbox.push(.tick) == .coalesced)
        #expect(inbox.coalesced == 1001)
        #expect(inbox.count == 4)
        #expect(inbox.drain() == [status("gxy1", "c"), .reply(server: "gxy1", payload: ByteBuffer(string: "r1")), status("x", "b999"), .tick])
        #expect(inbox.drain().isEmpty)
        #expect(inbox.push(.tick) == .queued)
    }

    @Test("Bounded: unconfigured statuses and replies beyond the capacity are refused; configured statuses are not")
    func bounded() {
        var inbox = GatewayInbox(capacity: 3, configured: ["gxy1", "gxy2"])
        for index in 0..<3 { #expect(inbox.push(status("x\(index)", "s")) == .queued) }
        #expect(inbox.push(status("x3", "s")) == .refused)
        #expect(inbox.push(.reply(server: "gxy1", payload: ByteBuffer())) == .refused)
        #expect(inbox.push(status("gxy1", "s")) == .queued)
        #expect(inbox.push(status("gxy2", "s")) == .queued)
        #expect(inbox.push(.disconnected) == .queued)
        #expect(inbox.push(.reply(server: "x0", payload: ByteBuffer())) == .ignored)
        #expect(inbox.refused == 2)
        #expect(inbox.drain().count == 6)
        #expect(inbox.push(status("x3", "s")) == .queued)
    }

    @Test("The shared queue counts coalesced and refused messages in metrics")
    func queueMetrics() async throws {
        let metrics = TestMetrics()
        let queue = GatewayInboxQueue(capacity: 2, configured: [], metrics: GatewayMetrics(factory: metrics))
        queue.push(status("x0", "a"))
        queue.push(status("x0", "b"))
        queue.push(status("x1", "a"))
        queue.push(status("x2", "a"))
        #expect(try metrics.expectCounter("vigil_gateways_inbox_coalesced_total").totalValue == 1)
        #expect(try metrics.expectCounter("vigil_gateways_inbox_refused_total").totalValue == 1)
        var bell = queue.doorbell.makeAsyncIterator()
        #expect(await bell.next() != nil)
        #expect(queue.drain() == [status("x0", "b"), status("x1", "a")])
    }
}

/// Log lines captured by a test logger.
final class CapturedLines: Sendable {
    private let lines = Mutex<[(Logger.Level, String)]>([])

    func count(_ level: Logger.Level, _ message: String) -> Int {
        lines.withLock { $0.filter { $0.0 == level && $0.1 == message }.count }
    }

    struct Handler: LogHandler {
        let lines: CapturedLines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) { lines.lines.withLock { $0.append((event.level, "\(event.message)")) } }
    }
}
