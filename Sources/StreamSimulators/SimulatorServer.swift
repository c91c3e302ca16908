//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import NIOCore
import NIOHTTP1
public import NIOPosix
import Synchronization

/// An HTTP request as the simulators see it.
public struct SimulatedRequest: Sendable {
    /// `GET`, `POST`, ...
    public var method: String
    /// The path without the query, percent-decoding not applied.
    public var path: String
    /// The query parameters (last value wins).
    public var query: [String: String]
    /// The `Authorization` header, when present.
    public var authorization: String?
    /// The body (at most 1 MiB is kept).
    public var body: [UInt8] = []

    /// Creates a request (tests that call a simulator directly use this).
    public init(method: String = "GET", path: String, query: [String: String] = [:], authorization: String? = nil) {
        self.method = method
        self.path = path
        self.query = query
        self.authorization = authorization
    }

    /// The path split on `/`, without empty segments.
    public var segments: [String] { path.split(separator: "/").map(String.init) }
}

/// A simulator's answer.
public struct SimulatedResponse: Sendable {
    /// The status code.
    public var status: Int
    /// The body.
    public var body: [UInt8]
    /// The `Content-Type`.
    public var contentType: String
    /// When set, the connection is closed without an answer (a crashed or dying host).
    public var dropConnection: Bool

    /// Creates a response.
    public init(status: Int = 200, body: [UInt8] = [], contentType: String = "application/json", dropConnection: Bool = false) {
        self.status = status
        self.body = body
        self.contentType = contentType
        self.dropConnection = dropConnection
    }

    /// A JSON response from text.
    public static func json(_ text: String, status: Int = 200) -> SimulatedResponse {
        SimulatedResponse(status: status, body: Array(text.utf8))
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that answers every request with an async handler.
///
/// The simulators (``VisionaireSimulator``, ``MediaMTXSimulator``) are plain values behind a lock;
/// this server only moves bytes. ``stop()`` closes the listener and makes every open keep-alive
/// connection drop its next request, so a stopped server looks like a dead host.
public final class SimulatorServer: Sendable {
    /// The bound port.
    public let port: Int
    private let channel: any Channel
    private let flag: StopFlag

    private init(port: Int, channel: any Channel, flag: StopFlag) {
        self.port = port
        self.channel = channel
        self.flag = flag
    }

    /// Starts a server.
    ///
    /// - Parameters:
    ///   - port: The port, 0 for a free one.
    ///   - group: The event loops to use.
    ///   - handler: Answers each request.
    public static func start(
        port: Int = 0,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        handler: @escaping @Sendable (SimulatedRequest) async -> SimulatedResponse
    ) async throws -> SimulatorServer {
        let flag = StopFlag()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.backlog, value: 512)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(SimulatorHTTPHandler(handler: handler, stopped: flag))
                }
            }
            .bind(host: "127.0.0.1", port: port)
            .get()
        return SimulatorServer(port: channel.localAddress?.port ?? port, channel: channel, flag: flag)
    }

    /// Stops listening and drops every open connection's next request.
    public func stop() async {
        flag.set()
        try? await channel.close()
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }
}

/// Set once when the server stops; read by every connection.
final class StopFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// Turns HTTP request parts into ``SimulatedRequest`` and writes the handler's response.
final class SimulatorHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let handler: @Sendable (SimulatedRequest) async -> SimulatedResponse
    private let stopped: StopFlag
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(handler: @escaping @Sendable (SimulatedRequest) async -> SimulatedResponse, stopped: StopFlag) {
        self.handler = handler
        self.stopped = stopped
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(let buffer):
            if body.count + buffer.readableBytes <= 1 << 20 { body += buffer.readableBytesView }
        case .end:
            guard let head else { return }
            self.head = nil
            if stopped.isSet {
                context.close(promise: nil)
                return
            }
            var parsed = Self.request(from: head)
            parsed.body = body
            body = []
            let request = parsed
            let keepAlive = head.isKeepAlive
            let handler = self.handler
            let promise = context.eventLoop.makePromise(of: SimulatedResponse.self)
            // Bridge from NIO's callback world to the simulators' async handlers.
            promise.completeWithTask { await handler(request) }
            let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            promise.futureResult.whenSuccess { response in
                let context = loopBoundContext.value
                Self.write(response, keepAlive: keepAlive, context: context)
            }
        }
    }

    private static func write(_ response: SimulatedResponse, keepAlive: Bool, context: ChannelHandlerContext) {
        if response.dropConnection {
            context.close(promise: nil)
            return
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: String(response.body.count))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: response.body)))), promise: nil)
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: done)
        if !keepAlive {
            let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            done.futureResult.whenComplete { _ in loopBoundContext.value.close(promise: nil) }
        }
    }

    private static func request(from head: HTTPRequestHead) -> SimulatedRequest {
        let uri = head.uri
        let path: Substring
        var query: [String: String] = [:]
        if let mark = uri.firstIndex(of: "?") {
            path = uri[..<mark]
            for pair in uri[uri.index(after: mark)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                query[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
            }
        } else {
            path = Substring(uri)
        }
        return SimulatedRequest(
            method: head.method.rawValue,
            path: String(path),
            query: query,
            authorization: head.headers.first(name: "Authorization")
        )
    }
}
