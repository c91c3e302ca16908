//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
public import Hummingbird

/// The seed-001 REST input: `POST /v1/announce/channel` and `POST /v1/announce/users`.
///
/// Answers `202 Accepted` with `{"id": "...", "recipients": n}` once the announcement is in the
/// outbox (delivery continues in the background), `400` with `{"error": "..."}` for a bad body
/// or a stanza that cannot be sent, `503` when too many announcements wait or channel
/// announcements are not configured.
public enum AnnouncerRoutes {
    /// The largest request body accepted.
    public static let maxBodySize = 1 << 20

    /// Adds the two routes to a router group (the caller decides about authentication).
    public static func register(on group: RouterGroup<BasicRequestContext>, announcer: Announcer) {
        route("v1/announce/channel", on: group, announcer: announcer, decode: Announcement.channel(json:))
        route("v1/announce/users", on: group, announcer: announcer, decode: Announcement.users(json:))
    }

    /// One POST route: decode the body (400 when it is bad), then hand it to the Announcer.
    private static func route(
        _ path: RouterPath,
        on group: RouterGroup<BasicRequestContext>,
        announcer: Announcer,
        decode: @escaping @Sendable (Data) throws(AnnouncementError) -> Announcement
    ) {
        group.post(path) { request, _ in
            let body = try await request.body.collect(upTo: maxBodySize)
            let announcement: Announcement
            do throws(AnnouncementError) {
                announcement = try decode(Data(body.readableBytesView))
            } catch {
                throw AnnouncerHTTPError(.badRequest, error.description)
            }
            return try await accept(announcement, announcer: announcer)
        }
    }

    private static func accept(_ announcement: Announcement, announcer: Announcer) async throws -> Response {
        let receipt: Announcer.Receipt
        do throws(Announcer.SubmitError) {
            receipt = try await announcer.submit(announcement)
        } catch .invalid(let reason) {
            throw AnnouncerHTTPError(.badRequest, reason)
        } catch {
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

/// An error answered as `{"error": "..."}` with its status.
struct AnnouncerHTTPError: HTTPResponseError {
    var status: HTTPResponse.Status
    var message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = (try? JSONEncoder().encode(["error": message])) ?? Data(#"{"error":"internal"}"#.utf8)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}
