//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

// The load side of the live-feed benchmark: a minimal WebSocket client on SwiftNIO.
//
// A thousand clients receiving 100 messages a second each share the 2 cores with the server, so
// the client must cost as little as possible per message (as wrk does for HTTP): it does the
// upgrade handshake by hand, reads server frames (never masked) straight from the socket
// buffer, answers pings, and finds `"bench_t":` in a state message's bytes without decoding
// JSON or making a String. Latencies stay in the handler (event-loop bound, no locks).

import Foundation
import NIOCore
import NIOPosix
import Synchronization
import VigilCore

/// What every connection shares: the measurement window, as bit patterns of wall-clock seconds.
final class MeasureWindow: Sendable {
    private let startBits = Atomic<UInt64>(Double.infinity.bitPattern)
    private let endBits = Atomic<UInt64>(Double.infinity.bitPattern)

    var start: Double { Double(bitPattern: startBits.load(ordering: .relaxed)) }
    var end: Double { Double(bitPattern: endBits.load(ordering: .relaxed)) }

    func set(start: Double, end: Double) {
        endBits.store(end.bitPattern, ordering: .relaxed)
        startBits.store(start.bitPattern, ordering: .relaxed)
    }
}

/// One WebSocket client connection: handshake, frame parsing, latency recording.
final class BenchWebSocketHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Failure: Error {
        case handshake(String)
        case protocolError(String)
    }

    private let host: String
    private let path: String
    private let window: MeasureWindow
    private let upgraded: EventLoopPromise<Void>
    private var buffer: ByteBuffer?
    private var handshakeDone = false
    /// Delays from change to arrival, in seconds, of state messages inside the window.
    private(set) var latencies: [Double] = []
    /// Messages of any kind received.
    private(set) var received = 0
    /// Why the connection ended early, if it did.
    private(set) var endReason: String?

    private static let statePrefix = Array(#"{"type":"state""#.utf8)
    private static let benchKey = Array(#""bench_t":"#.utf8)

    init(host: String, path: String, window: MeasureWindow, upgraded: EventLoopPromise<Void>) {
        self.host = host
        self.path = path
        self.window = window
        self.upgraded = upgraded
        latencies.reserveCapacity(8_192)
    }

    func channelActive(context: ChannelHandlerContext) {
        var key = [UInt8](repeating: 0, count: 16)
        for index in key.indices { key[index] = .random(in: 0...255) }
        let request =
            "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(Data(key).base64EncodedString())\r\nSec-WebSocket-Version: 13\r\n\r\n"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if buffer == nil {
            buffer = incoming
        } else {
            buffer!.writeBuffer(&incoming)
        }
        do {
            if !handshakeDone { try readHandshake() }
            if handshakeDone { try readFrames(context: context) }
        } catch {
            endReason = endReason ?? "\(error)"
            upgraded.fail(error)
            context.close(promise: nil)
        }
        if buffer?.readableBytes == 0 { buffer = nil } else { buffer?.discardReadBytes() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        endReason = endReason ?? "closed by the server"
        upgraded.fail(Failure.handshake("connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        endReason = endReason ?? "\(error)"
        upgraded.fail(error)
        context.close(promise: nil)
    }

    private func readHandshake() throws {
        guard let view = buffer?.readableBytesView, let end = view.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
        let length = end.upperBound - view.startIndex
        let head = buffer!.readString(length: length) ?? ""
        guard head.hasPrefix("HTTP/1.1 101") else { throw Failure.handshake(String(head.prefix(80))) }
        handshakeDone = true
        upgraded.succeed()
    }

    private func readFrames(context: ChannelHandlerContext) throws {
        while var frame = buffer, frame.readableBytes >= 2 {
            guard let first = frame.readInteger(as: UInt8.self), let second = frame.readInteger(as: UInt8.self) else { return }
            guard second & 0x80 == 0 else { throw Failure.protocolError("masked server frame") }
            var length = Int(second & 0x7F)
            if length == 126 {
                guard let extended = frame.readInteger(as: UInt16.self) else { return }
                length = Int(extended)
            } else if length == 127 {
                guard let extended = frame.readInteger(as: UInt64.self) else { return }
                length = Int(extended)
            }
            guard let payload = frame.readSlice(length: length) else { return }
            buffer = frame
            received += 1
            switch first & 0x0F {
            case 0x1 where first & 0x80 != 0:
                record(payload)
            case 0x9:
                pong(payload, context: context)
            case 0x8:
                var body = payload
                let code = body.readInteger(as: UInt16.self).map(String.init) ?? "none"
                endReason = endReason ?? "close frame from the server (code \(code)\(body.readableBytes > 0 ? ", " + String(buffer: body) : ""))"
                context.close(promise: nil)
                return
            default:
                break
            }
        }
    }

    private func record(_ payload: ByteBuffer) {
        let now = SystemClock().wallClockSeconds
        guard now >= window.start, now < window.end else { return }
        let sent: Double? = payload.withUnsafeReadableBytes { bytes in
            guard bytes.starts(with: Self.statePrefix), let at = Self.find(Self.benchKey, in: bytes) else { return nil }
            let start = bytes.baseAddress!.advanced(by: at + Self.benchKey.count).assumingMemoryBound(to: CChar.self)
            var end: UnsafeMutablePointer<CChar>?
            let value = strtod(start, &end)
            return end == UnsafeMutablePointer(mutating: start) ? nil : value
        }
        if let sent { latencies.append(now - sent) }
    }

    /// The offset of the first occurrence of `needle` in `bytes`.
    private static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer) -> Int? {
        guard let first = needle.first, bytes.count >= needle.count else { return nil }
        var index = 0
        let last = bytes.count - needle.count
        while index <= last {
            if bytes[index] == first {
                var matched = 1
                while matched < needle.count, bytes[index + matched] == needle[matched] { matched += 1 }
                if matched == needle.count { return index }
            }
            index += 1
        }
        return nil
    }

    private func pong(_ payload: ByteBuffer, context: ChannelHandlerContext) {
        // Client frames are masked; a zero mask leaves the payload as it is.
        var frame = context.channel.allocator.buffer(capacity: 6 + payload.readableBytes)
        frame.writeInteger(UInt8(0x8A))
        frame.writeInteger(UInt8(0x80 | UInt8(min(payload.readableBytes, 125))))
        frame.writeInteger(UInt32(0))
        var body = payload.getSlice(at: payload.readerIndex, length: min(payload.readableBytes, 125))!
        frame.writeBuffer(&body)
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }
}

/// Opens `count` connections, measures for `duration` seconds after `warmup`, prints percentiles.
enum BenchClients {
    static func run(url: String, count: Int, warmup: Double, duration: Double) async throws {
        guard let parsed = URL(string: url), let host = parsed.host, let port = parsed.port else {
            throw BenchWebSocketHandler.Failure.handshake("bad url \(url)")
        }
        let path = parsed.path.isEmpty ? "/" : parsed.path
        let window = MeasureWindow()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        var handlers: [(any Channel, NIOLoopBound<BenchWebSocketHandler>)] = []
        var failed = 0
        let connectStart = SystemClock().wallClockSeconds
        for index in 0..<count {
            // Ramp up in small steps so the listen backlog never overflows.
            if index % 50 == 49 { try await Task.sleep(for: .milliseconds(20)) }
            let loop = group.next()
            let upgraded = loop.makePromise(of: Void.self)
            do {
                let channel = try await ClientBootstrap(group: loop)
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let handler = BenchWebSocketHandler(host: host, path: path, window: window, upgraded: upgraded)
                            try channel.pipeline.syncOperations.addHandler(handler)
                        }
                    }
                    .connect(host: host, port: port).get()
                try await upgraded.futureResult.get()
                let handler = try await channel.pipeline.handler(type: BenchWebSocketHandler.self).map {
                    NIOLoopBound($0, eventLoop: channel.eventLoop)
                }.get()
                handlers.append((channel, handler))
            } catch {
                upgraded.fail(error)
                failed += 1
            }
        }
        say(
            String(
                format: "connected %d of %d clients in %.1f s (%d failed)",
                handlers.count,
                count,
                SystemClock().wallClockSeconds - connectStart,
                failed
            )
        )
        try await Task.sleep(for: .seconds(warmup))
        let start = SystemClock().wallClockSeconds
        window.set(start: start, end: start + duration)
        say("MEASURE_START")
        try await Task.sleep(for: .seconds(duration + 0.5))

        var perClient: [[Double]] = []
        var closed = 0
        var reasons: [String: Int] = [:]
        for (channel, handler) in handlers {
            let (latencies, reason) = try await channel.eventLoop.submit { (handler.value.latencies, handler.value.endReason) }.get()
            if let reason {
                closed += 1
                reasons[reason, default: 0] += 1
            }
            perClient.append(latencies)
            channel.close(promise: nil)
        }
        try await group.shutdownGracefully()

        var all = perClient.flatMap { $0 }.map { $0 * 1000 }
        all.sort()
        func percentile(_ p: Double) -> Double { all.isEmpty ? .nan : all[min(all.count - 1, Int(Double(all.count) * p))] }
        let counts = perClient.map(\.count).sorted()
        say(
            String(
                format: "messages %d over %.0f s from %d clients (per client min %d, max %d; %d connections ended early)",
                all.count,
                duration,
                perClient.count,
                counts.first ?? 0,
                counts.last ?? 0,
                closed
            )
        )
        for (reason, count) in reasons.sorted(by: { $0.value > $1.value }) { say("  ended early: \(count) × \(reason)") }
        say(
            String(
                format: "latency_ms p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f max %.2f",
                percentile(0.5),
                percentile(0.9),
                percentile(0.99),
                percentile(0.999),
                all.last ?? .nan
            )
        )
    }

    /// Writes a line to standard output at once (it is a file when run.sh reads it).
    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
