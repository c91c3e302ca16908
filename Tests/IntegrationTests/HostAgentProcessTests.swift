//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
import VigilCore

/// `vigil agent` processes (one over MQTT through Mosquitto, one over HTTP) feeding a central
/// `vigil` process: the central's API and /metrics, staleness after SIGKILL, delivery of what the
/// agents buffered while the central was down, and the ingest route's refusals.
@Suite("Host agents through the vigil binary", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct HostAgentProcessTests {
    static let token = "agent-token-0123456789abcdef"

    /// A central `vigil` on `port` with `[host_ingest]` on, over `[mqtt]` and HTTP.
    struct Central {
        let directory: URL
        let prefix: String
        let clientID: String
        let port: Int
        let configPath: String

        init(maxHosts: Int = 8) throws {
            directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("host-agents-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            prefix = "vigil-test/agents-\(UUID().uuidString.prefix(8))"
            clientID = "vigil-central-\(UUID().uuidString.prefix(8))"
            port = try freeLoopbackPort()
            configPath = directory.appendingPathComponent("central.toml").path
            let text = """
                [mqtt]
                serverAddress = "tcp://\(IntegrationEnvironment.mosquittoHost):\(try IntegrationEnvironment.mosquittoPort)"
                clientid = "\(clientID)"

                [host]
                name = "central-test"

                [host_ingest]
                enabled = true
                topic_prefix = "\(prefix)"
                tokens = ["\(HostAgentProcessTests.token)"]
                stale_after = "3s"
                max_hosts = \(maxHosts)
                """
            try text.write(toFile: configPath, atomically: true, encoding: .utf8)
        }

        func start() async throws -> VigilProcess {
            let process = try VigilProcess(arguments: ["serve", "--config", configPath], directory: directory, port: port)
            try await process.waitUntilHealthy()
            return process
        }

        func agent(_ name: String, push: String, environment: [String: String] = [:]) throws -> VigilProcess {
            try VigilProcess(
                arguments: ["agent", "--push", push, "--name", name, "--interval", "500ms"],
                environment: ["VIGIL_AGENT_TOPIC_PREFIX": prefix].merging(environment) { $1 },
                directory: directory.appendingPathComponent(name)
            )
        }
    }

    @Test("Two agents (MQTT, HTTP) show in the API and /metrics; buffered samples arrive after a central restart; SIGKILL marks a host down or stale")
    func agentsEndToEnd() async throws {
        let central = try Central()
        var vigil = try await central.start()
        let mqttName = "agent-mqtt-\(UUID().uuidString.prefix(6))"
        let httpName = "agent-http-\(UUID().uuidString.prefix(6))"
        let mqttAgent = try central.agent(
            mqttName,
            push: "mqtt://\(IntegrationEnvironment.mosquittoHost):\(try IntegrationEnvironment.mosquittoPort)"
        )
        let httpAgent = try central.agent(httpName, push: "http://127.0.0.1:\(central.port)", environment: ["VIGIL_AGENT_TOKEN": Self.token])
        do {
            try await VigilProcess.eventually("both hosts up in /api/v1/hosts", timeout: .seconds(15)) {
                let hosts = try await vigil.get("/api/v1/hosts").body
                return try Self.status(of: mqttName, in: hosts) == "up" && Self.status(of: httpName, in: hosts) == "up"
            }
            try await VigilProcess.eventually("both hosts in /metrics", timeout: .seconds(5)) {
                let metrics = try await vigil.get("/metrics").body
                return metrics.contains("vigil_host_load1{host=\"\(mqttName)\"}") && metrics.contains("vigil_host_load1{host=\"\(httpName)\"}")
                    && metrics.contains("vigil_host_memory_used_ratio{host=\"\(httpName)\"}")
            }
            let detail = try Self.json(await vigil.get("/api/v1/hosts/\(mqttName)").body)
            #expect(Self.path(detail, "attributes", "transport") == .string("mqtt"))
            #expect(Self.path(detail, "attributes", "source") == .string("agent"))

            // The central goes away for a few seconds; both agents keep sampling.
            #expect(try await vigil.stop().status == 0)
            let downFrom = Date().timeIntervalSince1970
            try await Task.sleep(for: .seconds(3))
            let downTo = Date().timeIntervalSince1970
            vigil = try await central.start()
            for name in [mqttName, httpName] {
                try await VigilProcess.eventually("samples of \(name) taken while the central was down", timeout: .seconds(15)) {
                    let history = try Self.json(
                        await vigil.get("/api/v1/history?series=host/\(name)/load1&from=\(Int(downFrom))&to=\(Int(downTo) + 1)&step=0").body
                    )
                    guard case .array(let points)? = Self.path(history, "points") else { return false }
                    let inGap = points.filter { point in
                        guard case .array(let pair) = point, case .number(let time)? = pair.first else { return false }
                        return time > downFrom + 0.5 && time < downTo - 0.5
                    }
                    return inGap.count >= 2
                }
            }

            // SIGKILL: the MQTT agent's Last Will marks its host down, the HTTP agent's host goes stale.
            _ = try await mqttAgent.stop(signal: SIGKILL)
            _ = try await httpAgent.stop(signal: SIGKILL)
            let killed = ContinuousClock.now
            try await VigilProcess.eventually("the MQTT host down and the HTTP host stale", timeout: .seconds(8)) {
                let hosts = try await vigil.get("/api/v1/hosts").body
                return try Self.status(of: mqttName, in: hosts) == "down" && Self.status(of: httpName, in: hosts) == "stale"
            }
            // stale_after is 3 s, checked every 750 ms.
            #expect(ContinuousClock.now - killed < .seconds(6))
            #expect(try await vigil.stop().status == 0)
        } catch {
            _ = try? await mqttAgent.stop(signal: SIGKILL)
            _ = try? await httpAgent.stop(signal: SIGKILL)
            _ = try? await vigil.stop(signal: SIGKILL)
            throw error
        }
    }

    @Test("POST /api/v1/ingest/host: 401 without or with a wrong token, 413 for a large body, 400 out of range, 429 beyond max_hosts; all counted")
    func ingestAbuse() async throws {
        let central = try Central(maxHosts: 2)
        let vigil = try await central.start()
        do {
            func report(_ host: String, load: Double = 0.5) -> String {
                let now = Date().timeIntervalSince1970
                return """
                    {"version":1,"host":"\(host)","interval_seconds":5,"dropped_samples":0,
                     "samples":[{"time":\(now),"metrics":[{"name":"load1","value":\(load)}]}]}
                    """
            }
            #expect(try await Self.post(vigil, report("h1"), token: nil).status == 401)
            #expect(try await Self.post(vigil, report("h1"), token: "wrong-token-0123456789").status == 401)
            let large = String(repeating: " ", count: (1 << 20) + 1)
            #expect(try await Self.post(vigil, large, token: Self.token).status == 413)
            #expect(try await Self.post(vigil, report("h1", load: -3), token: Self.token).status == 400)
            #expect(try await Self.post(vigil, report("h1", load: 1e300), token: Self.token).status == 400)
            #expect(try await Self.post(vigil, "{\"version\":1}", token: Self.token).status == 400)
            #expect(try await Self.post(vigil, report("central-test"), token: Self.token).status == 400)
            #expect(try await Self.post(vigil, report("h1"), token: Self.token).status == 200)
            #expect(try await Self.post(vigil, report("h2"), token: Self.token).status == 200)
            #expect(try await Self.post(vigil, report("h3"), token: Self.token).status == 429)
            #expect(try await Self.post(vigil, report("h1"), token: Self.token).status == 200)
            let hosts = try await vigil.get("/api/v1/hosts").body
            #expect(try Self.status(of: "h1", in: hosts) == "up")
            #expect(try Self.status(of: "h3", in: hosts) == nil)
            let metrics = try await vigil.get("/metrics").body
            for (reason, count) in [("unauthorized", 2), ("body_too_large", 1), ("invalid", 3), ("name_conflict", 1), ("max_hosts", 1)] {
                #expect(metrics.contains("vigil_host_ingest_refused_total{reason=\"\(reason)\"} \(count)"), "\(reason)")
            }
            #expect(metrics.contains("vigil_host_ingest_remote_hosts 2.0"))
            #expect(try await vigil.stop().status == 0)
        } catch {
            _ = try? await vigil.stop(signal: SIGKILL)
            throw error
        }
    }

    // MARK: - Helpers

    static func post(_ vigil: VigilProcess, _ body: String, token: String?) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(vigil.port)/api/v1/ingest/host")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    static func status(of name: String, in list: String) throws -> String? {
        guard case .array(let states)? = try json(list) else { return nil }
        for state in states where path(state, "target", "name") == .string(name) {
            if case .string(let status)? = path(state, "status") { return status }
        }
        return nil
    }

    // The JSON helpers of the gateway process tests.
    static func json(_ text: String) throws -> JSONValue? { try GatewaysProcessTests.json(text) }

    static func path(_ value: JSONValue?, _ keys: String...) -> JSONValue? {
        keys.reduce(value) { current, key in GatewaysProcessTests.path(current, key) }
    }
}
