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

/// The Announcer's XMPP connections as an operator sees them: per-node state gauges and
/// reconnection counters across a server restart, the seed's buffer report line, and STARTTLS on
/// client connections (`[client] tls`, `ca_file`) against a real Prosody with a certificate.
@Suite("Announcer: connection metrics and STARTTLS", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct AnnouncerConnectionsIntegrationTests {
    static let logger = Logger(label: "vigil.announcer.test")
    let base = AnnouncerIntegrationTests()
    let sources = AnnouncerOnlineSourcesIntegrationTests()

    /// Polls `/metrics` until `series` has `value`.
    func waitFor(
        _ vigil: VigilProcess,
        _ series: String,
        _ condition: @escaping @Sendable (Double) -> Bool,
        timeout: Duration = .seconds(20)
    ) async throws {
        do {
            try await withTimeout(timeout) {
                while true {
                    let metrics = try await vigil.get("/metrics").body
                    if let value = AnnouncerOnlineSourcesIntegrationTests.sample(metrics, series), condition(value) { return }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        } catch {
            Issue.record("waiting for \(series); metrics:\n\((try? await vigil.get("/metrics").body) ?? "")")
            throw error
        }
    }

    /// Polls the process log until it holds `text`.
    func waitForLog(_ vigil: VigilProcess, containing text: String, timeout: Duration = .seconds(20)) async throws {
        try await withTimeout(timeout) {
            while !vigil.log.contains(text) { try await Task.sleep(for: .milliseconds(100)) }
        }
    }

    @Test("Metrics show the component connection dropping and coming back when the XMPP server restarts; the buffer report is logged")
    func serverRestart() async throws {
        let prosody = try PrivateProsody()
        try await prosody.start()
        defer { prosody.stop() }
        let node = "127.0.0.1:\(prosody.componentPort)"
        let vigil = try sources.start(
            """
            [store]
            backend = "memory"

            [log]
            log_level = "info"

            [monitoring]
            buffer_report_duration = 1

            [ejabberd]
            cluster_nodes = "\(node)"

            [component]
            name = "\(prosody.componentDomain)"
            secret = "\(prosody.secret)"
            domain = "private.test"
            ping_interval = 30
            conn_req_check_interval = 1
            """
        )
        let connected = #"vigil_announcer_xmpp_connections{node="\#(node)",state="connected"}"#
        let disconnected = #"vigil_announcer_xmpp_connections{node="\#(node)",state="disconnected"}"#
        let disconnects = #"vigil_announcer_xmpp_disconnects_total{node="\#(node)"}"#
        let reconnects = #"vigil_announcer_xmpp_reconnects_total{node="\#(node)"}"#
        try await base.running(vigil, receivers: []) {
            try await vigil.waitUntilHealthy()
            try await waitFor(vigil, connected) { $0 == 1 }
            try await waitForLog(vigil, containing: "Buffer fill length")
            #expect(vigil.log.contains("announcer.input_buffer"))
            let before = AnnouncerOnlineSourcesIntegrationTests.sample(try await vigil.get("/metrics").body, reconnects) ?? -1

            prosody.stop()
            try await waitFor(vigil, connected) { $0 == 0 }
            try await waitFor(vigil, disconnects) { $0 == 1 }
            let down = try await vigil.get("/metrics").body
            #expect(AnnouncerOnlineSourcesIntegrationTests.sample(down, disconnected).map { $0 + (Self.connecting(down, node) ?? 0) } == 1)

            try await prosody.start()
            try await waitFor(vigil, connected) { $0 == 1 }
            try await waitFor(vigil, reconnects) { $0 > before }
            try await waitFor(vigil, disconnected) { $0 == 0 }
        }
    }

    static func connecting(_ metrics: String, _ node: String) -> Double? {
        AnnouncerOnlineSourcesIntegrationTests.sample(metrics, #"vigil_announcer_xmpp_connections{node="\#(node)",state="connecting"}"#)
    }

    func clientConfiguration(_ server: IntegrationEnvironment.XMPPServer, port: Int, tls: String) -> String {
        """
        [store]
        backend = "memory"

        [ejabberd]
        cluster_nodes = "\(server.host):\(port)"
        rate_limit = 50

        [client]
        username = "\(server.users[0].name)"
        password = "\(server.users[0].password)"
        domain = "\(server.domain)"
        resource = "announcer-tls"
        ping_interval = 30
        \(tls)
        """
    }

    @Test("tls = required with the server's CA: the client stream is upgraded with STARTTLS and delivers")
    func startTLS() async throws {
        let server = try IntegrationEnvironment.xmppServer("PROSODY", name: "Prosody")
        let bob = server.users[1]
        let caFile = try IntegrationEnvironment.prosodyCAFile
        let vigil = try sources.start(clientConfiguration(server, port: server.c2sPort, tls: "tls = \"required\"\nca_file = \"\(caFile)\""))
        let receiver = try await server.login(bob, resource: "tls-receiver", logger: Self.logger)
        try await base.running(vigil, receivers: [receiver]) {
            try await vigil.waitUntilHealthy()
            try await waitFor(vigil, #"vigil_announcer_xmpp_connections{node="\#(server.host):\#(server.c2sPort)",state="connected"}"#) { $0 == 1 }
            let accepted = try await vigil.post("/v1/announce/users", json: AnnouncerIntegrationTests.body(usernames: [bob.name], text: "over TLS"))
            #expect(accepted.status == 202, "\(accepted.body)")
            _ = try await base.message(withBody: "over TLS", on: receiver)
        }
    }

    @Test("tls = required without the CA (system roots): the self-signed certificate is refused and nothing connects")
    func untrustedCertificate() async throws {
        let server = try IntegrationEnvironment.xmppServer("PROSODY", name: "Prosody")
        let vigil = try sources.start(clientConfiguration(server, port: server.c2sPort, tls: "tls = \"required\""))
        try await base.running(vigil, receivers: []) {
            try await vigil.waitUntilHealthy()
            try await waitForLog(vigil, containing: "XMPP connect failed")
            #expect(vigil.log.contains("TLS"), "\(vigil.log)")
            let metrics = try await vigil.get("/metrics").body
            #expect(
                AnnouncerOnlineSourcesIntegrationTests.sample(
                    metrics,
                    #"vigil_announcer_xmpp_connections{node="\#(server.host):\#(server.c2sPort)",state="connected"}"#
                ) == 0
            )
        }
    }

    @Test("tls = required against a server without STARTTLS (ejabberd without certificates) fails clearly; if_offered logs in in plain text")
    func serverWithoutTLS() async throws {
        let server = try IntegrationEnvironment.xmppServer("EJABBERD", name: "ejabberd")
        let node = #"vigil_announcer_xmpp_connections{node="\#(server.host):\#(server.c2sPort)",state="connected"}"#
        let vigil = try sources.start(clientConfiguration(server, port: server.c2sPort, tls: "tls = \"required\""))
        try await base.running(vigil, receivers: []) {
            try await vigil.waitUntilHealthy()
            try await waitForLog(vigil, containing: "the server does not offer STARTTLS")
            #expect(AnnouncerOnlineSourcesIntegrationTests.sample(try await vigil.get("/metrics").body, node) == 0)
        }
        // if_offered goes on without TLS, and the same account logs in.
        let plain = try sources.start(clientConfiguration(server, port: server.c2sPort, tls: "tls = \"if_offered\""))
        try await base.running(plain, receivers: []) {
            try await plain.waitUntilHealthy()
            try await waitFor(plain, node) { $0 == 1 }
            #expect(!plain.log.contains("does not offer STARTTLS"), "\(plain.log)")
        }
    }
}
