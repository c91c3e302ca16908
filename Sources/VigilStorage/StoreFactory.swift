//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import VigilCore

/// Opens the stores a configuration names.
public enum StoreFactory {
    /// Opens the configured backend.
    ///
    /// - Throws: When the SQLite database cannot be opened or migrated.
    public static func open(_ configuration: StoreConfiguration) throws -> Stores {
        switch configuration.backend {
        case .sqlite: try SQLiteStore(path: configuration.path).stores
        case .memory: MemoryStore().stores
        }
    }
}
