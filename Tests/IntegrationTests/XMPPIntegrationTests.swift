//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOSSL
import ServiceLifecycle
import Testing
import VigilClientSupport
import VigilXMPP

@Suite("XMPP connections against Prosody", .enabled(if: IntegrationEnvironment.enabled))
struct XMPPIntegrationTests {
    @Test("A component completes the XEP-0114 handshake")
    func componentHandshake() async throws {
        let domain = try IntegrationEnvironment.prosodyComponentDomain
        try await XMPPTestSupport.withConnection(try XMPPTestSupport.component()) { connection in
            #expect(connection.jid == domain)
            #expect(!connection.streamID.isEmpty)
        }
    }

    @Test("A wrong component secret is rejected with not-authorized")
    func componentWrongSecret() async throws {
        let configuration = try XMPPTestSupport.component(secret: "not-the-secret")
        let error = await #expect(throws: XMPPClientError.self) {
            _ = try await XMPPConnection.connect(configuration: configuration, logger: XMPPTestSupport.logger)
        }
        #expect(error?.errorCode == .authenticationFailed)
        #expect(error?.condition == "not-authorized")
    }

    @Test("A client logs in with SASL and binds its resource")
    func clientLogin() async throws {
        let domain = try IntegrationEnvironment.prosodyDomain
        let user = try IntegrationEnvironment.prosodyUsers[0].name
        try await XMPPTestSupport.withConnection(try XMPPTestSupport.client(user: 0, resource: "login")) { connection in
            #expect(connection.jid == "\(user)@\(domain)/login")
        }
    }

    @Test("A client upgrades to TLS with STARTTLS, then logs in")
    func clientSTARTTLS() async throws {
        var configuration = try XMPPTestSupport.client(user: 1, resource: "tls")
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(try IntegrationEnvironment.prosodyCAFile)
        let trusting = try NIOSSLContext(configuration: tls)
        configuration.tls = .required { try NIOSSLClientHandler(context: trusting, serverHostname: $0) }
        let user = try IntegrationEnvironment.prosodyUsers[1].name
        try await XMPPTestSupport.withConnection(configuration) { connection in
            #expect(connection.jid.hasPrefix("\(user)@"))
            try await connection.ping()
        }
        // The self-signed certificate is not trusted by default: the handshake must fail.
        let systemRoots = try NIOSSLContext(configuration: .makeClientConfiguration())
        configuration.tls = .required { try NIOSSLClientHandler(context: systemRoots, serverHostname: $0) }
        let untrusted = configuration
        await #expect(throws: XMPPClientError.self) {
            _ = try await XMPPConnection.connect(configuration: untrusted, logger: XMPPTestSupport.logger)
        }
    }

    @Test("A wrong password fails authentication")
    func clientWrongPassword() async throws {
        let configuration = try XMPPTestSupport.client(user: 0, password: "wrong", resource: "bad")
        let error = await #expect(throws: XMPPClientError.self) {
            _ = try await XMPPConnection.connect(configuration: configuration, logger: XMPPTestSupport.logger)
        }
        #expect(error?.errorCode == .authenticationFailed)
        #expect(error?.condition == "not-authorized")
    }

    @Test("A pre-rendered message from the component reaches the user's client connection")
    func componentToClientMessage() async throws {
        let componentDomain = try IntegrationEnvironment.prosodyComponentDomain
        let componentConfiguration = try XMPPTestSupport.component()
        let marker = UUID().uuidString
        try await XMPPTestSupport.withConnection(try XMPPTestSupport.client(user: 0, resource: "receiver")) { alice in
            let aliceJID = alice.jid
            try await XMPPTestSupport.withConnection(componentConfiguration) { component in
                try await component.send(
                    rawStanza: "<message to='\(aliceJID)' from='announcer@\(componentDomain)/vigil' type='chat'>"
                        + "<body>Alert &amp; \(marker) é</body></message>"
                )
            }
            let message = try await XMPPTestSupport.first(in: alice.stanzas) { $0.name == "message" && $0.firstChild(named: "body") != nil }
            #expect(message.firstChild(named: "body")?.text == "Alert & \(marker) é")
            #expect(message[attribute: "from"] == "announcer@\(componentDomain)/vigil")
        }
    }

    @Test("A message to a user that does not exist bounces with type='error'")
    func bounce() async throws {
        let domain = try IntegrationEnvironment.prosodyDomain
        let componentDomain = try IntegrationEnvironment.prosodyComponentDomain
        try await XMPPTestSupport.withConnection(try XMPPTestSupport.component()) { component in
            var message = XMLElement(name: "message", namespace: "jabber:component:accept", attributes: ["type": "chat"])
            message[attribute: "to"] = "nobody-\(UUID().uuidString.prefix(8).lowercased())@\(domain)"
            message[attribute: "from"] = "announcer@\(componentDomain)"
            message[attribute: "id"] = "bounce-1"
            message.children = [.element(XMLElement(name: "body", namespace: "jabber:component:accept", children: [.text("hello")]))]
            try await component.send(message)
            let bounce = try await XMPPTestSupport.first(in: component.stanzas) { $0.name == "message" && $0[attribute: "id"] == "bounce-1" }
            #expect(bounce[attribute: "type"] == "error")
            let condition = bounce.firstChild(named: "error")?.elements.first { $0.namespace == XMPPNamespace.stanzaErrors }?.name
            #expect(condition == "service-unavailable")
        }
    }

    @Test("XEP-0199 pings are answered on component and client connections")
    func pingRoundTrip() async throws {
        try await XMPPTestSupport.withConnection(try XMPPTestSupport.component()) { component in
            try await component.ping()
        }
        try await XMPPTestSupport.withConnection(try XMPPTestSupport.client(user: 1, resource: "ping")) { client in
            try await client.ping()
            let domain = try IntegrationEnvironment.prosodyDomain
            let disco = XMLElement(
                name: "iq",
                namespace: "jabber:client",
                attributes: ["type": "get", "to": domain],
                children: [
                    .element(XMLElement(name: "query", namespace: "http://jabber.org/protocol/disco#info"))
                ]
            )
            let result = try await client.sendIQ(disco)
            #expect(result[attribute: "type"] == "result")
            #expect(result.firstChild(named: "query")?.elements.contains { $0[attribute: "var"] == "urn:xmpp:ping" } == true)
        }
    }

    @Test("Periodic keep-alive pings keep the connection up")
    func keepAlive() async throws {
        let configuration = try XMPPTestSupport.component(pingInterval: .milliseconds(200))
        try await XMPPTestSupport.withConnection(configuration) { component in
            // Several ping intervals pass; every ping must be answered or the connection closes.
            try await Task.sleep(for: .seconds(1))
            try await component.ping()
        }
    }

    @Test("XMPPClient in a ServiceGroup closes its stream on graceful shutdown")
    func gracefulShutdown() async throws {
        let client = XMPPClient(configuration: XMPPClientConfiguration(connection: try XMPPTestSupport.component()), logger: XMPPTestSupport.logger)
        let group = ServiceGroup(configuration: .init(services: [client], logger: XMPPTestSupport.logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let connection = try await withTimeout(.seconds(10)) { try await client.waitUntilConnected() }
            await group.triggerGracefulShutdown()
            try await tasks.next()
            let reason = await connection.waitUntilClosed()
            #expect(reason.errorCode == .shutdown)
            #expect(client.connection == nil)
        }
    }

    @Test("XMPPClient reconnects after the server restarts")
    func reconnectAfterRestart() async throws {
        let prosody = try PrivateProsody()
        try await prosody.start()
        defer { prosody.stop() }
        var configuration = XMPPClientConfiguration(connection: prosody.configuration)
        configuration.backoff = .init(initialDelay: .milliseconds(100), maximumDelay: .milliseconds(500))
        let client = XMPPClient(configuration: configuration, logger: XMPPTestSupport.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            let first = try await withTimeout(.seconds(10)) { try await client.waitUntilConnected() }
            prosody.stop()
            #expect(await first.waitUntilClosed().errorCode != .shutdown)
            try await prosody.start()
            let second = try await withTimeout(.seconds(15)) {
                while true {
                    if let connection = client.connection, connection.streamID != first.streamID { return connection }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            try await second.ping()
            // The client's stanza stream continues across connections: a bounce arrives on it.
            try await client.send(
                rawStanza: "<message id='after-restart' from='\(prosody.componentDomain)' to='nobody@private.test'><body>x</body></message>"
            )
            let bounce = try await XMPPTestSupport.first(in: client.stanzas) { $0[attribute: "id"] == "after-restart" }
            #expect(bounce[attribute: "type"] == "error")
            group.cancelAll()
        }
    }
}
