//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Logging
import Synchronization
import Testing
import VigilAnnouncer
import VigilCore
import VigilStorage

/// Two Announcers on one outbox, as two instances on a shared Redis store are (real time: the
/// take-over scan and the pacer run on the system clock, with a fast rate and a short scan).
@Suite("Announcer on a shared outbox")
struct AnnouncerSharingTests {
    final class Instances: Sendable {
        let store = MemoryStore()
        /// The instances the members list shows alive.
        let alive = Mutex<Set<String>>(["a", "b"])
        let archiver = Mutex("a")

        func sharing(_ name: String) -> Announcer.Sharing {
            Announcer.Sharing(
                instance: name,
                adopts: { owner in
                    // The other live instance takes over (with two, the one that is left).
                    let alive = self.alive.withLock { $0 }
                    return !alive.contains(owner) && alive.contains(name)
                },
                archives: { self.archiver.withLock { $0 == name } },
                scanInterval: .milliseconds(20)
            )
        }

        func announcer(_ name: String, sender: RecordingSender, events: EventSink, archive: RecordingArchive? = nil) -> Announcer {
            var settings = Announcer.Settings(domain: "example.test")
            settings.rateLimit = 100_000
            settings.progressInterval = 2
            return Announcer(
                settings: settings,
                sender: sender,
                recipients: nil,
                store: store,
                record: events.record,
                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                clock: SystemClock(),
                archive: archive,
                sharing: sharing(name)
            )
        }
    }

    static func users(_ names: [String], persist: Bool = false) throws -> Announcement {
        var announcement = Announcement(audience: .users(names), template: try StanzaTemplate(AnnouncerTests.template))
        announcement.persist = persist
        return announcement
    }

    static func recipients(_ sender: RecordingSender) -> [String] {
        sender.stanzas.compactMap { $0.split(separator: "'").dropFirst().first.map { String($0.split(separator: "@")[0]) } }
    }

    static func eventually(_ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    @Test("Each instance sends what it accepted; the jobs of one believed gone are taken over, and the old owner stops at its next save")
    func takeOver() async throws {
        let instances = Instances()
        let (senderA, senderB) = (RecordingSender(connections: 1), RecordingSender(connections: 1))
        let (eventsA, eventsB) = (EventSink(), EventSink())
        let a = instances.announcer("a", sender: senderA, events: eventsA)
        let b = instances.announcer("b", sender: senderB, events: eventsB)
        // a is stuck on its fourth stanza (a process that stopped answering).
        senderA.hangAfter.withLock { $0 = 3 }
        let names = (0..<10).map { "u\($0)" }
        let long = try await a.submit(try Self.users(names))
        let other = try await b.submit(try Self.users(["v0", "v1", "v2"]))
        // Ids end with a hash of the instance, so two instances never make the same one.
        #expect(long.id.split(separator: "-").count == 3)
        #expect(long.id.split(separator: "-").last != other.id.split(separator: "-").last)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await a.run() }
            group.addTask { try await b.run() }
            #expect(try await Self.eventually { senderA.stanzas.count == 3 && eventsB.all.count == 1 })
            // While a is alive, b sends only its own job.
            try await Task.sleep(for: .milliseconds(200))
            #expect(Self.recipients(senderB) == ["v0", "v1", "v2"])
            #expect(Self.recipients(senderA) == ["u0", "u1", "u2"])

            // a's heartbeat is gone (it is still running): b takes its job over from the saved
            // progress (u0 and u1; u2 was written, not yet saved).
            _ = instances.alive.withLock { $0.remove("a") }
            #expect(try await Self.eventually { eventsB.all.count == 2 })
            #expect(Self.recipients(senderB) == ["v0", "v1", "v2"] + names.dropFirst(2))
            #expect(try await instances.store.values(prefix: "announcer/outbox/").isEmpty)

            // a wakes: its stuck send ends with the stop, and its save finds the job gone instead
            // of writing stale progress back.
            group.cancelAll()
        }
        #expect(try await instances.store.values(prefix: "announcer/outbox/").isEmpty)
        #expect(eventsA.all.isEmpty)
        // Everyone got it; the only repeat is the unsaved part of a's batch (u2).
        let all = Self.recipients(senderA) + Self.recipients(senderB)
        #expect(Set(all) == Set(names + ["v0", "v1", "v2"]))
        #expect(all.count == names.count + 3 + 1)
    }

    @Test("One instance archives the rows of every instance, each once; the others only count the backlog")
    func oneArchiver() async throws {
        let instances = Instances()
        let (archiveA, archiveB) = (RecordingArchive(), RecordingArchive())
        let (eventsA, eventsB) = (EventSink(), EventSink())
        let a = instances.announcer("a", sender: RecordingSender(connections: 1), events: eventsA, archive: archiveA)
        let b = instances.announcer("b", sender: RecordingSender(connections: 1), events: eventsB, archive: archiveB)
        var ids: [String] = []
        for index in 0..<3 {
            ids.append(try await a.submit(try Self.users(["a\(index)"], persist: true)).id)
            ids.append(try await b.submit(try Self.users(["b\(index)"], persist: true)).id)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await a.run() }
            group.addTask { try await b.run() }
            #expect(try await Self.eventually { archiveA.entries.count == 6 })
            #expect(try await Self.eventually { try await instances.store.values(prefix: "announcer/archive/").isEmpty })
            // The archiver changes: b archives what is accepted from now on.
            instances.archiver.withLock { $0 = "b" }
            try await Task.sleep(for: .milliseconds(100))
            ids.append(try await a.submit(try Self.users(["a9"], persist: true)).id)
            #expect(try await Self.eventually { archiveB.entries.count == 1 })
            try await Task.sleep(for: .milliseconds(100))
            group.cancelAll()
        }
        #expect(archiveA.entries.map(\.id).sorted() == ids.dropLast().sorted())
        #expect(archiveB.entries.map(\.id) == [ids.last])
    }
}
