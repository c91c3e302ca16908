//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import NIOCore

/// A push parser for one XMPP stream: the `<stream:stream>` header, then one complete element tree
/// per top-level child, then the closing `</stream:stream>`.
///
/// Bytes may arrive split anywhere, including inside multi-byte UTF-8 sequences, tags, attribute
/// values and entity references: ``next(from:)`` consumes only complete tokens (a tag or the text up
/// to the next `<`) and leaves the rest in the buffer. Bytes already scanned are remembered so that a
/// slowly arriving large stanza is not rescanned from its start.
///
/// Accepted XML is the subset RFC 6120 §11 allows. An XML declaration is accepted before the stream
/// header. Non-ASCII characters are accepted anywhere in names (a superset of the XML name rules).
public struct XMPPStreamParser: Sendable {
    /// Limits that protect the parser against hostile or broken peers.
    public struct Limits: Hashable, Sendable {
        /// The largest stanza (all bytes from its start tag to its end tag), and the largest stream
        /// header, in bytes.
        public var maxStanzaSize: Int
        /// The deepest element nesting inside a stanza (the stanza itself is depth 1).
        public var maxDepth: Int

        /// Creates limits.
        ///
        /// - Parameters:
        ///   - maxStanzaSize: Maximum stanza size in bytes (default 256 KiB).
        ///   - maxDepth: Maximum nesting depth inside a stanza (default 32).
        public init(maxStanzaSize: Int = 256 * 1024, maxDepth: Int = 32) {
            self.maxStanzaSize = maxStanzaSize
            self.maxDepth = maxDepth
        }
    }

    private enum StreamState: Sendable { case beforeStream, open, closed }

    private struct OpenElement: Sendable {
        var qualifiedName: String
        var element: XMLElement
        var scope: [String: String]
    }

    /// The limits in force.
    public let limits: Limits
    private var state = StreamState.beforeStream
    private var streamQualifiedName = ""
    private var streamScope: [String: String] = ["xml": XMPPNamespace.xml]
    private var stack: [OpenElement] = []
    private var stanzaBytes = 0
    /// Bytes of the pending token already scanned, and the open quote character at that point.
    private var scanOffset = 0
    private var openQuote: UInt8?

    /// Creates a parser that expects a stream header first.
    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Whether the parser is inside a stanza (some of its bytes consumed, its end tag not yet seen).
    public var isInsideStanza: Bool { !stack.isEmpty }

    /// Forgets everything and expects a new stream header, as after STARTTLS or SASL success.
    public mutating func reset() {
        self = XMPPStreamParser(limits: limits)
    }

    /// Consumes complete tokens from `buffer` until an event is complete.
    ///
    /// - Returns: The next event, or `nil` when more bytes are needed; incomplete bytes stay in the
    ///   buffer.
    /// - Throws: ``XMLDecodeError`` for malformed or forbidden input; the stream cannot continue.
    public mutating func next(from buffer: inout ByteBuffer) throws(XMLDecodeError) -> XMPPStreamEvent? {
        while buffer.readableBytes > 0 {
            let first = buffer.readableBytesView.first!
            if first == UInt8(ascii: "<") {
                guard let length = try scanTag(buffer) else { return try needMore(buffer) }
                let tag = Array(buffer.readableBytesView.prefix(length))
                buffer.moveReaderIndex(forwardBy: length)
                scanOffset = 0
                openQuote = nil
                if let event = try handleTag(tag) { return event }
            } else if stack.isEmpty {
                try skipWhitespace(&buffer)
            } else {
                let view = buffer.readableBytesView
                let start = view.startIndex + scanOffset
                guard let lt = view[start...].firstIndex(of: UInt8(ascii: "<")) else {
                    scanOffset = view.count
                    return try needMore(buffer)
                }
                let length = lt - view.startIndex
                let text = Array(view.prefix(length))
                buffer.moveReaderIndex(forwardBy: length)
                scanOffset = 0
                try count(length)
                let decoded = try Self.decodeCharacterData(text[...], inAttribute: false)
                stack[stack.count - 1].element.children.append(.text(decoded))
            }
        }
        return nil
    }

    // MARK: - Tokens

    private mutating func needMore(_ buffer: ByteBuffer) throws(XMLDecodeError) -> XMPPStreamEvent? {
        if stanzaBytes + buffer.readableBytes > limits.maxStanzaSize {
            throw XMLDecodeError(.stanzaTooLarge, "more than \(limits.maxStanzaSize) bytes")
        }
        return nil
    }

