//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import NIOCore
import NIOEmbedded
import Testing
import VigilSASL

@testable import VigilXMPP

/// A handler on an `EmbeddedChannel` with a scripted server on the other side.
private struct Harness {
    let channel: EmbeddedChannel
    let handler: XMPPChannelHandler
    let stanzas: AsyncStream<XMLElement>

    init(
        role: XMPPConnectionConfiguration.Role,
        tls: XMPPConnectionConfiguration.TLS = .disabled,
        pingInterval: Duration? = nil,
        clientNonce: String = "nonce"
    ) throws {
        let configuration = XMPPConnectionConfiguration(
            host: "127.0.0.1",
            port: 5347,
            role: role,
            tls: tls,
            pingInterval: pingInterval,
            pingTimeout: .seconds(5),
            iqTimeout: .seconds(3)
        )
        let (stanzas, continuation) = AsyncStream.makeStream(of: XMLElement.self)
        let channel = EmbeddedChannel()
        let handler = XMPPChannelHandler(
            configuration: configuration,
            eventLoop: channel.eventLoop,
            incoming: continuation,
            logger: Logger(label: "test"),
            clientNonce: clientNonce
        )
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 5347)).wait()
        self.channel = channel
        self.handler = handler
        self.stanzas = stanzas
    }

    /// Everything the client wrote since the last call, as one string.
    func sent() throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    func serverSends(_ xml: String) throws {
        try channel.writeInbound(ByteBuffer(string: xml))
    }

    var establishedResult: Result<XMPPChannelHandler.Established, any Error>? {
        var result: Result<XMPPChannelHandler.Established, any Error>?
        handler.established.futureResult.assumeIsolated().whenComplete { result = $0 }
        return result
    }

    var closeReason: XMPPClientError? {
        var reason: XMPPClientError?
        handler.closed.futureResult.assumeIsolated().whenSuccess { reason = $0 }
        return reason
    }
}

private let componentHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams'"
    + " id='3BF96D32' from='announcer.example.test'>"
private let plainFeatures =
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms>"
    + "</stream:features>"
private let serverClientHeader =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='c2s-1' from='example.test' version='1.0'>"

@Suite struct XMPPChannelHandlerTests {
    @Test func handshakeDigestMatchesAnIndependentSHA1() {
        // Computed with Python's hashlib: sha1(b"3BF96D32" + b"Calli0pe").hexdigest().
        #expect(componentHandshakeDigest(streamID: "3BF96D32", secret: "Calli0pe") == "8b94cc5c235519be4871b3a17be65c5538d88f63")
    }

    @Test func componentHandshakeSucceeds() async throws {
        let harness = try Harness(role: .component(domain: "announcer.example.test", secret: "Calli0pe"))
        let header = try harness.sent()
        #expect(header.contains("xmlns='jabber:component:accept'") && header.contains("to='announcer.example.test'"))
        try harness.serverSends(componentHeader)
        #expect(try harness.sent() == "<handshake>8b94cc5c235519be4871b3a17be65c5538d88f63</handshake>")
        #expect(harness.establishedResult == nil)
        try harness.serverSends("<handshake/>")
        let established = try #require(try harness.establishedResult?.get())
        #expect(established.jid == "announcer.example.test" && established.streamID == "3BF96D32")

        // Stanzas, including error bounces, reach the stream; server pings are answered.
        try harness.serverSends(
            "<message type='error' from='nobody@example.test' to='announcer.example.test'><error type='cancel'>"
                + "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
                + "<iq type='get' id='p1' from='example.test' to='announcer.example.test'><ping xmlns='urn:xmpp:ping'/></iq>"
        )
        #expect(try harness.sent() == "<iq type='result' id='p1' to='example.test' from='announcer.example.test'/>")
        var iterator = harness.stanzas.makeAsyncIterator()
        let bounce = try #require(await iterator.next())
        #expect(bounce[attribute: "type"] == "error")
        #expect(XMPPChannelHandler.StateMachine.stanzaErrorCondition(bounce) == "service-unavailable")
        _ = try harness.channel.finish()
    }

    @Test func componentWrongSecretIsAuthenticationFailed() throws {
        let harness = try Harness(role: .component(domain: "announcer.example.test", secret: "wrong"))
        _ = try harness.sent()
        try harness.serverSends(componentHeader)
        _ = try harness.sent()
        try harness.serverSends(
            "<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"
        )
        #expect(throws: XMPPClientError.self) { try harness.establishedResult?.get() }
        let reason = try #require(harness.closeReason)
        #expect(reason.errorCode == .authenticationFailed && reason.condition == "not-authorized")
        #expect(!harness.channel.isActive)
    }

