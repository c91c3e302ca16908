//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing
import VigilAnnouncer
import VigilApp
import VigilCore
import VigilStorage
import VigilWeb

/// An archive that records what it was given; it can fail a number of calls first.
final class RecordingArchive: AnnouncementArchive {
    let failures = Mutex(0)
    let calls = Atomic<Int>(0)
    let stored = Mutex<[ArchivedAnnouncement]>([])
    struct Down: Error {}

    var entries: [ArchivedAnnouncement] { stored.withLock { $0 } }

    func archive(_ announcements: [ArchivedAnnouncement]) async throws {
        calls.add(1, ordering: .relaxed)
        let fail = failures.withLock { count in
            defer { count = max(0, count - 1) }
            return count > 0
        }
        if fail { throw Down() }
        stored.withLock { $0 += announcements }
    }
}

/// Connections that record what they were given; some can be down or fail a number of sends.
final class RecordingSender: StanzaSender {
    let connectionCount: Int
    let down = Mutex<Set<Int>>([])
    /// Sends that fail before one succeeds, per stanza text prefix match (consumed as they fail).
    let failures = Mutex<[String: Int]>([:])
    let sent = Mutex<[(stanza: String, connection: Int)]>([])
    let attempts = Atomic<Int>(0)
    /// After this many sent stanzas, sends hang until cancelled (a process stopped mid-way).
    let hangAfter = Mutex<Int?>(nil)
    /// Confirmations that fail (the stream broke): each one also starts a new stream on that
    /// connection, as a reconnection does.
    let brokenConfirmations = Mutex(0)
    let streamSerials = Mutex<[Int: UInt64]>([:])
    /// After this many sent stanzas, the sending task is cancelled (a stop that comes as the
    /// stanza goes out).
    let cancelAfter = Mutex<Int?>(nil)
    let confirmations = Atomic<Int>(0)

    init(connections: Int) {
        connectionCount = connections
    }

    func isConnected(_ index: Int) -> Bool { !down.withLock { $0.contains(index) } }

    struct Refused: Error {}

    func send(_ stanza: String, on index: Int) async throws -> StanzaStream {
        attempts.add(1, ordering: .relaxed)
        if let limit = hangAfter.withLock({ $0 }), sent.withLock({ $0.count }) >= limit {
            try await Task.sleep(for: .seconds(3_600))
        }
        let fail = failures.withLock { failures -> Bool in
            guard let key = failures.keys.first(where: { stanza.contains($0) }), failures[key]! > 0 else { return false }
            failures[key]! -= 1
            return true
        }
        if fail { throw Refused() }
        let count = sent.withLock { sent in
            sent.append((stanza, index))
            return sent.count
        }
        if let limit = cancelAfter.withLock({ $0 }), count >= limit { withUnsafeCurrentTask { $0?.cancel() } }
        return StanzaStream(connection: index, serial: streamSerials.withLock { $0[index, default: 0] })
    }

    func confirm(_ stream: StanzaStream) async throws {
        confirmations.add(1, ordering: .relaxed)
        let broken = brokenConfirmations.withLock { count -> Bool in
            guard count > 0 else { return false }
            count -= 1
            return true
        }
        guard broken else { return }
        streamSerials.withLock { $0[stream.connection, default: 0] += 1 }
        throw Refused()
    }

    var stanzas: [String] { sent.withLock { $0.map(\.stanza) } }
}

final class EventSink: Sendable {
    let events = Mutex<[Event]>([])
    var record: @Sendable (Event) async -> Void { { event in self.events.withLock { $0.append(event) } } }
    var all: [Event] { events.withLock { $0 } }
}

/// Pages of channel members, three per page.
struct PagedMembers: RecipientSource {
    let members: [String]

    func onlineMembers(ofChannel channel: Int64, after cursor: String?, limit: Int) async throws -> RecipientPage {
        let start = Int(cursor ?? "0")!
        let end = min(members.count, start + 3)
        return RecipientPage(usernames: Array(members[start..<end]), next: end < members.count ? String(end) : nil)
    }
}

