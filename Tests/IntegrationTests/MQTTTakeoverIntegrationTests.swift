//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Logging
import Testing

@testable import VigilMQTT

/// Two processes configured with one client id push each other off the broker (Mosquitto 2.0 closes
/// the older connection without a DISCONNECT): the loop is detected and reported instead of going on.
@Suite("MQTT client id takeover", .enabled(if: IntegrationEnvironment.enabled), .serialized)
struct MQTTTakeoverIntegrationTests {
    /// Runs a client until `run()` returns; returns its error code (`nil`: ended without error).
    static func runClient(_ client: MQTTClient) async -> MQTTClientError.Code? {
        do {
            try await client.run()
            return nil
        } catch {
            return (error as? MQTTClientError)?.errorCode ?? .connectionClosed
        }
    }

    @Test("two clients with one id: one stops with clientIdentifierInUse, the other keeps the session")
    func loopDetected() async throws {
        let id = "vigil-takeover-\(UUID().uuidString.prefix(8))"
        let configuration = try MQTTTestSupport.configuration(.v5, clientID: id)
        let first = MQTTClient(configuration: configuration, logger: MQTTTestSupport.logger)
        let second = MQTTClient(configuration: configuration, logger: MQTTTestSupport.logger)
        try await withThrowingTaskGroup(of: (Int, MQTTClientError.Code?).self) { group in
            group.addTask { (0, await Self.runClient(first)) }
            try await withTimeout(.seconds(5)) { try await first.waitUntilConnected() }
            group.addTask { (1, await Self.runClient(second)) }
            // Each connection takes the session from the other; the reconnect policy of the tests
            // (0.1 to 0.5 s) makes three takeovers within a few seconds.
            group.addTask {
                try await Task.sleep(for: .seconds(30))
                return (-1, nil)
            }
            let (loser, code) = try #require(try await group.next())
            try #require(loser >= 0, "neither client stopped within 30 s")
            #expect(code == .clientIdentifierInUse)
            let survivor = loser == 0 ? second : first
            try await withTimeout(.seconds(5)) { try await survivor.waitUntilConnected() }
            // Nobody takes it over any more: still connected a moment later.
            try await Task.sleep(for: .seconds(1))
            try await withTimeout(.seconds(1)) { try await survivor.waitUntilConnected() }
            group.cancelAll()
        }
    }

    @Test("a single takeover (a restart before the broker noticed) is not a loop: the client reconnects")
    func singleTakeover() async throws {
        let id = "vigil-takeover-\(UUID().uuidString.prefix(8))"
        let configuration = try MQTTTestSupport.configuration(.v5, clientID: id)
        let client = MQTTClient(configuration: configuration, logger: MQTTTestSupport.logger)
        try await withThrowingTaskGroup(of: MQTTClientError.Code?.self) { group in
            group.addTask { await Self.runClient(client) }
            try await withTimeout(.seconds(5)) { try await client.waitUntilConnected() }
            let events = client.connectionEvents
            // Another connection with the same id, once, then gone.
            try await withMQTTClient(configuration) { _ in }
            let takenOver = try await withTimeout(.seconds(10)) {
                var reason: MQTTClientError.Code?
                for await event in events {
                    if case .disconnected(let error) = event { reason = error.errorCode }
                    if case .connected = event, reason != nil { break }
                }
                return reason
            }
            #expect(takenOver == .connectionClosed)
            try await withTimeout(.seconds(5)) { try await client.waitUntilConnected() }
            // Still running: the group has no result yet.
            group.addTask {
                try await Task.sleep(for: .seconds(1))
                return .shutdown
            }
            #expect(try await group.next()! == .shutdown)
            group.cancelAll()
        }
    }
}
