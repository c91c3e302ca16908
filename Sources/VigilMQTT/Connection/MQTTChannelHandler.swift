//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import CoreMetrics
import Logging
import NIOCore

/// The one channel handler of an MQTT connection.
///
/// It owns the decoder, the session state of one network connection (packet identifiers, the
/// in-flight window, QoS 2 receive state, topic aliases) and the keep-alive timer. The
/// ``MQTTConnection`` actor runs on the same event loop and calls the request methods directly.
///
/// Received PUBLISH packets are turned into ``MQTTMessage`` values and collected during one read
/// burst; the whole batch is handed to ``deliver`` on `channelReadComplete`. A QoS 1/2 message
/// carries an ``MQTTDelivery``: its PUBACK (QoS 1) or PUBREC (QoS 2) is sent only once its
/// consumers released it, in arrival order (``InboundWindow``). While `receiveMaximum` messages
/// await their acknowledgement the handler withholds `read()` from the channel, so the socket is
/// not read (and TCP pushes back on the broker) until consumers catch up.
final class MQTTChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Configuration {
        var version: MQTTProtocolVersion
        var keepAlive: TimeAmount
        var pingTimeout: TimeAmount
        var connectTimeout: TimeAmount
        var maxPacketSize: Int
        var maxInflight: Int
        /// How many incoming QoS 1/2 messages may await their acknowledgement before reading
        /// pauses (announced to the broker as Receive Maximum under MQTT 5).
        var receiveMaximum: Int = 64
        /// Counters for acknowledgements, redeliveries and read pauses; `nil` counts nothing.
        var metrics: MQTTMetrics?
        /// The topic alias maximum announced to the broker (MQTT 5).
        var topicAliasMaximum: UInt16 = 64
        /// Where unfinished publications wait for the next connection (sessions that are not
        /// clean); `nil` fails them when the connection closes.
        var session: MQTTSession?
    }

    /// Receives batches of messages, on the event loop.
    typealias Deliver = @Sendable ([MQTTMessage]) -> Void

    private enum State {
        case idle
        case connecting(EventLoopPromise<MQTTConnAckPacket>, Scheduled<Void>?)
        case connected
        case closed
    }

    private var configuration: Configuration
    private let deliver: Deliver
    private let logger: Logger
    private var context: ChannelHandlerContext?
    private var processor: NIOSingleStepByteToMessageProcessor<MQTTPacketDecoder>
    private var state: State = .idle
    private var stateMachine: StateMachine
    private var topicAliases: [String?]
    private var serverMaximumPacketSize = Int.max
    private var batch: [MQTTMessage] = []
    private var needsFlush = false
    private var flushScheduled = false
    private var isShutDown = false
    private var pingTimer: Scheduled<Void>?
    private var pingDeadline: Scheduled<Void>?
    private var inbound: InboundWindow
    /// Whether `read()` is withheld because the inbound window is full.
    private var readPaused = false
    /// Whether a `read()` arrived while paused and must be passed on when reading resumes.
    private var readPending = false
    /// This handler, bound to its event loop, for the deliveries' completions (set while added).
    private var loopBound: NIOLoopBound<MQTTChannelHandler>?
    /// What a delivery calls once its consumers processed it; one closure for all deliveries.
    private var deliveryCompletion: (@Sendable (UInt64) -> Void)?
    /// Acknowledgements due since the last write, encoded back to back: one buffer and one write
    /// per turn of the event loop, not per message.
    private var pendingAcks: ByteBuffer?
    private var pendingAckCount = 0
    private var ackWriteScheduled = false
    private var ackTimer: Scheduled<Void>?
    /// Why the connection closed; set once.
    private(set) var closeReason: MQTTClientError?
    /// Completed with the close reason when the channel becomes inactive.
    let closed: EventLoopPromise<MQTTClientError>

    init(configuration: Configuration, eventLoop: any EventLoop, logger: Logger, deliver: @escaping Deliver) {
        self.configuration = configuration
        self.deliver = deliver
        self.logger = logger
        self.processor = NIOSingleStepByteToMessageProcessor(
            MQTTPacketDecoder(version: configuration.version, maxPacketSize: configuration.maxPacketSize)
        )
        self.stateMachine = StateMachine(inflightLimit: configuration.maxInflight)
        // Under MQTT 5 the broker itself keeps to Receive Maximum, so reading (and with it
        // SUBACKs, PINGRESPs) never pauses with a broker that does; the pause is the bound for
        // MQTT 3.1.1 brokers and for MQTT 5 brokers that exceed the maximum (at twice it).
        let pauseAt = configuration.version == .v5 ? configuration.receiveMaximum * 2 : configuration.receiveMaximum
        self.inbound = InboundWindow(limit: pauseAt)
        self.topicAliases = Array(repeating: nil, count: Int(configuration.topicAliasMaximum) + 1)
        self.closed = eventLoop.makePromise()
    }

    private var v5: Bool { configuration.version == .v5 }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        self.loopBound = bound
        // Consumers preferring the client's loop (MQTTClient.subscribe) release on it: acknowledge
        // at once, with no task and no wake-up; others hop.
        self.deliveryCompletion = { sequence in
            if eventLoop.inEventLoop {
                bound.value.acknowledge(sequence)
            } else {
                eventLoop.execute { bound.value.acknowledge(sequence) }
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.shutDown(reason: closeReason ?? MQTTClientError(.connectionClosed, message: "handler removed"))
        self.context = nil
        self.loopBound = nil
        self.deliveryCompletion = nil
    }

    /// Passes `read()` on unless the inbound window is full (backpressure towards the broker).
    func read(context: ChannelHandlerContext) {
        if readPaused {
            readPending = true
        } else {
            context.read()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        do {
            try processor.finishProcessing(seenEOF: true) { packet in self.handle(packet, context: context) }
        } catch {
            // A partial packet at EOF is not worth a protocol error: the connection is gone anyway.
        }
        self.deliverBatch()
        self.shutDown(reason: closeReason ?? MQTTClientError(.connectionClosed, message: "connection closed by peer"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail(MQTTClientError(.connectionClosed, message: "network error", underlyingError: error), context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = Self.unwrapInboundIn(data)
        do {
            try processor.process(buffer: buffer) { packet in self.handle(packet, context: context) }
        } catch let error as MQTTDecodeError {
            self.protocolError(error, context: context)
        } catch {
            self.fail(MQTTClientError(.protocolError, underlyingError: error), context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.deliverBatch()
        self.writePendingAcks(context: context)
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    private func deliverBatch() {
        guard !batch.isEmpty else { return }
        let messages = batch
        batch = []
        batch.reserveCapacity(messages.count)
        deliver(messages)
    }

    // MARK: - Requests from the connection (on the event loop)

    /// Sends CONNECT and completes `promise` with the CONNACK, or fails it on refusal or timeout.
    func connect(_ packet: MQTTConnectPacket, promise: EventLoopPromise<MQTTConnAckPacket>) {
        guard let context, case .idle = state else {
            promise.fail(closeReason ?? MQTTClientError(.connectionClosed))
            return
        }
        let timeout = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.connectTimeout) {
            self.fail(MQTTClientError(.connectTimeout, message: "no CONNACK within the connect timeout"), context: context)
        }
        state = .connecting(promise, timeout)
        self.write(.connect(packet), context: context, flush: true)
    }

    /// Publishes a message. QoS 0 completes when written; QoS 1 and 2 when acknowledged.
    func publish(_ packet: MQTTPublishPacket, promise: EventLoopPromise<Void>?) {
        guard let context, case .connected = state else {
            promise?.fail(closeReason ?? MQTTClientError(.notConnected))
            return
        }
        if packet.qos == .atMostOnce {
            self.write(.publish(packet), context: context, flush: false, promise: promise)
            self.scheduleFlush(context: context)
            return
        }
        switch stateMachine.publish(packet, promise: promise) {
        case .send(let packet):
            self.sendTracked(packet, promise: promise, context: context)
            self.scheduleFlush(context: context)
        case .hold:
            break
        }
    }

    /// Writes a publication the state machine tracks; forgets it again if it cannot be encoded.
    private func sendTracked(_ packet: MQTTPublishPacket, promise: EventLoopPromise<Void>?, context: ChannelHandlerContext) {
        guard let buffer = self.encode(.publish(packet), context: context, promise: promise) else {
            stateMachine.abandonPublish(packetID: packet.packetID)
            self.releaseHeldBack(context: context)
            return
        }
        context.write(Self.wrapOutboundOut(buffer), promise: nil)
    }

    private func releaseHeldBack(context: ChannelHandlerContext) {
        while let (packet, promise) = stateMachine.nextReleasedPublish() {
            self.sendTracked(packet, promise: promise, context: context)
            needsFlush = true
        }
    }

    /// Sends SUBSCRIBE and completes `promise` with the SUBACK.
    func subscribe(_ subscriptions: [MQTTSubscribeInfo], properties: [MQTTProperty], promise: EventLoopPromise<MQTTSubAckPacket>) {
        guard let context, case .connected = state else {
            promise.fail(closeReason ?? MQTTClientError(.notConnected))
            return
        }
        let id = stateMachine.startRequest(StateMachine.Request.subscribe(promise))
        self.write(.subscribe(MQTTSubscribePacket(packetID: id, subscriptions: subscriptions, properties: properties)), context: context, flush: true)
    }

    /// Sends UNSUBSCRIBE and completes `promise` with the UNSUBACK.
    func unsubscribe(_ filters: [String], promise: EventLoopPromise<MQTTSubAckPacket>) {
        guard let context, case .connected = state else {
            promise.fail(closeReason ?? MQTTClientError(.notConnected))
            return
        }
        let id = stateMachine.startRequest(StateMachine.Request.unsubscribe(promise))
        self.write(.unsubscribe(MQTTUnsubscribePacket(packetID: id, filters: filters)), context: context, flush: true)
    }

    /// Sends DISCONNECT (normal disconnection, so the broker discards the Last Will) and closes.
    func disconnect() {
        guard let context else { return }
        if case .connected = state {
            if closeReason == nil { closeReason = MQTTClientError(.connectionClosed, message: "disconnected by the client") }
            // Processed messages are acknowledged before the session ends.
            self.writePendingAcks(context: context)
            self.write(.disconnect(MQTTDisconnectPacket()), context: context, flush: true)
        }
        state = .closed
        context.close(promise: nil)
    }

    /// Closes the connection without DISCONNECT (the broker then publishes the Last Will).
    func closeAbruptly(reason: MQTTClientError) {
        guard let context else { return }
        self.fail(reason, context: context)
    }

    // MARK: - Packets from the broker

    private func handle(_ packet: MQTTPacket, context: ChannelHandlerContext) {
        switch packet {
        case .publish(let publish):
            self.received(publish, context: context)
        case .ack(let ack):
            self.receivedAck(ack, context: context)
        case .suback(let ack):
            guard let promise = stateMachine.receivedSubAck(packetID: ack.packetID, unsubscribe: false) else {
                return self.protocolError(MQTTDecodeError(.malformed, "unexpected SUBACK \(ack.packetID)"), context: context)
            }
            promise.succeed(ack)
        case .unsuback(let ack):
            guard let promise = stateMachine.receivedSubAck(packetID: ack.packetID, unsubscribe: true) else {
                return self.protocolError(MQTTDecodeError(.malformed, "unexpected UNSUBACK \(ack.packetID)"), context: context)
            }
            promise.succeed(ack)
        case .pingresp:
            pingDeadline?.cancel()
            pingDeadline = nil
        case .connack(let connack):
            self.receivedConnAck(connack, context: context)
        case .disconnect(let disconnect):
            var message = "broker sent DISCONNECT"
            if let reason = disconnect.reasonString { message += ": \(reason)" }
            self.fail(MQTTClientError(.serverDisconnected, message: message, reasonCode: disconnect.reasonCode), context: context)
        case .auth:
            self.fail(MQTTClientError(.protocolError, message: "extended authentication is not supported"), context: context)
        case .connect, .subscribe, .unsubscribe, .pingreq:
            self.protocolError(MQTTDecodeError(.unknownPacketType, "\(packet.type) is not sent by a server"), context: context)
        }
    }

    private func receivedConnAck(_ connack: MQTTConnAckPacket, context: ChannelHandlerContext) {
        guard case .connecting(let promise, let timeout) = state else {
            return self.protocolError(MQTTDecodeError(.malformed, "unexpected CONNACK"), context: context)
        }
        timeout?.cancel()
        guard !connack.reasonCode.isMQTTFailure, connack.reasonCode == 0 else {
            var message = "broker refused the connection"
            if let reason = connack.properties.mqttReasonString { message += ": \(reason)" }
            let error = MQTTClientError(.connectionRefused, message: message, reasonCode: connack.reasonCode)
            closeReason = error
            state = .closed
            promise.fail(error)
            context.close(promise: nil)
            return
        }
        state = .connected
        for property in connack.properties {
            switch property {
            case .receiveMaximum(let value): stateMachine.inflightLimit = max(1, min(stateMachine.inflightLimit, Int(value)))
            case .maximumPacketSize(let value): serverMaximumPacketSize = Int(value)
            case .serverKeepAlive(let value): configuration.keepAlive = .seconds(Int64(value))
            default: break
            }
        }
        self.schedulePing(context: context)
        if let session = configuration.session {
            self.resume(session.take(), sessionPresent: connack.sessionPresent, context: context)
        }
        promise.succeed(connack)
    }

    /// Sends a parked session's publications again, or fails them when the broker did not keep
    /// the session (``MQTTClient`` then publishes them as new messages).
    private func resume(_ parked: MQTTSession.Parked, sessionPresent: Bool, context: ChannelHandlerContext) {
        guard !parked.isEmpty else { return }
        guard sessionPresent else {
            let error = MQTTClientError(.connectionClosed, message: "the broker did not keep the session")
            for promise in parked.promises { promise.fail(error) }
            return
        }
        let resend = stateMachine.resume(parked)
        for item in resend {
            switch item {
            case .publish(let packet):
                self.write(.publish(packet), context: context, flush: false)
            case .pubRel(let packetID):
                self.write(.ack(MQTTAckPacket(type: .pubrel, packetID: packetID)), context: context, flush: false)
            }
        }
        logger.debug("MQTT session resumed", metadata: ["mqtt.resent": "\(resend.count)", "mqtt.incoming_qos2": "\(parked.incomingQoS2.count)"])
        self.releaseHeldBack(context: context)
        context.flush()
    }

    private func received(_ publish: MQTTPublishPacket, context: ChannelHandlerContext) {
        guard case .connected = state else {
            return self.protocolError(MQTTDecodeError(.malformed, "PUBLISH before CONNACK"), context: context)
        }
        var topic = publish.topic
        var properties = MQTTPublishProperties()
        if !publish.properties.isEmpty {
            for case .topicAlias(let alias) in publish.properties {
                guard alias != 0, Int(alias) < topicAliases.count else {
                    return self.protocolError(MQTTDecodeError(.malformed, "topic alias \(alias) out of range"), context: context, reasonCode: 0x94)
                }
                if topic.isEmpty {
                    guard let known = topicAliases[Int(alias)] else {
                        return self.protocolError(MQTTDecodeError(.malformed, "unknown topic alias \(alias)"), context: context)
                    }
                    topic = known
                } else {
                    topicAliases[Int(alias)] = topic
                }
            }
            properties = MQTTPublishProperties(mqttProperties: publish.properties)
        }
        if topic.isEmpty {
            return self.protocolError(MQTTDecodeError(.malformed, "empty topic without alias"), context: context)
        }
        let message = MQTTMessage(topic: topic, payload: publish.payload, qos: publish.qos, retain: publish.retain, properties: properties)
        switch publish.qos {
        case .atMostOnce:
            batch.append(message)
        case .atLeastOnce:
            batch.append(self.tracked(message, ack: .puback(publish.packetID), dup: publish.dup))
        case .exactlyOnce:
            // Method B of the specification: deliver on PUBLISH, send PUBREC once processed and
            // remember the identifier until PUBREL; a repetition after PUBREC is not delivered again.
            if publish.dup && inbound.contains(.pubrec(publish.packetID)) {
                // Repeated before its PUBREC went out: that PUBREC answers both.
                configuration.metrics?.redelivered.increment()
            } else if stateMachine.isAwaitingPubRel(packetID: publish.packetID) {
                configuration.metrics?.redelivered.increment()
                self.send(inbound.receiveProcessed(.pubrec(publish.packetID)), processed: false, context: context)
            } else {
                batch.append(self.tracked(message, ack: .pubrec(publish.packetID), dup: publish.dup))
            }
        }
    }

    /// Registers a QoS 1/2 message in the inbound window and attaches its delivery.
    private func tracked(_ message: MQTTMessage, ack: InboundWindow.Ack, dup: Bool) -> MQTTMessage {
        if dup { configuration.metrics?.redelivered.increment() }
        let sequence = inbound.receive(ack)
        var message = message
        if let deliveryCompletion {
            message.delivery = MQTTDelivery(sequence: sequence, isRedelivery: dup, complete: deliveryCompletion)
        }
        if inbound.isFull && !readPaused {
            readPaused = true
            configuration.metrics?.readPauses.increment()
            logger.debug("MQTT reading paused: consumers are behind", metadata: ["mqtt.unacknowledged": "\(inbound.count)"])
        }
        return message
    }

    /// Called when the consumers of message `sequence` processed it: sends the acknowledgements
    /// that are now due, in order, and resumes reading when the window has room again.
    func acknowledge(_ sequence: UInt64) {
        guard let context, case .connected = state else { return }
        let ready = inbound.complete(sequence)
        guard !ready.isEmpty else { return }
        self.send(ready, processed: true, context: context)
        self.scheduleAckWrite(context: context)
        if readPaused && !inbound.isFull {
            readPaused = false
            logger.debug("MQTT reading resumed")
            if readPending {
                readPending = false
                context.read()
            }
        }
    }

    /// Writes the pending acknowledgements once a quarter of the receive window is due, after the
    /// consumer's current turn (a whole batch in one write), and otherwise within a millisecond.
    ///
    /// Acknowledging each message as it is processed makes a steady stream degenerate into one
    /// read, one PUBACK and one broker wake-up per message: every acknowledgement frees one slot of
    /// the window and the broker sends one message into it. Freeing a quarter at a time lets the
    /// broker send bursts. Acknowledgements only ever leave later than processing, never earlier.
    private func scheduleAckWrite(context: ChannelHandlerContext) {
        if pendingAckCount >= max(1, configuration.receiveMaximum / 4) {
            guard !ackWriteScheduled else { return }
            ackWriteScheduled = true
            context.eventLoop.assumeIsolated().execute {
                self.ackWriteScheduled = false
                self.flushAcks()
            }
        } else if ackTimer == nil {
            ackTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(1)) {
                self.ackTimer = nil
                self.flushAcks()
            }
        }
    }

    private func flushAcks() {
        guard let context, pendingAcks != nil else { return }
        self.writePendingAcks(context: context)
        if needsFlush {
            needsFlush = false
            context.flush()
        }
    }

    /// Encodes acknowledgements into ``pendingAcks``; `channelReadComplete` or the task
    /// `acknowledge` schedules writes them.
    private func send(_ acks: [InboundWindow.Ack], processed: Bool, context: ChannelHandlerContext) {
        guard !acks.isEmpty else { return }
        var buffer = pendingAcks ?? context.channel.allocator.buffer(capacity: 256)
        pendingAcks = nil
        for ack in acks {
            switch ack {
            case .puback(let packetID):
                MQTTPacket.ack(MQTTAckPacket(type: .puback, packetID: packetID)).write(to: &buffer, version: configuration.version)
            case .pubrec(let packetID):
                stateMachine.sentPubRec(packetID: packetID)
                MQTTPacket.ack(MQTTAckPacket(type: .pubrec, packetID: packetID)).write(to: &buffer, version: configuration.version)
            }
        }
        pendingAcks = buffer
        pendingAckCount += acks.count
        if processed { configuration.metrics?.acknowledged.increment(by: Int64(acks.count)) }
        needsFlush = true
    }

    private func writePendingAcks(context: ChannelHandlerContext) {
        guard let buffer = pendingAcks else { return }
        pendingAcks = nil
        pendingAckCount = 0
        ackTimer?.cancel()
        ackTimer = nil
        context.write(Self.wrapOutboundOut(buffer), promise: nil)
    }

    private func receivedAck(_ ack: MQTTAckPacket, context: ChannelHandlerContext) {
        if ack.type == .pubrel {
            stateMachine.receivedPubRel(packetID: ack.packetID)
            self.write(.ack(MQTTAckPacket(type: .pubcomp, packetID: ack.packetID)), context: context, flush: false)
            needsFlush = true
            return
        }
        switch stateMachine.receivedAck(ack) {
        case .sendPubRel(let packetID):
            self.write(.ack(MQTTAckPacket(type: .pubrel, packetID: packetID)), context: context, flush: false)
            needsFlush = true
        case .succeed(let promise):
            promise?.succeed()
            self.releaseHeldBack(context: context)
        case .fail(let promise, let topic, let reasonCode, let reasonString):
            var message = "broker rejected the publication to '\(topic)'"
            if let reasonString { message += ": \(reasonString)" }
            promise?.fail(MQTTClientError(.publishRejected, message: message, reasonCode: reasonCode))
            self.releaseHeldBack(context: context)
        case .protocolError(let detail):
            self.protocolError(MQTTDecodeError(.malformed, detail), context: context)
        }
    }

    // MARK: - Keep-alive

    private func schedulePing(context: ChannelHandlerContext) {
        guard configuration.keepAlive > .zero else { return }
        pingTimer = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.keepAlive) {
            self.sendPing(context: context)
        }
    }

    private func sendPing(context: ChannelHandlerContext) {
        guard case .connected = state else { return }
        if pingDeadline == nil {
            self.write(.pingreq, context: context, flush: true)
            // While reading is paused the PINGRESP cannot be read: the broker is evidently
            // sending, so only the PINGREQ (which keeps the broker's side alive) goes out.
            guard !readPaused else { return self.schedulePing(context: context) }
            pingDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.pingTimeout) {
                if self.readPaused {
                    self.pingDeadline = nil
                    return
                }
                self.logger.warning("MQTT broker did not answer PINGREQ; closing the connection")
                self.fail(MQTTClientError(.keepAliveTimeout, message: "no PINGRESP within the ping timeout"), context: context)
            }
        }
        self.schedulePing(context: context)
    }

    // MARK: - Helpers

    private func write(_ packet: MQTTPacket, context: ChannelHandlerContext, flush: Bool, promise: EventLoopPromise<Void>? = nil) {
        guard let buffer = self.encode(packet, context: context, promise: promise) else { return }
        if flush {
            context.writeAndFlush(Self.wrapOutboundOut(buffer), promise: promise)
        } else {
            context.write(Self.wrapOutboundOut(buffer), promise: promise)
        }
    }

    /// Encodes a packet; fails `promise` and returns `nil` when it exceeds the broker's maximum
    /// packet size (MQTT 5).
    private func encode(_ packet: MQTTPacket, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) -> ByteBuffer? {
        var buffer = context.channel.allocator.buffer(capacity: Self.estimatedSize(packet))
        packet.write(to: &buffer, version: configuration.version)
        guard buffer.readableBytes <= serverMaximumPacketSize else {
            promise?.fail(MQTTClientError(.packetTooLarge, message: "packet of \(buffer.readableBytes) bytes exceeds the broker's limit"))
            return nil
        }
        return buffer
    }

    private static func estimatedSize(_ packet: MQTTPacket) -> Int {
        if case .publish(let publish) = packet { return publish.topic.utf8.count + publish.payload.readableBytes + 16 }
        return 64
    }

    /// Flushes once after the current burst of writes from the connection actor.
    private func scheduleFlush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            context.flush()
        }
    }

    private func protocolError(_ error: MQTTDecodeError, context: ChannelHandlerContext, reasonCode: UInt8? = nil) {
        let code = reasonCode ?? error.reasonCode
        logger.error("MQTT protocol error; closing the connection", metadata: ["error": "\(error)"])
        if v5, case .connected = state {
            self.write(.disconnect(MQTTDisconnectPacket(reasonCode: code)), context: context, flush: true)
        }
        let kind: MQTTClientError.Code = error.kind == .packetTooLarge ? .packetTooLarge : .protocolError
        self.fail(MQTTClientError(kind, message: error.description, underlyingError: error, reasonCode: code), context: context)
    }

    /// Records the reason and closes the channel; `channelInactive` fails outstanding requests.
    private func fail(_ error: MQTTClientError, context: ChannelHandlerContext) {
        if closeReason == nil { closeReason = error }
        if case .connecting(let promise, let timeout) = state {
            timeout?.cancel()
            promise.fail(error)
        }
        if case .closed = state {
        } else {
            state = .closed
            context.close(promise: nil)
        }
    }

    private func shutDown(reason: MQTTClientError) {
        guard !isShutDown else { return }
        isShutDown = true
        if closeReason == nil { closeReason = reason }
        let reason = closeReason!
        if case .connecting(let promise, let timeout) = state {
            timeout?.cancel()
            promise.fail(reason)
        }
        state = .closed
        pingTimer?.cancel()
        pingTimer = nil
        pingDeadline?.cancel()
        pingDeadline = nil
        ackTimer?.cancel()
        ackTimer = nil
        if let session = configuration.session {
            let (parked, requests) = stateMachine.park()
            session.park(parked)
            for promise in requests { promise.fail(reason) }
        } else {
            let (publications, requests) = stateMachine.close()
            for promise in publications { promise.fail(reason) }
            for promise in requests { promise.fail(reason) }
        }
        closed.succeed(reason)
    }
}

@available(*, unavailable)
extension MQTTChannelHandler: Sendable {}
