//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import NIOCore

/// A message received on a Pub/Sub channel.
public struct RedisPubSubMessage: Sendable, Hashable {
    /// The channel the message was published to.
    public var channel: String
    /// The pattern that matched the channel, for pattern subscriptions (`PSUBSCRIBE`).
    public var pattern: String?
    /// The message.
    public var payload: ByteBuffer

    /// Creates a message.
    ///
    /// - Parameters:
    ///   - channel: The channel.
    ///   - pattern: The matching pattern, if any.
    ///   - payload: The message.
    public init(channel: String, pattern: String? = nil, payload: ByteBuffer) {
        self.channel = channel
        self.pattern = pattern
        self.payload = payload
    }

    /// Reads a `message` or `pmessage` push frame; `nil` for other frames.
    init?(push values: [RESPValue]) {
        guard let kind = values.first?.string?.lowercased() else { return nil }
        switch kind {
        case "message", "smessage":
            guard values.count == 3, let channel = values[1].string, let payload = values[2].bytes else { return nil }
            self.init(channel: channel, payload: payload)
        case "pmessage":
            guard values.count == 4, let pattern = values[1].string, let channel = values[2].string,
                let payload = values[3].bytes
            else { return nil }
            self.init(channel: channel, pattern: pattern, payload: payload)
        default:
            return nil
        }
    }
}
