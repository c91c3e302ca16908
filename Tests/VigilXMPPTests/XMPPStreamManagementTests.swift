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

@testable import VigilXMPP

/// XEP-0198 on a client stream and XEP-0199 delivery confirmation, on an `EmbeddedChannel` with a
/// scripted server.
@Suite struct XMPPStreamManagementTests {
    private static let header =
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='c2s-1' from='example.test' version='1.0'>"
    private static let boundFeatures =
        "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><sm xmlns='urn:xmpp:sm:3'/></stream:features>"

    private final class Fixture {
        let channel = EmbeddedChannel()
        let handler: XMPPChannelHandler

        init(streamManagement: Bool = true, offered: Bool = true, role client: Bool = true) throws {
            var configuration = XMPPConnectionConfiguration(
                host: "127.0.0.1",
                port: 5222,
                role: client
                    ? .client(domain: "example.test", username: "a", password: "b", resource: "r")
                    : .component(domain: "announcer.example.test", secret: "s"),
                pingInterval: nil,
                pingTimeout: .seconds(5),
                sendInitialPresence: false
            )
            configuration.streamManagement = streamManagement
            let (_, continuation) = AsyncStream.makeStream(of: XMLElement.self)
            handler = XMPPChannelHandler(
                configuration: configuration,
                eventLoop: channel.eventLoop,
                incoming: continuation,
                logger: Logger(label: "test")
            )
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 5222)).wait()
            guard client else {
                try serverSends(
                    "<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='x1'><handshake/>"
                )
                _ = try sent()
                return
            }
            try serverSends(
                Self.header
                    + "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
                    + "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" + Self.header
                    + (offered
                        ? XMPPStreamManagementTests.boundFeatures
                        : "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>")
                    + "<iq type='result' id='bind-1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>a@example.test/r</jid></bind></iq>"
            )
        }

        static var header: String { XMPPStreamManagementTests.header }

        func sent() throws -> String {
            var text = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
            return text
        }

        func serverSends(_ xml: String) throws { try channel.writeInbound(ByteBuffer(string: xml)) }

        var isEstablished: Bool {
            var done = false
            handler.established.futureResult.assumeIsolated().whenSuccess { _ in done = true }
            return done
        }

        var closeReason: XMPPClientError? {
            var reason: XMPPClientError?
            handler.closed.futureResult.assumeIsolated().whenSuccess { reason = $0 }
            return reason
        }

        func send(_ stanza: String) { handler.send(raw: ByteBuffer(string: stanza), promise: nil) }

        /// Asks for a confirmation; the returned closure tells its outcome so far.
        func confirm() -> () -> Result<Void, any Error>? {
            let promise = channel.eventLoop.makePromise(of: Void.self)
            handler.confirmDelivery(promise: promise)
            var outcome: Result<Void, any Error>?
            promise.futureResult.assumeIsolated().whenComplete { outcome = $0 }
            return { outcome }
        }
    }

    @Test func enablesWhenOfferedCountsStanzasAndConfirmsByAcknowledgement() throws {
        let fixture = try Fixture()
        #expect(try fixture.sent().hasSuffix("<enable xmlns='urn:xmpp:sm:3'/>"))
        #expect(!fixture.isEstablished)
        try fixture.serverSends("<enabled xmlns='urn:xmpp:sm:3'/>")
        #expect(fixture.isEstablished)
        var enabled: Bool?
        fixture.handler.established.futureResult.assumeIsolated().whenSuccess { enabled = $0.streamManagement }
        #expect(enabled == true)
        fixture.send("<message to='x@example.test'/>")
        fixture.send("<message to='y@example.test'/>")
        _ = try fixture.sent()
        let outcome = fixture.confirm()
        #expect(try fixture.sent() == "<r xmlns='urn:xmpp:sm:3'/>")
        // An acknowledgement of the first only is not enough; the second completes it.
        try fixture.serverSends("<a xmlns='urn:xmpp:sm:3' h='1'/>")
        #expect(outcome() == nil)
        try fixture.serverSends("<a xmlns='urn:xmpp:sm:3' h='2'/>")
        #expect(throws: Never.self) { try outcome()?.get() }
        #expect(outcome() != nil)
        // Nothing new written: a confirmation completes at once, without a request.
        let again = fixture.confirm()
        #expect(again() != nil)
        #expect(try fixture.sent() == "")
        // The server's requests are answered with the stanzas received and handled (one message).
        try fixture.serverSends("<message from='z@example.test'><body>hi</body></message><r xmlns='urn:xmpp:sm:3'/>")
        #expect(try fixture.sent() == "<a xmlns='urn:xmpp:sm:3' h='1'/>")
        _ = try fixture.channel.finish()
    }

    @Test func missingAcknowledgementClosesTheStreamAndFailsTheConfirmation() throws {
        let fixture = try Fixture()
        try fixture.serverSends("<enabled xmlns='urn:xmpp:sm:3'/>")
        fixture.send("<message to='x@example.test'/>")
        let outcome = fixture.confirm()
        fixture.channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(fixture.closeReason?.errorCode == .keepAliveTimeout)
        #expect((try? outcome()?.get()) == nil && outcome() != nil)
    }

    @Test func malformedAcknowledgementsCloseTheStream() throws {
        for bad in [
            "<a xmlns='urn:xmpp:sm:3'/>", "<a xmlns='urn:xmpp:sm:3' h='-1'/>", "<a xmlns='urn:xmpp:sm:3' h='9'/>", "<x xmlns='urn:xmpp:sm:3'/>",
        ] {
            let fixture = try Fixture()
            try fixture.serverSends("<enabled xmlns='urn:xmpp:sm:3'/>")
            fixture.send("<message to='x@example.test'/>")
            try fixture.serverSends(bad)
            #expect(fixture.closeReason?.errorCode == .protocolError, "\(bad)")
        }
    }

    @Test func refusedOrNotOfferedFallsBackToAPingRoundTrip() throws {
        for (offered, refused) in [(true, true), (false, false)] {
            let fixture = try Fixture(offered: offered)
            if refused {
                #expect(try fixture.sent().hasSuffix("<enable xmlns='urn:xmpp:sm:3'/>"))
                try fixture.serverSends("<failed xmlns='urn:xmpp:sm:3'/>")
            } else {
                #expect(!(try fixture.sent().contains("enable")))
            }
            #expect(fixture.isEstablished)
            fixture.send("<message to='x@example.test'/>")
            _ = try fixture.sent()
            let outcome = fixture.confirm()
            #expect(try fixture.sent() == "<iq type='get' to='example.test' id='vigil-1'><ping xmlns='urn:xmpp:ping'/></iq>")
            #expect(outcome() == nil)
            try fixture.serverSends("<iq type='result' id='vigil-1' from='example.test'/>")
            #expect(outcome() != nil && (try? outcome()?.get()) != nil)
        }
    }

    @Test func componentsConfirmByPing() throws {
        let fixture = try Fixture(role: false)
        fixture.send("<message to='x@example.test' from='announcer.example.test'/>")
        _ = try fixture.sent()
        let outcome = fixture.confirm()
        #expect(try fixture.sent().contains("<ping xmlns='urn:xmpp:ping'/>"))
        try fixture.serverSends("<iq type='result' id='vigil-1' from='example.test' to='announcer.example.test'/>")
        #expect(outcome() != nil)
    }

    @Test func disabledStreamManagementIsNotEnabled() throws {
        let fixture = try Fixture(streamManagement: false)
        #expect(!(try fixture.sent().contains("enable")))
        #expect(fixture.isEstablished)
    }

    @Test func acknowledgementCountsCompareModulo2To32() {
        #expect(XMPPChannelHandler.isAcknowledged(5, handled: 5))
        #expect(!XMPPChannelHandler.isAcknowledged(6, handled: 5))
        #expect(XMPPChannelHandler.isAcknowledged(UInt32.max, handled: 2))
        #expect(!XMPPChannelHandler.isAcknowledged(2, handled: UInt32.max))
    }
}
