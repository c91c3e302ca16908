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
import VigilXMPP

/// The seed-001 example file, unchanged but for `log_dst`, run by the real `vigil` binary against
/// a real Prosody: its `rest_api_port` shares or gets a listener, a token is required beyond
/// loopback, and cross-site requests deliver nothing.
///
/// An extension of ``AnnouncerIntegrationTests`` so that it runs serialized with it: Prosody
/// accepts one connection per component.
extension AnnouncerIntegrationTests {
    static let token = "integration-\(UUID().uuidString)"

    /// The fixture with `log_dst` pointed into `directory`; everything else stays as the seed wrote it.
    static func seedFile(in directory: URL) throws -> (config: URL, log: URL) {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/announcer-config.toml")
        let log = directory.appendingPathComponent("announcer.log")
        let text = try String(contentsOf: fixture, encoding: .utf8)
        let changed = text.replacingOccurrences(of: #"log_dst="/path/to/dest/file.log""#, with: #"log_dst="\#(log.path)""#)
        #expect(changed != text, "the fixture's log_dst line changed; update this test")
        let config = directory.appendingPathComponent("announcer.toml")
        try changed.write(to: config, atomically: true, encoding: .utf8)
        return (config, log)
    }

    /// The seed's Kafka sections point at ZooKeeper and at private addresses: give both sections
    /// loopback brokers instead (the test broker when there is one, else a closed port).
    static var kafkaEnvironment: [String: String] {
        let brokers = IntegrationEnvironment.environment["KAFKA_BOOTSTRAP"] ?? "127.0.0.1:1"
        return ["VIGIL_KAFKA_CONSUMER_BROKERS": brokers, "VIGIL_KAFKA_PRODUCER_BROKERS": brokers]
    }

    /// Points the seed's `[ejabberd]` and `[component]` at the test Prosody through the environment.
    static func prosodyEnvironment(_ server: IntegrationEnvironment.XMPPServer) -> [String: String] {
        kafkaEnvironment.merging([
            "VIGIL_EJABBERD_CLUSTER_NODES": "\(server.host):\(server.componentPort)",
            "VIGIL_COMPONENT_NAME": server.componentDomain,
            "VIGIL_COMPONENT_SECRET": server.componentSecret,
            "VIGIL_COMPONENT_DOMAIN": server.domain,
            "VIGIL_COMPONENT_PING_INTERVAL": "30",
        ]) { $1 }
    }

    func send(
        port: Int,
        _ path: String,
        body: String,
        contentType: String? = "application/json",
        origin: String? = nil,
        token: String? = AnnouncerIntegrationTests.token
    ) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let origin { request.headers.add(name: "Origin", value: origin) }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    func metrics(port: Int) async throws -> String {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/metrics")
        request.headers.add(name: "Authorization", value: "Bearer \(Self.token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        #expect(response.status == .ok)
        return String(buffer: try await response.body.collect(upTo: 16 << 20))
    }

    @Test("The seed-001 file without a token exits 2 and says to set VIGIL_HTTP_TOKEN; config check agrees")
    func seedWithoutToken() async throws {
        let directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("announcer-access-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let (config, _) = try Self.seedFile(in: directory)
        let port = try freeLoopbackPort()
        let environment = Self.kafkaEnvironment.merging([
            "VIGIL_HTTP_LISTEN": "127.0.0.1:\(port)", "VIGIL_REST_API_PORT": ":\(port)",
            "VIGIL_STORE_PATH": directory.appendingPathComponent("vigil.sqlite").path,
        ]) { $1 }
        for arguments in [["serve", "--config", config.path], ["config", "check", config.path]] {
            let (status, output) = try VigilProcess.runToCompletion(arguments, environment: environment)
            #expect(status == 2, "\(arguments): \(output)")
            #expect(output.contains("http.token"), "\(output)")
            #expect(output.contains("VIGIL_HTTP_TOKEN"), "\(output)")
            #expect(output.contains("0.0.0.0:\(port)"), "\(output)")
        }
        // Its own port beyond loopback: the same refusal.
        var separate = environment
        separate["VIGIL_REST_API_PORT"] = ":\(try freeLoopbackPort())"
        let (status, output) = try VigilProcess.runToCompletion(["serve", "--config", config.path], environment: separate)
        #expect(status == 2 && output.contains("rest_api_port") && output.contains("VIGIL_HTTP_TOKEN"), "\(output)")
    }

    @Test(
        "The seed-001 file with VIGIL_HTTP_TOKEN serves the announce routes on its port, shared with [http] or on its own",
        arguments: [true, false]
    )
    func seedWithToken(shared: Bool) async throws {
        let server = try IntegrationEnvironment.xmppServer("PROSODY", name: "Prosody")
        let user = server.users[0]
        let directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("announcer-access-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let (config, logFile) = try Self.seedFile(in: directory)
        let mainPort = try freeLoopbackPort()
        var announcePort = mainPort
        while !shared && announcePort == mainPort { announcePort = try freeLoopbackPort() }
        var environment = Self.prosodyEnvironment(server)
        environment["VIGIL_HTTP_TOKEN"] = Self.token
        environment["VIGIL_REST_API_PORT"] = ":\(announcePort)"

        let receiver = try await server.login(user, resource: "access-test", logger: Self.logger)
        let vigil = try VigilProcess(arguments: ["serve", "--config", config.path], environment: environment, directory: directory, port: mainPort)
        do {
            try await vigil.waitUntilHealthy()
            let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
            #expect(log.contains("Vigil starting"), "vigil did not log to the seed's log_dst:\n\(log)")
            if shared { #expect(log.contains("share port \(mainPort)"), "\(log)") }

            // Wait until the component is logged in, so a refused request that slipped through would be delivered.
            let probe = Self.body(usernames: [user.name], text: "probe")
            #expect(try await send(port: announcePort, "/v1/announce/users", body: probe).status == 202)
            _ = try await withTimeout(.seconds(15)) {
                for await stanza in receiver.stanzas where stanza.name == "message" {
                    if stanza.firstChild(named: "body")?.text == "probe" { return stanza }
                }
                throw VigilProcess.Failure("the receiver's stream ended")
            }

            // Refused: no token, a wrong token, a foreign Origin, text/plain, a form post, and a hostile name.
            let refused = Self.body(usernames: [user.name], text: "must not arrive")
            let hostile = Self.body(usernames: [user.name + "\\u0001"], text: "must not arrive")
            let cases: [(label: String, expected: Int, path: String, body: String, contentType: String?, origin: String?, token: String?)] = [
                ("no token", 401, "/v1/announce/users", refused, "application/json", nil, nil),
                ("wrong token", 401, "/v1/announce/users", refused, "application/json", nil, "wrong"),
                ("token in the query", 401, "/v1/announce/users?token=\(Self.token)", refused, "application/json", nil, nil),
                ("foreign Origin", 403, "/v1/announce/users", refused, "application/json", "https://evil.example", Self.token),
                ("null Origin", 403, "/v1/announce/users", refused, "application/json", "null", Self.token),
                ("text/plain", 415, "/v1/announce/users", refused, "text/plain", nil, Self.token),
                ("form", 415, "/v1/announce/channel", refused, "application/x-www-form-urlencoded", nil, Self.token),
                ("no Content-Type", 415, "/v1/announce/users", refused, nil, nil, Self.token),
                ("control character", 400, "/v1/announce/users", hostile, "application/json", nil, Self.token),
                (
                    "channel id out of range", 400, "/v1/announce/channel", #"{"channel_id": 1e19, "message": "eA=="}"#, "application/json", nil,
                    Self.token
                ),
            ]
            var answers: [String: String] = [:]
            for item in cases {
                let result = try await send(
                    port: announcePort,
                    item.path,
                    body: item.body,
                    contentType: item.contentType,
                    origin: item.origin,
                    token: item.token
                )
                #expect(result.status == item.expected, "\(item.label): \(result)")
                answers[item.label] = result.body
            }
            #expect(answers["control character"]?.contains("usernames[0]") == true)
            #expect(answers["channel id out of range"]?.contains("channel_id") == true)

            // The same origin is fine; then nothing but the probe and this one arrived.
            let own = try await send(
                port: announcePort,
                "/v1/announce/users",
                body: Self.body(usernames: [user.name], text: "same origin"),
                origin: "http://127.0.0.1:\(announcePort)"
            )
            #expect(own.status == 202, "\(own)")
            let next = try await withTimeout(.seconds(15)) {
                for await stanza in receiver.stanzas where stanza.name == "message" {
                    if let text = stanza.firstChild(named: "body")?.text { return text }
                }
                throw VigilProcess.Failure("the receiver's stream ended")
            }
            #expect(next == "same origin")
            // The receiver may see the message before the Announcer's send returns and counts it.
            let exposition = try await withTimeout(.seconds(5)) {
                while true {
                    let text = try await self.metrics(port: mainPort)
                    if text.contains(#"vigil_announcer_messages_total{result="sent"} 2"#) { return text }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            #expect(exposition.contains(#"vigil_announcer_announcements_total{result="accepted"} 2"#), "\(exposition)")

            // The main listener serves the announce routes only when it is the shared one.
            if !shared {
                #expect(try await send(port: mainPort, "/v1/announce/users", body: refused).status == 404)
            }
            _ = try await vigil.stop()
        } catch {
            _ = try? await vigil.stop(signal: SIGKILL)
            Issue.record("vigil log:\n\((try? String(contentsOf: logFile, encoding: .utf8)) ?? "")\n\(vigil.log)")
            await receiver.disconnect()
            throw error
        }
        await receiver.disconnect()
    }
}
