//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
import StreamSimulators
import Synchronization
import Testing
import VigilMQTT
import VigilRedis

/// Three `vigil` processes with one config file on one Redis and one Mosquitto split the work
/// (issue 15): each simulated MediaMTX instance is polled by exactly one of them, one runs the
/// device watchdog, every API shows everything, and after a SIGKILL the survivors take over.
@Suite("Several vigil instances on one Redis", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct ClusterProcessTests {
    static let mediamtxInstances = 6
    static let pathsPerInstance = 10
    static let devices = 300

    /// List requests per simulated MediaMTX instance.
    final class RequestCounts: Sendable {
        let counts = Mutex<[Int]>(Array(repeating: 0, count: ClusterProcessTests.mediamtxInstances))
        func add(_ index: Int) { counts.withLock { $0[index] += 1 } }
        var snapshot: [Int] { counts.withLock { $0 } }
    }

    @Test("60 paths and 300 devices on three instances: one poller per MediaMTX, one watchdog, every API complete, SIGKILL taken over")
    func threeInstances() async throws {
        let (prefix, id) = RedisStoreIntegrationTests.unique()
        // Unique MediaMTX names: seed 003's keys are shared by every test on this Redis.
        let names = (0..<Self.mediamtxInstances).map { "\(id)m\($0)" }
        let topics = MQTTTestSupport.uniqueTopic("cluster")
        let requests = RequestCounts()
        var servers: [SimulatorServer] = []
        for index in 0..<Self.mediamtxInstances {
            let simulator = MediaMTXSimulator(
                paths: (0..<Self.pathsPerInstance).map { .init(name: "live/m\(index)p\($0)", readers: ["hlsMuxer"], inboundBytes: 1_000) }
            )
            servers.append(
                try await SimulatorServer.start { request in
                    if request.path.hasSuffix("/paths/list") { requests.add(index) }
                    return await simulator.handle(request)
                }
            )
        }
        var sections = "[host]\nenabled = false\n\n[mediamtx]\ninterval = \"1s\"\n"
        for (index, server) in servers.enumerated() {
            sections += "\n[[mediamtx.instances]]\nname = \"\(names[index])\"\nurl = \"\(server.baseURL)\"\n"
        }
        for device in 0..<Self.devices {
            sections += "\n[device_c\(device)]\nwatchTimeOut = 4\nwatchTopics = \"\(topics)/c\(device)/#\"\n"
        }
        let config = try Self.config(prefix: topics, sections)
        try await DevicesIntegrationTests.withObserver(["\(topics)/mon/expire/#"]) { client, expiries in
            try await Self.withThreeInstances("cluster", config: config, prefix: prefix) { vigils in
                try await VigilProcess.eventually("three members, each MediaMTX instance owned once", timeout: .seconds(15)) {
                    try await Self.ownersAreDisjoint(vigils, expectMembers: 3, names: names)
                }
                let owners = try await Self.owned(vigils)
                print("cluster: owned per instance \(owners.map { $0.sorted() })")
                #expect(owners.filter { $0.contains("devices") }.count == 1)
                #expect(owners.filter { $0.contains("gateways") }.count == 0, "no [janus]: no gateway work")
                // The owner of `devices` runs it under the lease, which every instance shows.
                let devicesOwner = try #require(owners.firstIndex { $0.contains("devices") })
                try await VigilProcess.eventually("the owner of devices holds its lease", timeout: .seconds(10)) {
                    try await Self.leaseHolder("devices", vigils[(devicesOwner + 1) % 3])?.port == vigils[devicesOwner].port
                }
                let firstGrant = try #require(try await Self.leaseHolder("devices", vigils[0]))

                // Every device talks once, then falls silent: each expires once, published once.
                for device in 0..<Self.devices {
                    try await client.publish(to: "\(topics)/c\(device)/temp", payload: ByteBuffer(string: "21"), qos: .atLeastOnce)
                }
                // Every API shows the whole fleet (fan-out).
                try await VigilProcess.eventually("every instance shows 60 paths and 300 devices", timeout: .seconds(20)) {
                    for vigil in vigils {
                        let streams = try await vigil.get("/api/v1/streams").body
                        let devices = try await vigil.get("/api/v1/devices").body
                        let paths = (0..<Self.mediamtxInstances).flatMap { m in
                            (0..<Self.pathsPerInstance).map { "mediamtx/\(names[m])/live/m\(m)p\($0)" }
                        }
                        guard paths.allSatisfy(streams.contains), (0..<Self.devices).allSatisfy({ devices.contains("\"c\($0)\"") }) else {
                            return false
                        }
                    }
                    return true
                }
                // One poller per MediaMTX: over 4 s at a 1 s interval, about 4 list requests each, not 12.
                let before = requests.snapshot
                try await Task.sleep(for: .seconds(4))
                let during = zip(requests.snapshot, before).map { $0 - $1 }
                print("cluster: list requests per MediaMTX instance in 4 s: \(during)")
                #expect(during.allSatisfy { (2...7).contains($0) }, "\(during)")

                try await VigilProcess.eventually("300 expiries", timeout: .seconds(15)) {
                    Set(expiries.messages.map(\.topic)).count == Self.devices
                }
                try await Task.sleep(for: .seconds(2))
                let counted = Dictionary(grouping: expiries.messages.filter { $0.payload.readableBytes > 0 }.map(\.topic), by: { $0 })
                    .mapValues(\.count)
                #expect(counted.count == Self.devices)
                #expect(counted.values.allSatisfy { $0 == 1 }, "published more than once: \(counted.filter { $0.value > 1 })")

                // Half the devices talk again (recovered), then the instance that runs the watchdog
                // is killed before they fall silent: their second expiry is the new owner's to publish.
                for device in 0..<(Self.devices / 2) {
                    try await client.publish(to: "\(topics)/c\(device)/temp", payload: ByteBuffer(string: "22"), qos: .atLeastOnce)
                }
                try await Task.sleep(for: .seconds(1))
                // SIGKILL the instance that runs the watchdog: the others take its work over.
                let victim = try #require(owners.firstIndex { $0.contains("devices") })
                let killed = ContinuousClock.now
                _ = try await vigils[victim].stop(signal: SIGKILL)
                let survivors = vigils.indices.filter { $0 != victim }.map { vigils[$0] }
                try await VigilProcess.eventually("two members own everything", timeout: .seconds(12)) {
                    try await Self.ownersAreDisjoint(survivors, expectMembers: 2, names: names)
                }
                let takeover = killed.duration(to: .now)
                print("cluster: work taken over \(takeover) after SIGKILL")
                #expect(takeover < .seconds(10))
                let after = try await Self.owned(survivors)
                #expect(after.filter { $0.contains("devices") }.count == 1)
                // The new owner took the lease over with a larger fencing token.
                let newOwner = try #require(after.firstIndex { $0.contains("devices") })
                try await VigilProcess.eventually("the new owner holds the lease", timeout: .seconds(10)) {
                    guard let grant = try await Self.leaseHolder("devices", survivors[0]) else { return false }
                    return grant.port == survivors[newOwner].port && grant.token > firstGrant.token
                }
                // The surviving dashboards stay complete: every path polled again, none stale.
                try await VigilProcess.eventually("every path up on both survivors", timeout: .seconds(10)) {
                    for vigil in survivors {
                        let streams = try await vigil.get("/api/v1/streams").body
                        guard !streams.contains("\"stale\""), streams.contains("mediamtx/\(names[5])/live/m5p9") else { return false }
                    }
                    return true
                }
                // The new owner inherits: the 15 silent devices' expiries are not published again,
                // the 15 that recovered expire once more, published once (an empty payload is a
                // recovery, not an expiry).
                try await Task.sleep(for: .seconds(6))
                let again = Dictionary(grouping: expiries.messages.filter { $0.payload.readableBytes > 0 }.map(\.topic), by: { $0 })
                    .mapValues(\.count)
                print("cluster: expiries after takeover \(again.values.reduce(0, +)) for \(again.count) devices")
                for device in 0..<Self.devices {
                    let expected = device < Self.devices / 2 ? 2 : 1
                    #expect(again["\(topics)/mon/expire/c\(device)"] == expected, "c\(device): \(again["\(topics)/mon/expire/c\(device)"] ?? 0)")
                }
                for vigil in survivors { _ = try await vigil.stop() }
            }
        }
        for server in servers { await server.stop() }
        try await RedisStoreIntegrationTests.withClient(.single) { redis in
            for name in names { try await RedisStoreIntegrationTests.cleanUp(redis, prefix: prefix, instance: name) }
        }
    }

    @Test("A Janus failover pool on three instances: each failure decided once, the next by the new owner after a SIGKILL")
    func gatewayFailoverOnce() async throws {
        let (prefix, _) = RedisStoreIntegrationTests.unique()
        let bed = GatewayTestBed()
        var environment = try bed.processEnvironment(available: "gxy1,gxy2", failover: "gxy12,gxy13")
        environment.merge(try RedisStoreProcessTests.environment(.single, prefix: prefix)) { $1 }
        let directory = DevicesIntegrationTests.scratch("cluster-gateways")
        var vigils: [VigilProcess] = []
        func failovers() -> Int { vigils.map { $0.log.components(separatedBy: "Failover completed successfully").count - 1 }.reduce(0, +) }
        func failoverState(_ name: String, on vigil: VigilProcess) async throws -> (state: String?, server: String?) {
            let body = try await vigil.get("/api/v1/gateways/\(name)").body
            let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
            let failover = (json?["attributes"] as? [String: Any])?["failover"] as? [String: Any]
            return (failover?["state"] as? String, failover?["failover_server"] as? String)
        }
        do {
            for index in 0..<3 {
                let folder = directory.appendingPathComponent("i\(index)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                vigils.append(try VigilProcess(environment: environment, directory: folder))
            }
            for vigil in vigils { try await vigil.waitUntilHealthy() }
            try bed.start(["gxy1", "gxy2", "gxy12", "gxy13"])
            try await VigilProcess.eventually("every instance shows four gateways up", timeout: .seconds(15)) {
                for vigil in vigils {
                    let body = try await vigil.get("/api/v1/gateways").body
                    guard body.components(separatedBy: "\"status\":\"up\"").count - 1 == 4 else { return false }
                }
                return true
            }
            let owners = try await Self.owned(vigils)
            #expect(owners.filter { $0.contains("gateways") }.count == 1, "\(owners)")
            /// Kills a primary; every instance in `watching` shows it failed over, decided `decisions` times in all.
            func failOver(_ name: String, watching: [VigilProcess], decisions: Int) async throws {
                try await bed.gateway(name).kill9()
                try await VigilProcess.eventually("\(name) failed over, seen by every instance", timeout: .seconds(15)) {
                    for vigil in watching where try await failoverState(name, on: vigil).state != "failed_over" { return false }
                    return true
                }
                try await Task.sleep(for: .seconds(2))
                #expect(failovers() == decisions, "failover decisions in the three logs: \(failovers())")
            }
            try await failOver("gxy1", watching: vigils, decisions: 1)
            let first = try await failoverState("gxy1", on: vigils[0]).server
            #expect(first == "gxy12" || first == "gxy13")

            // The owner of the gateway work dies; the next failure is decided once, by the new owner,
            // which knows from the shared store that the first spare is taken.
            let victim = try #require(owners.firstIndex { $0.contains("gateways") })
            _ = try await vigils[victim].stop(signal: SIGKILL)
            let survivors = vigils.indices.filter { $0 != victim }.map { vigils[$0] }
            try await VigilProcess.eventually("a survivor runs the gateway monitor", timeout: .seconds(12)) {
                survivors.contains { $0.log.contains("This instance now runs 'gateways'") }
            }
            try await failOver("gxy2", watching: survivors, decisions: 2)
            let second = try await failoverState("gxy2", on: survivors[0]).server
            #expect(second != nil && second != first, "gxy1 → \(first ?? "none"), gxy2 → \(second ?? "none")")
            #expect(try await failoverState("gxy1", on: survivors[0]).state == "failed_over")
            print("cluster: gxy1 → \(first ?? "none"), gxy2 → \(second ?? "none"); decisions \(failovers())")
            for vigil in survivors { _ = try await vigil.stop() }
        } catch {
            for vigil in vigils {
                _ = try? await vigil.stop(signal: SIGKILL)
                print("cluster: vigil log tail:\n\(vigil.log.suffix(3_000))")
            }
            await bed.stopAll()
            throw error
        }
        await bed.stopAll()
        try await RedisStoreIntegrationTests.withClient(.single) { redis in
            try await RedisStoreIntegrationTests.cleanUp(redis, prefix: prefix, instance: "none")
        }
    }

    /// What a webhook receiver was sent.
    final class WebhookLog: Sendable {
        let bodies = Mutex<[String]>([])
        func add(_ body: String) { bodies.withLock { $0.append(body) } }
        /// Firing notifications that name this device.
        func firing(_ device: String) -> Int {
            bodies.withLock { bodies in
                bodies.filter { $0.contains(#""status":"firing""#) && $0.contains("DeviceExpired") && $0.contains(#""device":"\#(device)""#) }.count
            }
        }
    }

    @Test(
        "Alerts on three instances: each notified once, by the owner of the alerts; after its SIGKILL the next owner repeats nothing and notifies what fires next"
    )
    func alertsNotifiedOnce() async throws {
        let (prefix, id) = RedisStoreIntegrationTests.unique()
        let topics = MQTTTestSupport.uniqueTopic("cluster-alerts")
        let hooks = WebhookLog()
        let receiver = try await SimulatorServer.start { request in
            if request.method == "POST" { hooks.add(String(decoding: request.body, as: UTF8.self)) }
            return SimulatedResponse(status: 200, body: Array("ok".utf8), contentType: "text/plain")
        }
        // `silent` never speaks and expires soon after start; `talker` speaks until the owner of
        // the alerts is killed, then falls silent. One group per device, so that each
        // notification names one alert.
        let silent = "s\(id.prefix(6).lowercased())"
        let talker = "t\(id.prefix(6).lowercased())"
        let sections = """
            [host]
            enabled = false

            [alerting]
            interval = "1s"
            startup_delay = "2s"
            group_by = ["alertname", "device"]

            [[alerting.webhook]]
            name = "ops"
            url = "\(receiver.baseURL)/hook"

            [device_\(silent)]
            watchTimeOut = 3
            watchTopics = "\(topics)/\(silent)/#"

            [device_\(talker)]
            watchTimeOut = 3
            watchTopics = "\(topics)/\(talker)/#"
            """
        let config = try Self.config(prefix: topics, sections)
        try await DevicesIntegrationTests.withObserver(["\(topics)/mon/expire/#"]) { client, _ in
            try await Self.withThreeInstances("cluster-alerts", config: config, prefix: prefix) { vigils in
                let talking = Task {
                    while !Task.isCancelled {
                        try? await client.publish(to: "\(topics)/\(talker)/temp", payload: ByteBuffer(string: "21"), qos: .atLeastOnce)
                        try? await Task.sleep(for: .milliseconds(500))
                    }
                }
                defer { talking.cancel() }
                try await VigilProcess.eventually("the silent device's alert notified", timeout: .seconds(20)) { hooks.firing(silent) >= 1 }
                // Several evaluation rounds on every instance: still one notification.
                try await Task.sleep(for: .seconds(4))
                #expect(hooks.firing(silent) == 1, "notified \(hooks.firing(silent)) times by three instances")
                #expect(hooks.firing(talker) == 0)
                let owners = try await Self.owned(vigils)
                print("cluster alerts: owned per instance \(owners.map { $0.sorted() })")
                #expect(owners.filter { $0.contains("alerts") }.count == 1)
                // Every instance's API shows the alert, led or not.
                for vigil in vigils {
                    #expect(try await vigil.get("/api/v1/alerts").body.contains(silent))
                }

                let leader = try #require(owners.firstIndex { $0.contains("alerts") })
                _ = try await vigils[leader].stop(signal: SIGKILL)
                let survivors = vigils.indices.filter { $0 != leader }.map { vigils[$0] }
                try await VigilProcess.eventually("a survivor leads the alerts", timeout: .seconds(12)) {
                    try await Self.owned(survivors).filter { $0.contains("alerts") }.count == 1
                }
                talking.cancel()
                try await VigilProcess.eventually("the talker's alert notified by the new owner", timeout: .seconds(20)) {
                    hooks.firing(talker) >= 1
                }
                try await Task.sleep(for: .seconds(4))
                print("cluster alerts: firing notifications: silent \(hooks.firing(silent)), talker \(hooks.firing(talker))")
                #expect(hooks.firing(silent) == 1, "the new owner notified a restored alert again")
                #expect(hooks.firing(talker) == 1)
                for vigil in survivors { _ = try await vigil.stop() }
            }
        }
        await receiver.stop()
    }

    /// The devices test config at log level info.
    static func config(prefix: String, _ sections: String) throws -> String {
        try DevicesIntegrationTests.config(prefix: prefix, sections).replacingOccurrences(of: "log_level = \"debug\"", with: "log_level = \"info\"")
    }

    /// Writes `config` and runs three `vigil serve` on it, on the Redis store under `prefix`, until
    /// `body` returns; on an error kills them and prints the end of their logs.
    static func withThreeInstances(_ name: String, config: String, prefix: String, _ body: ([VigilProcess]) async throws -> Void) async throws {
        let directory = DevicesIntegrationTests.scratch(name)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("config.toml")
        try config.write(to: path, atomically: true, encoding: .utf8)
        let environment = try RedisStoreProcessTests.environment(.single, prefix: prefix)
        var vigils: [VigilProcess] = []
        do {
            for index in 0..<3 {
                let folder = directory.appendingPathComponent("i\(index)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                vigils.append(try VigilProcess(arguments: ["serve", "--config", path.path], environment: environment, directory: folder))
            }
            for vigil in vigils { try await vigil.waitUntilHealthy() }
            try await body(vigils)
        } catch {
            for vigil in vigils {
                _ = try? await vigil.stop(signal: SIGKILL)
                print("\(name): vigil log tail:\n\(vigil.log.suffix(2_000))")
            }
            throw error
        }
    }

    /// The holder (by its HTTP port, the last part of its id) and token of a work's lease, from
    /// `GET /api/v1/cluster` of `vigil`.
    static func leaseHolder(_ work: String, _ vigil: VigilProcess) async throws -> (port: Int, token: Int)? {
        let body = try await vigil.get("/api/v1/cluster").body
        let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        let leases = json?["leases"] as? [[String: Any]] ?? []
        guard let lease = leases.first(where: { $0["work"] as? String == work }), let holder = lease["holder"] as? String,
            let port = holder.split(separator: "-").last.flatMap({ Int($0) }), let token = lease["token"] as? Int
        else { return nil }
        return (port, token)
    }

    /// The work keys each instance owns, from `GET /api/v1/cluster` of the first.
    static func owned(_ vigils: [VigilProcess]) async throws -> [Set<String>] {
        let body = try await vigils[0].get("/api/v1/cluster").body
        let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        let members = json?["members"] as? [[String: Any]] ?? []
        let byPort = Dictionary(
            members.compactMap { member -> (Int, Set<String>)? in
                guard let id = member["id"] as? String, let port = id.split(separator: "-").last.flatMap({ Int($0) }) else { return nil }
                return (port, Set(member["owns"] as? [String] ?? []))
            },
            uniquingKeysWith: { $1 }
        )
        return vigils.map { byPort[$0.port] ?? [] }
    }

    /// Whether the members agree on the count, and every instance exports the MediaMTX metrics of
    /// exactly the instances the cluster route says it owns (each once across the cluster).
    static func ownersAreDisjoint(_ vigils: [VigilProcess], expectMembers: Int, names: [String]) async throws -> Bool {
        for vigil in vigils {
            let body = try await vigil.get("/api/v1/cluster").body
            let json = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
            guard (json?["members"] as? [Any])?.count == expectMembers else { return false }
        }
        let owners = try await owned(vigils)
        var polled: [String] = []
        for (vigil, owns) in zip(vigils, owners) {
            let metrics = try await vigil.get("/metrics").body
            let exported = names.filter { metrics.contains("vigil_mediamtx_up{instance=\"\($0)\"} 1.0") }.map { "mediamtx/\($0)" }
            guard Set(exported) == owns.filter({ $0.hasPrefix("mediamtx/") }) else { return false }
            polled += exported
        }
        return polled.count == mediamtxInstances && Set(polled).count == mediamtxInstances
    }
}
