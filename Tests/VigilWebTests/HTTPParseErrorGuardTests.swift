//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import VigilWeb

@Suite("HTTP parse errors before the first request")
struct HTTPParseErrorGuardTests {
    /// A server pipeline as the WebSocket upgrade sets it up (no NIO error handler), plus the guard.
    func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false)
        try HTTPParseErrorGuard.install(on: channel, firstRequestTimeout: nil)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        return channel
    }

    func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    @Test(
        "A request line with a raw control, space or non-ASCII byte gets 400 and the connection closes",
        arguments: [
            [UInt8]("GET /healthz?".utf8) + [0xFF] + [UInt8](" HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
            [UInt8]("GET /healthz?a b HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
            [UInt8]("GET /\u{1} HTTP/1.1\r\n\r\n".utf8),
            [UInt8]("GET / HTTP/1.1\r\nBad Header\r\n\r\n".utf8),
        ]
    )
    func refused(request: [UInt8]) throws {
        let channel = try channel()
        try channel.writeInbound(ByteBuffer(bytes: request))
        #expect(try written(channel).hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(!channel.isActive)
    }

    @Test("A good request passes through and the guard steps aside")
    func passes() throws {
        let channel = try channel()
        try channel.writeInbound(ByteBuffer(string: "GET /healthz?%FF HTTP/1.1\r\nHost: x\r\n\r\n"))
        guard case .head(let head) = try #require(try channel.readInbound(as: HTTPServerRequestPart.self)) else {
            Issue.record("expected a head")
            return
        }
        #expect(head.uri == "/healthz?%FF")
        #expect(throws: (any Error).self) { try channel.pipeline.syncOperations.handler(type: HTTPParseErrorGuard.self) }
        #expect(channel.isActive)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }
}
