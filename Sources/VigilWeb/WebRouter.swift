//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
public import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
public import Logging
import Metrics
import NIOCore
import VigilCore

/// Builds the router for the whole HTTP surface: health, metrics, REST v1, the dashboard and its
/// assets.
///
/// The WebSocket upgrade of `/api/v1/live` is handled before routing (see
/// ``buildWebApplication(_:logger:onServerRunning:)``); a plain `GET /api/v1/live` gets 426.
///
/// - Parameter dependencies: What the routes read from.
/// - Returns: A router ready for an `Application`.
public func buildRouter(_ dependencies: WebDependencies) -> Router<BasicRequestContext> {
    let router = Router()

    router.get("/healthz") { _, _ in
        jsonResponse(["status": "ok"])
    }
    router.get("/readyz") { _, _ in
        guard dependencies.readiness.isReady else { throw APIError(.serviceUnavailable, "starting") }
        return jsonResponse(["status": "ready"])
    }
    // Beyond loopback everything but health, readiness and the data-free dashboard page and assets
    // needs the token (the configuration refuses such a listener without one).
    let metrics = router.group()
    if let token = dependencies.configuration.token, !dependencies.configuration.isLoopback {
        metrics.add(middleware: BearerTokenMiddleware(token: token, acceptsQueryToken: false))
    }
    metrics.get("/metrics") { _, _ in
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        for exporter in dependencies.exporters { exporter.emit(into: &buffer) }
        return Response(
            status: .ok,
            headers: [.contentType: prometheusContentType],
            body: .init(byteBuffer: ByteBuffer(bytes: buffer))
        )
    }
    DashboardRoutes(dependencies: dependencies).register(on: router)
    // Its own tokens, required on loopback too (not the [http] token of the group below).
    HostIngestRoutes.register(on: router, intake: dependencies.hostIngest, tokens: dependencies.hostIngestTokens)

    let api = router.group("api/v1")
    if let token = dependencies.configuration.token {
        api.add(middleware: BearerTokenMiddleware(token: token))
    }
    APIRoutes(dependencies: dependencies).register(on: api)
    if let alerts = dependencies.alerts {
        AlertRoutes.register(on: api, desk: alerts, loopbackHostOnly: dependencies.configuration.token == nil)
    }
    let openAPI = ByteBuffer(string: OpenAPIDocument.yaml)
    api.get("openapi.yaml") { _, _ in
        Response(status: .ok, headers: [.contentType: OpenAPIDocument.contentType], body: .init(byteBuffer: openAPI))
    }
    api.get("live") { request, _ -> Response in
        do throws(LiveFilter.ParseError) {
            _ = try LiveFilter.parse(query: request.uri.queryParameters.map { (String($0.key), String($0.value)) })
        } catch {
            throw APIError(.badRequest, error.description)
        }
        throw APIError(.upgradeRequired, "this is a WebSocket endpoint: connect with a WebSocket client")
    }
    if !dependencies.extraRoutes.isEmpty {
        let extra = router.group()
        if let token = dependencies.configuration.token {
            extra.add(middleware: BearerTokenMiddleware(token: token, acceptsQueryToken: false))
        }
        for register in dependencies.extraRoutes { register(extra) }
    }
    return router
}

/// An extra listener that serves only the given routes, for a seed that fixes its own port (the
/// Announcer's `rest_api_port`), behind the bearer token when one is set (only in the
/// `Authorization` header: a token in a URL ends up in logs).
///
/// - Parameters:
///   - host: The address to listen on.
///   - port: The port.
///   - token: The `[http] token`, if any.
///   - routes: What to serve.
///   - idleTimeout: How long a connection may sit without a request.
///   - logger: Logger.
/// - Returns: A Hummingbird application (a `Service`).
public func buildSideApplication(
    host: String,
    port: Int,
    token: String?,
    routes: [RouteRegistration],
    idleTimeout: Duration = .seconds(60),
    logger: Logger
) -> some ApplicationProtocol {
    let router = Router()
    let group = router.group()
    if let token { group.add(middleware: BearerTokenMiddleware(token: token, acceptsQueryToken: false)) }
    for register in routes { register(group) }
    return Application(
        router: router,
        server: .http1(configuration: .init(idleTimeout: TimeAmount(idleTimeout))),
        configuration: .init(address: .hostname(host, port: port), serverName: "vigil"),
        logger: logger
    )
}