    @Test func clientPlainBindAndPresence() throws {
        let harness = try Harness(role: .client(domain: "example.test", username: "alice", password: "alicepw", resource: "vigil"))
        #expect(try harness.sent().contains("xmlns='jabber:client'"))
        try harness.serverSends(
            serverClientHeader
                + plainFeatures
        )
        // base64("\0alice\0alicepw")
        #expect(try harness.sent() == "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAGFsaWNlcHc=</auth>")
        try harness.serverSends("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        #expect(try harness.sent().hasPrefix("<?xml version='1.0'?><stream:stream xmlns='jabber:client'"))
        try harness.serverSends(
            serverClientHeader
                + "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"
                + "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session></stream:features>"
        )
        #expect(
            try harness.sent()
                == "<iq type='set' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>vigil</resource></bind></iq>"
        )
        try harness.serverSends(
            "<iq type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@example.test/vigil</jid></bind></iq>"
        )
        #expect(try harness.sent() == "<presence/>")
        #expect(try harness.establishedResult?.get().jid == "alice@example.test/vigil")
        _ = try harness.channel.finish()
    }

    @Test func clientSASLFailure() throws {
        let harness = try Harness(role: .client(domain: "example.test", username: "alice", password: "bad", resource: nil))
        _ = try harness.sent()
        try harness.serverSends(
            serverClientHeader
                + plainFeatures
                + "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/><text>Invalid</text></failure>"
        )
        let reason = try #require(harness.closeReason)
        #expect(reason.errorCode == .authenticationFailed && reason.condition == "not-authorized" && reason.message == "Invalid")
    }

    @Test func clientRefusesRequiredTLSAndUnknownMechanisms() throws {
        let tls = try Harness(role: .client(domain: "example.test", username: "a", password: "b", resource: nil))
        try tls.serverSends(
            serverClientHeader + "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"
        )
        #expect(tls.closeReason?.errorCode == .tlsRequired)
        let other = try Harness(role: .client(domain: "example.test", username: "a", password: "b", resource: nil))
        try other.serverSends(
            serverClientHeader
                + plainFeatures.replacing("PLAIN", with: "X-OAUTH2")
        )
        #expect(other.closeReason?.errorCode == .noSupportedMechanism)
    }

    @Test func startTLSPutsTheTLSHandlerInFrontAndRestartsTheStreamThroughIt() throws {
        let harness = try Harness(
            role: .client(domain: "example.test", username: "a", password: "b", resource: nil),
            tls: .ifOffered { serverName in
                #expect(serverName == "example.test")
                return FakeTLSHandler()
            }
        )
        _ = try harness.sent()
        try harness.serverSends(
            serverClientHeader
                + "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
                + "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
        )
        #expect(try harness.sent() == "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        try harness.serverSends("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        // The new stream header went through the TLS handler, which marks what it wrote.
        let restarted = try harness.sent()
        #expect(restarted.hasPrefix("TLS[<?xml version='1.0'?><stream:stream xmlns='jabber:client'"))
        // The secured stream negotiates SASL, not STARTTLS again.
        try harness.serverSends(
            serverClientHeader
                + plainFeatures
        )
        #expect(try harness.sent() == "TLS[<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>]")
        #expect(harness.channel.isActive)
    }

