//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// An XML element of an XMPP stream: a stanza or one of its descendants.
///
/// Names are local names; the namespace is the resolved namespace URI, so `<stream:error>` and
/// `<error xmlns='http://etherx.jabber.org/streams'>` compare equal. Attribute order is kept as
/// received, which makes serialization deterministic.
///
/// ```swift
/// let ping = XMLElement(name: "iq", namespace: "jabber:client", attributes: ["type": "get", "id": "p1"],
///                       children: [.element(XMLElement(name: "ping", namespace: "urn:xmpp:ping"))])
/// ```
public struct XMLElement: Hashable, Sendable, CustomStringConvertible {
    /// The local name (without a prefix).
    public var name: String
    /// The namespace URI the element is in, or `nil` when no default namespace applies.
    public var namespace: String?
    /// The attributes in document order.
    public var attributes: [XMLAttribute]
    /// Child elements and text, in document order.
    public var children: [XMLNode]

    /// Creates an element.
    ///
    /// - Parameters:
    ///   - name: The local name.
    ///   - namespace: The namespace URI.
    ///   - attributes: Unqualified attributes as name/value pairs, in the order given by `KeyValuePairs`.
    ///   - children: Child nodes.
    public init(name: String, namespace: String? = nil, attributes: KeyValuePairs<String, String> = [:], children: [XMLNode] = []) {
        self.name = name
        self.namespace = namespace
        self.attributes = attributes.map { XMLAttribute(name: $0.key, value: $0.value) }
        self.children = children
    }

    /// Creates an element from already built attributes.
    public init(name: String, namespace: String?, attributeList: [XMLAttribute], children: [XMLNode] = []) {
        self.name = name
        self.namespace = namespace
        self.attributes = attributeList
        self.children = children
    }

    /// Returns the value of the unqualified attribute `name`, or `nil`.
    public subscript(attribute name: String) -> String? {
        get { attributes.first { $0.name == name && $0.namespace == nil }?.value }
        set {
            if let index = attributes.firstIndex(where: { $0.name == name && $0.namespace == nil }) {
                if let newValue { attributes[index].value = newValue } else { attributes.remove(at: index) }
            } else if let newValue {
                attributes.append(XMLAttribute(name: name, value: newValue))
            }
        }
    }

    /// The child elements, without text nodes.
    public var elements: [XMLElement] {
        children.compactMap { if case .element(let element) = $0 { element } else { nil } }
    }

    /// The first child element with the given local name and, if given, namespace.
    public func firstChild(named name: String, namespace: String? = nil) -> XMLElement? {
        elements.first { $0.name == name && (namespace == nil || $0.namespace == namespace) }
    }

    /// The concatenated text of the direct text children.
    public var text: String {
        var result = ""
        for case .text(let text) in children { result += text }
        return result
    }

    /// The element serialized as XML with its namespace declared (see ``XMLSerializer``).
    public var description: String { XMLSerializer.string(self) }
}

/// An attribute of an ``XMLElement``.
public struct XMLAttribute: Hashable, Sendable {
    /// The local name.
    public var name: String
    /// The namespace URI for prefixed attributes (such as `xml:lang`), `nil` for plain attributes.
    public var namespace: String?
    /// The decoded value.
    public var value: String

    /// Creates an attribute.
    public init(name: String, namespace: String? = nil, value: String) {
        self.name = name
        self.namespace = namespace
        self.value = value
    }
}

/// A child of an ``XMLElement``: an element or decoded character data.
public enum XMLNode: Hashable, Sendable {
    /// A child element.
    case element(XMLElement)
    /// Character data with entities and character references already decoded.
    case text(String)
}

/// An event of an XMPP stream, as produced by ``XMPPStreamDecoder``.
public enum XMPPStreamEvent: Hashable, Sendable {
    /// The `<stream:stream>` header arrived; the element carries its attributes and no children.
    case streamOpened(XMLElement)
    /// A complete top-level element (a stanza, `<stream:features>`, `<stream:error>`, SASL or
    /// handshake elements).
    case element(XMLElement)
    /// The peer closed the stream with `</stream:stream>`.
    case streamClosed
}

/// Namespace URIs used by XMPP.
public enum XMPPNamespace {
    /// The stream namespace of `<stream:stream>`, `<stream:features>` and `<stream:error>`.
    public static let stream = "http://etherx.jabber.org/streams"
    /// The content namespace of client-to-server streams.
    public static let client = "jabber:client"
    /// The content namespace of XEP-0114 component streams.
    public static let componentAccept = "jabber:component:accept"
    /// The namespace of stream error conditions.
    public static let streamErrors = "urn:ietf:params:xml:ns:xmpp-streams"
    /// The namespace of stanza error conditions.
    public static let stanzaErrors = "urn:ietf:params:xml:ns:xmpp-stanzas"
    /// SASL negotiation.
    public static let sasl = "urn:ietf:params:xml:ns:xmpp-sasl"
    /// STARTTLS negotiation.
    public static let tls = "urn:ietf:params:xml:ns:xmpp-tls"
    /// Resource binding.
    public static let bind = "urn:ietf:params:xml:ns:xmpp-bind"
    /// Legacy session establishment (RFC 3921).
    public static let session = "urn:ietf:params:xml:ns:xmpp-session"
    /// XEP-0199 ping.
    public static let ping = "urn:xmpp:ping"
    /// XEP-0198 stream management (version 3).
    public static let streamManagement = "urn:xmpp:sm:3"
    /// The namespace bound to the `xml` prefix.
    public static let xml = "http://www.w3.org/XML/1998/namespace"
}
