//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Bytes from a broker that are not a valid Kafka frame, response or record batch.
///
/// Every length and count read from the wire is checked against the bytes that are left (and the
/// configured limits) before anything is allocated, so a hostile or broken broker produces one of
/// these instead of a crash or a huge allocation. The connection that saw it is closed.
public struct KafkaDecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of a decode failure.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum _Internal: Hashable, Sendable {
            case truncated
            case frameTooLarge
            case invalidLength
            case invalidVarint
            case invalidString
            case invalidMagic
            case crcMismatch
            case unsupportedCompression
            case unknownCorrelationID
            case invalidValue
        }

        fileprivate let value: _Internal
        fileprivate init(_ value: _Internal) { self.value = value }

        /// A response or batch ended before a field it announced.
        public static var truncated: Kind { .init(.truncated) }
        /// A frame's size prefix is negative or above the connection's limit.
        public static var frameTooLarge: Kind { .init(.frameTooLarge) }
        /// A length or count is negative (where null is not allowed) or larger than what is left.
        public static var invalidLength: Kind { .init(.invalidLength) }
        /// A varint runs over its maximum number of bytes.
        public static var invalidVarint: Kind { .init(.invalidVarint) }
        /// A string is not UTF-8.
        public static var invalidString: Kind { .init(.invalidString) }
        /// A record batch has a magic byte other than 2.
        public static var invalidMagic: Kind { .init(.invalidMagic) }
        /// A record batch's CRC32C does not match its bytes.
        public static var crcMismatch: Kind { .init(.crcMismatch) }
        /// A record batch uses a compression codec this client does not decode.
        public static var unsupportedCompression: Kind { .init(.unsupportedCompression) }
        /// A response carries a correlation id no request is waiting for.
        public static var unknownCorrelationID: Kind { .init(.unknownCorrelationID) }
        /// A field has a value outside its allowed range.
        public static var invalidValue: Kind { .init(.invalidValue) }

        /// The name of the kind.
        public var description: String { "\(value)" }
    }

    /// The kind of failure.
    public var kind: Kind
    /// What was being read, for example `Metadata.topics`.
    public var context: String

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - kind: The kind of failure.
    ///   - context: What was being read.
    public init(_ kind: Kind, _ context: String = "") {
        self.kind = kind
        self.context = context
    }

    /// `<kind>` or `<kind> in <context>`.
    public var description: String { context.isEmpty ? "\(kind)" : "\(kind) in \(context)" }
}
