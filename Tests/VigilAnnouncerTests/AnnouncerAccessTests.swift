//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Hummingbird
import HummingbirdTesting
import MetricsTestKit
import NIOCore
import Testing
import VigilApp
import VigilCore
import VigilXMPP

@testable import VigilAnnouncer
@testable import VigilWeb

@Suite("Announcer access: cross-site requests")
struct AnnouncerCrossSiteTests {
    static let body = AnnouncerRoutesTests.body

    func withRouter(
        loopbackHostOnly: Bool = false,
        _ test: @escaping @Sendable (any TestClientProtocol, AnnouncerTests.Fixture) async throws -> Void
    ) async throws {
        let fixture = AnnouncerTests.Fixture()
        let router = Router()
        AnnounceRoutes.register(on: router.group(), intake: AnnouncerIntake(announcer: fixture.announcer), loopbackHostOnly: loopbackHostOnly)
        try await Application(router: router).test(.router) { client in try await test(client, fixture) }
    }

    @Test(
        "A body that is not application/json answers 415 and queues nothing",
        arguments: [
            nil, "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
            "application/jsonx", "", "application/json-patch+json",
        ]
    )
    func contentType(type: String?) async throws {
        try await withRouter { client, fixture in
            var headers: HTTPFields = [:]
            if let type { headers[.contentType] = type }
            for path in ["/v1/announce/users", "/v1/announce/channel"] {
                try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: Self.body)) { response in
                    #expect(response.status == .unsupportedMediaType)
                    #expect(String(buffer: response.body).contains("application/json"))
                }
            }
            #expect(try await fixture.store.values(prefix: "announcer/outbox/").isEmpty)
        }
    }

    @Test(
        "application/json with parameters or in another case is accepted",
        arguments: ["application/json", "application/json; charset=utf-8", "Application/JSON"]
    )
    func jsonAccepted(type: String) async throws {
        try await withRouter { client, _ in
            try await client.execute(uri: "/v1/announce/users", method: .post, headers: [.contentType: type], body: ByteBuffer(string: Self.body)) {
                #expect($0.status == .accepted)
            }
        }
    }

    @Test(
        "A foreign Origin answers 403 and queues nothing; the server's own origin is accepted",
        arguments: [
            ("https://evil.example", false), ("http://localhost.evil.example", false), ("null", false), ("http://localhost:8080", false),
            ("file://", false), ("http://localhost", true), ("HTTP://LOCALHOST", true), ("https://localhost", true), ("http://localhost:80", true),
        ]
    )
    func origin(origin: String, allowed: Bool) async throws {
        try await withRouter { client, fixture in
            let headers: HTTPFields = [.contentType: "application/json", .origin: origin]
            try await client.execute(uri: "/v1/announce/users", method: .post, headers: headers, body: ByteBuffer(string: Self.body)) { response in
                #expect(response.status == (allowed ? .accepted : .forbidden), "\(String(buffer: response.body))")
            }
            #expect(try await fixture.store.values(prefix: "announcer/outbox/").count == (allowed ? 1 : 0))
        }
    }

    @Test(
        "Host names the loopback interface",
        arguments: [
            ("localhost", true), ("localhost:8080", true), ("127.0.0.1:8080", true), ("127.1.2.3", true), ("[::1]:8080", true),
            ("evil.example:8080", false), ("127.0.0.1.evil.example", false), ("10.0.0.1:8080", false), ("[::]:8080", false), ("", false),
            ("127.0.0.256", false),
        ]
    )
    func loopbackHost(authority: String, loopback: Bool) {
        #expect(AnnounceRequestGuard<BasicRequestContext>.isLoopbackAuthority(authority) == loopback)
    }

    @Test("A listener without a token still answers a loopback Host")
    func loopbackHostOnly() async throws {
        try await withRouter(loopbackHostOnly: true) { client, _ in
            try await client.execute(
                uri: "/v1/announce/users",
                method: .post,
                headers: [.contentType: "application/json"],
                body: ByteBuffer(string: Self.body)
            ) {
                #expect($0.status == .accepted)
            }
        }
    }

    @Test("Every refused request is counted by reason")
    func refusalsCounted() async throws {
        let metrics = TestMetrics()
        let fixture = AnnouncerTests.Fixture()
        let router = Router()
        AnnounceRoutes.register(
            on: router.group(),
            intake: AnnouncerIntake(announcer: fixture.announcer),
            loopbackHostOnly: true,
            metricsFactory: metrics
        )
        try await Application(router: router).test(.router) { client in
            let json: HTTPFields = [.contentType: "application/json"]
            let attempts: [(HTTPFields, String, HTTPResponse.Status)] = [
                ([.contentType: "text/plain"], Self.body, .unsupportedMediaType),
                ([.contentType: "application/json", .origin: "https://evil.example"], Self.body, .forbidden),
                ([.contentType: "application/json", .origin: "https://evil.example"], Self.body, .forbidden),
                (json, "{not json", .badRequest),
                (json, Self.body, .accepted),
            ]
            for (headers, body, status) in attempts {
                try await client.execute(uri: "/v1/announce/users", method: .post, headers: headers, body: ByteBuffer(string: body)) {
                    #expect($0.status == status)
                }
            }
        }
        func refused(_ reason: String) throws -> Int64 {
            try metrics.expectCounter("vigil_announcer_requests_refused_total", [("reason", reason)]).totalValue
        }
        #expect(try refused("media_type") == 1)
        #expect(try refused("origin") == 2)
        #expect(try refused("body") == 1)
        #expect(try refused("busy") == 0)
    }
}

