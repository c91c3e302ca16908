//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import NIOPosix
import Synchronization

/// A loopback TCP proxy in front of a server that, once armed, swallows the first server
/// chunk that starts with a given byte and cuts both connections instead of forwarding it.
///
/// MQTT tests use it to lose exactly one acknowledgement (a PUBCOMP starts with 0x70): the
/// server has done its part, the client never hears of it. Real sockets and a real server on
/// both sides; only the timing of the loss is chosen.
final class CuttingProxy: Sendable {
    /// The port clients connect to.
    let port: Int
    private let server: any Channel
    private let armed: ArmedCut

    init(targetPort: Int) async throws {
        let armed = ArmedCut()
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { client in
                ClientBootstrap(group: client.eventLoop)
                    .channelInitializer { upstream in
                        upstream.eventLoop.makeCompletedFuture {
                            try upstream.pipeline.syncOperations.addHandler(ForwardHandler(peer: client, cut: armed))
                        }
                    }
                    .connect(host: "127.0.0.1", port: targetPort)
                    .flatMap { upstream in
                        client.eventLoop.makeCompletedFuture {
                            try client.pipeline.syncOperations.addHandler(ForwardHandler(peer: upstream, cut: nil))
                        }
                        .flatMap { client.setOption(.autoRead, value: true) }
                    }
            }
        server = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        port = server.localAddress?.port ?? 0
        self.armed = armed
    }

    /// Cuts the next server chunk that starts with `byte` (one time).
    func arm(firstByte byte: UInt8) {
        armed.byte.store(Int(byte), ordering: .relaxed)
    }

    /// How many times the proxy has cut.
    var cutCount: Int { armed.cuts.load(ordering: .relaxed) }

    func close() async {
        try? await server.close()
    }

    /// The shared trigger.
    final class ArmedCut: Sendable {
        let byte = Atomic<Int>(-1)
        let cuts = Atomic<Int>(0)
    }

    /// Forwards what it reads to its peer; on the server side it may cut instead.
    final class ForwardHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        private let peer: any Channel
        private let cut: ArmedCut?

        init(peer: any Channel, cut: ArmedCut?) {
            self.peer = peer
            self.cut = cut
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = Self.unwrapInboundIn(data)
            if let cut, let first = buffer.readableBytesView.first, cut.byte.load(ordering: .relaxed) == Int(first),
                cut.byte.compareExchange(expected: Int(first), desired: -1, ordering: .relaxed).exchanged
            {
                cut.cuts.add(1, ordering: .relaxed)
                peer.close(promise: nil)
                context.close(promise: nil)
                return
            }
            peer.writeAndFlush(buffer, promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            peer.close(promise: nil)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
