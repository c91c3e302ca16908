//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import NIOCore
import Testing

@testable import VigilXMPP

@Suite struct XMLSerializerTests {
    @Test func escapesTextAndAttributes() {
        let element = XMLElement(
            name: "message",
            namespace: "jabber:client",
            attributes: ["to": "a'b\"c<d>&e\tf\ng"],
            children: [.element(XMLElement(name: "body", namespace: "jabber:client", children: [.text("1 < 2 & 3 > 'x' \"y\"\r")]))]
        )
        #expect(
            XMLSerializer.string(element, defaultNamespace: "jabber:client")
                == "<message to='a&apos;b&quot;c&lt;d&gt;&amp;e&#9;f&#10;g'><body>1 &lt; 2 &amp; 3 &gt; 'x' \"y\"&#13;</body></message>"
        )
    }

    @Test func writesNamespacesOnlyWhereTheyChange() {
        var element = XMLElement(
            name: "iq",
            namespace: "jabber:client",
            attributes: ["type": "get"],
            children: [
                .element(XMLElement(name: "ping", namespace: XMPPNamespace.ping))
            ]
        )
        element.attributes.append(XMLAttribute(name: "lang", namespace: XMPPNamespace.xml, value: "en"))
        element.attributes.append(XMLAttribute(name: "b", namespace: "urn:a", value: "1"))
        #expect(
            XMLSerializer.string(element, defaultNamespace: "jabber:client")
                == "<iq type='get' xml:lang='en' xmlns:ns1='urn:a' ns1:b='1'><ping xmlns='urn:xmpp:ping'/></iq>"
        )
    }

    @Test func replacesCharactersXMLCannotCarry() {
        let element = XMLElement(name: "a", children: [.text("x\u{01}y\u{FFFF}")])
        #expect(XMLSerializer.string(element) == "<a>x\u{FFFD}y\u{FFFD}</a>")
    }

    /// Serializing any element and parsing it back gives the same element.
    @Test func roundTripsRandomElements() throws {
        var generator = XorShiftRandom(seed: 42)
        let pieces = ["a", "&", "<", ">", "'", "\"", "\t", "\n", "\r", " ", "é", "😀", "]]>", "&amp;", "x"]
        func randomText() -> String {
            (0..<Int.random(in: 1...8, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined()
        }
        for _ in 0..<500 {
            var body = XMLElement(name: "body", namespace: "jabber:client", children: [.text(randomText())])
            body.attributes = [XMLAttribute(name: "v", value: randomText())]
            var ext = XMLElement(name: "x", namespace: "urn:ext", attributes: ["k": randomText()], children: [.element(body)])
            ext.attributes.append(XMLAttribute(name: "lang", namespace: XMPPNamespace.xml, value: randomText()))
            let message = XMLElement(
                name: "message",
                namespace: "jabber:client",
                attributes: ["id": randomText()],
                children: [
                    .element(ext), .text(randomText()),
                ]
            )
            let wire = clientHeader + XMLSerializer.string(message, defaultNamespace: "jabber:client")
            let events = try parseEvents(wire)
            #expect(events.last == .element(message), "\(wire)")
        }
    }
}
