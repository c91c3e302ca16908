//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import NIOCore
import NIOPosix
import Testing
import VigilClientSupport

@testable import VigilXMPP

@Suite struct XMPPClientTests {
    @Test func backoffDoublesUpToTheCapWithBoundedJitter() {
        let backoff = XMPPClientConfiguration.Backoff(initialDelay: .milliseconds(100), maximumDelay: .seconds(1), jitter: 0.5)
        #expect(
            (1...6).map { backoff.baseDelay(forAttempt: $0) } == [
                .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1),
            ]
        )
        #expect(backoff.baseDelay(forAttempt: 1000) == .seconds(1))
        var generator = XorShiftRandom(seed: 7)
        for attempt in 1...50 {
            let delay = backoff.delay(forAttempt: attempt, using: &generator)
            #expect(delay <= backoff.baseDelay(forAttempt: attempt) && delay >= backoff.baseDelay(forAttempt: attempt) * 0.5)
        }
    }

    /// A port on which nothing listens: bound by a server that is closed again.
    static func closedPort() async throws -> Int {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = server.localAddress!.port!
        try await server.close()
        return port
    }

    @Test func givesUpAfterMaxAttemptsAndFailsWaiters() async throws {
        let connection = XMPPConnectionConfiguration(
            host: "127.0.0.1",
            port: try await Self.closedPort(),
            role: .component(domain: "c.example.test", secret: "s")
        )
        let client = XMPPClient(
            configuration: XMPPClientConfiguration(
                connection: connection,
                backoff: .init(initialDelay: .milliseconds(1), maximumDelay: .milliseconds(2), maxAttempts: 3)
            ),
            logger: Logger(label: "test")
        )
        await #expect(throws: (any Error).self) { try await client.run() }
        let error = await #expect(throws: XMPPClientError.self) { _ = try await client.waitUntilConnected() }
        #expect(error?.errorCode == .shutdown)
        let notConnected = await #expect(throws: XMPPClientError.self) { try await client.send(rawStanza: "<presence/>") }
        #expect(notConnected?.errorCode == .notConnected)
    }
}
