//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import NIOCore
import VigilSASL

/// Drives one XMPP stream on a channel: parses incoming bytes, runs stream negotiation through
/// ``StateMachine``, answers server pings, sends keep-alive pings, matches IQ responses to requests
/// and hands every other stanza to the connection's stanza stream.
///
/// The handler drives ``XMPPStreamParser`` itself rather than sitting behind a
/// `ByteToMessageHandler`, because a stream restart after SASL must reset the parser synchronously
/// while keeping the bytes already buffered.
final class XMPPChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Established: Sendable {
        var jid: String
        var streamID: String
        /// Whether XEP-0198 stream management was enabled.
        var streamManagement = false
    }

    private struct PendingIQ {
        var promise: EventLoopPromise<XMLElement>
        var timeout: Scheduled<Void>
    }

    /// A ``confirmDelivery(promise:)`` waiting for the server to acknowledge stanza `target`.
    private struct PendingAck {
        var target: UInt32
        var promise: EventLoopPromise<Void>
        var timeout: Scheduled<Void>
    }

    let configuration: XMPPConnectionConfiguration
    let logger: Logger
    /// Completed when negotiation finishes, failed if the connection closes before.
    let established: EventLoopPromise<Established>
    /// Succeeded with the reason when the channel closes.
    let closed: EventLoopPromise<XMPPClientError>
    private let incoming: AsyncStream<XMLElement>.Continuation
    private var stateMachine: StateMachine
    private var parser: XMPPStreamParser
    private var buffer = ByteBuffer()
    private var context: ChannelHandlerContext?
    private var pending: [String: PendingIQ] = [:]
    private var nextID = 0
    private var negotiationTimeout: Scheduled<Void>?
    private var pingTimer: Scheduled<Void>?
    private var closeReason: XMPPClientError?
    /// Set once the client has sent `</stream:stream>` and waits for the server's.
    private var closingReason: XMPPClientError?
    private var closeTimer: Scheduled<Void>?
    private var isEstablished = false
    /// XEP-0198 counters (modulo 2^32, as the protocol counts): stanzas written since `<enable/>`,
    /// stanzas the server has acknowledged, and stanzas received and handled.
    private var streamManagementOn = false
    private var outboundCount: UInt32 = 0
    private var acknowledgedCount: UInt32 = 0
    private var inboundHandled: UInt32 = 0
    private var pendingAcks: [PendingAck] = []

    init(
        configuration: XMPPConnectionConfiguration,
        eventLoop: any EventLoop,
        incoming: AsyncStream<XMLElement>.Continuation,
        logger: Logger,
        clientNonce: String = XMPPChannelHandler.makeNonce()
    ) {
        self.configuration = configuration
        self.logger = logger
        self.incoming = incoming
        self.established = eventLoop.makePromise()
        self.closed = eventLoop.makePromise()
        self.parser = XMPPStreamParser(limits: configuration.limits)
        let tlsPolicy: StateMachine.TLSPolicy
        switch configuration.tls {
        case .disabled: tlsPolicy = .disabled
        case .ifOffered: tlsPolicy = .ifOffered
        case .required: tlsPolicy = .required
        }
        self.stateMachine = StateMachine(
            role: configuration.role,
            sendInitialPresence: configuration.sendInitialPresence,
            clientNonce: clientNonce,
            tlsPolicy: tlsPolicy,
            streamManagement: configuration.streamManagement
        )
    }

    static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64.encode((0..<18).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    private func start(context: ChannelHandlerContext) {
        guard case .idle = stateMachine.state else { return }
        negotiationTimeout = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(configuration.connectTimeout)) { [self] in
            fail(XMPPClientError(.connectTimeout, message: "stream negotiation did not finish in time"))
        }
        perform([stateMachine.start()])
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer.writeBuffer(&bytes)
        do {
            while closeReason == nil, let event = try parser.next(from: &buffer) {
                switch event {
                case .streamOpened(let header):
                    logger.trace("stream opened", metadata: ["xmpp.stream_id": "\(header[attribute: "id"] ?? "")"])
                    perform(stateMachine.streamOpened(header))
                case .element(let element):
                    logger.trace("received", metadata: ["xmpp.element": "\(element.name)"])
                    perform(stateMachine.received(element))
                case .streamClosed:
                    if let reason = closingReason {
                        fail(reason)  // The server answered our </stream:stream>.
                    } else {
                        write("</stream:stream>")  // RFC 6120 §4.4: answer the server's close.
                        perform(stateMachine.streamClosed())
                    }
                }
            }
        } catch {
            fail(XMPPClientError(.malformedXML, message: "\(error)", underlyingError: error))
        }
        if buffer.readerIndex > 4096 { buffer.discardReadBytes() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let reason = closeReason ?? XMPPClientError(.connectionClosed, message: "the connection closed")
        closeReason = reason
        negotiationTimeout?.cancel()
        pingTimer?.cancel()
        closeTimer?.cancel()
        for (_, iq) in pending {
            iq.timeout.cancel()
            iq.promise.fail(reason)
        }
        pending.removeAll()
        for ack in pendingAcks {
            ack.timeout.cancel()
            ack.promise.fail(reason)
        }
        pendingAcks.removeAll()
        established.fail(reason)
        incoming.finish()
        closed.succeed(reason)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(XMPPClientError(.connectionClosed, message: "network or TLS error", underlyingError: error))
    }

    // MARK: - Actions

    private func perform(_ actions: [StateMachine.Action]) {
        for action in actions {
            switch action {
            case .send(let xml):
                write(xml)
            case .restartStream(let header):
                parser.reset()
                write(header)
            case .startTLS:
                startTLS()
            case .established(let jid, let streamID):
                negotiationTimeout?.cancel()
                isEstablished = true
                logger.debug("stream established", metadata: ["xmpp.jid": "\(jid)", "xmpp.stream_id": "\(streamID)"])
                startPinging()
                established.succeed(Established(jid: jid, streamID: streamID, streamManagement: streamManagementOn))
            case .deliver(let element):
                deliver(element)
            case .streamManagementEnabled:
                streamManagementOn = true
                logger.debug("stream management enabled")
            case .answerAckRequest:
                write("<a xmlns='\(XMPPNamespace.streamManagement)' h='\(inboundHandled)'/>")
            case .acknowledged(let handled):
                acknowledged(handled)
            case .fail(let box):
                fail(box.error)
            }
        }
    }

    /// Puts the caller's TLS handler in front of this one. The server sends nothing more until the
    /// handshake is done, so no buffered plain-text bytes are left behind; the stream header written
    /// next waits in the TLS handler until the handshake completes.
    private func startTLS() {
        guard let context else { return }
        let factory: XMPPTLSHandlerFactory
        switch configuration.tls {
        case .disabled: return fail(XMPPClientError(.tlsRequired, message: "STARTTLS without TLS settings"))
        case .ifOffered(let make), .required(let make): factory = make
        }
        let serverHostname: String
        switch configuration.role {
        case .client(let domain, _, _, _), .component(let domain, _): serverHostname = domain
        }
        do {
            try context.pipeline.syncOperations.addHandler(try factory(serverHostname), position: .first)
        } catch {
            fail(XMPPClientError(.tlsRequired, message: "TLS setup failed", underlyingError: error))
        }
    }

    private func deliver(_ element: XMLElement) {
        if streamManagementOn, Self.stanzaNames.contains(element.name) { inboundHandled &+= 1 }
        if element.name == "iq", element.namespace == stateMachine.namespace {
            let type = element[attribute: "type"]
            if type == "result" || type == "error", let id = element[attribute: "id"], let iq = pending.removeValue(forKey: id) {
                iq.timeout.cancel()
                if type == "result" {
                    iq.promise.succeed(element)
                } else {
                    iq.promise.fail(
                        XMPPClientError(.iqError, condition: StateMachine.stanzaErrorCondition(element), stanza: element)
                    )
                }
                return
            }
            if type == "get", element.firstChild(named: "ping", namespace: XMPPNamespace.ping) != nil {
                var reply = XMLElement(name: "iq", namespace: stateMachine.namespace, attributes: ["type": "result"])
                reply[attribute: "id"] = element[attribute: "id"]
                reply[attribute: "to"] = element[attribute: "from"]
                reply[attribute: "from"] = element[attribute: "to"]
                countOutbound()
                write(XMLSerializer.string(reply, defaultNamespace: stateMachine.namespace))
                return
            }
        }
        incoming.yield(element)
    }

    private func write(_ xml: String) {
        guard let context, closeReason == nil else { return }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: xml)), promise: nil)
    }

    /// Closes the connection with `reason`; the first reason wins.
    func fail(_ reason: XMPPClientError) {
        guard closeReason == nil else { return }
        logger.debug("closing connection", metadata: ["xmpp.reason": "\(reason)"])
        closeReason = reason
        established.fail(reason)
        context?.close(promise: nil)
    }

    // MARK: - Requests from the connection (on the event loop)

    /// Writes a pre-rendered stanza.
    func send(raw: ByteBuffer, promise: EventLoopPromise<Void>?) {
        guard let context, closeReason == nil, closingReason == nil, isEstablished else {
            promise?.fail(closeReason ?? closingReason ?? XMPPClientError(.notConnected))
            return
        }
        countOutbound()
        context.writeAndFlush(wrapOutboundOut(raw), promise: promise)
    }

    /// Sends an IQ request and completes `promise` with its response.
    func sendIQ(_ iq: XMLElement, timeout: Duration, promise: EventLoopPromise<XMLElement>) {
        guard let context, closeReason == nil, closingReason == nil, isEstablished else {
            promise.fail(closeReason ?? closingReason ?? XMPPClientError(.notConnected))
            return
        }
        var iq = iq
        let id: String
        if let existing = iq[attribute: "id"] {
            id = existing
        } else {
            nextID += 1
            id = "vigil-\(nextID)"
            iq[attribute: "id"] = id
        }
        let scheduled = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) { [self] in
            if let iq = pending.removeValue(forKey: id) {
                iq.promise.fail(XMPPClientError(.iqTimeout, message: "no response to IQ \(id)"))
            }
        }
        pending[id] = PendingIQ(promise: promise, timeout: scheduled)
        countOutbound()
        context.writeAndFlush(
            wrapOutboundOut(context.channel.allocator.buffer(string: XMLSerializer.string(iq, defaultNamespace: stateMachine.namespace))),
            promise: nil
        )
    }

    /// Closes the stream politely (RFC 6120 §4.4): `</stream:stream>`, then the socket once the
    /// server has closed its stream too, or after two seconds at most.
    func closeStream() {
        guard let context, closeReason == nil, closingReason == nil else { return }
        let reason = XMPPClientError(.shutdown, message: "closed by the client")
        guard isEstablished else { return fail(reason) }
        closingReason = reason
        pingTimer?.cancel()
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: "</stream:stream>")), promise: nil)
        closeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(2)) { [self] in fail(reason) }
    }

    // MARK: - Delivery confirmation

    /// The names of stanzas, which XEP-0198 counts (nonzas such as `<r/>` are not counted).
    private static let stanzaNames: Set<String> = ["message", "iq", "presence"]

    private func countOutbound() {
        if streamManagementOn { outboundCount &+= 1 }
    }

    /// Whether `target` is within the `handled` count, comparing modulo 2^32 as XEP-0198 counts.
    static func isAcknowledged(_ target: UInt32, handled: UInt32) -> Bool {
        Int32(bitPattern: handled &- target) >= 0
    }

    /// Completes `promise` once the server has taken every stanza written so far: by a XEP-0198
    /// acknowledgement when stream management is on (`<r/>`, then `<a h='…'/>` covering the last
    /// stanza), otherwise by a XEP-0199 ping round trip (a server handles a stream's stanzas in
    /// order, so its reply comes after it has taken everything written before the ping). No answer
    /// within ``XMPPConnectionConfiguration/pingTimeout`` closes the connection as dead and fails
    /// the promise.
    func confirmDelivery(promise: EventLoopPromise<Void>) {
        guard let context, closeReason == nil, closingReason == nil, isEstablished else {
            promise.fail(closeReason ?? closingReason ?? XMPPClientError(.notConnected))
            return
        }
        guard streamManagementOn else { return ping(promise: promise) }
        let target = outboundCount
        if Self.isAcknowledged(target, handled: acknowledgedCount) { return promise.succeed() }
        let timeout = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(configuration.pingTimeout)) { [self] in
            logger.warning("stream management acknowledgement missing")
            fail(XMPPClientError(.keepAliveTimeout, message: "no stream management acknowledgement within \(configuration.pingTimeout)"))
        }
        pendingAcks.append(PendingAck(target: target, promise: promise, timeout: timeout))
        write("<r xmlns='\(XMPPNamespace.streamManagement)'/>")
    }

    private func acknowledged(_ handled: UInt32) {
        // An `h` beyond what was written would acknowledge stanzas never sent: a broken server.
        guard Self.isAcknowledged(handled, handled: outboundCount) else {
            return fail(XMPPClientError(.protocolError, message: "stream management acknowledged \(handled) of \(outboundCount) stanzas"))
        }
        // An older count (acknowledgements may cross) changes nothing.
        if Self.isAcknowledged(acknowledgedCount, handled: handled) { acknowledgedCount = handled }
        var waiting: [PendingAck] = []
        for ack in pendingAcks {
            if Self.isAcknowledged(ack.target, handled: acknowledgedCount) {
                ack.timeout.cancel()
                ack.promise.succeed()
            } else {
                waiting.append(ack)
            }
        }
        pendingAcks = waiting
    }

    // MARK: - Keep-alive

    /// The address keep-alive pings go to (see ``XMPPConnectionConfiguration/pingTarget``); a
    /// component's own domain would route the ping back to itself, so it pings its parent domain.
    var pingTarget: (from: String?, to: String) {
        switch configuration.role {
        case .client(let domain, _, _, _):
            return (nil, configuration.pingTarget ?? domain)
        case .component(let domain, _):
            let parent = domain.split(separator: ".", maxSplits: 1).dropFirst().first.map(String.init) ?? domain
            return (domain, configuration.pingTarget ?? parent)
        }
    }

    /// Schedules the next keep-alive ping; each ping schedules the following one when it is sent.
    private func startPinging() {
        guard let interval = configuration.pingInterval, let context, closeReason == nil else { return }
        pingTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(interval)) { [self] in
            ping(promise: nil)
            startPinging()
        }
    }

    /// Sends one XEP-0199 ping; a missing reply closes the connection as dead. Any reply, even an
    /// error, proves the server is alive.
    func ping(promise: EventLoopPromise<Void>?) {
        guard let context else { return }
        let target = pingTarget
        var iq = XMLElement(
            name: "iq",
            namespace: stateMachine.namespace,
            attributes: ["type": "get"],
            children: [
                .element(XMLElement(name: "ping", namespace: XMPPNamespace.ping))
            ]
        )
        iq[attribute: "from"] = target.from
        iq[attribute: "to"] = target.to
        let reply = context.eventLoop.makePromise(of: XMLElement.self)
        sendIQ(iq, timeout: configuration.pingTimeout, promise: reply)
        reply.futureResult.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success:
                promise?.succeed()
            case .failure(let error as XMPPClientError) where error.errorCode == .iqError:
                promise?.succeed()
            case .failure(let error as XMPPClientError) where error.errorCode == .iqTimeout:
                logger.warning("keep-alive ping unanswered")
                let dead = XMPPClientError(.keepAliveTimeout, message: "no ping reply within \(configuration.pingTimeout)")
                fail(dead)
                promise?.fail(dead)
            case .failure(let error):
                promise?.fail(error)
            }
        }
    }
}

@available(*, unavailable)
extension XMPPChannelHandler: Sendable {}
