//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
public import Hummingbird
public import Metrics

/// The seed-001 REST input: `POST /v1/announce/channel` and `POST /v1/announce/users`.
///
/// Answers `202 Accepted` with `{"id": "...", "recipients": n}` once the announcement is in the
/// outbox (delivery continues in the background), `400` with `{"error": "..."}` for a bad body
/// or a stanza that cannot be sent, `503` when too many announcements wait or channel
/// announcements are not configured.
///
/// Cross-site requests are refused before the body is read (see ``AnnouncerRequestGuard``): `403`
/// for a foreign `Origin`, `415` for a body that is not `application/json`.
///
/// Every refusal is counted in `vigil_announcer_requests_refused_total{reason}`: `origin`, `host`,
/// `media_type`, `body` (unreadable, too large or not an announcement), `invalid` (a stanza that
/// cannot be sent), `busy` (503).
public enum AnnouncerRoutes {
    /// The largest request body accepted.
    public static let maxBodySize = 1 << 20

    /// Adds the two routes to a router group (the caller decides about authentication).
    ///
    /// - Parameters:
    ///   - group: Where to add them.
    ///   - announcer: Who takes the announcements.
    ///   - loopbackHostOnly: Also refuse a `Host` that is not a loopback address or `localhost`
    ///     (for a listener without a token: a web page that re-points its own name at 127.0.0.1,
    ///     "DNS rebinding", would otherwise pass as same-origin).
    ///   - metricsFactory: Where the refusal counters are created; tests inject `TestMetrics`.
    public static func register(
        on group: RouterGroup<BasicRequestContext>,
        announcer: Announcer,
        loopbackHostOnly: Bool = false,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        let refusals = Refusals(factory: metricsFactory)
        let guarded = group.group().add(
            middleware: AnnouncerRequestGuard<BasicRequestContext>(loopbackHostOnly: loopbackHostOnly, refusals: refusals)
        )
        route("v1/announce/channel", on: guarded, announcer: announcer, refusals: refusals, decode: Announcement.channel(json:))
        route("v1/announce/users", on: guarded, announcer: announcer, refusals: refusals, decode: Announcement.users(json:))
    }

    /// `vigil_announcer_requests_refused_total{reason}`, one counter per reason.
    struct Refusals: Sendable {
        let origin: Counter
        let host: Counter
        let mediaType: Counter
        let body: Counter
        let invalid: Counter
        let busy: Counter

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
        }
    }

    /// One POST route: decode the body (400 when it is bad), then hand it to the Announcer.
    private static func route(
        _ path: RouterPath,
        on group: RouterGroup<BasicRequestContext>,
        announcer: Announcer,
        refusals: Refusals,
        decode: @escaping @Sendable (Data) throws(AnnouncementError) -> Announcement
    ) {
        group.post(path) { request, _ in
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: maxBodySize)
            } catch {
                refusals.body.increment()
                throw error
            }
            let announcement: Announcement
            do throws(AnnouncementError) {
                announcement = try decode(Data(body.readableBytesView))
            } catch {
                refusals.body.increment()
                throw AnnouncerHTTPError(.badRequest, error.description)
            }
            return try await accept(announcement, announcer: announcer, refusals: refusals)
        }
    }

    private static func accept(_ announcement: Announcement, announcer: Announcer, refusals: Refusals) async throws -> Response {
        let receipt: Announcer.Receipt
        do throws(Announcer.SubmitError) {
            receipt = try await announcer.submit(announcement)
        } catch .invalid(let reason) {
            refusals.invalid.increment()
            throw AnnouncerHTTPError(.badRequest, reason)
        } catch {
            refusals.busy.increment()
            throw AnnouncerHTTPError(.serviceUnavailable, error.description)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(receipt)) ?? Data("{}".utf8)
        return Response(
            status: .accepted,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}

/// Refuses what a browser on another site could send: a foreign `Origin` (403) and any body that
/// is not `Content-Type: application/json` (415; `text/plain` and form posts need no CORS
/// preflight, JSON does).
struct AnnouncerRequestGuard<Context: RequestContext>: RouterMiddleware {
    var loopbackHostOnly: Bool
    var refusals: AnnouncerRoutes.Refusals

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let authority = request.head.authority
        if let origin = request.headers[.origin], !Self.isOwnOrigin(origin, authority: authority) {
            refusals.origin.increment()
            throw AnnouncerHTTPError(.forbidden, "cross-site request refused: Origin is not this server")
        }
        if loopbackHostOnly, let authority, !Self.isLoopbackAuthority(authority) {
            refusals.host.increment()
            throw AnnouncerHTTPError(.forbidden, "Host must be a loopback address or localhost on a listener without a token")
        }
        let mediaType = request.headers[.contentType]?.split(separator: ";", maxSplits: 1).first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        guard mediaType == "application/json" else {
            refusals.mediaType.increment()
            throw AnnouncerHTTPError(.unsupportedMediaType, "announce requests must have Content-Type: application/json")
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

/// An error answered as `{"error": "..."}` with its status.
struct AnnouncerHTTPError: HTTPResponseError {
    var status: HTTPResponse.Status
    var message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let body = (try? encoder.encode(["error": message])) ?? Data(#"{"error":"internal"}"#.utf8)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}