/// Builds the HTTP application: the router, the WebSocket live feed and its ``LiveFeed`` service.
///
/// - Parameters:
///   - dependencies: What the routes read from.
///   - logger: Logger, label `vigil.web`.
///   - onServerRunning: Called with the bound port once the server listens.
/// - Returns: A Hummingbird application (a `Service`).
public func buildWebApplication(
    _ dependencies: WebDependencies,
    logger: Logger,
    onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let configuration = dependencies.configuration
    let feed = LiveFeed(
        hub: dependencies.hub,
        version: dependencies.version,
        configuration: configuration.live,
        logger: logger,
        clock: dependencies.clock
    )
    return Application(
        router: buildRouter(dependencies),
        server: HTTPServerBuilder { responder in
            // HTTP/1 with the WebSocket upgrade, plus a 400 for a first request that cannot be parsed
            // (see HTTPParseErrorGuard).
            ParseErrorGuardedChannel(
                base: HTTP1WebSocketUpgradeChannel(
                    responder: responder,
                    configuration: .init(
                        http1: .init(idleTimeout: TimeAmount(configuration.idleTimeout)),
                        ws: WebSocketServerConfiguration(
                            maxFrameSize: LiveSocket.maxFrameSize,
                            autoPing: .enabled(timePeriod: configuration.live.pingInterval),
                            closeTimeout: .seconds(5)
                        )
                    )
                ) { request, channel, _ in
                    try LiveSocket.shouldUpgrade(request, channel: channel, feed: feed, configuration: configuration)
                },
                firstRequestTimeout: TimeAmount(configuration.idleTimeout)
            )
        },
        configuration: .init(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "vigil"
        ),
        services: [feed],
        onServerRunning: { channel in
            await onServerRunning(channel.localAddress?.port ?? 0)
        },
        logger: logger
    )
}

/// Encodes a value as a JSON response. Non-finite numbers (a sample that is NaN) become the strings
/// `NaN`, `Infinity` and `-Infinity`, as in the live feed, rather than failing the whole response.
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    return Response(
        status: status,
        headers: [.contentType: "application/json; charset=utf-8"],
        body: .init(byteBuffer: ByteBuffer(bytes: data))
    )
}

/// Requires `Authorization: Bearer <token>` (or `?token=`, unless `acceptsQueryToken` is false)
/// on the routes it guards.
///
/// Refusals are counted in `vigil_http_requests_unauthorized_total`.
public struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String
    let acceptsQueryToken: Bool
    let unauthorized = Counter(label: BearerToken.unauthorizedMetric)

    /// Creates the middleware.
    ///
    /// - Parameters:
    ///   - token: The token requests must present.
    ///   - acceptsQueryToken: Whether `?token=` counts too (browsers cannot set headers on a
    ///     WebSocket); off where a token in a URL would only end up in logs.
    public init(token: String, acceptsQueryToken: Bool = true) {
        self.token = token
        self.acceptsQueryToken = acceptsQueryToken
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let query = acceptsQueryToken ? request.uri.queryParameters : Parameters()
        guard BearerToken.matches(token, authorization: request.headers[.authorization], query: query) else {
            unauthorized.increment()
            throw APIError(.unauthorized, "missing or wrong bearer token")
        }
        return try await next(request, context)
    }
}

/// How a client presents the token: an `Authorization: Bearer` header, or a `token` query
/// parameter (browsers cannot set headers on a WebSocket).
enum BearerToken {
    /// The counter of requests refused for a missing or wrong token, on every listener.
    static let unauthorizedMetric = "vigil_http_requests_unauthorized_total"

    /// Whether the request presents `token`, compared in constant time.
    static func matches(_ token: String, authorization: String?, query: Parameters) -> Bool {
        let presented =
            authorization.flatMap { value -> Substring? in
                value.hasPrefix("Bearer ") ? Substring(value).dropFirst(7) : nil
            } ?? query["token"]
        guard let presented else { return false }
        return constantTimeEqual(Array(presented.utf8), Array(token.utf8))
    }
}

/// Compares two byte strings in time that depends only on their lengths.
func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
    return difference == 0
}
