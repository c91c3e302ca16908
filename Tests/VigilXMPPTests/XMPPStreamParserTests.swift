//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import FuzzSupport
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@testable import VigilXMPP

/// Parses `chunks` in order and returns every event, or throws the first error.
func parseEvents(_ chunks: [[UInt8]], limits: XMPPStreamParser.Limits = .init()) throws -> [XMPPStreamEvent] {
    var parser = XMPPStreamParser(limits: limits)
    var buffer = ByteBuffer()
    var events: [XMPPStreamEvent] = []
    for chunk in chunks {
        buffer.writeBytes(chunk)
        while let event = try parser.next(from: &buffer) { events.append(event) }
    }
    return events
}

func parseEvents(_ text: String, limits: XMPPStreamParser.Limits = .init()) throws -> [XMPPStreamEvent] {
    try parseEvents([Array(text.utf8)], limits: limits)
}

let clientHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
    + " id='abc' from='example.test' version='1.0'>"

@Suite struct XMPPStreamParserTests {
    static let sample =
        clientHeader
        + "\n <message to='alice@example.test' from='bob@example.test/r&amp;1' type='chat' xml:lang='en'>"
        + "<body>Hé 😀 &lt;b&gt; &quot;q&quot; &apos;a&apos; &#65;&#x42; ü</body>"
        + "<x xmlns='urn:test' a:b='1' xmlns:a='urn:a'><y/></x></message>"
        + "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
        + "  </stream:stream>"

    static var expectedMessage: XMLElement {
        var message = XMLElement(
            name: "message",
            namespace: "jabber:client",
            attributes: ["to": "alice@example.test", "from": "bob@example.test/r&1", "type": "chat"]
        )
        message.attributes.append(XMLAttribute(name: "lang", namespace: XMPPNamespace.xml, value: "en"))
        var x = XMLElement(name: "x", namespace: "urn:test", children: [.element(XMLElement(name: "y", namespace: "urn:test"))])
        x.attributes = [XMLAttribute(name: "b", namespace: "urn:a", value: "1")]
        message.children = [
            .element(XMLElement(name: "body", namespace: "jabber:client", children: [.text("Hé 😀 <b> \"q\" 'a' AB ü")])),
            .element(x),
        ]
        return message
    }

    @Test func parsesStreamStanzasAndClose() throws {
        let events = try parseEvents(Self.sample)
        #expect(events.count == 4)
        guard case .streamOpened(let header) = events[0] else {
            Issue.record("no header")
            return
        }
        #expect(header.name == "stream" && header.namespace == XMPPNamespace.stream)
        #expect(header[attribute: "id"] == "abc")
        #expect(events[1] == .element(Self.expectedMessage))
        guard case .element(let features) = events[2] else {
            Issue.record("no features")
            return
        }
        #expect(features.name == "features" && features.namespace == XMPPNamespace.stream)
        #expect(features.firstChild(named: "mechanisms", namespace: XMPPNamespace.sasl)?.firstChild(named: "mechanism")?.text == "PLAIN")
        #expect(events[3] == .streamClosed)
    }

    @Test func splitAtEveryByteGivesTheSameEvents() throws {
        let bytes = Array(Self.sample.utf8)
        let whole = try parseEvents([bytes])
        for split in 1..<bytes.count {
            #expect(try parseEvents([Array(bytes[..<split]), Array(bytes[split...])]) == whole, "split at \(split)")
        }
        #expect(try parseEvents(bytes.map { [$0] }) == whole)
    }

