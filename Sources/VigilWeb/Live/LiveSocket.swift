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
/// the query is bad; a plain GET of the same URL tells which, in JSON. A client that falls too far behind,
/// or whose socket stops accepting data, is disconnected (see ``LiveClientQueue``); one that does
/// not answer pings is closed by the WebSocket layer's auto-ping.
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
        return .upgrade([:]) { inbound, outbound, context in
            let connection = feed.connect(filter: initialFilter) {
                channel.close(promise: nil)
            }
            defer { feed.disconnect(connection) }
            let writer = LiveSocketWriter(outbound: outbound, maxFrameSize: maxFrameSize)
            try await writer.send(await feed.snapshot(filter: initialFilter))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await readLoop(inbound, connection: connection, feed: feed, logger: context.logger)
                }
                group.addTask {
                    try await writeLoop(writer, connection: connection, feed: feed)
                }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    /// Reads client messages (subscribe, ping) until the client closes. Reading also lets the
    /// WebSocket layer see pongs.
    private static func readLoop(_ inbound: WebSocketInboundStream, connection: LiveFeed.Connection, feed: LiveFeed, logger: Logger) async throws {
        for try await message in inbound.messages(maxSize: maxClientMessage) {
            guard case .text(let text) = message else {
                connection.queue.push(message: LiveMessage.encode(LiveMessage.Failure(error: "messages must be JSON text")))
                continue
            }
            let request: LiveMessage.ClientMessage
            do {
                request = try JSONDecoder().decode(LiveMessage.ClientMessage.self, from: Data(text.utf8))
            } catch {
                connection.queue.push(message: LiveMessage.encode(LiveMessage.Failure(error: "not a client message: expected {\"type\":\"subscribe\"|\"ping\", ...}")))
                continue
            }
            switch request.type {
            case "subscribe":
                do {
                    let filter = try request.filter()
                    connection.filter = filter
                    connection.queue.push(message: LiveMessage.encode(LiveMessage.Subscribed(filter: .init(filter))))
                    connection.queue.push(message: await feed.snapshot(filter: filter))
                } catch {
                    connection.queue.push(message: LiveMessage.encode(LiveMessage.Failure(error: error.description)))
                }
            case "ping":
                connection.queue.pushHeartbeat(LiveMessage.encode(LiveMessage.Heartbeat(time: wallClockSeconds())))
            default:
                connection.queue.push(message: LiveMessage.encode(LiveMessage.Failure(error: "unknown message type '\(request.type)'")))
            }
        }
    }

    /// Sends what the client's queue holds until the queue closes or overflows.
    private static func writeLoop(_ writer: LiveSocketWriter, connection: LiveFeed.Connection, feed: LiveFeed) async throws {
        while true {
            switch await connection.queue.next() {
            case .messages(let messages):
                for message in messages {
                    connection.writeStarted.store(feed.monotonicNanoseconds(), ordering: .relaxed)
                    try await writer.send(message)
                }
                connection.writeStarted.store(0, ordering: .relaxed)
                feed.countSent(messages.count)
            case .overflow, .closed:
                return
            }
        }
    }
}

/// Writes JSON messages as WebSocket text messages without copying them.
struct LiveSocketWriter: Sendable {
    let outbound: WebSocketOutboundWriter
    let maxFrameSize: Int

    /// Sends one message, in several frames when it is larger than the frame size.
    func send(_ message: ByteBuffer) async throws {
        if message.readableBytes <= maxFrameSize {
            try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: .text, data: message)))
            return
        }
        var rest = message
        try await outbound.withTextMessageWriter { write in
            while rest.readableBytes > 0, let slice = rest.readSlice(length: min(maxFrameSize, rest.readableBytes)) {
                try await write(slice)
            }
        }
    }
}
