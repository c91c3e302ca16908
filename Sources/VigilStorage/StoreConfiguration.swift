//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Where Vigil keeps latest state, history, durable key/value state and events.
///
/// TOML section `[store]`:
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `backend` | string | `"sqlite"` | `sqlite` (embedded, one machine) or `memory` (nothing survives a restart) |
/// | `path` | string | `"./vigil-data/vigil.sqlite"` | the SQLite database file; its folder is created |
/// | `retention` | duration | `"7d"` | history points and events older than this are deleted |
/// | `prune_interval` | duration | `"10m"` | how often retention is applied |
public struct StoreConfiguration: Sendable, Hashable {
    /// The storage backends.
    public enum Backend: String, Sendable, Hashable, CaseIterable {
        /// SQLite through GRDB, the embedded default.
        case sqlite
        /// In memory; for tests and throw-away runs.
        case memory
    }

    /// The backend in use.
    public var backend: Backend
    /// The SQLite database file.
    public var path: String
    /// How long history points and events are kept.
    public var retention: Duration
    /// How often retention is applied.
    public var pruneInterval: Duration

    /// Creates a configuration; every parameter has the default listed above.
    public init(
        backend: Backend = .sqlite,
        path: String = "./vigil-data/vigil.sqlite",
        retention: Duration = .seconds(7 * 86_400),
        pruneInterval: Duration = .seconds(600)
    ) {
        self.backend = backend
        self.path = path
        self.retention = retention
        self.pruneInterval = pruneInterval
    }
}
