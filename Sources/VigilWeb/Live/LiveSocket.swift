//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import Synchronization
import VigilCore

/// The WebSocket endpoint `GET /api/v1/live`.
///
/// On connect the client gets a `snapshot`, then one message per change (see ``LiveMessage``).
/// The upgrade is refused (HTTP 400, connection closed) when the token is wrong or the filter in
/// the query is bad; a plain GET of the same URL tells which, in JSON. Past
/// ``LiveConfiguration/maxClients`` a new client is closed at once with code 1013 ("try again
/// later"). A client that falls too far behind, whose socket stops accepting data, or that sends
/// more than ``LiveConfiguration/maxRequestsPerSecond`` messages is disconnected with code 1008
/// (see ``LiveClientQueue``); one that does not answer pings is closed by the WebSocket layer's
/// auto-ping.
enum LiveSocket {
    /// The path of the endpoint.
    static let path = "/api/v1/live"
    /// The largest message a client may send.
    static let maxClientMessage = 16 * 1024
    /// The largest frame the server sends or accepts; longer messages are split into frames.
    static let maxFrameSize = 16 * 1024

    typealias Handler = WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>

    /// Decides whether a request upgrades, and returns the connection's handler.
    static func shouldUpgrade(
        _ request: HTTPRequest,
        channel: any Channel,
        feed: LiveFeed,
        configuration: WebConfiguration
    ) throws -> ShouldUpgradeResult<Handler> {
        let uri = URI(request.path ?? "/")
        guard uri.path == path else { return .dontUpgrade }
        if let token = configuration.token,
            !BearerToken.matches(token, authorization: request.headerFields[.authorization], query: uri.queryParameters)
        {
            throw APIError(.unauthorized, "missing or wrong bearer token")
        }
        let initialFilter: LiveFilter
        do {
            initialFilter = try LiveFilter.parse(query: uri.queryParameters.map { (String($0.key), String($0.value)) })
        } catch {
            throw APIError(.badRequest, error.description)
        }
        let maxFrameSize = Self.maxFrameSize
        return .upgrade([:]) { inbound, outbound, _ in
            let writerBox = Mutex<LiveChannelWriter?>(nil)
            let connected = feed.connect(filter: initialFilter) { reason in
                if let writer = writerBox.withLock({ $0 }) {
                    writer.close(reason: reason)
                } else {
                    channel.close(promise: nil)
                }
            }
            guard let connection = connected else {
                // 1013 "Try Again Later" (RFC 6455 registry): the client may retry after a pause.
                try await outbound.close(.unknown(1013), reason: "too many live clients; try again later")
                return
            }
            defer { feed.disconnect(connection) }
            let writer = LiveChannelWriter(
                channel: channel,
                queue: connection.queue,
                maxFrameSize: maxFrameSize,
                clock: feed.clock,
                onSent: { feed.countSent($0) }
            )
            writerBox.withLock { $0 = writer }
            try await channel.pipeline.addHandler(LiveWritabilityHandler(writer: writer), position: .first).get()
            let limitedInPipeline = await LiveInboundLimiter.install(
                in: channel,
                admit: { feed.admitRequest(from: connection) },
                isAborted: { connection.isAborted }
            )
            connection.writer = writer
            writer.start(snapshot: await feed.snapshot(filter: initialFilter))
            // Writing happens on the event loop (LiveChannelWriter); this task only reads, until
            // the client closes or the feed aborts the connection.
            try await readLoop(inbound, connection: connection, feed: feed, countsRequests: !limitedInPipeline)
        }
    }

    /// Reads client messages (subscribe, ping) until the client closes. Reading also lets the
    /// WebSocket layer see pongs.
    ///
    /// Every message costs work (a subscribe costs a snapshot): a client past its rate is
    /// disconnected. The rate is normally counted by a ``LiveInboundLimiter`` in the pipeline;
    /// `countsRequests` makes this loop count instead when there is none.
    private static func readLoop(
        _ inbound: WebSocketInboundStream,
        connection: LiveFeed.Connection,
        feed: LiveFeed,
        countsRequests: Bool
    ) async throws {
        for try await message in inbound.messages(maxSize: maxClientMessage) {
            // What an aborted client sent before its input was cut off is ignored.
            guard !connection.isAborted, !countsRequests || feed.admitRequest(from: connection) else { continue }
            guard case .text(let text) = message else {
                feed.send(LiveMessage.encode(LiveMessage.Failure(error: "messages must be JSON text")), to: connection)
                continue
            }
            let request: LiveMessage.ClientMessage
            do {
                request = try JSONDecoder().decode(LiveMessage.ClientMessage.self, from: Data(text.utf8))
            } catch {
                feed.send(
                    LiveMessage.encode(LiveMessage.Failure(error: "not a client message: expected {\"type\":\"subscribe\"|\"ping\", ...}")),
                    to: connection
                )
                continue
            }
            switch request.type {
            case "subscribe":
                do {
                    let filter = try request.filter()
                    connection.filter = filter
                    feed.send(LiveMessage.encode(LiveMessage.Subscribed(filter: .init(filter))), to: connection)
                    feed.send(await feed.snapshot(filter: filter), to: connection)
                } catch {
                    feed.send(LiveMessage.encode(LiveMessage.Failure(error: error.description)), to: connection)
                }
            case "ping":
                connection.queue.pushHeartbeat(LiveMessage.encode(LiveMessage.Heartbeat(time: feed.wallClockSeconds)))
                connection.writer?.scheduleDrain()
            default:
                feed.send(LiveMessage.encode(LiveMessage.Failure(error: "unknown message type '\(request.type)'")), to: connection)
            }
        }
    }
}