/// Pages of channel members that fail while `failing` is set.
final class FlakyMembers: RecipientSource {
    let members: [String]
    let failing = Mutex(false)

    init(members: [String]) { self.members = members }

    struct Unavailable: Error {}

    func onlineMembers(ofChannel channel: Int64, after cursor: String?, limit: Int) async throws -> RecipientPage {
        if failing.withLock({ $0 }) { throw Unavailable() }
        return try await PagedMembers(members: members).onlineMembers(ofChannel: channel, after: cursor, limit: limit)
    }
}

@Suite("Announcer delivery")
struct AnnouncerTests {
    static let template = "<message to='%s' id='n-[inc_id]' type='chat'><body>hi</body></message>"

    struct Fixture {
        let sender: RecordingSender
        let clock = ManualClock(wallClockSeconds: 1_000, advancesWhenSleeping: true)
        let events = EventSink()
        let store: any StateStore
        let announcer: Announcer

        init(
            connections: Int = 2,
            settings: (inout Announcer.Settings) -> Void = { _ in },
            store: any StateStore = MemoryStore(),
            recipients: (any RecipientSource)? = nil,
            archive: (any AnnouncementArchive)? = nil
        ) {
            sender = RecordingSender(connections: connections)
            self.store = store
            var configured = Announcer.Settings(domain: "example.test")
            configured.rateLimit = 10
            configured.retry = RetrySchedule(retries: 2, initial: .milliseconds(100))
            settings(&configured)
            announcer = Announcer(
                settings: configured,
                sender: sender,
                recipients: recipients,
                store: store,
                record: events.record,
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                clock: clock,
                archive: archive
            )
        }

