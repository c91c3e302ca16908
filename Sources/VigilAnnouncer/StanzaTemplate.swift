//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import NIOCore
import VigilXMPP

/// A pre-rendered XML stanza with a placeholder for its recipient.
///
/// The seed-001 convention: the first `%s` becomes the recipient's JID (`username@domain` when
/// the username has no `@`), and `[inc_id]` becomes the recipient's position in the list
/// (from 0), for per-recipient message ids. The JID is escaped for XML, so a crafted username
/// cannot add attributes or elements to the stanza, nor make it malformed (a control character
/// becomes U+FFFD); ``validateStanza()`` makes sure both placeholders stand where escaped text
/// is enough. The template is split once, so rendering
/// is a few appends per recipient.
public struct StanzaTemplate: Sendable, Hashable {
    /// The stanza text as given.
    public let text: String
    private let parts: [Part]

    private enum Part: Sendable, Hashable {
        case literal(String)
        case recipient
        case index
    }

    /// Creates a template from the stanza text.
    public init(_ text: String) throws(AnnouncementError) {
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw AnnouncementError("message is empty")
        }
        guard text.range(of: "%s") != nil else {
            throw AnnouncementError("message has no %s placeholder for the recipient")
        }
        self.text = text
        var parts: [Part] = []
        var rest = Substring(text)
        var recipientPlaced = false
        while !rest.isEmpty {
            let nextRecipient = recipientPlaced ? nil : rest.range(of: "%s")
            let nextIndex = rest.range(of: "[inc_id]")
            let next = [nextRecipient, nextIndex].compactMap { $0 }.min { $0.lowerBound < $1.lowerBound }
            guard let next else {
                parts.append(.literal(String(rest)))
                break
            }
            if next.lowerBound > rest.startIndex { parts.append(.literal(String(rest[..<next.lowerBound]))) }
            if next == nextRecipient {
                parts.append(.recipient)
                recipientPlaced = true
            } else {
                parts.append(.index)
            }
            rest = rest[next.upperBound...]
        }
        self.parts = parts
    }

    /// Creates a template from base64 text (the seed's way to carry newlines through JSON).
    public init(base64: String) throws(AnnouncementError) {
        guard let data = Data(base64Encoded: base64.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw AnnouncementError("message is not valid base64")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw AnnouncementError("message is not UTF-8 text once decoded")
        }
        try self.init(text)
    }

    /// The template as an XMPP component must send it: its sender inside `domain`, and without a
    /// `jabber:client` namespace declaration on the stanza.
    ///
    /// A server drops a component's stanza whose `from` is outside the component's domain
    /// (ejabberd closes the whole stream with `<invalid-from/>`), and the seed's sample message
    /// says `from="USERNAME@s/announcer"`. So a `from` in another domain keeps its local part and
    /// resource and gets `domain`; a missing `from` becomes `domain` itself; a `from` already in
    /// `domain` (or one of its subdomains) is kept.
    public func sendingFrom(domain: String) throws(AnnouncementError) -> StanzaTemplate {
        let utf8 = Array(text.utf8)
        guard let open = utf8.firstIndex(of: UInt8(ascii: "<")) else { throw AnnouncementError("message is not an XML element") }
        // The end of the first start tag: the first '>' outside quotes.
        var quote: UInt8?
        var end: Int?
        var index = open + 1
        while index < utf8.count {
            let byte = utf8[index]
            if let current = quote {
                if byte == current { quote = nil }
            } else if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                quote = byte
            } else if byte == UInt8(ascii: ">") {
                end = index
                break
            }
            index += 1
        }
        guard let end else { throw AnnouncementError("message is not an XML element") }
        var tag = String(decoding: utf8[open..<end], as: UTF8.self)
        // The seed's sample declares xmlns='jabber:client'; on a component stream stanzas are in
        // jabber:component:accept, and Prosody bounces a message in the client namespace.
        if let range = tag.range(of: #"\sxmlns\s*=\s*(['"])jabber:client\1"#, options: .regularExpression) {
            tag.removeSubrange(range)
        }
        let escapedDomain = Self.escaped(domain)
        if let range = tag.range(of: #"\sfrom\s*=\s*(['"])([^'"]*)\1"#, options: .regularExpression) {
            let attribute = String(tag[range])
            guard let quoteIndex = attribute.firstIndex(where: { $0 == "'" || $0 == "\"" }) else {
                throw AnnouncementError("message has a malformed from attribute")
            }
            let quoteCharacter = attribute[quoteIndex]
            let value = attribute[attribute.index(after: quoteIndex)...].dropLast()
            let (local, host, resource) = Self.split(jid: String(value))
            var newTag = tag
            if !(host == domain || host.hasSuffix("." + domain)) {
                let fixed = (local.map { $0 + "@" } ?? "") + escapedDomain + (resource.map { "/" + $0 } ?? "")
                newTag = tag.replacingCharacters(in: range, with: " from=\(quoteCharacter)\(fixed)\(quoteCharacter)")
            }
            return try StanzaTemplate(String(decoding: utf8[..<open], as: UTF8.self) + newTag + String(decoding: utf8[end...], as: UTF8.self))
        }
        let nameEnd = tag.firstIndex(where: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "/" }) ?? tag.endIndex
        let newTag = String(tag[..<nameEnd]) + " from='\(escapedDomain)'" + String(tag[nameEnd...])
        return try StanzaTemplate(String(decoding: utf8[..<open], as: UTF8.self) + newTag + String(decoding: utf8[end...], as: UTF8.self))
    }

    /// Splits `local@domain/resource`.
    private static func split(jid: String) -> (local: String?, domain: String, resource: String?) {
        var rest = Substring(jid)
        var resource: String?
        if let slash = rest.firstIndex(of: "/") {
            resource = String(rest[rest.index(after: slash)...])
            rest = rest[..<slash]
        }
        if let at = rest.firstIndex(of: "@") {
            return (String(rest[..<at]), String(rest[rest.index(after: at)...]), resource)
        }
        return (nil, String(rest), resource)
    }

    /// Checks that the template renders to exactly one well-formed `<message>`, `<presence>` or
    /// `<iq>` element, with the XMPP stream parser's own rules.
    ///
    /// Malformed XML written to an XMPP stream makes the server close that stream, for every
    /// announcement using the connection, on every retry; so a bad template is refused at the door
    /// (HTTP 400) rather than sent.
    public func validateStanza() throws(AnnouncementError) {
        if let bad = text.unicodeScalars.first(where: { !XMLSerializer.isXMLCharacter($0) }) {
            throw AnnouncementError("message contains \(RecipientAddress.describe(bad)), which XML cannot carry")
        }
        var parser = XMPPStreamParser()
        var buffer = ByteBuffer(string: "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
        buffer.writeString(render(username: "user", domain: "example.invalid", index: 0))
        var elements: [XMLElement] = []
        do {
            while let event = try parser.next(from: &buffer) {
                if case .element(let element) = event { elements.append(element) }
            }
        } catch {
            throw AnnouncementError("message is not well-formed XML: \(error)")
        }
        guard !parser.isInsideStanza, elements.count == 1, let stanza = elements.first else {
            throw AnnouncementError(elements.count > 1 ? "message holds more than one stanza" : "message is not a complete XML element")
        }
        guard ["message", "presence", "iq"].contains(stanza.name) else {
            throw AnnouncementError("message must be a <message>, <presence> or <iq> stanza, not <\(stanza.name)>")
        }
        try validatePlaceholderPositions()
    }

    /// Checks that `%s` and `[inc_id]` stand inside the stanza, in text or in a quoted attribute
    /// value: the only places where any escaped recipient keeps the XML well-formed. In a tag or
    /// attribute name (`<message %s='1'>`, `xmlns:%s=…`) a name with `@` would be a syntax error
    /// that the server answers by closing the stream.
    private func validatePlaceholderPositions() throws(AnnouncementError) {
        enum Context {
            case text, tag
            case quoted(UInt8)
        }
        var context = Context.text
        var depth = 0
        var closing = false
        var previous: UInt8 = 0
        for part in parts {
            switch part {
            case .literal(let literal):
                for byte in literal.utf8 {
                    switch context {
                    case .text:
                        if byte == UInt8(ascii: "<") {
                            context = .tag
                            closing = false
                        }
                    case .tag:
                        if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                            context = .quoted(byte)
                        } else if byte == UInt8(ascii: "/") && previous == UInt8(ascii: "<") {
                            closing = true
                        } else if byte == UInt8(ascii: ">") {
                            if closing { depth -= 1 } else if previous != UInt8(ascii: "/") { depth += 1 }
                            context = .text
                        }
                    case .quoted(let quote):
                        if byte == quote { context = .tag }
                    }
                    previous = byte
                }
            case .recipient, .index:
                let name = part == .recipient ? "%s" : "[inc_id]"
                switch context {
                case .quoted: break
                case .text where depth > 0: break
                default: throw AnnouncementError("message has \(name) outside text and attribute values; put it in a quoted value such as to='%s'")
                }
                previous = 0
            }
        }
    }

    /// The recipient's JID: the username itself when it has an `@`, else `username@domain`.
    public static func jid(for username: String, domain: String) -> String {
        username.contains("@") || domain.isEmpty ? username : "\(username)@\(domain)"
    }

    /// The stanza for one recipient.
    public func render(username: String, domain: String, index: Int) -> String {
        let jid = Self.escaped(Self.jid(for: username, domain: domain))
        var result = ""
        result.reserveCapacity(text.utf8.count + jid.utf8.count)
        for part in parts {
            switch part {
            case .literal(let literal): result += literal
            case .recipient: result += jid
            case .index: result += String(index)
            }
        }
        return result
    }

    /// Escapes text for use inside an XML attribute value or element: any string gives
    /// well-formed character data (controls and characters XML cannot carry become U+FFFD).
    static func escaped(_ text: String) -> String {
        XMLSerializer.escapedAttributeValue(text)
    }
}
