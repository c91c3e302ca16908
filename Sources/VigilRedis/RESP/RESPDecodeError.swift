//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Bytes that are not valid RESP3, or that exceed the decoder's limits.
///
/// The connection that receives such bytes is closed: the stream cannot be resynchronised.
public struct RESPDecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of a decode failure.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum _Internal: Hashable, Sendable {
            case invalidType
            case invalidInteger
            case invalidLength
            case invalidDouble
            case invalidBoolean
            case invalidVerbatimString
            case missingCRLF
            case lineTooLong
            case bulkTooLong
            case aggregateTooLarge
            case nestingTooDeep
            case truncated
        }

        fileprivate let value: _Internal
        fileprivate init(_ value: _Internal) { self.value = value }

        /// The first byte is not a RESP3 type marker.
        public static var invalidType: Kind { .init(.invalidType) }
        /// An integer reply is not a decimal 64-bit integer.
        public static var invalidInteger: Kind { .init(.invalidInteger) }
        /// A length or element count is not a decimal integer of -1 or more.
        public static var invalidLength: Kind { .init(.invalidLength) }
        /// A double is not a decimal number, `inf`, `-inf` or `nan`.
        public static var invalidDouble: Kind { .init(.invalidDouble) }
        /// A boolean is neither `t` nor `f`.
        public static var invalidBoolean: Kind { .init(.invalidBoolean) }
        /// A verbatim string lacks its `xxx:` format prefix.
        public static var invalidVerbatimString: Kind { .init(.invalidVerbatimString) }
        /// A bulk payload is not followed by CRLF.
        public static var missingCRLF: Kind { .init(.missingCRLF) }
        /// A line exceeds the decoder's line limit without CRLF.
        public static var lineTooLong: Kind { .init(.lineTooLong) }
        /// A bulk length exceeds the decoder's limit.
        public static var bulkTooLong: Kind { .init(.bulkTooLong) }
        /// An aggregate announces more elements than the decoder's limit.
        public static var aggregateTooLarge: Kind { .init(.aggregateTooLarge) }
        /// Aggregates are nested deeper than the decoder's limit.
        public static var nestingTooDeep: Kind { .init(.nestingTooDeep) }
        /// The stream ended inside a value.
        public static var truncated: Kind { .init(.truncated) }

        /// The name of the kind.
        public var description: String { "\(value)" }
    }

    /// The kind of failure.
    public var kind: Kind
    /// What was wrong, for logs.
    public var detail: String

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - kind: The kind of failure.
    ///   - detail: What was wrong.
    public init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// A one-line description.
    public var description: String { "RESP decode error \(kind): \(detail)" }
}
