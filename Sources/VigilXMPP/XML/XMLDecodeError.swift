//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// Malformed or forbidden input on an XMPP stream.
///
/// XMPP allows only a restricted XML subset (RFC 6120 §11): comments, processing instructions,
/// document type declarations and entity references other than the five predefined ones are
/// rejected, as is anything that is not well-formed. After this error the stream cannot continue.
public struct XMLDecodeError: Error, Hashable, CustomStringConvertible {
    /// The kind of an ``XMLDecodeError``.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum _Internal: Hashable, Sendable {
            case invalidUTF8, invalidCharacter, invalidName, mismatchedTag, malformedTag, malformedAttribute
            case duplicateAttribute, undefinedEntity, invalidCharacterReference, undeclaredPrefix
            case comment, processingInstruction, documentType, cdataSection, textOutsideElement
            case stanzaTooLarge, nestingTooDeep, unexpectedEndOfStream, notAStream, streamAlreadyClosed
        }

        fileprivate let value: _Internal
        fileprivate init(_ value: _Internal) { self.value = value }

        /// The bytes are not valid UTF-8.
        public static var invalidUTF8: Code { .init(.invalidUTF8) }
        /// A character that XML forbids (such as U+0000 or most C0 controls) appeared.
        public static var invalidCharacter: Code { .init(.invalidCharacter) }
        /// An element or attribute name is not a valid XML name.
        public static var invalidName: Code { .init(.invalidName) }
        /// An end tag does not match the open element.
        public static var mismatchedTag: Code { .init(.mismatchedTag) }
        /// A tag is not well-formed.
        public static var malformedTag: Code { .init(.malformedTag) }
        /// An attribute lacks `=` or a quoted value, or its value contains `<`.
        public static var malformedAttribute: Code { .init(.malformedAttribute) }
        /// An attribute appears twice on one element.
        public static var duplicateAttribute: Code { .init(.duplicateAttribute) }
        /// An entity reference other than `&amp;`, `&lt;`, `&gt;`, `&quot;` and `&apos;`.
        public static var undefinedEntity: Code { .init(.undefinedEntity) }
        /// A numeric character reference is malformed or names a character XML forbids.
        public static var invalidCharacterReference: Code { .init(.invalidCharacterReference) }
        /// A name uses a namespace prefix that was never declared.
        public static var undeclaredPrefix: Code { .init(.undeclaredPrefix) }
        /// An XML comment (forbidden by RFC 6120 §11.1).
        public static var comment: Code { .init(.comment) }
        /// A processing instruction (forbidden by RFC 6120 §11.1).
        public static var processingInstruction: Code { .init(.processingInstruction) }
        /// A document type declaration (forbidden by RFC 6120 §11.1).
        public static var documentType: Code { .init(.documentType) }
        /// A CDATA section; XMPP servers do not send them and this parser does not accept them.
        public static var cdataSection: Code { .init(.cdataSection) }
        /// Non-whitespace text directly inside `<stream:stream>` or before it.
        public static var textOutsideElement: Code { .init(.textOutsideElement) }
        /// A stanza grew beyond the configured maximum size.
        public static var stanzaTooLarge: Code { .init(.stanzaTooLarge) }
        /// Elements are nested deeper than the configured maximum.
        public static var nestingTooDeep: Code { .init(.nestingTooDeep) }
        /// The connection ended inside a tag or stanza.
        public static var unexpectedEndOfStream: Code { .init(.unexpectedEndOfStream) }
        /// The first element is not `<stream:stream>` in the stream namespace.
        public static var notAStream: Code { .init(.notAStream) }
        /// Data arrived after `</stream:stream>`.
        public static var streamAlreadyClosed: Code { .init(.streamAlreadyClosed) }

        /// The name of the code.
        public var description: String { "\(value)" }
    }

    /// The kind of failure.
    public var code: Code
    /// Detail for logs: the offending name, tag or entity.
    public var detail: String

    /// Creates an error.
    public init(_ code: Code, _ detail: String = "") {
        self.code = code
        self.detail = detail
    }

    /// A one-line description of the error.
    public var description: String { detail.isEmpty ? "XML error \(code)" : "XML error \(code): \(detail)" }
}