    private mutating func count(_ length: Int) throws(XMLDecodeError) {
        stanzaBytes += length
        if stanzaBytes > limits.maxStanzaSize {
            throw XMLDecodeError(.stanzaTooLarge, "more than \(limits.maxStanzaSize) bytes")
        }
    }

    private func skipWhitespace(_ buffer: inout ByteBuffer) throws(XMLDecodeError) {
        let view = buffer.readableBytesView
        let end = view.firstIndex { !Self.isWhitespace($0) } ?? view.endIndex
        if end != view.endIndex, view[end] != UInt8(ascii: "<") {
            throw XMLDecodeError(state == .closed ? .streamAlreadyClosed : .textOutsideElement)
        }
        buffer.moveReaderIndex(forwardBy: end - view.startIndex)
    }

    /// Finds the length of the tag at the start of `buffer` (including `<` and `>`), or `nil` when it
    /// is incomplete; rejects comments, DTDs, CDATA and processing instructions as soon as they are
    /// recognizable.
    private mutating func scanTag(_ buffer: ByteBuffer) throws(XMLDecodeError) -> Int? {
        let view = buffer.readableBytesView
        let base = view.startIndex
        if view.count < 2 { return nil }
        switch view[base + 1] {
        case UInt8(ascii: "!"):
            if view.count < 3 { return nil }
            switch view[base + 2] {
            case UInt8(ascii: "-"): throw XMLDecodeError(.comment)
            case UInt8(ascii: "["): throw XMLDecodeError(.cdataSection)
            case UInt8(ascii: "D"): throw XMLDecodeError(.documentType)
            default: throw XMLDecodeError(.malformedTag, "<!")
            }
        case UInt8(ascii: "?"):
            guard state == .beforeStream else { throw XMLDecodeError(.processingInstruction) }
            let prefix = Array("<?xml".utf8)
            for (offset, byte) in prefix.enumerated() where offset < view.count && view[base + offset] != byte {
                throw XMLDecodeError(.processingInstruction)
            }
            if view.count > prefix.count, !Self.isWhitespace(view[base + prefix.count]) {
                throw XMLDecodeError(.processingInstruction)
            }
            var index = base + max(scanOffset, 2)
            while index < view.endIndex {
                if view[index] == UInt8(ascii: ">") {
                    guard view[index - 1] == UInt8(ascii: "?") else { throw XMLDecodeError(.malformedTag, "XML declaration") }
                    return index - base + 1
                }
                index += 1
            }
            scanOffset = index - base
            return nil
        default:
            break
        }
        var index = base + max(scanOffset, 1)
        while index < view.endIndex {
            let byte = view[index]
            if let quote = openQuote {
                if byte == quote {
                    openQuote = nil
                } else if byte == UInt8(ascii: "<") {
                    throw XMLDecodeError(.malformedAttribute, "'<' in an attribute value")
                }
            } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                openQuote = byte
            } else if byte == UInt8(ascii: ">") {
                return index - base + 1
            } else if byte == UInt8(ascii: "<") {
                throw XMLDecodeError(.malformedTag, "'<' inside a tag")
            }
            index += 1
        }
        scanOffset = index - base
        return nil
    }

    // MARK: - Tags

    private mutating func handleTag(_ tag: [UInt8]) throws(XMLDecodeError) -> XMPPStreamEvent? {
        guard String(validating: tag, as: UTF8.self) != nil else { throw XMLDecodeError(.invalidUTF8) }
        if tag[1] == UInt8(ascii: "?") { return nil }  // The XML declaration: nothing to report.
        if state == .closed { throw XMLDecodeError(.streamAlreadyClosed) }
        if tag[1] == UInt8(ascii: "/") { return try handleEndTag(tag) }

        var parser = TagScanner(bytes: tag[1..<(tag.count - 1)])
        let qualifiedName = try parser.readName()
        var rawAttributes: [(name: String, value: String)] = []
        var selfClosing = false
        while true {
            let hadSpace = parser.skipWhitespace()
            guard let byte = parser.peek() else { break }
            if byte == UInt8(ascii: "/") {
                parser.advance()
                guard parser.atEnd else { throw XMLDecodeError(.malformedTag, "'/' before the end of a tag") }
                selfClosing = true
                break
            }
            guard hadSpace else { throw XMLDecodeError(.malformedAttribute, "missing space before an attribute") }
            let name = try parser.readName()
            parser.skipWhitespace()
            guard parser.peek() == UInt8(ascii: "=") else { throw XMLDecodeError(.malformedAttribute, "'=' missing after \(name)") }
            parser.advance()
            parser.skipWhitespace()
            let value = try parser.readQuotedValue()
            if rawAttributes.contains(where: { $0.name == name }) { throw XMLDecodeError(.duplicateAttribute, name) }
            rawAttributes.append((name, value))
        }

        var scope = stack.last?.scope ?? streamScope
        for attribute in rawAttributes {
            if attribute.name == "xmlns" {
                scope[""] = attribute.value
            } else if attribute.name.hasPrefix("xmlns:") {
                let prefix = String(attribute.name.dropFirst(6))
                guard !attribute.value.isEmpty else { throw XMLDecodeError(.malformedAttribute, "empty namespace for \(prefix)") }
                scope[prefix] = attribute.value
            }
        }
        let (prefix, localName) = Self.split(qualifiedName)
        let namespace: String?
        if let prefix {
            guard let uri = scope[prefix] else { throw XMLDecodeError(.undeclaredPrefix, prefix) }
            namespace = uri
        } else {
            namespace = scope[""].flatMap { $0.isEmpty ? nil : $0 }
        }
        var attributes: [XMLAttribute] = []
        for attribute in rawAttributes where attribute.name != "xmlns" && !attribute.name.hasPrefix("xmlns:") {
            let (attributePrefix, attributeName) = Self.split(attribute.name)
            var attributeNamespace: String?
            if let attributePrefix {
                guard let uri = scope[attributePrefix] else { throw XMLDecodeError(.undeclaredPrefix, attributePrefix) }
                attributeNamespace = uri
            }
            if attributes.contains(where: { $0.name == attributeName && $0.namespace == attributeNamespace }) {
                throw XMLDecodeError(.duplicateAttribute, attribute.name)
            }
            attributes.append(XMLAttribute(name: attributeName, namespace: attributeNamespace, value: attribute.value))
        }
        let element = XMLElement(name: localName, namespace: namespace, attributeList: attributes)

        switch state {
        case .beforeStream:
            guard localName == "stream", namespace == XMPPNamespace.stream, !selfClosing else {
                throw XMLDecodeError(.notAStream, qualifiedName)
            }
            state = .open
            streamQualifiedName = qualifiedName
            streamScope = scope
            return .streamOpened(element)
        case .open:
            if stack.isEmpty { stanzaBytes = 0 }
            try count(tag.count)
            if stack.count >= limits.maxDepth { throw XMLDecodeError(.nestingTooDeep, "deeper than \(limits.maxDepth)") }
            stack.append(OpenElement(qualifiedName: qualifiedName, element: element, scope: scope))
            return selfClosing ? closeTop() : nil
        case .closed:
            throw XMLDecodeError(.streamAlreadyClosed)
        }
    }

    private mutating func handleEndTag(_ tag: [UInt8]) throws(XMLDecodeError) -> XMPPStreamEvent? {
        var parser = TagScanner(bytes: tag[2..<(tag.count - 1)])
        let name = try parser.readName()
        parser.skipWhitespace()
        guard parser.atEnd else { throw XMLDecodeError(.malformedTag, "end tag </\(name)") }
        if let top = stack.last {
            guard top.qualifiedName == name else {
                throw XMLDecodeError(.mismatchedTag, "</\(name)> closes <\(top.qualifiedName)>")
            }
            try count(tag.count)
            return closeTop()
        }
        guard state == .open, name == streamQualifiedName else {
            throw XMLDecodeError(.mismatchedTag, "</\(name)> outside an element")
        }
        state = .closed
        return .streamClosed
    }

    private mutating func closeTop() -> XMPPStreamEvent? {
        let finished = stack.removeLast().element
        if stack.isEmpty {
            stanzaBytes = 0
            return .element(finished)
        }
        stack[stack.count - 1].element.children.append(.element(finished))
        return nil
    }

    // MARK: - Lexical helpers

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private static func split(_ qualifiedName: String) -> (prefix: String?, local: String) {
        guard let colon = qualifiedName.firstIndex(of: ":") else { return (nil, qualifiedName) }
        return (String(qualifiedName[..<colon]), String(qualifiedName[qualifiedName.index(after: colon)...]))
    }

    /// Decodes character data: checks for forbidden characters and resolves the predefined entities
    /// and numeric character references. Attribute values also get their whitespace normalized.
    static func decodeCharacterData(_ bytes: ArraySlice<UInt8>, inAttribute: Bool) throws(XMLDecodeError) -> String {
        guard String(validating: bytes, as: UTF8.self) != nil else { throw XMLDecodeError(.invalidUTF8) }
        if !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "<") }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "&"):
                guard let semicolon = bytes[index...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else {
                    throw XMLDecodeError(.undefinedEntity, String(decoding: bytes[index...].prefix(12), as: UTF8.self))
                }
                let name = String(decoding: bytes[(index + 1)..<semicolon], as: UTF8.self)
                let scalar = try resolveEntity(name)
                output.append(contentsOf: String(Character(scalar)).utf8)
                index = semicolon + 1
                continue
            case UInt8(ascii: "<"):
                throw XMLDecodeError(.malformedAttribute, "'<' in an attribute value")
            case 0x09, 0x0A, 0x0D:
                output.append(inAttribute ? 0x20 : byte)
            case ..<0x20:
                throw XMLDecodeError(.invalidCharacter, "U+\(String(byte, radix: 16, uppercase: true))")
            default:
                output.append(byte)
            }
            index += 1
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func resolveEntity(_ name: String) throws(XMLDecodeError) -> Unicode.Scalar {
        switch name {
        case "amp": return "&"
        case "lt": return "<"
        case "gt": return ">"
        case "quot": return "\""
        case "apos": return "'"
        default: break
        }
        guard name.hasPrefix("#") else { throw XMLDecodeError(.undefinedEntity, "&\(name);") }
        let digits = name.dropFirst()
        let value: UInt32?
        if digits.hasPrefix("x") {
            let hex = digits.dropFirst()
            value = hex.isEmpty || !hex.allSatisfy(\.isHexDigit) ? nil : UInt32(hex, radix: 16)
        } else {
            value = digits.isEmpty || !digits.allSatisfy({ $0.isASCII && $0.isNumber }) ? nil : UInt32(digits, radix: 10)
        }
        guard let value, isXMLCharacter(value), let scalar = Unicode.Scalar(value) else {
            throw XMLDecodeError(.invalidCharacterReference, "&\(name);")
        }
        return scalar
    }

    /// The `Char` production of XML 1.0.
    static func isXMLCharacter(_ value: UInt32) -> Bool {
        switch value {
        case 0x09, 0x0A, 0x0D, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
        default: false
        }
    }
}

