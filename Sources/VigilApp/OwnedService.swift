//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import ServiceLifecycle
import VigilCore
import VigilMQTT

/// Runs a service only while this instance owns its work key: work that one instance of a cluster
/// must do for all (the device watchdog, which publishes expiries; the gateway monitor, which
/// decides failovers).
///
/// On gaining the key a fresh service is made and run (it restores what it needs from the shared
/// store); on losing it the service's task is cancelled and awaited before the key is watched
/// again. Ownership is checked every `checkInterval` (a comparison of a few hashes; the
/// membership itself refreshes every 2 s).
struct OwnedService: Service {
    let key: String
    let ownership: WorkOwnership
    let logger: Logger
    var checkInterval: Duration = .milliseconds(100)
    let make: @Sendable () throws -> any Service

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    while !(ownership.isSettled && ownership.owns(key)) { try await Task.sleep(for: checkInterval) }
                    logger.info("This instance now runs '\(key)'", metadata: ["members": "\(ownership.currentMembers.joined(separator: ","))"])
                    let service = try make()
                    let moved = try await withThrowingTaskGroup(of: Bool.self) { group in
                        group.addTask {
                            // Losing the key cancels the service while this process runs on: its
                            // MQTT filters go (the new owner subscribes); a graceful stop keeps them.
                            try await MQTTClient.$unsubscribesOnCancellation.withValue(true) { try await service.run() }
                            return false
                        }
                        group.addTask {
                            while ownership.owns(key) { try await Task.sleep(for: checkInterval) }
                            return true
                        }
                        // The first to end decides; the other is cancelled and awaited.
                        let first = try await group.next() ?? false
                        group.cancelAll()
                        while (try? await group.next()) != nil {}
                        return first
                    }
                    // Ended by itself: shutdown (a failure has thrown).
                    guard moved else { return }
                    logger.info("'\(key)' moved to another instance", metadata: ["owner": "\(ownership.owner(of: key))"])
                }
            }
        } catch is CancellationError {
            // Graceful shutdown while waiting for the key.
        }
    }
}
