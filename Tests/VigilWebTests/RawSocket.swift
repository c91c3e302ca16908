//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP socket to 127.0.0.1 with blocking calls, for tests that must control exactly what
/// is sent and when anything is read (a client that never reads, a client that stays silent).
/// Blocking calls run on a thread of their own (``blocking(_:)``), never on the tasks' pool.
final class RawSocket: Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let fd: Int32

    private init(fd: Int32) {
        self.fd = fd
    }

    deinit { close(fd) }

    /// Runs blocking socket calls off the cooperative thread pool.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    /// Connects to 127.0.0.1:`port` (a blocking call: use it inside ``blocking(_:)``).
    static func connect(port: Int) throws -> RawSocket {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed") }
        let socket = RawSocket(fd: fd)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect failed") }
        return socket
    }

    /// Sends all of `bytes`; throws when the peer has closed.
    func sendAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw Failure(description: "send failed") }
            offset += sent
        }
    }

    /// Reads until the peer closes or `timeout` seconds pass without data (a test never hangs).
    ///
    /// - Returns: The last `keep` bytes read, and whether the peer closed (rather than the timeout
    ///   passing).
    func readUntilClosed(timeout: Int = 10, keep: Int = 4_096) -> (tail: [UInt8], closed: Bool) {
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var tail: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { return (tail, count == 0) }
            tail.append(contentsOf: buffer[0..<count])
            if tail.count > keep { tail.removeFirst(tail.count - keep) }
        }
    }
}

/// A WebSocket client on a ``RawSocket`` that reads only when told to, as a client that never
/// reads would behave.
final class RawWebSocketClient: Sendable {
    private let socket: RawSocket

    private init(socket: RawSocket) {
        self.socket = socket
    }

    /// Connects and upgrades, reading the response head byte by byte so not one byte of the feed is read.
    static func connect(port: Int) async throws -> RawWebSocketClient {
        try await RawSocket.blocking {
            let socket = try RawSocket.connect(port: port)
            let request =
                "GET /api/v1/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            try socket.sendAll(Array(request.utf8))
            var head: [UInt8] = []
            var byte: UInt8 = 0
            while !head.suffix(4).elementsEqual(Array("\r\n\r\n".utf8)) {
                guard recv(socket.fd, &byte, 1, 0) == 1 else { throw RawSocket.Failure(description: "no upgrade response") }
                head.append(byte)
            }
            guard String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 101") else {
                throw RawSocket.Failure(description: "upgrade refused")
            }
            return RawWebSocketClient(socket: socket)
        }
    }

    /// Sends a short text message `times` times (masked, as a client must); stops quietly when
    /// the server has closed.
    func send(text: String, times: Int) async throws {
        let payload = Array(text.utf8)
        precondition(payload.count < 126)
        let mask: [UInt8] = [1, 2, 3, 4]
        let frame = [0x81, 0x80 | UInt8(payload.count)] + mask + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try await RawSocket.blocking {
            for _ in 0..<times {
                guard (try? self.socket.sendAll(frame)) != nil else { break }
            }
        }
    }

    /// Reads until the server closes the connection (or 10 s pass without data); returns the last 4 KiB.
    func readToEnd() async throws -> [UInt8] {
        try await RawSocket.blocking { self.socket.readUntilClosed().tail }
    }
}
