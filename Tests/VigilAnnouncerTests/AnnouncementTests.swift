//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Testing

@testable import VigilAnnouncer

@Suite("Announcements: requests and stanza templates")
struct AnnouncementTests {
    static let stanza = "<message to='%s' from='news@s/announcer' type='chat' id='a-[inc_id]' xmlns='jabber:client'><body>Hi\n100%</body></message>"
    static var base64: String { Data(stanza.utf8).base64EncodedString() }

    @Test("A channel body with a numeric or string channel id; persist defaults to true")
    func channel() throws {
        for id in ["22", "\"22\""] {
            let announcement = try Announcement.channel(json: Data(#"{"channel_id": \#(id), "message": "\#(Self.base64)"}"#.utf8))
            #expect(announcement.audience == .channel(22))
            #expect(announcement.persist)
            #expect(announcement.template.text == Self.stanza)
        }
        let all = try Announcement.channel(json: Data(#"{"channel_id": -1, "message": "\#(Self.base64)", "persist": false}"#.utf8))
        #expect(all.audience == .channel(-1))
        #expect(!all.persist)
    }

    @Test("A users body keeps the names in order")
    func users() throws {
        let announcement = try Announcement.users(
            json: Data(#"{"usernames": ["bob", "alice@example.test"], "message": "\#(Self.base64)", "persist": true}"#.utf8)
        )
        #expect(announcement.audience == .users(["bob", "alice@example.test"]))
    }

    @Test(
        "Bad bodies are rejected with a message for the client",
        arguments: [
            (#"{"usernames": [], "message": "PG0+JXM8L20+"}"#, "usernames must not be empty"),
            (#"{"usernames": ["a", " "], "message": "PG0+JXM8L20+"}"#, "usernames[1] is empty"),
            (#"{"usernames": ["a"], "message": "not base64!"}"#, "message is not valid base64"),
            (#"{"usernames": ["a"], "message": "PG0+PC9tPg=="}"#, "message has no %s placeholder for the recipient"),
            (#"{"usernames": ["a"], "message": "//79"}"#, "message is not UTF-8 text once decoded"),
            (#"{"usernames": ["a"]}"#, "'message' is missing"),
            (#"{"usernames": "a", "message": "PG0+JXM8L20+"}"#, "'usernames' has the wrong type"),
            (#"[1, 2]"#, "the body must be a JSON object"),
            // "<m>%s</m>": well-formed, but not a stanza.
            (#"{"usernames": ["a"], "message": "PG0+JXM8L20+"}"#, "message must be a <message>, <presence> or <iq> stanza, not <m>"),
            (#"{"usernames": ["a"], "#, "the body is not valid JSON"),
        ]
    )
    func badUsersBodies(body: String, message: String) {
        #expect(throws: AnnouncementError(message)) { try Announcement.users(json: Data(body.utf8)) }
    }

    @Test(
        "Malformed or partial XML is refused before anything is sent",
        arguments: [
            "<message to='%s'><body>x</message>", "<message to='%s'><body>x</body>", "<message to='%s'/><message to='%s'/>",
            "<message to='%s'><!-- c --></message>", "<message to='%s' a='1' a='2'/>", "<message to='%s'>&nbsp;</message>",
        ]
    )
    func malformedStanza(stanza: String) throws {
        let template = try StanzaTemplate(stanza)
        #expect(throws: AnnouncementError.self) { try template.validateStanza() }
    }

    @Test("A channel id that is not a number is rejected")
    func badChannelID() {
        #expect(throws: AnnouncementError.self) { try Announcement.channel(json: Data(#"{"channel_id": "abc", "message": "PG0+JXM8L20+"}"#.utf8)) }
        #expect(throws: AnnouncementError.self) { try Announcement.channel(json: Data(#"{"channel_id": 1.5, "message": "PG0+JXM8L20+"}"#.utf8)) }
    }

    @Test("Rendering puts the JID at the first %s and the index at every [inc_id]; later %s stay")
    func render() throws {
        let template = try StanzaTemplate("<m to='%s' id='x-[inc_id]'><body>%s [inc_id]</body></m>")
        #expect(template.render(username: "bob", domain: "example.test", index: 7) == "<m to='bob@example.test' id='x-7'><body>%s 7</body></m>")
        #expect(template.render(username: "carol@other.test", domain: "example.test", index: 0).hasPrefix("<m to='carol@other.test'"))
    }

    @Test("A crafted username cannot break out of the attribute")
    func escaping() throws {
        let template = try StanzaTemplate("<m to='%s'/>")
        #expect(template.render(username: "x' type='groupchat", domain: "d", index: 0) == "<m to='x&apos; type=&apos;groupchat@d'/>")
        #expect(template.render(username: "<a&b>", domain: "", index: 0) == "<m to='&lt;a&amp;b&gt;'/>")
    }
}

@Suite("Announcer sending policy")
struct SendingPolicyTests {
    @Test("The pacer spaces sends at the rate and queues callers in order")
    func pacing() {
        var pacer = SendPacer(rate: 10)
        #expect(pacer.reserve(now: 100) == 0)
        // Three callers at the same instant get the next slots, 0.1 s apart.
        let waits = (0..<3).map { _ in pacer.reserve(now: 100) }
        #expect(zip(waits, [0.1, 0.2, 0.3]).allSatisfy { abs($0 - $1) < 1e-9 })
        // After a quiet second the bucket holds one send again (burst 1), not ten.
        #expect(pacer.reserve(now: 102) == 0)
        #expect(abs(pacer.reserve(now: 102) - 0.1) < 1e-9)
    }

    @Test("A burst allows that many sends at once; zero rate is unlimited")
    func burst() {
        var pacer = SendPacer(rate: 5, burst: 3)
        #expect((0..<3).map { _ in pacer.reserve(now: 0) } == [0, 0, 0])
        #expect(abs(pacer.reserve(now: 0) - 0.2) < 1e-9)
        var unlimited = SendPacer(rate: 0)
        #expect((0..<100).allSatisfy { _ in unlimited.reserve(now: 0) == 0 })
    }

    @Test("Retries pause longer each time, up to the maximum, then stop")
    func retries() {
        let schedule = RetrySchedule(retries: 6, initial: .milliseconds(500), maximum: .seconds(4))
        #expect(
            (1...7).map { schedule.pause(afterAttempt: $0) } == [
                .milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(4), .seconds(4), nil,
            ]
        )
        #expect(RetrySchedule(retries: 0).pause(afterAttempt: 1) == nil)
    }

    @Test("Connections are used in turn, skipping the ones that are down")
    func rotation() {
        var rotation = ConnectionRotation(count: 4)
        let down: Set<Int> = [1]
        #expect((0..<5).map { _ in rotation.pick { !down.contains($0) } } == [0, 2, 3, 0, 2])
        #expect(rotation.pick { _ in false } == nil)
        var empty = ConnectionRotation(count: 0)
        #expect(empty.pick { _ in true } == nil)
    }
}

@Suite("Stanza sender for a component")
struct ComponentSenderTests {
    @Test(
        "A from outside the component's domain moves into it, keeping local part and resource",
        arguments: [
            (
                #"<message to='%s' from="USERNAME@s/announcer" type='chat'><body>x</body></message>"#,
                #"<message to='%s' from="USERNAME@announcer.example.test/announcer" type='chat'><body>x</body></message>"#
            ),
            ("<message from='news@other.test' to='%s'/>", "<message from='news@announcer.example.test' to='%s'/>"),
            ("<message to='%s'><body>a > b</body></message>", "<message from='announcer.example.test' to='%s'><body>a > b</body></message>"),
            ("<message to='%s' from='bot@announcer.example.test'/>", "<message to='%s' from='bot@announcer.example.test'/>"),
            ("<message to='%s' from='x@sub.announcer.example.test'/>", "<message to='%s' from='x@sub.announcer.example.test'/>"),
            ("<message to='%s' data='a>b' from='n@s'/>", "<message to='%s' data='a>b' from='n@announcer.example.test'/>"),
            // The seed's sample declares the client namespace; a component stream must not.
            (
                "<message xml:lang='en' to='%s' from=\"U@s/announcer\" type='chat' xmlns='jabber:client'><body>x</body></message>",
                "<message xml:lang='en' to='%s' from=\"U@announcer.example.test/announcer\" type='chat'><body>x</body></message>"
            ),
            ("<message to='%s' xmlns=\"jabber:client\" from='bot@announcer.example.test'/>", "<message to='%s' from='bot@announcer.example.test'/>"),
        ]
    )
    func rewrite(input: String, expected: String) throws {
        #expect(try StanzaTemplate(input).sendingFrom(domain: "announcer.example.test").text == expected)
    }

    @Test("Text that is not an element is refused")
    func notXML() {
        #expect(throws: AnnouncementError.self) { try StanzaTemplate("hello %s").sendingFrom(domain: "d") }
        #expect(throws: AnnouncementError.self) { try StanzaTemplate("<message to='%s'").sendingFrom(domain: "d") }
    }
}
