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

#if canImport(Glibc)
import Glibc
#endif

/// Idle keep-alive connections are closed, so a client cannot hold descriptors for ever.
@Suite("HTTP idle timeout")
struct HTTPIdleTimeoutTests {
    /// Connects a plain TCP socket to 127.0.0.1:`port`, with a receive timeout of `seconds`.
    static func connect(port: Int, receiveTimeout seconds: Int) throws -> Int32 {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EIO) }
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(descriptor)
            throw POSIXError(.ECONNREFUSED)
        }
        return descriptor
    }

    /// Reads until the peer closes (returns everything read) or the receive timeout passes (nil).
    static func readUntilClosed(_ descriptor: Int32) -> String? {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count == 0 { return String(decoding: received, as: UTF8.self) }
            if count < 0 { return nil }
            received += buffer[..<count]
        }
    }

    /// Runs blocking socket calls on a thread of their own, not on the tasks' shared pool.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
        }
    }

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
            let received = try await Self.offPool { () throws -> String? in
                let descriptor = try Self.connect(port: port, receiveTimeout: 10)
                defer { close(descriptor) }
                let request = Array("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
                guard send(descriptor, request, request.count, 0) == request.count else { return "send failed" }
                return Self.readUntilClosed(descriptor)
            }
            #expect(received?.hasPrefix("HTTP/1.1 200") == true, "the idle connection was not closed: \(String(describing: received))")
            // A connection that never sends a request is closed too.
            let silent = try await Self.offPool { () throws -> String? in
                let descriptor = try Self.connect(port: port, receiveTimeout: 10)
                defer { close(descriptor) }
                return Self.readUntilClosed(descriptor)
            }
            #expect(silent == "")
            group.cancelAll()
        }
    }
}
