//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
public import Hummingbird

/// What the alert routes read and change: the alerting service, adapted by the application.
public protocol AlertDesk: Sendable {
    /// `GET /api/v1/alerts`: the JSON document of every alert.
    func alerts() async -> [UInt8]
    /// `GET /api/v1/silences`: the JSON document of every silence.
    func silences() async -> [UInt8]
    /// `POST /api/v1/silences` with a JSON body.
    func addSilence(body: [UInt8]) async -> AlertDeskResult
    /// `DELETE /api/v1/silences/{id}`.
    func removeSilence(id: String) async -> AlertDeskResult
}

/// What became of a change.
public enum AlertDeskResult: Sendable, Hashable {
    /// Done: `200` (or `201` when `created`) with this JSON.
    case done(json: [UInt8], created: Bool)
    /// A bad request: `400`.
    case bad(String)
    /// No such silence: `404`.
    case notFound(String)
}

/// `GET /api/v1/alerts`, `GET /api/v1/silences`, `POST /api/v1/silences`,
/// `DELETE /api/v1/silences/{id}`.
///
/// Writes are refused from another site before the body is read: `403` for a foreign `Origin`
/// (and, on a listener without a token, for a `Host` that is not loopback), `415` for a body that
/// is not JSON.
public enum AlertRoutes {
    /// The largest silence body accepted.
    public static let maxBodySize = 16 * 1024

    /// Adds the routes to the `api/v1` group (the caller decides about authentication).
    public static func register(on group: RouterGroup<BasicRequestContext>, desk: any AlertDesk, loopbackHostOnly: Bool) {
        group.get("alerts") { _, _ in json(await desk.alerts()) }
        group.get("silences") { _, _ in json(await desk.silences()) }
        group.post("silences") { request, _ in
            try guardWrite(request, loopbackHostOnly: loopbackHostOnly, body: true)
            let body = try await request.body.collect(upTo: maxBodySize)
            return try answer(await desk.addSilence(body: Array(body.readableBytesView)))
        }
        group.delete("silences/:id") { request, context in
            try guardWrite(request, loopbackHostOnly: loopbackHostOnly, body: false)
            return try answer(await desk.removeSilence(id: context.parameters.get("id") ?? ""))
        }
    }

    static func guardWrite(_ request: Request, loopbackHostOnly: Bool, body: Bool) throws {
        let authority = request.head.authority
        if let origin = request.headers[.origin], !AnnounceRequestGuard<BasicRequestContext>.isOwnOrigin(origin, authority: authority) {
            throw APIError(.forbidden, "cross-site request refused: Origin is not this server")
        }
        if loopbackHostOnly, let authority, !AnnounceRequestGuard<BasicRequestContext>.isLoopbackAuthority(authority) {
            throw APIError(.forbidden, "Host must be a loopback address or localhost on a listener without a token")
        }
        if body {
            let mediaType = request.headers[.contentType]?.split(separator: ";", maxSplits: 1).first?.trimmingCharacters(in: .whitespaces)
                .lowercased()
            guard mediaType == "application/json" else { throw APIError(.unsupportedMediaType, "silences must be sent as application/json") }
        }
    }

    static func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func answer(_ result: AlertDeskResult) throws -> Response {
        switch result {
        case .done(let bytes, let created): return json(bytes, status: created ? .created : .ok)
        case .bad(let reason): throw APIError(.badRequest, reason)
        case .notFound(let reason): throw APIError(.notFound, reason)
        }
    }
}
