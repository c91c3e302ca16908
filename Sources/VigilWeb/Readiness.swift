//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Synchronization

/// Whether Vigil is ready to serve: set once the store is open and the sources have started.
///
/// `/healthz` answers 200 as long as the process runs; `/readyz` answers 200 only when ready.
public final class Readiness: Sendable {
    private let ready = Atomic<Bool>(false)

    /// Creates a flag that starts as not ready.
    public init() {}

    /// Whether the process is ready.
    public var isReady: Bool { ready.load(ordering: .acquiring) }

    /// Marks the process ready or not.
    public func set(_ value: Bool) { ready.store(value, ordering: .releasing) }
}
