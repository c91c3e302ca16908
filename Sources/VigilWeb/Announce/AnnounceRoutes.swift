//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
public import Hummingbird
public import Metrics

/// What the announce routes hand a request body to: the Announcer, adapted by the application
/// (seed 001). The routes guard, read and answer; decoding and queueing are the intake's.
public protocol AnnouncementIntake: Sendable {
    /// Decodes one request body of `POST /v1/announce/<kind>` and queues the announcement.
    func submit(_ kind: AnnouncementKind, body: [UInt8]) async -> AnnouncementIntakeResult
    /// Queues again an announcement that failed (`POST /api/v1/announcements/{id}/retry`).
    func retry(id: String) async -> AnnouncementIntakeResult
}

/// The two announce routes.
public enum AnnouncementKind: String, Sendable, Hashable, CaseIterable {
    /// `POST /v1/announce/channel`: the online members of a channel.
    case channel
    /// `POST /v1/announce/users`: named users.
    case users
}

/// What became of a request body.
public enum AnnouncementIntakeResult: Sendable, Hashable {
    /// Queued: `202` with this JSON receipt (`{"id": "...", "recipients": n}`).
    case accepted(receipt: [UInt8])
    /// Not an announcement (bad JSON, missing or wrong fields, a bad username): `400`.
    case badBody(String)
    /// An announcement whose stanza cannot be sent: `400`.
    case invalid(String)
    /// Too many announcements wait, or channel announcements are not configured: `503`.
    case busy(String)
    /// No such announcement in the outbox: `404`.
    case notFound(String)
    /// The announcement is not in a state that allows this (a retry of one that has not failed): `409`.
    case conflict(String)
}

/// The seed-001 REST input, `POST /v1/announce/channel` and `POST /v1/announce/users`, and
/// `POST /api/v1/announcements/{id}/retry` for an announcement that failed (`404` when the outbox
/// has no such id, `409` when it has not failed).
///
/// Answers `202 Accepted` with the intake's receipt once the announcement is in the outbox
/// (delivery continues in the background), `400` with `{"error": "..."}` for a bad body or a stanza
/// that cannot be sent, `503` when too many announcements wait or channel announcements are not
/// configured.
///
/// Cross-site requests are refused before the body is read (see ``AnnounceRequestGuard``): `403`
/// for a foreign `Origin`, `415` for a body that is not `application/json`.
///
/// Every refusal is counted in `vigil_announcer_requests_refused_total{reason}`: `origin`, `host`,
/// `media_type`, `body` (unreadable, too large or not an announcement), `invalid` (a stanza that
/// cannot be sent), `busy` (503), `not_found` and `conflict` (retries).
public enum AnnounceRoutes {
    /// The largest request body accepted.
    public static let maxBodySize = 1 << 20

    /// Adds the two routes to a router group (the caller decides about authentication).
    ///
    /// - Parameters:
    ///   - group: Where to add them.
    ///   - intake: Who takes the announcements.
    ///   - loopbackHostOnly: Also refuse a `Host` that is not a loopback address or `localhost`
    ///     (for a listener without a token: a web page that re-points its own name at 127.0.0.1,
    ///     "DNS rebinding", would otherwise pass as same-origin).
    ///   - metricsFactory: Where the refusal counters are created; tests inject `TestMetrics`.
    public static func register(
        on group: RouterGroup<BasicRequestContext>,
        intake: any AnnouncementIntake,
        loopbackHostOnly: Bool = false,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        let refusals = Refusals(factory: metricsFactory)
        let guarded = group.group().add(middleware: AnnounceRequestGuard<BasicRequestContext>(loopbackHostOnly: loopbackHostOnly, refusals: refusals))
        for kind in AnnouncementKind.allCases {
            guarded.post(RouterPath("v1/announce/\(kind.rawValue)")) { request, _ in
                let body: ByteBuffer
                do {
                    body = try await request.body.collect(upTo: maxBodySize)
                } catch {
                    refusals.body.increment()
                    throw error
                }
                return try answer(await intake.submit(kind, body: Array(body.readableBytesView)), refusals: refusals)
            }
        }
        guarded.post("api/v1/announcements/:id/retry") { _, context in
            let id = context.parameters.get("id") ?? ""
            return try answer(await intake.retry(id: id), refusals: refusals)
        }
    }

