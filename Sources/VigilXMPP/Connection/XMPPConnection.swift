//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
public import NIOCore
public import NIOPosix
import Synchronization

/// One negotiated XMPP stream: a component (XEP-0114) or client (RFC 6120) connection.
///
/// ``connect(configuration:eventLoopGroup:logger:)`` returns only after the handshake (component)
/// or STARTTLS (if configured), SASL and resource binding (client) succeeded. From then on stanzas can be sent, and incoming
/// stanzas, including `type='error'` bounces, arrive on ``stanzas``. IQ responses to
/// ``sendIQ(_:timeout:)`` and server pings are handled internally and do not appear there; other
/// IQ requests (`get`/`set`) do, and the caller should answer them.
///
/// ```swift
/// let connection = try await XMPPConnection.connect(configuration: configuration, logger: logger)
/// try await connection.send(rawStanza: "<message to='alice@example.test' from='announcer.example.test'><body>hi</body></message>")
/// for await stanza in connection.stanzas where stanza[attribute: "type"] == "error" { ... }
/// ```
///
/// Like `MQTTConnection` and `RedisConnection`, the connection is an actor that runs on the
/// channel's event loop (so it reaches its channel handler without a thread hop), ``close()`` is
/// synchronous and may be called from anywhere, and ``waitUntilClosed()`` reports why it closed.
public final actor XMPPConnection {
    /// The settings this connection was made with.
    public nonisolated let configuration: XMPPConnectionConfiguration
    /// The JID the stream is authenticated as: the component domain, or the full JID bound by the
    /// server for a client.
    public nonisolated let jid: String
    /// The stream id the server assigned.
    public nonisolated let streamID: String
    /// Whether XEP-0198 stream management is on, so ``confirmDelivery()`` waits for
    /// acknowledgements rather than a ping round trip.
    public nonisolated let streamManagement: Bool
    /// Incoming stanzas in arrival order; the sequence ends when the connection closes.
    public nonisolated let stanzas: AsyncStream<XMLElement>
    /// The executor of the channel's event loop, on which the actor runs.
    public nonisolated let unownedExecutor: UnownedSerialExecutor
    nonisolated let channel: any Channel
    private let handler: NIOLoopBound<XMPPChannelHandler>
    private let closedFuture: EventLoopFuture<XMPPClientError>

    private init(
        configuration: XMPPConnectionConfiguration,
        established: XMPPChannelHandler.Established,
        stanzas: AsyncStream<XMLElement>,
        channel: any Channel,
        handler: NIOLoopBound<XMPPChannelHandler>,
        closed: EventLoopFuture<XMPPClientError>
    ) {
        self.configuration = configuration
        self.jid = established.jid
        self.streamID = established.streamID
        self.streamManagement = established.streamManagement
        self.stanzas = stanzas
        self.unownedExecutor = channel.eventLoop.executor.asUnownedSerialExecutor()
        self.channel = channel
        self.handler = handler
        self.closedFuture = closed
    }

    /// Connects, negotiates the stream and returns the established connection.
    ///
    /// - Parameters:
    ///   - configuration: Server address, role and timeouts.
    ///   - eventLoopGroup: The event loops to run on.
    ///   - logger: Logger for connection events (label `vigil.xmpp` is a good choice).
    /// - Throws: ``XMPPClientError`` (for example ``XMPPClientError/Code/authenticationFailed`` for a
    ///   wrong secret or password), or the network error of a failed TCP connect.
    public static func connect(
        configuration: XMPPConnectionConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) async throws -> XMPPConnection {
        var logger = logger
        logger[metadataKey: "xmpp.server"] = "\(configuration.host):\(configuration.port)"
        let (stanzas, continuation) = AsyncStream.makeStream(
            of: XMLElement.self,
            bufferingPolicy: .bufferingNewest(configuration.incomingBufferSize)
        )
        let handlerLogger = logger
        let (channel, handler) = try await ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = XMPPChannelHandler(
                        configuration: configuration,
                        eventLoop: channel.eventLoop,
                        incoming: continuation,
                        logger: handlerLogger
                    )
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
        let (established, closed) = try await channel.eventLoop.submit {
            (handler.value.established.futureResult, handler.value.closed.futureResult)
        }.get()
        do {
            let result = try await established.get()
            logger.info("XMPP stream established", metadata: ["xmpp.jid": "\(result.jid)", "xmpp.stream_management": "\(result.streamManagement)"])
            return XMPPConnection(
                configuration: configuration,
                established: result,
                stanzas: stanzas,
                channel: channel,
                handler: handler,
                closed: closed
            )
        } catch {
            channel.close(promise: nil)
            throw error
        }
    }

    /// Sends a pre-rendered stanza as is; the caller is responsible for well-formed XML.
    ///
    /// On a component connection the stanza needs a `from` inside the component's domain: ejabberd
    /// closes the stream with `<invalid-from/>` otherwise (Prosody fills it in).
    ///
    /// - Throws: ``XMPPClientError`` when the connection is closed.
    public func send(rawStanza: ByteBuffer) async throws {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        handler.value.send(raw: rawStanza, promise: promise)
        try await promise.futureResult.get()
    }

    /// Sends a pre-rendered stanza as is; the caller is responsible for well-formed XML.
    public func send(rawStanza: String) async throws {
        try await send(rawStanza: ByteBuffer(string: rawStanza))
    }

    /// Serializes and sends an element; its `xmlns` is omitted when it is the stream's content
    /// namespace.
    public func send(_ element: XMLElement) async throws {
        try await send(rawStanza: XMLSerializer.string(element, defaultNamespace: configuration.contentNamespace))
    }

    /// Sends an IQ request and returns the `type='result'` response.
    ///
    /// An `id` is assigned when the element has none.
    ///
    /// - Parameters:
    ///   - iq: The `<iq>` element (type `get` or `set`).
    ///   - timeout: How long to wait; defaults to ``XMPPConnectionConfiguration/iqTimeout``.
    /// - Throws: ``XMPPClientError`` with ``XMPPClientError/Code/iqError`` (the response is in
    ///   ``XMPPClientError/stanza``), ``XMPPClientError/Code/iqTimeout`` or a connection error.
    public func sendIQ(_ iq: XMLElement, timeout: Duration? = nil) async throws -> XMLElement {
        let promise = channel.eventLoop.makePromise(of: XMLElement.self)
        handler.value.sendIQ(iq, timeout: timeout ?? configuration.iqTimeout, promise: promise)
        return try await promise.futureResult.get()
    }

    /// Sends one XEP-0199 ping now and waits for the reply. A missing reply closes the connection
    /// with ``XMPPClientError/Code/keepAliveTimeout``.
    public func ping() async throws {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        handler.value.ping(promise: promise)
        try await promise.futureResult.get()
    }

    /// Returns once the server has taken every stanza written so far on this stream: a XEP-0198
    /// acknowledgement when stream management is on, otherwise a XEP-0199 ping round trip.
    ///
    /// - Throws: ``XMPPClientError`` when the stream closes first, or with
    ///   ``XMPPClientError/Code/keepAliveTimeout`` (and the connection closed) when no answer comes
    ///   within ``XMPPConnectionConfiguration/pingTimeout``. Stanzas written into this stream are
    ///   then of unknown fate: send them again on another one.
    public func confirmDelivery() async throws {
        let promise = channel.eventLoop.makePromise(of: Void.self)
        handler.value.confirmDelivery(promise: promise)
        try await promise.futureResult.get()
    }

    /// A number that tells this stream from every other one of the process (a reconnection gets a
    /// new one), so that a confirmation can be asked of the stream a stanza was written into.
    public nonisolated let serial: UInt64 = XMPPConnection.serials.add(1, ordering: .relaxed).newValue

    private static let serials = Atomic<UInt64>(0)

    /// Ends the stream (`</stream:stream>`) and waits until the connection is closed.
    public func disconnect() async {
        close()
        _ = await waitUntilClosed()
    }

    /// Ends the stream (`</stream:stream>`) and closes the connection without waiting; safe to call
    /// from any context (a task cancellation handler, for example) and more than once.
    public nonisolated func close() {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.closeStream() }
    }

    /// Waits until the connection closes and returns why.
    ///
    /// - Returns: The reason, for example ``XMPPClientError/Code/keepAliveTimeout``.
    public func waitUntilClosed() async -> XMPPClientError {
        do {
            return try await closedFuture.get()
        } catch {
            return XMPPClientError(.connectionClosed, underlyingError: error)
        }
    }
}
