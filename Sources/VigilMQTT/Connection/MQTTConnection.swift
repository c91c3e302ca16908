//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
public import NIOCore
public import NIOPosix
import NIOSSL

/// One network connection to a broker: an actor that runs on the channel's event loop, so it reaches
/// its channel handler without a thread hop.
///
/// Use ``withConnection(configuration:eventLoopGroup:logger:deliver:operation:)``: it connects,
/// sends CONNECT before the closure and DISCONNECT after it, even when the closure throws.
/// Reconnection, resubscription and offline queueing are not done here; ``MQTTClient`` builds them
/// on top of this type and is what most code should use.
///
/// ```swift
/// try await MQTTConnection.withConnection(configuration: configuration, logger: logger, deliver: { batch in
///     for message in batch { print(message.topic) }   // runs on the event loop: do not block
/// }) { connection in
///     _ = try await connection.subscribe([MQTTSubscribeInfo(filter: "a/#")])
///     try await connection.publish(MQTTMessage(topic: "a/b", payload: ByteBuffer(string: "hi")))
/// }
/// ```
public final actor MQTTConnection {
    nonisolated let channel: any Channel
    /// The executor of the channel's event loop, on which the actor runs.
    public nonisolated let unownedExecutor: UnownedSerialExecutor
    /// Whether the broker resumed a previous session.
    public nonisolated let sessionPresent: Bool
    private let handler: NIOLoopBound<MQTTChannelHandler>
    private let version: MQTTProtocolVersion
    private let logger: Logger

    private init(
        channel: any Channel,
        handler: NIOLoopBound<MQTTChannelHandler>,
        sessionPresent: Bool,
        version: MQTTProtocolVersion,
        logger: Logger
    ) {
        self.channel = channel
        self.unownedExecutor = channel.eventLoop.executor.asUnownedSerialExecutor()
        self.handler = handler
        self.sessionPresent = sessionPresent
        self.version = version
        self.logger = logger
    }

    /// Connects, runs `operation` with the connection, then disconnects.
    ///
    /// The reconnect policy, offline queue limit and subscriptions of the configuration are not
    /// used here.
    ///
    /// - Parameters:
    ///   - configuration: Broker address and session settings.
    ///   - eventLoopGroup: Where the channel runs.
    ///   - logger: Logger for connection events.
    ///   - deliver: Receives the messages of each socket read as one batch, on the event loop; it
    ///     must return quickly. QoS 1/2 messages count as processed (and are acknowledged) when it
    ///     returns; use ``MQTTClient`` for acknowledgement after processing.
    ///   - operation: Work to do while connected.
    /// - Returns: The result of `operation`.
    /// - Throws: ``MQTTClientError`` when the connection cannot be made or is refused, or what
    ///   `operation` throws.
    nonisolated(nonsending) public static func withConnection<Result: Sendable>(
        configuration: MQTTClientConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        deliver: @escaping @Sendable ([MQTTMessage]) -> Void,
        operation: (MQTTConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try await connect(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger) { batch in
            deliver(batch)
            for message in batch { message.delivery?.expect(0) }
        }
        do {
            let result = try await operation(connection)
            await connection.disconnect()
            return result
        } catch {
            await connection.disconnect()
            throw error
        }
    }

    /// Opens TCP (and TLS), sends CONNECT and waits for CONNACK.
    static func connect(
        configuration: MQTTClientConfiguration,
        eventLoopGroup: any EventLoopGroup,
        logger: Logger,
        session: MQTTSession? = nil,
        metrics: MQTTMetrics? = nil,
        deliver: @escaping MQTTChannelHandler.Deliver
    ) async throws -> MQTTConnection {
        let address = configuration.address
        let sslContext: NIOSSLContext?
        let serverName: String?
        if address.useTLS {
            (sslContext, serverName) = try makeTLSContext(configuration.tls ?? MQTTTLSConfiguration(), host: address.host)
        } else {
            (sslContext, serverName) = (nil, nil)
        }
        let handlerConfiguration = MQTTChannelHandler.Configuration(
            version: configuration.version,
            keepAlive: TimeAmount(configuration.keepAlive),
            pingTimeout: TimeAmount(configuration.pingTimeout),
            connectTimeout: TimeAmount(configuration.connectTimeout),
            maxPacketSize: configuration.maxPacketSize,
            maxInflight: configuration.maxInflight,
            receiveMaximum: configuration.clampedReceiveMaximum,
            metrics: metrics,
            session: session
        )
        let bootstrap = ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
        let (channel, handler): (any Channel, NIOLoopBound<MQTTChannelHandler>)
        do {
            (channel, handler) = try await bootstrap.connect(host: address.host, port: address.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        let tlsHandler = try NIOSSLClientHandler(context: sslContext, serverHostname: serverName)
                        try channel.pipeline.syncOperations.addHandler(tlsHandler)
                    }
                    let handler = MQTTChannelHandler(
                        configuration: handlerConfiguration,
                        eventLoop: channel.eventLoop,
                        logger: logger,
                        deliver: deliver
                    )
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
        } catch let error as MQTTClientError {
            throw error
        } catch {
            throw MQTTClientError(.connectionClosed, message: "cannot connect to \(address)", underlyingError: error)
        }

        let connectPacket = makeConnectPacket(configuration)
        let promise = channel.eventLoop.makePromise(of: MQTTConnAckPacket.self)
        channel.eventLoop.execute { handler.value.connect(connectPacket, promise: promise) }
        let connack: MQTTConnAckPacket
        do {
            connack = try await withTaskCancellationHandler {
                try await promise.futureResult.get()
            } onCancel: {
                channel.close(promise: nil)
            }
        } catch {
            channel.close(promise: nil)
            throw error
        }
        return MQTTConnection(
            channel: channel,
            handler: handler,
            sessionPresent: connack.sessionPresent,
            version: configuration.version,
            logger: logger
        )
    }

    static func makeConnectPacket(_ configuration: MQTTClientConfiguration) -> MQTTConnectPacket {
        let v5 = configuration.version == .v5
        var properties: [MQTTProperty] = []
        if v5 {
            if let expiry = configuration.sessionExpiry {
                properties.append(.sessionExpiryInterval(UInt32(clamping: expiry.components.seconds)))
            }
            properties.append(.receiveMaximum(UInt16(configuration.clampedReceiveMaximum)))
            properties.append(.maximumPacketSize(UInt32(clamping: configuration.maxPacketSize)))
            properties.append(.topicAliasMaximum(64))
        }
        var will: MQTTConnectPacket.Will?
        if let w = configuration.will {
            var willProperties = v5 ? w.properties.mqttProperties : []
            if v5, let delay = w.delay { willProperties.append(.willDelayInterval(UInt32(clamping: delay.components.seconds))) }
            will = .init(topic: w.topic, payload: w.payload, qos: w.qos, retain: w.retain, properties: willProperties)
        }
        let keepAlive = configuration.keepAlive.components.seconds
        return MQTTConnectPacket(
            version: configuration.version,
            clientID: configuration.clientID,
            cleanSession: configuration.cleanSession,
            keepAliveSeconds: UInt16(clamping: max(keepAlive, configuration.keepAlive > .zero ? 1 : 0)),
            username: configuration.username,
            password: configuration.password.map { ByteBuffer(string: $0) },
            will: will,
            properties: properties
        )
    }

    static func makeTLSContext(_ tls: MQTTTLSConfiguration, host: String) throws -> (NIOSSLContext, String?) {
        do {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let caFile = tls.caFile {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            }
            if let certificateFile = tls.certificateFile {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
            }
            if let privateKeyFile = tls.privateKeyFile {
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: privateKeyFile, format: .pem))
            }
            if !tls.verifyCertificate {
                configuration.certificateVerification = .none
            }
            let name = tls.serverName ?? host
            let isIPAddress = (try? SocketAddress(ipAddress: name, port: 0)) != nil
            return (try NIOSSLContext(configuration: configuration), isIPAddress ? nil : name)
        } catch {
            throw MQTTClientError(.tlsConfiguration, message: "cannot set up TLS", underlyingError: error)
        }
    }

    // MARK: - Operations

    /// Publishes a message; QoS 0 returns once handed to the channel, QoS 1 and 2 once acknowledged.
    ///
    /// - Parameter message: The message; its properties are sent under MQTT 5 only.
    /// - Throws: ``MQTTClientError`` (``MQTTClientError/Code/publishRejected``,
    ///   ``MQTTClientError/Code/connectionClosed`` and others).
    public func publish(_ message: MQTTMessage) async throws {
        let packet = MQTTPublishPacket(
            topic: message.topic,
            payload: message.payload,
            qos: message.qos,
            retain: message.retain,
            properties: version == .v5 ? message.properties.mqttProperties : []
        )
        if message.qos == .atMostOnce {
            handler.value.publish(packet, promise: nil)
            return
        }
        let promise = channel.eventLoop.makePromise(of: Void.self)
        handler.value.publish(packet, promise: promise)
        try await promise.futureResult.get()
    }

    /// Publishes QoS 0 messages in one visit to the event loop, behind one flush.
    ///
    /// - Parameter messages: QoS 0 messages (a message of another QoS is sent as QoS 0).
    public func publishAtMostOnce(_ messages: [MQTTMessage]) {
        let handler = handler.value
        for message in messages {
            let packet = MQTTPublishPacket(
                topic: message.topic,
                payload: message.payload,
                qos: .atMostOnce,
                retain: message.retain,
                properties: version == .v5 ? message.properties.mqttProperties : []
            )
            handler.publish(packet, promise: nil)
        }
    }

    /// Publishes a QoS 1 or 2 message without waiting; the future completes on acknowledgement.
    func publishNoWait(_ message: MQTTMessage) -> EventLoopFuture<Void> {
        let packet = MQTTPublishPacket(
            topic: message.topic,
            payload: message.payload,
            qos: message.qos,
            retain: message.retain,
            properties: version == .v5 ? message.properties.mqttProperties : []
        )
        let promise = channel.eventLoop.makePromise(of: Void.self)
        handler.value.publish(packet, promise: promise)
        return promise.futureResult
    }

    /// Subscribes and returns the broker's reason code for each filter (0x80 and above are failures).
    ///
    /// - Parameter subscriptions: The filters and their options.
    /// - Returns: One reason code (3.1.1: return code) per filter, in order.
    /// - Throws: ``MQTTClientError`` when the connection closes first.
    public func subscribe(_ subscriptions: [MQTTSubscribeInfo]) async throws -> [UInt8] {
        let promise = channel.eventLoop.makePromise(of: MQTTSubAckPacket.self)
        handler.value.subscribe(subscriptions, properties: [], promise: promise)
        let ack = try await promise.futureResult.get()
        if let reason = ack.properties.mqttReasonString {
            logger.debug("MQTT SUBACK reason", metadata: ["mqtt.reason_string": "\(reason)"])
        }
        guard ack.reasonCodes.count == subscriptions.count else {
            throw MQTTClientError(.protocolError, message: "SUBACK has \(ack.reasonCodes.count) codes for \(subscriptions.count) filters")
        }
        return ack.reasonCodes
    }

    /// Sends SUBSCRIBE without waiting; the future completes with the reason codes.
    func subscribeNoWait(_ subscriptions: [MQTTSubscribeInfo]) -> EventLoopFuture<[UInt8]> {
        let promise = channel.eventLoop.makePromise(of: MQTTSubAckPacket.self)
        handler.value.subscribe(subscriptions, properties: [], promise: promise)
        return promise.futureResult.map(\.reasonCodes)
    }

    /// Unsubscribes and returns the broker's reason codes (empty under MQTT 3.1.1).
    ///
    /// - Parameter filters: The filters to remove.
    /// - Returns: One reason code per filter under MQTT 5; empty under 3.1.1.
    /// - Throws: ``MQTTClientError`` when the connection closes first.
    public func unsubscribe(_ filters: [String]) async throws -> [UInt8] {
        let promise = channel.eventLoop.makePromise(of: MQTTSubAckPacket.self)
        handler.value.unsubscribe(filters, promise: promise)
        return try await promise.futureResult.get().reasonCodes
    }

    /// Sends DISCONNECT (so no Last Will is published) and waits until the channel is closed.
    public func disconnect() async {
        handler.value.disconnect()
        _ = try? await channel.closeFuture.get()
    }

    /// Closes the connection without DISCONNECT, so the broker publishes the Last Will.
    func closeAbruptly() {
        handler.value.closeAbruptly(reason: MQTTClientError(.connectionClosed, message: "closed abruptly"))
    }

    /// Sends DISCONNECT and closes without waiting; safe to call from any context and more than once.
    public nonisolated func close() {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.disconnect() }
    }

    /// Waits until the connection closes and returns why.
    ///
    /// - Returns: The reason, for example ``MQTTClientError/Code/keepAliveTimeout``.
    public func waitUntilClosed() async -> MQTTClientError {
        let future = handler.value.closed.futureResult
        return (try? await future.get()) ?? MQTTClientError(.connectionClosed)
    }
}