    /// The response for an intake result; refusals are counted by reason.
    private static func answer(_ result: AnnouncementIntakeResult, refusals: Refusals) throws -> Response {
        switch result {
        case .accepted(let receipt):
            return Response(
                status: .accepted,
                headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: receipt))
            )
        case .badBody(let reason):
            refusals.body.increment()
            throw APIError(.badRequest, reason)
        case .invalid(let reason):
            refusals.invalid.increment()
            throw APIError(.badRequest, reason)
        case .busy(let reason):
            refusals.busy.increment()
            throw APIError(.serviceUnavailable, reason)
        case .notFound(let reason):
            refusals.notFound.increment()
            throw APIError(.notFound, reason)
        case .conflict(let reason):
            refusals.conflict.increment()
            throw APIError(.conflict, reason)
        }
    }

    /// `vigil_announcer_requests_refused_total{reason}`, one counter per reason.
    struct Refusals: Sendable {
        let origin: Counter
        let host: Counter
        let mediaType: Counter
        let body: Counter
        let invalid: Counter
        let busy: Counter
        let notFound: Counter
        let conflict: Counter

        init(factory: any MetricsFactory) {
            func counter(_ reason: String) -> Counter {
                Counter(label: "vigil_announcer_requests_refused_total", dimensions: [("reason", reason)], factory: factory)
            }
            origin = counter("origin")
            host = counter("host")
            mediaType = counter("media_type")
            body = counter("body")
            invalid = counter("invalid")
            busy = counter("busy")
            notFound = counter("not_found")
            conflict = counter("conflict")
        }
    }
}

/// Refuses what a browser on another site could send: a foreign `Origin` (403) and any body that
/// is not `Content-Type: application/json` (415; `text/plain` and form posts need no CORS
/// preflight, JSON does).
struct AnnounceRequestGuard<Context: RequestContext>: RouterMiddleware {
    var loopbackHostOnly: Bool
    var refusals: AnnounceRoutes.Refusals

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let authority = request.head.authority
        if let origin = request.headers[.origin], !Self.isOwnOrigin(origin, authority: authority) {
            refusals.origin.increment()
            throw APIError(.forbidden, "cross-site request refused: Origin is not this server")
        }
        if loopbackHostOnly, let authority, !Self.isLoopbackAuthority(authority) {
            refusals.host.increment()
            throw APIError(.forbidden, "Host must be a loopback address or localhost on a listener without a token")
        }
        let mediaType = request.headers[.contentType]?.split(separator: ";", maxSplits: 1).first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        guard mediaType == "application/json" else {
            refusals.mediaType.increment()
            throw APIError(.unsupportedMediaType, "announce requests must have Content-Type: application/json")
        }
        return try await next(request, context)
    }

    /// Whether `origin` is `http(s)://` plus the request's own `Host` (default ports ignored).
    static func isOwnOrigin(_ origin: String, authority: String?) -> Bool {
        guard let authority else { return false }
        let origin = origin.lowercased()
        let host = authority.lowercased()
        for (scheme, port) in [("http://", ":80"), ("https://", ":443")] where origin.hasPrefix(scheme) {
            let originHost = String(origin.dropFirst(scheme.count))
            func bare(_ text: String) -> String { text.hasSuffix(port) ? String(text.dropLast(port.count)) : text }
            return bare(originHost) == bare(host)
        }
        return false
    }

    /// Whether a `Host` value names the loopback interface: `localhost`, 127.x.y.z or `[::1]`, with
    /// or without a port.
    static func isLoopbackAuthority(_ authority: String) -> Bool {
        var host = Substring(authority.lowercased())
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            return host[host.index(after: host.startIndex)..<close] == "::1"
        }
        if let colon = host.lastIndex(of: ":") { host = host[..<colon] }
        if host == "localhost" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}
