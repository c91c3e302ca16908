//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import Logging

/// Logging settings, with the seed-001 keys.
///
/// TOML section `[log]`:
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `log_level` | string | `"info"` | `trace`, `debug`, `info`, `warning` (or `warn`), `error` |
/// | `format` | string | `"text"` | `text` (one readable line) or `json` (one JSON object per line) |
/// | `log_dst` | string | none (stderr) | a file to append to instead of stderr |
public struct LogConfiguration: Sendable, Hashable {
    /// Output formats.
    public enum Format: String, Sendable, Hashable, CaseIterable {
        case text
        case json
    }

    /// The minimum level written.
    public var level: Logger.Level
    /// The output format.
    public var format: Format
    /// A file to append to; `nil` means standard error.
    public var destination: String?

    /// Creates a configuration with the defaults listed above.
    public init(level: Logger.Level = .info, format: Format = .text, destination: String? = nil) {
        self.level = level
        self.format = format
        self.destination = destination
    }
}