/// Reads names and attribute values from the bytes between `<` and `>` of one tag.
private struct TagScanner {
    let bytes: ArraySlice<UInt8>
    var index: Int

    init(bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    var atEnd: Bool { index >= bytes.endIndex }

    func peek() -> UInt8? { atEnd ? nil : bytes[index] }

    mutating func advance() { index += 1 }

    @discardableResult
    mutating func skipWhitespace() -> Bool {
        let start = index
        while let byte = peek(), XMPPStreamParser.isWhitespace(byte) { index += 1 }
        return index > start
    }

    /// Reads an XML name, optionally with one namespace prefix.
    mutating func readName() throws(XMLDecodeError) -> String {
        let start = index
        while let byte = peek(), Self.isNameByte(byte) { index += 1 }
        let name = bytes[start..<index]
        guard let first = name.first, Self.isNameStartByte(first) else {
            throw XMLDecodeError(.invalidName, String(decoding: bytes[start...].prefix(32), as: UTF8.self))
        }
        let colons = name.filter { $0 == UInt8(ascii: ":") }.count
        if colons > 1 || name.last == UInt8(ascii: ":")
            || (colons == 1 && !Self.isNameStartByte(name[name.firstIndex(of: UInt8(ascii: ":"))! + 1]))
        {
            throw XMLDecodeError(.invalidName, String(decoding: name, as: UTF8.self))
        }
        if let byte = peek(), !XMPPStreamParser.isWhitespace(byte), byte != UInt8(ascii: "/"), byte != UInt8(ascii: "=") {
            throw XMLDecodeError(.invalidName, String(decoding: bytes[start...].prefix(32), as: UTF8.self))
        }
        return String(decoding: name, as: UTF8.self)
    }

    mutating func readQuotedValue() throws(XMLDecodeError) -> String {
        guard let quote = peek(), quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else {
            throw XMLDecodeError(.malformedAttribute, "unquoted attribute value")
        }
        advance()
        let start = index
        while let byte = peek(), byte != quote { index += 1 }
        guard !atEnd else { throw XMLDecodeError(.malformedAttribute, "unterminated attribute value") }
        let value = bytes[start..<index]
        advance()
        return try XMPPStreamParser.decodeCharacterData(value, inAttribute: true)
    }

    static func isNameStartByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"), 0x80...: true
        default: false
        }
    }

    static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: ":"): true
        default: isNameStartByte(byte)
        }
    }
}
