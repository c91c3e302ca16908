//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Why a LevelDB database could not be read.
///
/// Every error names the file and, where it helps, the byte offset, so that an operator can tell a
/// damaged file from an unsupported database.
public struct LevelDBError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The kind of failure.
    public enum Kind: Equatable, Sendable {
        /// The folder has no `CURRENT` file: it is not a LevelDB database.
        case notADatabase
        /// A file could not be read (missing, unreadable, or larger than the limit).
        case unreadable
        /// A structure ends before its declared length.
        case truncated
        /// A checksum does not match the bytes it covers.
        case checksumMismatch
        /// A value breaks the format (a bad tag, a length or offset out of range).
        case malformed
        /// The database uses something this reader does not implement (a comparator, a compression).
        case unsupported
        /// The database is larger than the configured ``LevelDBLimits``.
        case limitExceeded
    }

    /// The kind of failure.
    public var kind: Kind
    /// The file, relative to the database folder.
    public var file: String
    /// What is wrong, for a person.
    public var detail: String

    /// Creates an error.
    public init(_ kind: Kind, file: String, _ detail: String) {
        self.kind = kind
        self.file = file
        self.detail = detail
    }

    public var description: String { "\(file): \(detail)" }
}