        /// Runs the announcer until `done` holds (or 60 s of real time pass: generous, since a busy
        /// machine may leave this task no thread for seconds; a passing run takes milliseconds).
        func run(until done: @escaping @Sendable () -> Bool) async throws {
            let announcer = self.announcer
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await announcer.run() }
                let deadline = ContinuousClock.now + .seconds(60)
                while !done() && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
                group.cancelAll()
            }
            #expect(done(), "the announcer did not finish in time")
        }

        func users(_ names: [String]) throws -> Announcement {
            Announcement(audience: .users(names), template: try StanzaTemplate(AnnouncerTests.template))
        }
    }

    @Test("A user list is sent in order, one stanza per user, paced at the rate, over the connections in turn")
    func users() async throws {
        let fixture = Fixture()
        let receipt = try await fixture.announcer.submit(try fixture.users(["a", "b@other.test", "c"]))
        #expect(receipt.recipients == 3)
        try await fixture.run { fixture.events.all.count == 1 }
        #expect(
            fixture.sender.stanzas == [
                "<message to='a@example.test' id='n-0' type='chat'><body>hi</body></message>",
                "<message to='b@other.test' id='n-1' type='chat'><body>hi</body></message>",
                "<message to='c@example.test' id='n-2' type='chat'><body>hi</body></message>",
            ]
        )
        #expect(fixture.sender.sent.withLock { $0.map(\.connection) } == [0, 1, 0])
        // 10 per second: the second and third wait 0.1 s each.
        #expect(fixture.clock.sleeps.map { ($0.secondsDouble * 1000).rounded() } == [100, 100])
        let event = try #require(fixture.events.all.first)
        #expect(event.type == "announcement_completed" && event.severity == .info)
        #expect(event.fields["sent"] == "3" && event.fields["announcement"] == receipt.id)
        #expect(try await fixture.store.values(prefix: "announcer/outbox/").isEmpty)
    }

    @Test("A failed send is retried on the next connection; one that keeps failing is counted, and the rest still go")
    func retries() async throws {
        let fixture = Fixture(connections: 2)
        fixture.sender.failures.withLock { $0 = ["to='a@": 1, "to='b@": 10] }
        _ = try await fixture.announcer.submit(try fixture.users(["a", "b", "c"]))
        try await fixture.run { fixture.events.all.count == 1 }
        #expect(fixture.sender.stanzas.map { $0.contains("to='a@") || $0.contains("to='c@") } == [true, true])
        // a: 1 failure + 1 success; b: 3 attempts (1 + 2 retries), all failed; c: 1.
        #expect(fixture.sender.attempts.load(ordering: .relaxed) == 6)
        let event = try #require(fixture.events.all.first)
        #expect(event.severity == .warning)
        #expect(event.fields["sent"] == "2" && event.fields["failed"] == "1")
    }

    @Test("With every connection down, stanzas are retried, then counted as failed")
    func allDown() async throws {
        let fixture = Fixture(connections: 2)
        fixture.sender.down.withLock { $0 = [0, 1] }
        _ = try await fixture.announcer.submit(try fixture.users(["a"]))
        try await fixture.run { fixture.events.all.count == 1 }
        #expect(fixture.sender.attempts.load(ordering: .relaxed) == 0)
        #expect(fixture.events.all.first?.fields["failed"] == "1")
    }

    @Test("A full input buffer refuses with busy; channel announcements need a recipient source")
    func refusals() async throws {
        let fixture = Fixture { $0.inputBuffer = 1 }
        _ = try await fixture.announcer.submit(try fixture.users(["a"]))
        await #expect(throws: Announcer.SubmitError.busy) { try await fixture.announcer.submit(try fixture.users(["b"])) }
        let channel = Announcement(audience: .channel(5), template: try StanzaTemplate(Self.template))
        await #expect(throws: Announcer.SubmitError.noRecipientSource) { try await fixture.announcer.submit(channel) }
    }

    @Test("Accepted announcements survive a restart: the next Announcer on the same store sends them")
    func outbox() async throws {
        let store = MemoryStore()
        let first = Fixture(store: store)
        _ = try await first.announcer.submit(try first.users(["a", "b"]))
        // The first one never runs (the process died). The second resumes from the outbox.
        let second = Fixture(store: store)
        try await second.run { second.events.all.count == 1 }
        #expect(second.sender.stanzas.count == 2)
        #expect(try await store.values(prefix: "announcer/outbox/").isEmpty)
    }

    @Test("persist: true announcements reach the archive from the outbox; persist: false ones do not")
    func archivesPersisted() async throws {
        let archive = RecordingArchive()
        let fixture = Fixture(archive: archive)
        var kept = try fixture.users(["a", "b"])
        kept.persist = true
        var notKept = try fixture.users(["c"])
        notKept.persist = false
        let receipt = try await fixture.announcer.submit(kept)
        _ = try await fixture.announcer.submit(notKept)
        #expect(try await fixture.store.values(prefix: "announcer/archive/").count == 1)
        try await fixture.run { fixture.events.all.count == 2 && archive.entries.count == 1 }
        let entry = try #require(archive.entries.first)
        #expect(entry.id == receipt.id)
        let body = try #require(try JSONSerialization.jsonObject(with: Data(entry.body)) as? [String: Any])
        #expect(body["id"] as? String == receipt.id)
        #expect(body["usernames"] as? [String] == ["a", "b"])
        #expect(body["persist"] as? Bool == true)
        // The body is a /v1/announce/users body again.
        let again = try Announcement.queued(json: Data(entry.body))
        #expect(again.audience == .users(["a", "b"]) && again.template.text == Self.template)
        #expect(try await fixture.store.values(prefix: "announcer/archive/").isEmpty)
    }

    @Test("An archive that fails is tried again until it takes the announcement; a restart in between loses nothing")
    func archiveRetriesAndSurvivesRestart() async throws {
        let store = MemoryStore()
        let archive = RecordingArchive()
        archive.failures.withLock { $0 = 3 }
        let first = Fixture(store: store, archive: archive)
        _ = try await first.announcer.submit(try first.users(["a"]))
        // The first process never ran; the next one archives it after the failures.
        let second = Fixture(store: store, archive: archive)
        try await second.run { archive.entries.count == 1 && second.events.all.count == 1 }
        #expect(archive.calls.load(ordering: .relaxed) == 4)
        #expect(try await store.values(prefix: "announcer/archive/").isEmpty)
        #expect(try await store.values(prefix: "announcer/outbox/").isEmpty)
    }

    @Test("While the archive is down, its backlog is bounded: beyond the limit persist: true announcements are refused")
    func archiveBacklogBounded() async throws {
        let fixture = Fixture(settings: { $0.archiveBacklogLimit = 2 }, archive: RecordingArchive())
        _ = try await fixture.announcer.submit(try fixture.users(["a"]))
        _ = try await fixture.announcer.submit(try fixture.users(["b"]))
        await #expect(throws: Announcer.SubmitError.busy) { try await fixture.announcer.submit(try fixture.users(["c"])) }
        var notKept = try fixture.users(["d"])
        notKept.persist = false
        _ = try await fixture.announcer.submit(notKept)
    }

    @Test("Progress is saved: stopping midway and restarting skips nobody and repeats nobody (real SQLite store)")
    func progress() async throws {
        // The SQLite store, not the in-memory one: the saves on stopping run in the cancelled worker,
        // where a store that honours cancellation used to refuse them silently.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-announcer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteStore(path: folder.appendingPathComponent("vigil.sqlite").path)
        let names = (0..<10).map { "u\($0)" }
        let first = Fixture(settings: { $0.progressInterval = 3 }, store: store)
        first.sender.hangAfter.withLock { $0 = 7 }
        _ = try await first.announcer.submit(try first.users(names))
        try await first.run { first.sender.stanzas.count >= 7 }
        let sentFirst = first.sender.stanzas.count
        let second = Fixture(store: store)
        try await second.run { second.events.all.count == 1 }
        let all = first.sender.stanzas + second.sender.stanzas
        // Every user got the message. A graceful stop saves the progress, so the rest go exactly once
        // (after a crash, only the ones after the last periodic save, every 3 here, would go twice).
        #expect(Set(all.compactMap { $0.split(separator: "'").dropFirst().first.map(String.init) }) == Set(names.map { "\($0)@example.test" }))
        #expect(sentFirst == 7)
        #expect(second.sender.stanzas.count == 3)
    }

    @Test("A stream that breaks before it confirms a batch has its part sent again; the rest is not repeated")
    func brokenStreamResends() async throws {
        let names = (0..<10).map { "u\($0)" }
        let fixture = Fixture(connections: 2, settings: { $0.progressInterval = 4 })
        fixture.sender.brokenConfirmations.withLock { $0 = 1 }
        _ = try await fixture.announcer.submit(try fixture.users(names))
        try await fixture.run { fixture.events.all.count == 1 }
        let recipients = fixture.sender.stanzas.compactMap { $0.split(separator: "'").dropFirst().first.map(String.init) }
        #expect(Set(recipients) == Set(names.map { "\($0)@example.test" }))
        // The first batch (u0-u3) went out over connections 0 and 1; connection 0's stream broke, so
        // its two recipients went again: 12 stanzas, 2 repeated, none lost.
        #expect(recipients.count == 12)
        #expect(Dictionary(grouping: recipients, by: { $0 }).values.filter { $0.count > 1 }.count == 2)
        #expect(fixture.events.all.first?.fields["sent"] == "10")
    }

    @Test("Streams that never confirm: after send_retry rounds the unconfirmed recipients are counted as failed, not retried forever")
    func neverConfirmed() async throws {
        let fixture = Fixture(connections: 1, settings: { $0.progressInterval = 2 })
        fixture.sender.brokenConfirmations.withLock { $0 = 1_000 }
        _ = try await fixture.announcer.submit(try fixture.users(["a", "b"]))
        try await fixture.run { fixture.events.all.count == 1 }
        // retries 2: the first send and two resends, each written and never confirmed.
        #expect(fixture.sender.stanzas.count == 6)
        #expect(fixture.events.all.first?.fields["failed"] == "2")
    }

    @Test("A recipient source that keeps failing gives up with announcement_failed; a retry through the API finishes the job")
    func failingSourceGivesUp() async throws {
        let source = FlakyMembers(members: ["m1", "m2", "m3", "m4"])
        source.failing.withLock { $0 = true }
        let fixture = Fixture(settings: { $0.recipientSourceGiveUp = .seconds(5) }, recipients: source)
        let receipt = try await fixture.announcer.submit(Announcement(audience: .channel(7), template: try StanzaTemplate(Self.template)))
        try await fixture.run { fixture.events.all.count == 1 }
        let failed = try #require(fixture.events.all.first)
        #expect(failed.type == "announcement_failed" && failed.fields["announcement"] == receipt.id)
        #expect(try await fixture.store.values(prefix: "announcer/outbox/").count == 1)
        await #expect(throws: Announcer.RetryError.notFound) { try await fixture.announcer.retry(id: "a1-x") }
        source.failing.withLock { $0 = false }
        _ = try await fixture.announcer.retry(id: receipt.id)
        await #expect(throws: Announcer.RetryError.notFailed) { try await fixture.announcer.retry(id: receipt.id) }
        try await fixture.run { fixture.events.all.count == 2 }
        #expect(fixture.events.all.last?.type == "announcement_completed")
        #expect(fixture.sender.stanzas.count == 4)
        #expect(try await fixture.store.values(prefix: "announcer/outbox/").isEmpty)
    }

    @Test("A channel page goes in batches; a stop part-way through a page resumes inside it, repeating nobody (SQLite store)")
    func channelStopInsidePage() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-announcer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteStore(path: folder.appendingPathComponent("vigil.sqlite").path)
        let members = PagedMembers(members: ["m1", "m2", "m3", "m4", "m5"])  // pages of three
        let first = Fixture(settings: { $0.progressInterval = 2 }, store: store, recipients: members)
        first.sender.hangAfter.withLock { $0 = 4 }  // m1-m3 (page 1), m4; m5 hangs
        _ = try await first.announcer.submit(Announcement(audience: .channel(7), template: try StanzaTemplate(Self.template)))
        try await first.run { first.sender.stanzas.count >= 4 }
        let second = Fixture(settings: { $0.progressInterval = 2 }, store: store, recipients: members)
        try await second.run { second.events.all.count == 1 }
        #expect(first.sender.stanzas.count == 4)
        #expect(second.sender.stanzas == ["<message to='m5@example.test' id='n-4' type='chat'><body>hi</body></message>"])
        #expect(second.events.all.first?.fields["sent"] == "5")
    }

    @Test("A stop right after a channel's last page completes the job instead of saving a cursor that would start over")
    func channelStopAfterLastPage() async throws {
        let store = MemoryStore()
        let members = PagedMembers(members: ["m1", "m2"])  // one page
        let first = Fixture(store: store, recipients: members)
        // The worker is cancelled (a SIGTERM) by the send of the last member: that send went out.
        first.sender.cancelAfter.withLock { $0 = 2 }
        _ = try await first.announcer.submit(Announcement(audience: .channel(7), template: try StanzaTemplate(Self.template)))
        try await first.run { first.events.all.count == 1 }
        #expect(try await store.values(prefix: "announcer/outbox/").isEmpty)
    }

    @Test("A channel is read page by page; the index runs across pages")
    func channel() async throws {
        let fixture = Fixture(recipients: PagedMembers(members: ["m1", "m2", "m3", "m4", "m5"]))
        let receipt = try await fixture.announcer.submit(Announcement(audience: .channel(7), template: try StanzaTemplate(Self.template)))
        #expect(receipt.recipients == nil)
        try await fixture.run { fixture.events.all.count == 1 }
        #expect(fixture.sender.stanzas.count == 5)
        #expect(fixture.sender.stanzas.last == "<message to='m5@example.test' id='n-4' type='chat'><body>hi</body></message>")
    }
}

