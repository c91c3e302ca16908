//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import NIOCore
import NIOPosix
import NIOSSL
import VigilSASL

/// One network connection to one broker, after the ApiVersions exchange (and SASL, if configured).
///
/// Requests may be sent from many tasks at once; the broker answers them in order. Each request
/// type is sent at the highest version both this client and the broker support (see
/// ``KafkaRequest``). Reconnection is not done here: ``KafkaCluster`` opens a new connection when
/// one has closed.
final class KafkaConnection: Sendable {
    let channel: any Channel
    let broker: KafkaBrokerAddress
    let apiVersions: KafkaApiVersionsResponse
    private let handler: NIOLoopBound<KafkaChannelHandler>
    private let requestTimeout: TimeAmount

    private init(
        channel: any Channel,
        broker: KafkaBrokerAddress,
        handler: NIOLoopBound<KafkaChannelHandler>,
        apiVersions: KafkaApiVersionsResponse,
        requestTimeout: TimeAmount
    ) {
        self.channel = channel
        self.broker = broker
        self.handler = handler
        self.apiVersions = apiVersions
        self.requestTimeout = requestTimeout
    }

    /// Whether the channel is still open.
    var isActive: Bool { channel.isActive }

    /// Opens a connection and negotiates versions.
    ///
    /// - Throws: ``KafkaClientError/Code/connectFailed`` (or the SASL failure).
    static func connect(
        to broker: KafkaBrokerAddress,
        configuration: KafkaConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) async throws -> KafkaConnection {
        let connectTimeout = TimeAmount(configuration.connectTimeout)
        let sslContext: NIOSSLContext?
        do {
            sslContext = try configuration.tls.map { try NIOSSLContext(configuration: $0) }
        } catch {
            throw KafkaClientError(.invalidConfiguration, message: "TLS", underlyingError: error)
        }
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoopGroup)
                .connectTimeout(connectTimeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                // Reads grow to 1 MiB (NIO's default stops at 64 KiB): fetch responses are megabytes.
                .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 1 << 20))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let sslContext {
                            let tls = try NIOSSLClientHandler(context: sslContext, serverHostname: broker.host.isIPAddress ? nil : broker.host)
                            try channel.pipeline.syncOperations.addHandler(tls)
                        }
                        let handler = KafkaChannelHandler(clientID: configuration.clientID, maximumFrameSize: configuration.maximumResponseSize)
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                }
                .connect(host: broker.host, port: broker.port)
                .get()
        } catch {
            throw KafkaClientError(.connectFailed, message: "\(broker)", underlyingError: error)
        }
        do {
            let handler = try await channel.eventLoop.submit {
                NIOLoopBound(try channel.pipeline.syncOperations.handler(type: KafkaChannelHandler.self), eventLoop: channel.eventLoop)
            }.get()
            // ApiVersions v3 first; a broker before 2.4 answers UNSUPPORTED_VERSION with its list in v0.
            var versions = try await send(KafkaApiVersionsRequest(), version: 3, channel: channel, handler: handler, timeout: connectTimeout)
            if versions.errorCode == .unsupportedVersion {
                versions = try await send(KafkaApiVersionsRequest(), version: 0, channel: channel, handler: handler, timeout: connectTimeout)
            }
            guard versions.errorCode == .none else { throw KafkaClientError.broker(versions.errorCode, "ApiVersions") }
            let connection = KafkaConnection(
                channel: channel,
                broker: broker,
                handler: handler,
                apiVersions: versions,
                requestTimeout: TimeAmount(configuration.requestTimeout)
            )
            if let sasl = configuration.sasl { try await connection.authenticate(sasl) }
            logger.debug("Kafka connection open", metadata: ["kafka.broker": "\(broker)"])
            return connection
        } catch {
            channel.close(promise: nil)
            if let error = error as? KafkaClientError, error.errorCode == .authenticationFailed { throw error }
            throw KafkaClientError(.connectFailed, message: "\(broker)", underlyingError: error)
        }
    }

    private func authenticate(_ sasl: KafkaSASL) async throws {
        let handshake = try await send(KafkaSASLHandshakeRequest(mechanism: sasl.mechanism.rawValue))
        guard handshake.errorCode == .none else {
            throw KafkaClientError(
                .authenticationFailed,
                message: "mechanism \(sasl.mechanism.rawValue) not enabled; broker offers \(handshake.mechanisms)",
                brokerErrorCode: handshake.errorCode
            )
        }
        switch sasl.mechanism {
        case .plain:
            var token = ByteBuffer()
            token.writeInteger(UInt8(0))
            token.writeString(sasl.username)
            token.writeInteger(UInt8(0))
            token.writeString(sasl.password)
            _ = try await authenticateRound(token)
        case .scramSHA256, .scramSHA512:
            var scram = SCRAMClient(
                hash: sasl.mechanism == .scramSHA256 ? .sha256 : .sha512,
                username: sasl.username,
                password: sasl.password,
                clientNonce: SCRAMClient.makeNonce()
            )
            let serverFirst = try await authenticateRound(ByteBuffer(string: scram.clientFirstMessage))
            let clientFinal: String
            do {
                clientFinal = try scram.clientFinalMessage(serverFirst: String(buffer: serverFirst))
            } catch {
                throw KafkaClientError(.authenticationFailed, message: error.description)
            }
            let serverFinal = try await authenticateRound(ByteBuffer(string: clientFinal))
            guard scram.verify(serverFinal: String(buffer: serverFinal)) else {
                throw KafkaClientError(.authenticationFailed, message: "the broker's SCRAM signature is wrong (it does not know the password)")
            }
        }
    }

    /// One SaslAuthenticate round: sends `token`, returns the broker's bytes.
    private func authenticateRound(_ token: ByteBuffer) async throws -> ByteBuffer {
        let result = try await send(KafkaSASLAuthenticateRequest(bytes: token))
        guard result.errorCode == .none else {
            throw KafkaClientError(.authenticationFailed, message: result.message, brokerErrorCode: result.errorCode)
        }
        return result.bytes
    }

    /// Sends a request at the negotiated version and waits for its response.
    ///
    /// - Parameter extraTimeout: Added to the request timeout (a fetch's own wait).
    /// - Throws: ``KafkaClientError`` for an unsupported API, a closed connection, a timeout or a
    ///   malformed response (which also closes the connection).
    func send<Request: KafkaRequest>(_ request: Request, extraTimeout: TimeAmount = .zero) async throws -> Request.Response {
        guard let version = apiVersions.negotiate(Request.self) else {
            throw KafkaClientError(.unsupportedVersion, message: "\(Request.apiKey) \(Request.supportedVersions) at \(broker)")
        }
        return try await Self.send(request, version: version, channel: channel, handler: handler, timeout: requestTimeout + extraTimeout)
    }

    private static func send<Request: KafkaRequest>(
        _ request: Request,
        version: Int16,
        channel: any Channel,
        handler: NIOLoopBound<KafkaChannelHandler>,
        timeout: TimeAmount
    ) async throws -> Request.Response {
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        channel.eventLoop.execute {
            handler.value.send(request, version: version, timeout: timeout, promise: promise)
        }
        var body: ByteBuffer
        do {
            body = try await promise.futureResult.get()
        } catch let error as KafkaClientError {
            throw error
        } catch {
            throw KafkaClientError(.decodeError, message: "\(error)", underlyingError: error)
        }
        do {
            return try Request.readResponse(version: version, from: &body)
        } catch {
            let reason = KafkaClientError(.decodeError, message: "\(Request.apiKey) v\(version): \(error)", underlyingError: error)
            channel.eventLoop.execute { handler.value.fail(reason) }
            throw reason
        }
    }

    /// Closes the connection; waiting requests fail with ``KafkaClientError/Code/connectionClosed``.
    func close() {
        channel.close(promise: nil)
    }
}

extension String {
    /// Whether this is a literal IPv4 or IPv6 address (no SNI for those).
    var isIPAddress: Bool {
        contains(":") || allSatisfy { $0.isNumber || $0 == "." }
    }
}
