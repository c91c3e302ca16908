//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging
public import ServiceLifecycle
public import VigilCore

/// Applies the retention period: deletes old history points and events at a fixed interval.
public struct StoreMaintenance: Service {
    private let history: any HistoryStore
    private let configuration: StoreConfiguration
    private let logger: Logger
    private let clock: any VigilClock

    /// Creates the service.
    public init(
        history: any HistoryStore,
        configuration: StoreConfiguration,
        logger: Logger = Logger(label: "vigil.storage"),
        clock: any VigilClock = SystemClock()
    ) {
        self.history = history
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
    }

    /// Prunes once now.
    @discardableResult
    public func pruneOnce() async throws -> Int {
        // History is stamped with the wall clock, so its cut-off is a wall-clock time too.
        let removed = try await history.prune(before: clock.wallClockSeconds - configuration.retention.seconds)
        if removed > 0 {
            logger.debug("Applied retention", metadata: ["storage.removed": "\(removed)"])
        }
        return removed
    }

    /// Prunes at start and then every `prune_interval` until shutdown.
    public func run() async throws {
        let interval = configuration.pruneInterval
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.pruneOnce()
                } catch {
                    self.logger.warning("Retention failed; will retry", metadata: ["error": "\(error)"])
                }
                try await self.clock.sleep(for: interval)
            }
        }
    }
}