@Suite("Announcer REST input")
struct AnnouncerRoutesTests {
    func withRouter(
        inputBuffer: Int = 10,
        _ test: @escaping @Sendable (any TestClientProtocol, AnnouncerTests.Fixture) async throws -> Void
    ) async throws {
        let fixture = AnnouncerTests.Fixture(settings: { $0.inputBuffer = inputBuffer })
        let router = Router()
        AnnounceRoutes.register(on: router.group(), intake: AnnouncerIntake(announcer: fixture.announcer))
        try await Application(router: router).test(.router) { client in try await test(client, fixture) }
    }

    static let json: HTTPFields = [.contentType: "application/json"]
    static let body =
        #"{"usernames": ["alice", "bob"], "message": "\#(Data("<message to='%s'><body>x</body></message>".utf8).base64EncodedString())"}"#

    @Test("POST /v1/announce/users answers 202 with the id and recipient count, and the outbox holds it")
    func accepted() async throws {
        try await withRouter { client, fixture in
            try await client.execute(uri: "/v1/announce/users", method: .post, headers: Self.json, body: ByteBuffer(string: Self.body)) { response in
                #expect(response.status == .accepted)
                let receipt = try JSONDecoder().decode(Announcer.Receipt.self, from: Data(response.body.readableBytesView))
                #expect(receipt.recipients == 2)
                #expect(receipt.id.hasPrefix("a"))
            }
            #expect(try await fixture.store.values(prefix: "announcer/outbox/").count == 1)
        }
    }