    @Test func startTLSStateMachineRestartsTheStreamAndThenAuthenticates() {
        var machine = XMPPChannelHandler.StateMachine(
            role: .client(domain: "example.test", username: "a", password: "b", resource: nil),
            sendInitialPresence: false,
            clientNonce: "n",
            tlsPolicy: .required
        )
        _ = machine.start()
        let header = XMLElement(name: "stream", namespace: XMPPNamespace.stream, attributes: ["id": "s1"])
        #expect(machine.streamOpened(header).isEmpty)
        let starttls = XMLElement(name: "starttls", namespace: XMPPNamespace.tls)
        let mechanisms = XMLElement(
            name: "mechanisms",
            namespace: XMPPNamespace.sasl,
            children: [
                .element(XMLElement(name: "mechanism", namespace: XMPPNamespace.sasl, children: [.text("PLAIN")]))
            ]
        )
        let features = XMLElement(name: "features", namespace: XMPPNamespace.stream, children: [.element(starttls), .element(mechanisms)])
        #expect(machine.received(features) == [.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")])
        #expect(
            machine.received(XMLElement(name: "proceed", namespace: XMPPNamespace.tls))
                == [.startTLS, .restartStream(header: machine.streamHeader)]
        )
        #expect(machine.streamOpened(header).isEmpty)
        // After TLS the same features no longer lead to STARTTLS but to SASL.
        let auth = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>"
        #expect(machine.received(features) == [.send(auth)])
    }

    @Test func requiredTLSFailsWhenNotOfferedOrRefused() {
        let role = XMPPConnectionConfiguration.Role.client(domain: "example.test", username: "a", password: "b", resource: nil)
        let header = XMLElement(name: "stream", namespace: XMPPNamespace.stream, attributes: ["id": "s1"])
        var machine = XMPPChannelHandler.StateMachine(role: role, sendInitialPresence: false, clientNonce: "n", tlsPolicy: .required)
        _ = machine.start()
        _ = machine.streamOpened(header)
        let plainOnly = XMLElement(name: "features", namespace: XMPPNamespace.stream)
        #expect(machine.received(plainOnly) == [.fail(.init(error: XMPPClientError(.tlsRequired)))])
        var refused = XMPPChannelHandler.StateMachine(role: role, sendInitialPresence: false, clientNonce: "n", tlsPolicy: .ifOffered)
        _ = refused.start()
        _ = refused.streamOpened(header)
        let offered = XMLElement(
            name: "features",
            namespace: XMPPNamespace.stream,
            children: [
                .element(XMLElement(name: "starttls", namespace: XMPPNamespace.tls))
            ]
        )
        _ = refused.received(offered)
        let failure = XMLElement(name: "failure", namespace: XMPPNamespace.tls)
        #expect(refused.received(failure) == [.fail(.init(error: XMPPClientError(.tlsRequired)))])
    }

    /// RFC 5802 §5 example exchange (user "user", password "pencil").
    @Test func scramSHA1MatchesRFC5802() throws {
        var scram = SCRAMClient(hash: .sha1, username: "user", password: "pencil", clientNonce: "fyko+d2lbbFgONRv9qkxdawL")
        #expect(scram.clientFirstMessage == "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL")
        let final = try scram.clientFinalMessage(
            serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
        )
        #expect(final == "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=")
        #expect(scram.verify(serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="))
        #expect(!scram.verify(serverFinal: "v=AAAAAAAAAAAAAAAAAAAAAAAAAAA="))
    }

    @Test func clientSCRAMFlowThroughTheHandler() throws {
        let harness = try Harness(
            role: .client(domain: "example.test", username: "user", password: "pencil", resource: nil),
            clientNonce: "fyko+d2lbbFgONRv9qkxdawL"
        )
        _ = try harness.sent()
        try harness.serverSends(
            serverClientHeader
                + "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
                + "<mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>"
        )
        let auth = try harness.sent()
        let clientFirst = Base64.encode(Array("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL".utf8))
        #expect(auth == "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>\(clientFirst)</auth>")
        let serverFirst = Base64.encode(Array("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096".utf8))
        try harness.serverSends("<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\(serverFirst)</challenge>")
        let clientFinal = Base64.encode(Array("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=".utf8))
        #expect(try harness.sent() == "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\(clientFinal)</response>")
        // A success with a wrong server signature must not be trusted.
        let forged = Base64.encode(Array("v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=".utf8))
        try harness.serverSends("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\(forged)</success>")
        #expect(harness.closeReason?.errorCode == .authenticationFailed)
    }

    @Test func iqResponsesMatchByIDAndTimeOut() throws {
        let harness = try Harness(role: .component(domain: "announcer.example.test", secret: "s"))
        try harness.serverSends(componentHeader + "<handshake/>")
        _ = try harness.sent()
        let first = harness.channel.eventLoop.makePromise(of: XMLElement.self)
        let second = harness.channel.eventLoop.makePromise(of: XMLElement.self)
        let query = XMLElement(name: "iq", namespace: "jabber:component:accept", attributes: ["type": "get", "to": "example.test"])
        harness.handler.sendIQ(query, timeout: .seconds(3), promise: first)
        harness.handler.sendIQ(query, timeout: .seconds(3), promise: second)
        #expect(try harness.sent() == "<iq type='get' to='example.test' id='vigil-1'/><iq type='get' to='example.test' id='vigil-2'/>")
        try harness.serverSends(
            "<iq type='error' id='vigil-2'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
        )
        var secondError: XMPPClientError?
        second.futureResult.assumeIsolated().whenFailure { secondError = $0 as? XMPPClientError }
        #expect(secondError?.errorCode == .iqError && secondError?.condition == "item-not-found")
        var firstError: XMPPClientError?
        first.futureResult.assumeIsolated().whenFailure { firstError = $0 as? XMPPClientError }
        #expect(firstError == nil)
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(firstError?.errorCode == .iqTimeout)
        #expect(harness.channel.isActive)
    }

    @Test func unansweredKeepAlivePingClosesTheConnection() throws {
        let harness = try Harness(
            role: .client(domain: "example.test", username: "a", password: "b", resource: nil),
            pingInterval: .seconds(30)
        )
        try harness.serverSends(
            serverClientHeader
                + plainFeatures
                + "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" + serverClientHeader
                + "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
                + "<iq type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>a@example.test/x</jid></bind></iq>"
        )
        _ = try harness.sent()
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(try harness.sent() == "<iq type='get' to='example.test' id='vigil-1'><ping xmlns='urn:xmpp:ping'/></iq>")
        try harness.serverSends("<iq type='result' id='vigil-1' from='example.test'/>")
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(try harness.sent() == "<iq type='get' to='example.test' id='vigil-2'><ping xmlns='urn:xmpp:ping'/></iq>")
        #expect(harness.channel.isActive)
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(harness.closeReason?.errorCode == .keepAliveTimeout)
        #expect(!harness.channel.isActive)
    }

    @Test func closingWaitsForTheServersCloseTagOrTwoSeconds() throws {
        let polite = try Harness(role: .component(domain: "announcer.example.test", secret: "s"))
        try polite.serverSends(componentHeader + "<handshake/>")
        _ = try polite.sent()
        polite.handler.closeStream()
        #expect(try polite.sent() == "</stream:stream>")
        #expect(polite.channel.isActive)
        let refused = polite.channel.eventLoop.makePromise(of: Void.self)
        polite.handler.send(raw: ByteBuffer(string: "<presence/>"), promise: refused)
        var sendError: XMPPClientError?
        refused.futureResult.assumeIsolated().whenFailure { sendError = $0 as? XMPPClientError }
        #expect(sendError?.errorCode == .shutdown)
        try polite.serverSends("</stream:stream>")
        #expect(!polite.channel.isActive)
        #expect(polite.closeReason?.errorCode == .shutdown)

        let silent = try Harness(role: .component(domain: "announcer.example.test", secret: "s"))
        try silent.serverSends(componentHeader + "<handshake/>")
        silent.handler.closeStream()
        silent.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!silent.channel.isActive)
    }

    @Test func serverCloseIsAnswered() throws {
        let harness = try Harness(role: .component(domain: "announcer.example.test", secret: "s"))
        try harness.serverSends(componentHeader + "<handshake/>")
        _ = try harness.sent()
        try harness.serverSends("</stream:stream>")
        #expect(try harness.sent() == "</stream:stream>")
        #expect(harness.closeReason?.errorCode == .connectionClosed)
    }

    @Test func malformedXMLFromTheServerClosesTheConnection() throws {
        let harness = try Harness(role: .component(domain: "announcer.example.test", secret: "s"))
        try harness.serverSends(componentHeader + "<handshake/><message><!-- no --></message>")
        let reason = try #require(harness.closeReason)
        #expect(reason.errorCode == .malformedXML)
        #expect((reason.underlyingError as? XMLDecodeError)?.code == .comment)
    }

    @Test func base64RoundTrips() {
        for length in 0..<20 {
            let bytes = (0..<length).map { UInt8(($0 * 37 + 11) % 256) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
        #expect(Base64.encode(Array("pencil".utf8)) == "cGVuY2ls")
        #expect(Base64.decode("cGVuY2ls=") == nil)
        #expect(Base64.decode("cG!u") == nil)
    }
}

/// Stands in for a TLS handler: wraps every write in `TLS[...]` so tests can see what went through it.
private final class FakeTLSHandler: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        context.write(wrapOutboundOut(ByteBuffer(string: "TLS[\(String(buffer: buffer))]")), promise: promise)
    }
}