    @Test func decoderVerifierOnStanzas() throws {
        let stanzas: [(String, [XMPPStreamEvent])] = [
            (
                "<message to='a@b'><body>x &amp; y</body></message>",
                [
                    .element(
                        XMLElement(
                            name: "message",
                            namespace: "jabber:client",
                            attributes: ["to": "a@b"],
                            children: [
                                .element(XMLElement(name: "body", namespace: "jabber:client", children: [.text("x & y")]))
                            ]
                        )
                    )
                ]
            ),
            (
                "<presence/> <iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>",
                [
                    .element(XMLElement(name: "presence", namespace: "jabber:client")),
                    .element(
                        XMLElement(
                            name: "iq",
                            namespace: "jabber:client",
                            attributes: ["type": "get", "id": "1"],
                            children: [
                                .element(XMLElement(name: "ping", namespace: "urn:xmpp:ping"))
                            ]
                        )
                    ),
                ]
            ),
            (
                "<message><body>€😀</body></message>",
                [
                    .element(
                        XMLElement(
                            name: "message",
                            namespace: "jabber:client",
                            children: [
                                .element(XMLElement(name: "body", namespace: "jabber:client", children: [.text("€😀")]))
                            ]
                        )
                    )
                ]
            ),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(stringInputOutputPairs: stanzas) {
            var decoder = XMPPStreamDecoder()
            var header = ByteBuffer(string: clientHeader)
            _ = try? decoder.decode(buffer: &header)
            return decoder
        }
    }

    @Test func embeddedChannelDecodesEvents() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(XMPPStreamDecoder()))
        try channel.writeInbound(ByteBuffer(string: clientHeader + "<presence/></stream:stream>"))
        guard case .streamOpened = try channel.readInbound(as: XMPPStreamEvent.self) else {
            Issue.record("no header")
            return
        }
        #expect(try channel.readInbound(as: XMPPStreamEvent.self) == .element(XMLElement(name: "presence", namespace: "jabber:client")))
        #expect(try channel.readInbound(as: XMPPStreamEvent.self) == .streamClosed)
        #expect(try channel.finish().isClean)
    }

    @Test func stanzaCutOffByEndOfFileIsAnError() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(XMPPStreamDecoder()))
        try channel.writeInbound(ByteBuffer(string: clientHeader + "<message><body>half"))
        #expect(throws: XMLDecodeError(.unexpectedEndOfStream)) { try channel.finish() }
    }

    @Test(arguments: [
        ("<message><body></message>", XMLDecodeError.Code.mismatchedTag),
        ("</message>", .mismatchedTag),
        ("<1abc/>", .invalidName),
        ("<a b='1' b='2'/>", .duplicateAttribute),
        ("<a b='1'c='2'/>", .malformedAttribute),
        ("<a b=1/>", .malformedAttribute),
        ("<a b='x<y'/>", .malformedAttribute),
        ("<a>&nbsp;</a>", .undefinedEntity),
        ("<a>AT&T</a>", .undefinedEntity),
        ("<a>&#0;</a>", .invalidCharacterReference),
        ("<a>&#xD800;</a>", .invalidCharacterReference),
        ("<a>&#xZZ;</a>", .invalidCharacterReference),
        ("<a>\u{01}</a>", .invalidCharacter),
        ("<!-- hi -->", .comment),
        ("<a><!-- hi --></a>", .comment),
        ("<?php x?>", .processingInstruction),
        ("<!DOCTYPE a>", .documentType),
        ("<a><![CDATA[x]]></a>", .cdataSection),
        ("hello", .textOutsideElement),
        ("<p:a/>", .undeclaredPrefix),
        ("<a p:b='1'/>", .undeclaredPrefix),
        ("<a:b:c/>", .invalidName),
        ("<a <b>", .malformedTag),
        ("<a/ >", .malformedTag),
        ("</stream:stream><a/>", .streamAlreadyClosed),
    ])
    func rejectsMalformedStanzas(input: String, code: XMLDecodeError.Code) throws {
        #expect {
            _ = try parseEvents(clientHeader + input)
        } throws: { error in
            (error as? XMLDecodeError)?.code == code
        }
    }

    @Test func rejectsInvalidUTF8SplitOrNot() throws {
        let prefix = Array((clientHeader + "<a>").utf8)
        for bad: [UInt8] in [[0xC3], [0xFF], [0xE2, 0x82], [0xED, 0xA0, 0x80]] {
            let bytes = prefix + bad + Array("</a>".utf8)
            #expect(throws: XMLDecodeError(.invalidUTF8)) { try parseEvents([bytes]) }
            #expect(throws: XMLDecodeError(.invalidUTF8)) { try parseEvents(bytes.map { [$0] }) }
        }
        #expect(throws: XMLDecodeError(.invalidUTF8)) { try parseEvents([prefix + [0x3C, 0x62, 0xFF, 0x2F, 0x3E]]) }
    }

    @Test func rejectsAnythingButAStreamFirst() throws {
        #expect(throws: XMLDecodeError.self) { try parseEvents("<message/>") }
        #expect(throws: XMLDecodeError.self) { try parseEvents("<stream xmlns='jabber:client'>") }
        #expect(throws: XMLDecodeError(.processingInstruction)) { try parseEvents("<?xml-stylesheet x?>") }
    }

    @Test func enforcesStanzaSizeEvenWhileIncomplete() throws {
        let limits = XMPPStreamParser.Limits(maxStanzaSize: 100, maxDepth: 4)
        let small = "<message><body>" + String(repeating: "a", count: 50) + "</body></message>"
        #expect(try parseEvents(clientHeader + small + small, limits: limits).count == 3)
        let large = "<message><body>" + String(repeating: "a", count: 200)
        #expect(throws: XMLDecodeError(.stanzaTooLarge, "more than 100 bytes")) { try parseEvents(clientHeader + large, limits: limits) }
        let hugeTag = "<message to='" + String(repeating: "a", count: 200)
        #expect(throws: XMLDecodeError(.stanzaTooLarge, "more than 100 bytes")) { try parseEvents(clientHeader + hugeTag, limits: limits) }
    }

    @Test func enforcesNestingDepth() throws {
        let limits = XMPPStreamParser.Limits(maxStanzaSize: 10_000, maxDepth: 4)
        #expect(try parseEvents(clientHeader + "<a><b><c><d/></c></b></a>", limits: limits).count == 2)
        #expect { try parseEvents(clientHeader + "<a><b><c><d><e/></d></c></b></a>", limits: limits) } throws: {
            ($0 as? XMLDecodeError)?.code == .nestingTooDeep
        }
    }

    @Test func resetAcceptsANewStreamHeader() throws {
        var parser = XMPPStreamParser()
        var buffer = ByteBuffer(string: clientHeader + "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        #expect(try parser.next(from: &buffer) != nil)
        #expect(try parser.next(from: &buffer) != nil)
        parser.reset()
        buffer.writeString(clientHeader)
        guard case .streamOpened = try parser.next(from: &buffer) else {
            Issue.record("no second header")
            return
        }
    }

    /// Random bytes and mutations of valid input must give events or an ``XMLDecodeError``, never a
    /// crash or another error type.
    @Test func randomAndMutatedInputNeverCrashes() throws {
        var generator = XorShiftRandom(seed: 0x5EED)
        let valid = Array(Self.sample.utf8)
        let alphabet = Array("<>/='\"&;#x: abc\u{e9}".utf8) + [0x00, 0xFF, 0xC3]
        for round in 0..<3000 {
            var bytes = valid
            if round % 3 == 0 {
                bytes =
                    Array(clientHeader.utf8)
                    + (0..<Int.random(in: 1...200, using: &generator)).map { _ in
                        alphabet.randomElement(using: &generator)!
                    }
            } else {
                for _ in 0..<Int.random(in: 1...6, using: &generator) {
                    let index = Int.random(in: 0..<bytes.count, using: &generator)
                    switch Int.random(in: 0..<3, using: &generator) {
                    case 0: bytes[index] = alphabet.randomElement(using: &generator)!
                    case 1: bytes.remove(at: index)
                    default: bytes.insert(alphabet.randomElement(using: &generator)!, at: index)
                    }
                }
            }
            let split = Int.random(in: 0...bytes.count, using: &generator)
            do {
                _ = try parseEvents([Array(bytes[..<split]), Array(bytes[split...])], limits: .init(maxStanzaSize: 4096, maxDepth: 8))
            } catch is XMLDecodeError {
                // Expected for most mutations.
            }
        }
    }

    /// Mutations of streams captured from Prosody parse to the same events and error whether they
    /// arrive whole or split, and fail only with ``XMLDecodeError``.
    @Test func seededMutationsOfCapturedStreams() {
        let seeds = SeedCorpus.load("xmpp")
        #expect(seeds.count >= 10)
        guard !seeds.isEmpty else { return }
        var mutator = SeededMutator(seed: 0x584D_5050)
        var events = 0
        var errors = 0
        for round in 0..<1000 {
            // The first byte of a corpus file is the fuzz target's chunk size; the stream follows.
            let input = Array(mutator.mutate(Array(seeds[round % seeds.count].dropFirst())))
            let split = mutator.below(input.count + 1)
            let whole = Self.events(of: [input])
            let parts = Self.events(of: [Array(input[..<split]), Array(input[split...])])
            #expect(whole.events == parts.events)
            #expect(whole.error?.code == parts.error?.code)
            events += whole.events.count
            errors += whole.error == nil ? 0 : 1
        }
        #expect(events > 500)
        #expect(errors > 100)
    }

    private static func events(of chunks: [[UInt8]]) -> (events: [XMPPStreamEvent], error: XMLDecodeError?) {
        var parser = XMPPStreamParser()
        var buffer = ByteBuffer()
        var events: [XMPPStreamEvent] = []
        for chunk in chunks {
            buffer.writeBytes(chunk)
            do throws(XMLDecodeError) {
                while let event = try parser.next(from: &buffer) { events.append(event) }
            } catch {
                return (events, error)
            }
        }
        return (events, nil)
    }
}

/// A seeded xorshift generator, so a failing random input can be reproduced.
struct XorShiftRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed | 1 }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