    @Test("POST /api/v1/announcements/{id}/retry: 404 for an unknown id, 409 for one that has not failed")
    func retryRoute() async throws {
        try await withRouter { client, _ in
            try await client.execute(uri: "/api/v1/announcements/a1-1/retry", method: .post, headers: Self.json) { response in
                #expect(response.status == .notFound)
            }
            let receipt = try await client.execute(uri: "/v1/announce/users", method: .post, headers: Self.json, body: ByteBuffer(string: Self.body))
            {
                response in
                try JSONDecoder().decode(Announcer.Receipt.self, from: Data(response.body.readableBytesView))
            }
            try await client.execute(uri: "/api/v1/announcements/\(receipt.id)/retry", method: .post, headers: Self.json) { response in
                #expect(response.status == .conflict)
            }
            try await client.execute(uri: "/api/v1/announcements/\(receipt.id)/retry", method: .post) { response in
                #expect(response.status == .unsupportedMediaType)
            }
        }
    }

    @Test("Bad bodies answer 400 with the reason; a full queue and channels without a source answer 503")
    func refusals() async throws {
        try await withRouter(inputBuffer: 1) { client, _ in
            try await client.execute(uri: "/v1/announce/users", method: .post, headers: Self.json, body: ByteBuffer(string: #"{"usernames": []}"#)) {
                response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body) == #"{"error":"'message' is missing"}"#)
            }
            try await client.execute(uri: "/v1/announce/users", method: .post, headers: Self.json, body: ByteBuffer(string: Self.body)) { response in
                #expect(response.status == .accepted)
            }
            try await client.execute(uri: "/v1/announce/users", method: .post, headers: Self.json, body: ByteBuffer(string: Self.body)) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains("too many announcements"))
            }
            let channel = #"{"channel_id": "22", "message": "\#(Data("<message to='%s'/>".utf8).base64EncodedString())"}"#
            try await client.execute(uri: "/v1/announce/channel", method: .post, headers: Self.json, body: ByteBuffer(string: channel)) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains("[mysql]"))
            }
            try await client.execute(uri: "/v1/announce/nothing", method: .post, headers: Self.json, body: ByteBuffer(string: Self.body)) {
                response in
                #expect(response.status == .notFound)
            }
        }
    }
}
