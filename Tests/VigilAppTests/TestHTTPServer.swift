//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing

/// A test HTTP server on a free loopback port: `answer` gets each request's path, headers and
/// body and returns the status and body to send.
func withTestHTTPServer(
    answer: @escaping @Sendable (_ path: String, _ headers: HTTPFields, _ body: [UInt8]) -> (HTTPResponse.Status, String),
    _ body: (_ baseURL: String) async throws -> Void
) async throws {
    let router = Router()
    router.post("**") { request, _ -> Response in
        let bytes = try await request.body.collect(upTo: 1 << 20)
        let (status, text) = answer(request.uri.path, request.headers, Array(bytes.readableBytesView))
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
    let port = Mutex<Int?>(nil)
    let (ready, readyContinuation) = AsyncStream<Void>.makeStream()
    let app = Application(
        router: router,
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in
            port.withLock { $0 = channel.localAddress?.port }
            readyContinuation.yield()
        },
        logger: Logger(label: "test-server", factory: { _ in SwiftLogNoOpLogHandler() })
    )
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.runService() }
        for await _ in ready { break }
        let result: Result<Void, any Error>
        do {
            try await body("http://127.0.0.1:\(try #require(port.withLock { $0 }))")
            result = .success(())
        } catch {
            result = .failure(error)
        }
        group.cancelAll()
        try result.get()
    }
}
