//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
public import Hummingbird
public import Logging
import VigilCore

/// Builds the router for the whole HTTP surface: health, metrics, REST v1 and the dashboard.
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
    router.get("/metrics") { _, _ in
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        for exporter in dependencies.exporters { exporter.emit(into: &buffer) }
        return Response(
            status: .ok,
            headers: [.contentType: prometheusContentType],
            body: .init(byteBuffer: ByteBuffer(bytes: buffer))
        )
    }
    router.get("/") { _, _ in
        Response(
            status: .ok,
            headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: DashboardPage.html(version: dependencies.version)))
        )
    }

    let api = router.group("api/v1")
    if let token = dependencies.configuration.token {
        api.add(middleware: BearerTokenMiddleware(token: token))
    }
    APIRoutes(dependencies: dependencies).register(on: api)
    return router
}

/// Builds the HTTP application.
///
/// - Parameters:
///   - dependencies: What the routes read from.
///   - logger: Logger, label `vigil.web`.
/// - Returns: A Hummingbird application (a `Service`).
public func buildWebApplication(_ dependencies: WebDependencies, logger: Logger) -> some ApplicationProtocol {
    Application(
        router: buildRouter(dependencies),
        configuration: .init(
            address: .hostname(dependencies.configuration.host, port: dependencies.configuration.port),
            serverName: "vigil"
        ),
        logger: logger
    )
}

/// Encodes a value as a JSON response.
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    return Response(
        status: status,
        headers: [.contentType: "application/json; charset=utf-8"],
        body: .init(byteBuffer: ByteBuffer(bytes: data))
    )
}

/// Requires `Authorization: Bearer <token>` on the routes it guards.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let presented = request.headers[.authorization].flatMap { value -> Substring? in
            value.hasPrefix("Bearer ") ? value.dropFirst(7) : nil
        } ?? request.uri.queryParameters["token"]
        guard let presented, constantTimeEqual(Array(presented.utf8), Array(token.utf8)) else {
            throw APIError(.unauthorized, "missing or wrong bearer token")
        }
        return try await next(request, context)
    }
}

/// Compares two byte strings in time that depends only on their lengths.
func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
    guard lhs.count == rhs.count else { return false }
    var difference: UInt8 = 0
    for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
    return difference == 0
}