@Suite("Announcer input: hostile names, numbers and templates")
struct AnnouncerHostileInputTests {
    static let stanza = "<message to='%s' type='chat' id='h-[inc_id]'><body>x</body></message>"
    static var base64: String { Data(stanza.utf8).base64EncodedString() }

    static func usersBody(_ names: [String]) throws -> Data {
        try JSONSerialization.data(withJSONObject: ["usernames": names, "message": base64])
    }

    @Test(
        "Usernames breaking RFC 7622's localpart rules answer 400 naming the entry",
        arguments: [
            ("a\u{01}b", "usernames[1] is not a valid XMPP username or JID: contains a control character (U+0001)"),
            ("a\u{7F}", "usernames[1] is not a valid XMPP username or JID: contains a control character (U+007F)"),
            ("a\u{85}", "usernames[1] is not a valid XMPP username or JID: contains a control character (U+0085)"),
            ("a b", "usernames[1] is not a valid XMPP username or JID: contains white space (U+0020)"),
            ("a\u{3000}b", "usernames[1] is not a valid XMPP username or JID: contains white space (U+3000)"),
            ("a\"b", "usernames[1] is not a valid XMPP username or JID: contains '\"', which a username cannot hold"),
            ("a&b", "usernames[1] is not a valid XMPP username or JID: contains '&', which a username cannot hold"),
            ("a'b", "usernames[1] is not a valid XMPP username or JID: contains \"'\", which a username cannot hold"),
            ("a/b", "usernames[1] is not a valid XMPP username or JID: contains '/', which a username cannot hold"),
            ("a:b", "usernames[1] is not a valid XMPP username or JID: contains ':', which a username cannot hold"),
            ("a<b", "usernames[1] is not a valid XMPP username or JID: contains '<', which a username cannot hold"),
            ("a>b", "usernames[1] is not a valid XMPP username or JID: contains '>', which a username cannot hold"),
            ("a\u{FFFE}", "usernames[1] is not a valid XMPP username or JID: contains U+FFFE, which XML cannot carry"),
            (String(repeating: "x", count: 1024), "usernames[1] is not a valid XMPP username or JID: is 1024 bytes long (at most 1023)"),
            (String(repeating: "é", count: 512), "usernames[1] is not a valid XMPP username or JID: is 1024 bytes long (at most 1023)"),
            ("@example.test", "usernames[1] is not a valid XMPP username or JID: its local part is empty"),
            ("a@", "usernames[1] is not a valid XMPP username or JID: its domain is empty"),
            ("a@b@c", "usernames[1] is not a valid XMPP username or JID: its domain contains '@', which a domain cannot hold"),
            ("a@ex ample", "usernames[1] is not a valid XMPP username or JID: its domain contains white space (U+0020)"),
            ("a@example.test/", "usernames[1] is not a valid XMPP username or JID: its resource is empty"),
            ("a@example.test/r\u{00}", "usernames[1] is not a valid XMPP username or JID: its resource contains a control character (U+0000)"),
            ("x' type='groupchat", "usernames[1] is not a valid XMPP username or JID: contains \"'\", which a username cannot hold"),
        ]
    )
    func badNames(name: String, message: String) throws {
        let body = try Self.usersBody(["alice", name])
        #expect(throws: AnnouncementError(message)) { try Announcement.users(json: body) }
    }

    @Test(
        "Valid names and JIDs pass, up to 1023 bytes per part",
        arguments: [
            "alice", "bob.smith", "ünïcødé", "用户", "a-b_c+d", "alice@example.test", "alice@example.test/phone 1 @home",
            String(repeating: "x", count: 1023), "x@" + String(repeating: "d", count: 1023),
        ]
    )
    func goodNames(name: String) throws {
        #expect(try Announcement.users(json: try Self.usersBody([name])).audience == .users([name]))
    }

