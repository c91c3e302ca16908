//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import ServiceLifecycle
import Testing
import VigilCore
import VigilWeb

/// Idle keep-alive connections are closed, so a client cannot hold descriptors for ever.
@Suite("HTTP idle timeout")
struct HTTPIdleTimeoutTests {
    @Test("A connection idle past idle_timeout is closed, after a request was answered on it")
    func idleConnectionClosed() async throws {
        var configuration = WebConfiguration(port: 0)
        configuration.idleTimeout = .seconds(1)
        let dependencies = WebDependencies(
            hub: Hub(stores: MemoryStore().stores),
            exporters: [],
            readiness: Readiness(),
            version: "1",
            configuration: configuration
        )
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = buildWebApplication(dependencies, logger: Logger(label: "test")) { continuation.yield($0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            // Keep-alive: the request is answered and the connection stays open, then goes idle.
            // Closed by the server before the 10 s receive timeout: recv sees the end, not EAGAIN.
            let answered = try await RawSocket.blocking {
                let socket = try RawSocket.connect(port: port)
                try socket.sendAll(Array("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
                return socket.readUntilClosed()
            }
            #expect(answered.closed, "the idle connection was not closed")
            #expect(String(decoding: answered.tail, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
            // A connection that never sends a request is closed too.
            let silent = try await RawSocket.blocking { try RawSocket.connect(port: port).readUntilClosed() }
            #expect(silent.closed, "the silent connection was not closed")
            #expect(silent.tail.isEmpty)
            group.cancelAll()
        }
    }
}
