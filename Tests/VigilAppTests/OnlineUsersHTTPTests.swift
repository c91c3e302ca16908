//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization
import Testing
import VigilAnnouncer
import VigilCore

@testable import VigilApp

@Suite("Online users over HTTP: the REST contract and ejabberd's connected_users")
struct OnlineUsersHTTPTests {
    static func rest(
        _ baseURL: String,
        configure: (inout AnnouncerConfiguration.RESTSettings) -> Void = { _ in },
        batch: Int = 1_000
    )
        -> (RESTOnlineUsers, HTTPClient)
    {
        var settings = AnnouncerConfiguration.RESTSettings()
        settings.address = baseURL
        configure(&settings)
        let client = OnlineUsersHTTP.makeClient(timeout: .seconds(5))
        let http = OnlineUsersHTTP(
            client: client,
            source: "rest",
            timeout: .seconds(5),
            retries: settings.maxRetry,
            maxResponseBytes: settings.maxResponseBytes
        )
        return (RESTOnlineUsers(settings: settings, http: http, batch: batch), client)
    }

    /// A service speaking the documented contract: `{"usernames": [...]}` in, `{"online": [...]}`
    /// out, for the users in `online` (plus one name nobody asked for).
    static func contract(
        online: Set<String>,
        record: @escaping @Sendable ([String]) -> Void
    ) -> @Sendable (String, HTTPFields, [UInt8]) -> (HTTPResponse.Status, String) {
        { path, headers, body in
            guard path == "/v1/users/online", headers[.contentType] == "application/json",
                let json = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], let asked = json["usernames"] as? [String]
            else { return (.badRequest, #"{"error":"bad request"}"#) }
            record(asked)
            let answer = asked.filter { online.contains($0) } + ["mallory"]
            return (.ok, String(decoding: try! JSONSerialization.data(withJSONObject: ["online": answer]), as: UTF8.self))
        }
    }

    @Test("The default contract: the online subset, in the order asked, in batches of user_activity_ask_buffer; unasked names ignored")
    func defaultContract() async throws {
        let requests = Mutex<[[String]]>([])
        try await withTestHTTPServer(answer: Self.contract(online: ["alice", "carol", "erin"]) { asked in requests.withLock { $0.append(asked) } }) {
            base in
            let (source, client) = Self.rest(base, batch: 2)
            let online = try await source.online(["erin", "bob", "alice", "carol", "dave"])
            try await client.shutdown()
            #expect(online == ["erin", "alice", "carol"])
        }
        #expect(requests.withLock { $0 } == [["erin", "bob"], ["alice", "carol"], ["dave"]])
    }

    @Test("Configurable path and shape: a bare array in, a member of an object out")
    func configuredShape() async throws {
        let answer: @Sendable (String, HTTPFields, [UInt8]) -> (HTTPResponse.Status, String) = { path, _, body in
            guard path == "/presence/check", let asked = try? JSONSerialization.jsonObject(with: Data(body)) as? [String] else {
                return (.badRequest, "{}")
            }
            return (.ok, #"{"result": {"x": 1}, "users": \#(asked.contains("bob") ? #"["bob"]"# : "[]")}"#)
        }
        try await withTestHTTPServer(answer: answer) { base in
            let (source, client) = Self.rest(base + "/") {
                $0.path = "/presence/check"
                $0.requestField = ""
                $0.responseField = "users"
            }
            let online = try await source.online(["alice", "bob"])
            try await client.shutdown()
            #expect(online == ["bob"])
        }
    }

    @Test("A 5xx is retried max_retry times; a 4xx, an oversized or a malformed answer is not")
    func retriesAndRefusals() async throws {
        let calls = Mutex<[String: Int]>([:])
        let answer: @Sendable (String, HTTPFields, [UInt8]) -> (HTTPResponse.Status, String) = { path, _, _ in
            let count = calls.withLock { calls -> Int in
                calls[path, default: 0] += 1
                return calls[path]!
            }
            switch path {
            case "/flaky": return count < 3 ? (.serviceUnavailable, "{}") : (.ok, #"{"online":["alice"]}"#)
            case "/down": return (.internalServerError, "{}")
            case "/forbidden": return (.forbidden, #"{"error":"no"}"#)
            case "/huge": return (.ok, #"{"online":[""# + String(repeating: "a", count: 4_000) + #""]}"#)
            default: return (.ok, #"{"online":"alice"}"#)
            }
        }
        try await withTestHTTPServer(answer: answer) { base in
            func source(_ path: String, retries: Int) -> (RESTOnlineUsers, HTTPClient) {
                Self.rest(base) {
                    $0.path = path
                    $0.maxRetry = retries
                    $0.maxResponseBytes = 1_024
                }
            }
            let (flaky, c1) = source("/flaky", retries: 2)
            #expect(try await flaky.online(["alice"]) == ["alice"])
            let (down, c2) = source("/down", retries: 1)
            await #expect(throws: OnlineUsersLookupError.self) { try await down.online(["alice"]) }
            let (forbidden, c3) = source("/forbidden", retries: 3)
            let error = await #expect(throws: OnlineUsersLookupError.self) { try await forbidden.online(["alice"]) }
            #expect(error?.description.contains("HTTP 403") == true)
            let (huge, c4) = source("/huge", retries: 3)
            let tooLong = await #expect(throws: OnlineUsersLookupError.self) { try await huge.online(["alice"]) }
            #expect(tooLong?.description.contains("longer than 1024 bytes") == true)
            let (malformed, c5) = source("/malformed", retries: 3)
            let shape = await #expect(throws: OnlineUsersLookupError.self) { try await malformed.online(["alice"]) }
            #expect(shape?.description.contains(#""online" is an array"#) == true)
            for client in [c1, c2, c3, c4, c5] { try await client.shutdown() }
        }
        #expect(calls.withLock { $0 } == ["/flaky": 3, "/down": 2, "/forbidden": 1, "/huge": 1, "/malformed": 1])
    }

    @Test("A negative channel cannot be answered by the REST contract")
    func noListing() async throws {
        let (source, client) = Self.rest("http://127.0.0.1:9")
        await #expect(throws: OnlineUsersLookupError.self) { try await source.all(after: nil, limit: 10) }
        try await client.shutdown()
    }

    @Test("ejabberd's connected_users: bare JIDs, Basic authentication, one request per cache period, stable paging")
    func ejabberd() async throws {
        let calls = Mutex<[String?]>([])
        let users = Mutex(#"["Alice@example.test/phone", "alice@example.test/desk", "bob@other.test/x", "carol@example.test/r"]"#)
        let answer: @Sendable (String, HTTPFields, [UInt8]) -> (HTTPResponse.Status, String) = { path, headers, body in
            guard path == "/api/connected_users", body == Array("{}".utf8) else { return (.notFound, "{}") }
            calls.withLock { $0.append(headers[.authorization]) }
            return (.ok, users.withLock { $0 })
        }
        try await withTestHTTPServer(answer: answer) { base in
            var settings = AnnouncerConfiguration.EjabberdAPISettings(apiURL: base + "/api/")
            settings.cacheDuration = .seconds(60)
            let client = OnlineUsersHTTP.makeClient(timeout: .seconds(5))
            let http = OnlineUsersHTTP(
                client: client,
                source: "ejabberd",
                timeout: .seconds(5),
                retries: 0,
                maxResponseBytes: 1 << 20,
                authorization: OnlineUsersHTTP.basicAuthorization(user: "admin@example.test", password: "pw")
            )
            let clock = ManualClock()
            let source = EjabberdOnlineUsers(settings: settings, http: http, domain: "example.test", clock: clock)
            #expect(
                try await source.online(["alice", "bob", "bob@other.test", "carol@EXAMPLE.test", "dave"]) == [
                    "alice", "bob@other.test", "carol@EXAMPLE.test",
                ]
            )
            let first = try await source.all(after: nil, limit: 2)
            #expect(first == RecipientPage(usernames: ["alice@example.test", "bob@other.test"], next: "bob@other.test"))
            #expect(calls.withLock { $0.count } == 1)  // cached
            // bob leaves and dave arrives between pages: the next page starts after bob all the same.
            users.withLock { $0 = #"["alice@example.test/desk", "carol@example.test/r", "dave@example.test/r"]"# }
            clock.advance(by: .seconds(61))
            let second = try await source.all(after: first.next, limit: 2)
            #expect(second == RecipientPage(usernames: ["carol@example.test", "dave@example.test"], next: nil))
            users.withLock { $0 = #"["alice@example.test/desk", "example.test"]"# }
            clock.advance(by: .seconds(61))
            await #expect(throws: OnlineUsersLookupError.self) { try await source.online(["alice"]) }
            try await client.shutdown()
        }
        let expected = "Basic " + Data("admin@example.test:pw".utf8).base64EncodedString()
        #expect(calls.withLock { $0 } == [expected, expected, expected])
    }
}