    @Test(
        "Every number in a channel body is range-checked: out of range or not whole answers 400 naming channel_id",
        arguments: [
            "1e19", "-1e19", "1e308", "-1e308", "9223372036854775808", "-9223372036854775809", "18446744073709551616", "1e400", "22.5",
            "-0.5", "true", "null", "[]", "{}", #""1e19""#, #""9223372036854775808""#, #""22.0""#, #""abc""#, #""""#, #""0x10""#,
            #""NaN""#, #""inf""#, #""-""#, String(repeating: "9", count: 5_000),
        ]
    )
    func channelIDRange(value: String) {
        let body = Data(#"{"channel_id": \#(value), "message": "\#(Self.base64)"}"#.utf8)
        let error = #expect(throws: AnnouncementError.self) { try Announcement.channel(json: body) }
        #expect(error?.description.hasPrefix("'channel_id'") == true, "\(String(describing: error))")
    }

    @Test(
        "Channel ids at the edges of the range are accepted",
        arguments: [
            ("9223372036854775807", Int64.max), ("-9223372036854775808", Int64.min), (#"" 42 ""#, 42), ("0", 0), ("-1", -1),
        ]
    )
    func channelIDEdges(value: String, id: Int64) throws {
        let body = Data(#"{"channel_id": \#(value), "message": "\#(Self.base64)"}"#.utf8)
        #expect(try Announcement.channel(json: body).audience == .channel(id))
    }

    @Test("A missing channel_id is named")
    func channelIDMissing() {
        #expect(throws: AnnouncementError("'channel_id' is missing")) {
            try Announcement.channel(json: Data(#"{"message": "\#(Self.base64)"}"#.utf8))
        }
    }

    @Test(
        "%s or [inc_id] outside text and quoted values is refused",
        arguments: [
            "<message %s='1'/>", "<message to='a' xmlns:%s='urn:x'/>", "<%s/>", "%s<message to='a'/>", "<message to='a'/>%s",
            "<message to='%s'><body>hi</body><x[inc_id]/></message>", "<message to='%s' id[inc_id]='1'/>",
        ]
    )
    func placeholderPosition(stanza: String) throws {
        let template = try StanzaTemplate(stanza)
        #expect(throws: AnnouncementError.self) { try template.validateStanza() }
    }

    @Test("A raw control character in the stanza is refused")
    func controlInTemplate() throws {
        let template = try StanzaTemplate("<message to='%s'><body>a\u{01}b</body></message>")
        #expect(throws: AnnouncementError("message contains U+0001, which XML cannot carry")) { try template.validateStanza() }
    }

    /// Any string as the recipient, in an attribute quoted either way or in text, renders a stanza
    /// that an XML parser reads as exactly one element.
    @Test("Rendering stays well-formed for any recipient string (seeded hostile names)")
    func renderingIsAlwaysWellFormed() throws {
        let templates = try [
            "<message to='%s' id='a-[inc_id]'><body>x</body></message>", "<message to=\"%s\"><body>x</body></message>",
            "<message to='a'><body>to %s, #[inc_id]</body></message>",
        ].map { text in
            let template = try StanzaTemplate(text)
            try template.validateStanza()
            return template
        }
        let pieces: [String] = [
            "a", "'", "\"", "<", ">", "&", "&amp;", "]]>", "--", "<!--", "\u{00}", "\u{01}", "\u{08}", "\u{0B}", "\u{1F}", "\u{7F}",
            "\u{85}", "\t", "\n", "\r", " ", "é", "😀", "\u{FFFE}", "\u{FFFF}", "\u{FFFD}", "/", "@", "%s", "[inc_id]", "</message>",
            "<?xml", "\u{2028}",
        ]
        var random = SplitMix64(seed: 0x5eed_0011)
        for round in 0..<300 {
            let count = Int(random.next() % 12) + 1
            let name = (0..<count).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined()
            for template in templates {
                let rendered = template.render(username: name, domain: round.isMultiple(of: 2) ? "example.test" : "", index: round)
                var parser = XMPPStreamParser()
                var buffer = ByteBuffer(string: "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>" + rendered)
                var elements = 0
                do {
                    while let event = try parser.next(from: &buffer) {
                        if case .element = event { elements += 1 }
                    }
                } catch {
                    Issue.record("name \(name.unicodeScalars.map { String($0.value, radix: 16) }) rendered malformed XML: \(error)\n\(rendered)")
                }
                #expect(elements == 1 && !parser.isInsideStanza, "\(rendered)")
            }
        }
    }
}

/// A small seeded generator, so a failure can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D4_049B_B133_111F
        return z ^ (z >> 31)
    }
}
