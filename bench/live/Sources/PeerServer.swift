//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

// The peer of the live-feed benchmark: the idiomatic Hummingbird WebSocket broadcast.
//
// Every connection gets an AsyncStream; a change is encoded once and yielded to every stream; each
// connection's task writes what its stream yields with `WebSocketOutboundWriter.write`, one frame
// per call, while it reads the inbound side for the close handshake. This is the pattern of
// Hummingbird's own chat example, and what Vigil's live feed did before it wrote to the channel
// from the event loop (LiveChannelWriter). Same port handling, messages and change schedule as
// `vigil-live-bench server`, so one client run measures both.

import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import ServiceLifecycle
import Synchronization
import VigilCore

enum PeerServer {
    /// The connections' streams.
    final class Broadcaster: Sendable {
        private let clients = Mutex<[Int: AsyncStream<ByteBuffer>.Continuation]>([:])
        private let nextID = Atomic<Int>(0)

        func add(_ continuation: AsyncStream<ByteBuffer>.Continuation) -> Int {
            let id = nextID.add(1, ordering: .relaxed).newValue
            clients.withLock { $0[id] = continuation }
            return id
        }

        func remove(_ id: Int) {
            clients.withLock { $0[id] = nil }
        }

        func broadcast(_ message: ByteBuffer) {
            for continuation in clients.withLock({ Array($0.values) }) { continuation.yield(message) }
        }
    }

    static func run(port: Int, rate: Double, targets: Int) async throws {
        var logger = Logger(label: "vigil.bench.peer")
        logger.logLevel = ProcessInfo.processInfo.environment["PEER_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        let broadcaster = Broadcaster()
        let app = Application(
            router: Router(),
            server: .http1WebSocketUpgrade(
                configuration: .init(ws: WebSocketServerConfiguration(maxFrameSize: 16 * 1024, autoPing: .enabled(timePeriod: .seconds(30))))
            ) { request, _, _ in
                guard request.path == "/api/v1/live" else { return .dontUpgrade }
                return .upgrade([:]) { inbound, outbound, _ in
                    let (stream, continuation) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .bufferingNewest(1_000))
                    let id = broadcaster.add(continuation)
                    defer { broadcaster.remove(id) }
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for try await _ in inbound {}
                        }
                        group.addTask {
                            for await message in stream {
                                try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: .text, data: message)))
                            }
                        }
                        try await group.next()
                        group.cancelAll()
                    }
                }
            },
            configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { channel in
                LiveBench.say("listening on \(channel.localAddress?.port ?? 0)")
            },
            logger: logger
        )
        let generator = Generator(broadcaster: broadcaster, rate: rate, targets: targets)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: app), .init(service: generator)],
                logger: logger
            )
        )
        try await group.run()
    }

    /// The same schedule and message shape as the Vigil server's generator.
    struct Generator: Service {
        let broadcaster: Broadcaster
        let rate: Double
        let targets: Int

        func run() async throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            try await ChangeSchedule(rate: rate, targets: targets).run { change in
                let state = TargetState(
                    target: TargetID(.stream, change.name),
                    status: change.status,
                    since: change.time,
                    updatedAt: change.time,
                    attributes: ["bench_t": .number(SystemClock().wallClockSeconds), "sequence": .number(Double(change.sequence))]
                )
                var message = ByteBuffer(string: #"{"type":"state","state":"#)
                message.writeBytes(try encoder.encode(state))
                message.writeString("}")
                broadcaster.broadcast(message)
            }
        }
    }
}
