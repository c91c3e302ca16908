//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import Testing
import VigilXMPP

/// Alerts as XMPP messages: the `vigil` binary's Announcer, logged in to a real Prosody as a
/// component, tells a user logged in with a real client.
@Suite("Alerts over XMPP", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct AlertsXMPPIntegrationTests {
    @Test("A firing alert reaches a Prosody user as a chat message")
    func alertReachesUser() async throws {
        let server = try IntegrationEnvironment.xmppServer("PROSODY", name: "Prosody")
        let user = server.users[0]
        let directory = IntegrationEnvironment.scratchDirectory.appendingPathComponent("alerts-xmpp-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("vigil.toml")
        try """
        [ejabberd]
        cluster_nodes = "\(server.host):\(server.componentPort)"

        [component]
        name = "\(server.componentDomain)"
        secret = "\(server.componentSecret)"
        domain = "\(server.domain)"

        [alerting]
        interval = "1s"
        startup_delay = "0s"
        xmpp_to = ["\(user.name)@\(server.domain)"]

        [[alert]]
        name = "HostWithoutProbe"
        kind = "host"
        absent = "probe_ok"
        severity = "critical"
        summary = "Host {{target}} has no <probe> & no {{rule}}"
        """.write(to: path, atomically: true, encoding: .utf8)
        let receiver = try await server.login(user, resource: "alerts-test", logger: Logger(label: "alerts.test"))
        let vigil = try VigilProcess(arguments: ["serve", "--config", path.path], directory: directory)
        do {
            try await vigil.waitUntilHealthy()
            let message = try await withTimeout(.seconds(20)) {
                for await stanza in receiver.stanzas where stanza.name == "message" {
                    if let body = stanza.firstChild(named: "body")?.text, body.contains("HostWithoutProbe") { return body }
                }
                throw VigilProcess.Failure("the receiver's stream ended")
            }
            #expect(message.hasPrefix("[FIRING critical] Host "))
            #expect(message.hasSuffix(" has no <probe> & no HostWithoutProbe"))
            let metrics = try await vigil.get("/metrics").body
            #expect(metrics.contains(#"vigil_alert_notifications_total{receiver="xmpp",result="success"} 1"#))
            _ = try await vigil.stop()
        } catch {
            _ = try? await vigil.stop(signal: SIGKILL)
            Issue.record("vigil log:\n\(vigil.log)")
            await receiver.disconnect()
            throw error
        }
        await receiver.disconnect()
    }
}
